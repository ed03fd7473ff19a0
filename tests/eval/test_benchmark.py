"""The corruption benchmark end to end: the whole grid in --quick mode, resuming an interrupted
run, the Ray path against a real local Ray head, and bad input."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from df_policy.errors import ConfigError
from df_policy.eval.benchmark import Cell, GridPolicy, run_grid
from df_policy.eval.corruptions import CORRUPTIONS
from df_policy.eval.executors import EpisodeTask, LocalExecutor, RayExecutor
from df_policy.eval.suites import SUITES
from df_policy.policy.config import RuntimeConfig
from df_policy.sim.config import SimConfig

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "corruption_benchmark.py"
TINY_SIM = ["--sim", "max_steps=8", "--sim", "image_size=16"]
SIM = SimConfig(max_steps=8, image_size=16)
COMPARED = ("df", "noise_unaware")
"""The quick grid runs DF and its twin (the paired comparison); memoryless adds a third."""


def _benchmark(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's package
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=600, env=env)


def test_quick_runs_the_whole_grid_and_writes_every_output(tmp_path, tiny_checkpoint):
    out = tmp_path / "grid"
    result = _benchmark("--checkpoint", str(tiny_checkpoint), "--quick", "--quiet", *TINY_SIM,
                        "--variants", ",".join(COMPARED), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "results.json").read_text())
    cells = len(CORRUPTIONS) * 3 + sum(len(severities) for severities in SUITES.values())
    assert len(report["cells"]) == cells * len(COMPARED)
    assert all(cell["episodes"] == 2 for cell in report["cells"])
    episodes = (out / "episodes.jsonl").read_text().splitlines()
    assert len(episodes) == cells * len(COMPARED) * 2
    table = (out / "table.md").read_text()
    assert "df − noise_unaware (McNemar p)" in table and "| jpeg | 2 (20 JPEG quality) |" in table
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads(result.stdout)
    assert set(summary["headline"]) == set(COMPARED)


def test_an_interrupted_run_continues_without_repeating_episodes(tmp_path, tiny_checkpoint):
    out = tmp_path / "resumed"
    out.mkdir()
    kept = {"variant": "df", "cell": "jpeg@1", "seed": 5, "success": False, "stage": 2,
            "steps": -1, "orange_start": "A", "policy_ms_median": 1.0, "start_wait_steps": 0}
    # One finished episode, then a line torn by the kill.
    (out / "episodes.jsonl").write_text(json.dumps(kept) + "\n" + '{"variant": "df", "ce')
    variants = {"df": GridPolicy(str(tiny_checkpoint), RuntimeConfig())}
    executor = LocalExecutor(1)
    try:
        report = run_grid(variants, [Cell("jpeg", 1.0)], SIM, 2, 5, executor, out,
                          progress=False)
    finally:
        executor.close()
    outcomes = report["cells"][0]["outcomes"]
    assert [o["seed"] for o in outcomes] == [5, 6]
    assert outcomes[0]["steps"] == -1  # the kept episode was not run again
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["seed"] == 6


def test_a_log_from_another_checkpoint_is_refused_and_kept(tmp_path, tiny_checkpoint):
    out = tmp_path / "grid"
    out.mkdir()
    kept = {"variant": "df", "checkpoint": "runs/other", "cell": "jpeg@1", "seed": 5,
            "success": True}
    (out / "episodes.jsonl").write_text(json.dumps(kept) + "\n")
    variants = {"df": GridPolicy(str(tiny_checkpoint), RuntimeConfig())}
    executor = LocalExecutor(1)
    try:
        with pytest.raises(ConfigError, match="holds variant 'df' of checkpoint runs/other"):
            run_grid(variants, [Cell("jpeg", 1.0)], SIM, 1, 5, executor, out, progress=False)
    finally:
        executor.close()
    assert (out / "episodes.jsonl").read_text() == json.dumps(kept) + "\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def ray_head():
    """A real local Ray head on the loopback interface only (2 CPUs), stopped afterwards."""
    ray = shutil.which("ray", path=os.path.dirname(sys.executable))
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # every socket on 127.0.0.1
    started = subprocess.run(
        [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
         "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={temp}"], env=env, capture_output=True, text=True, timeout=180)
    assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-2000:]
    yield f"127.0.0.1:{port}"
    subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
    shutil.rmtree(temp, ignore_errors=True)


def test_ray_gives_the_same_outcomes_as_the_process_pool(ray_head, tiny_checkpoint):
    tasks = [EpisodeTask(str(tiny_checkpoint), RuntimeConfig(), SIM, fault, severity, seed)
             for fault, severity, seed in [("clean", 0.0, 3), ("jpeg", 3.0, 4),
                                           ("black_frames", 2.0, 5), ("control_jitter", 3.0, 6)]]
    local = LocalExecutor(2)
    try:
        expected = list(local.map(tasks))
    finally:
        local.close()
    remote = RayExecutor(ray_head)
    try:
        got = list(remote.map(tasks))
    finally:
        remote.close()
    for ours, theirs in zip(expected, got, strict=True):
        ours.pop("policy_ms_median"), theirs.pop("policy_ms_median")
        assert ours == theirs


@pytest.mark.parametrize("args,message", [
    (["--corruptions", "fog"], "exposure_dark"),
    (["--levels", "4"], "valid levels: 1, 2, 3"),
    (["--variants", "df,oracle"], "noise_unaware"),
    (["--rows", "ptp=runs/ptp"], "with --rows each row names its own"),
    (["--rows", "ptp=runs/ptp", "--variants", "df"], "not allowed with argument"),
])
def test_bad_input_is_one_clear_error_with_exit_2(tmp_path, args, message):
    result = _benchmark("--checkpoint", str(tmp_path), *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
