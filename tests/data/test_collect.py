"""`df-policy collect` and `dataset info` end to end, with real workers, physics and rendering."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import yaml

from df_policy.data.store import EpisodeStore
from df_policy.keys import ACTION, FRONT

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "df_policy.cli"]
TINY = ["--sim", "image_size=24"]


def run_cli(*args, **kwargs):
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, **kwargs)


def test_collect_with_workers_then_info(tmp_path):
    out = tmp_path / "demos.zarr"
    result = run_cli("collect", "--out", str(out), "--episodes", "3", "--workers", "2",
                     "--videos", "1", "--quiet", *TINY)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["episodes"] == 3 and summary["seeds"] == [0, 2]
    assert summary["expert_success_rate"] == 1.0 and summary["stored_success_rate"] == 1.0
    store = EpisodeStore.open(out)
    assert list(store.seeds()) == [0, 1, 2]
    episode = store.episode(0)
    assert episode[FRONT].shape[1:] == (24, 24, 3) and episode[FRONT].std() > 5
    assert np.all(np.isfinite(episode[ACTION]))
    video = tmp_path / "demos_videos" / "episode_0000.mp4"
    frames = imageio.mimread(video)
    assert len(frames) == store.episode_meta(0)["length"]
    assert frames[0].shape == (96, 192, 3)  # two 24 px cameras side by side, upscaled 4x
    assert summary["videos"] == [str(video)]
    assert (tmp_path / "demos_config.yaml").is_file()

    info = run_cli("dataset", "info", str(out), "--json")
    assert info.returncode == 0, info.stderr
    described = json.loads(info.stdout)
    assert described["episodes"] == 3 and described["success_rate"] == 1.0
    assert described["steps"] == store.n_steps
    lengths = [store.episode_meta(i)["length"] for i in range(3)]
    assert described["episode_length_min"] == min(lengths)
    assert described["episode_length_max"] == max(lengths)
    assert described["cameras"] == ["front", "wrist"] and described["image_size"] == 24
    assert described["missing_frames"] == {"front": 0, "wrist": 0}
    assert described["size_bytes"] > 0 and described["size"].endswith("B")

    again = run_cli("collect", "--out", str(out), "--episodes", "3", *TINY)
    assert again.returncode == 2 and "--resume" in again.stderr


def test_killed_collection_resumes(tmp_path):
    out = tmp_path / "killed.zarr"
    proc = subprocess.Popen(
        [*CLI, "collect", "--out", str(out), "--episodes", "40", "--workers", "1",
         "--videos", "0", "--quiet", *TINY],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if out.exists() and EpisodeStore.open(out).n_episodes >= 2:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the writer and its worker, mid-collection
    proc.wait()
    done = EpisodeStore.open(out, mode="a")
    assert 2 <= done.n_episodes < 40
    before = [done.episode(i)[ACTION] for i in range(done.n_episodes)]

    result = run_cli("collect", "--out", str(out), "--episodes", str(done.n_episodes + 2),
                     "--resume", "--workers", "1", "--videos", "0", "--quiet", *TINY)
    assert result.returncode == 0, result.stderr
    store = EpisodeStore.open(out)
    assert store.n_episodes == len(before) + 2
    assert list(store.seeds()) == list(range(store.n_episodes))
    for i, actions in enumerate(before):
        np.testing.assert_array_equal(store.episode(i)[ACTION], actions)


def test_failed_seeds_are_skipped_kept_or_stop_the_run(tmp_path):
    # 3 control steps cannot swap the fruit: every seed fails.
    hopeless = [*TINY, "--sim", "max_steps=3", "--workers", "1", "--videos", "0", "--quiet"]
    out = tmp_path / "failed.zarr"
    result = run_cli("collect", "--out", str(out), "--episodes", "2",
                     "--set", "max_failures=2", *hopeless)
    assert result.returncode == 2
    assert "expert failed 2 of 2 seeds" in result.stderr
    assert EpisodeStore.open(out).n_episodes == 0

    kept = tmp_path / "kept.zarr"
    result = run_cli("collect", "--out", str(kept), "--episodes", "2",
                     "--set", "only_success=false", *hopeless)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["expert_success_rate"] == 0.0
    store = EpisodeStore.open(kept)
    assert store.n_episodes == 2 and not store.successes().any()
    assert store.episode_meta(1) == {"length": 3, "success": False, "seed": 1}


def test_recovery_demos_extend_a_clean_store(tmp_path):
    out = tmp_path / "recoveries.zarr"
    quick = ["--workers", "1", "--videos", "0", "--quiet", *TINY]
    assert run_cli("collect", "--out", str(out), "--episodes", "1", *quick).returncode == 0
    result = run_cli("collect", "--out", str(out), "--episodes", "2", "--resume",
                     "--seed", "1", "--set", "fumble_prob=1.0", *quick)
    assert result.returncode == 0, result.stderr
    store = EpisodeStore.open(out)
    assert list(store.seeds()) == [0, 1] and store.successes().all()
    runs = [(run["first_episode"], run["collect"]["fumble_prob"]) for run in store.runs]
    assert runs == [(0, 0.0), (1, 1.0)], "each run's settings are kept, not just the last's"
    assert store.runs[0]["sim"]["image_size"] == 24
    info = json.loads(run_cli("dataset", "info", str(out), "--json").stdout)
    assert info["runs"] == store.runs
    clean = run_cli("collect", "--out", str(tmp_path / "clean.zarr"), "--episodes", "1",
                    "--seed", "1", *quick)
    assert clean.returncode == 0, clean.stderr
    plain = EpisodeStore.open(tmp_path / "clean.zarr").episode_meta(0)["length"]
    assert store.episode_meta(1)["length"] > plain + 10, "the recovery takes extra steps"

    bad = run_cli("collect", "--out", str(tmp_path / "bad.zarr"), "--episodes", "1",
                  "--set", "fumble_prob=1.5", *quick)
    assert bad.returncode == 2 and "fumble_prob" in bad.stderr


def test_operator_demos_from_a_seed_offset(tmp_path):
    """Transfer sets: a fresh store can start at any seed, and ``operator`` reaches the expert."""
    out = tmp_path / "operator.zarr"
    quick = ["--workers", "1", "--videos", "0", "--quiet", *TINY]
    result = run_cli("collect", "--out", str(out), "--episodes", "1", "--seed", "50000",
                     "--set", "operator={regrasp_prob: 1.0}", *quick)
    assert result.returncode == 0, result.stderr
    store = EpisodeStore.open(out)
    assert list(store.seeds()) == [50000] and store.successes().all()
    grip = store.episode(0)[ACTION][:, 7]
    assert np.sum((grip[1:] == 1.0) & (grip[:-1] == 0.0)) == 6, "every pick grasped twice"
    resolved = yaml.safe_load((tmp_path / "operator_config.yaml").read_text())
    assert resolved["collect"]["operator"]["regrasp_prob"] == 1.0
    assert resolved["collect"]["operator"]["speed_variation"] == 0.3, "the other defaults"

    bad = run_cli("collect", "--out", str(tmp_path / "bad.zarr"), "--episodes", "1",
                  "--set", "operator={speed_variation: 1.0}", *quick)
    assert bad.returncode == 2 and "speed_variation" in bad.stderr
