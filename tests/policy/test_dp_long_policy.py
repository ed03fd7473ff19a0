"""The long-context rivals end to end: train, save, load, closed loop, history, bad combinations."""

import json
import re

import numpy as np
import pytest
import torch
import yaml

from df_policy.checkpoint import checkpoint_dir, load_checkpoint, read_sections
from df_policy.cli import main
from df_policy.config import to_dict
from df_policy.errors import CheckpointError, ConfigError
from df_policy.eval.benchmark import Cell, GridPolicy, run_grid
from df_policy.eval.episode import run_episode
from df_policy.eval.executors import LocalExecutor
from df_policy.eval.rivals import policy_runtime
from df_policy.model.config import LongContextConfig
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.dp_long_policy import DPLongPolicy
from df_policy.policy.export import export_checkpoint
from df_policy.policy.runtime import DFPolicy, load_policy
from df_policy.sim.config import SimConfig
from df_policy.train.config import TrainConfig
from df_policy.train.trainer import train
from tests.helpers import tiny_model

TINY = tiny_model()
CONTEXT = LongContextConfig(history_tokens=3, width=32, depth=1, heads=2)
RECIPE = dict(steps=3, batch_size=2, warmup_steps=1, device="cpu", num_threads=1,
              camera_dropout_prob=0.5, augment_prob=0.3, shadow_prob=0.5, fault_prob=0.5,
              start_window_prob=0.5, window_batch_size=3, history_drift=0.02)
"""A few real steps with DF's augmentation, shadows, sensor faults, dropout and windows (and
its drift of the executed chunks, which a rival does not take)."""
KINDS = ("dp_long", "ptp")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, sim_store):
    """A tiny trained run of each rival."""
    root = tmp_path_factory.mktemp("rivals")
    for kind in KINDS:
        result = train(sim_store, TINY, TrainConfig(**RECIPE), root / kind, progress=False,
                       kind=kind, context_cfg=CONTEXT)
        assert result["step"] == 3 and np.isfinite(result["final_loss"])
        saved = read_sections(checkpoint_dir(root / kind))["train"]
        assert saved["history_drift"] == 0.0, "a rival's loss reads the recorded chunks"
    return {kind: root / kind for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_is_a_controller_that_runs_closed_loop_and_exports(kind, runs, sim_store,
                                                                 tmp_path):
    sections = yaml.safe_load((checkpoint_dir(runs[kind]) / "config.yaml").read_text())
    assert sections["policy"] == {"kind": kind}
    assert sections["long_context"] == to_dict(CONTEXT)
    policy = load_policy(runs[kind], device="cpu")
    assert isinstance(policy, DPLongPolicy) and policy.loaded.kind == kind
    sim = SimConfig(image_size=16, max_steps=12)
    result = run_episode(policy, sim, "wrist_dead", 1.0, seed=5)
    assert result["steps"] == 12 and result["mean_levels"]["wrist"] == 999
    assert len(policy.history) == 3, "12 steps of 4: three tokens"
    out = export_checkpoint(runs[kind], sim_store, tmp_path / "exported")
    assert out["calibration"] == {}
    assert isinstance(load_policy(tmp_path / "exported", device="cpu"), DPLongPolicy)


def test_a_rival_runs_through_the_corruption_benchmark_under_its_own_name(runs, tmp_path):
    rival = str(runs["ptp"])
    variants = {"ptp": GridPolicy(rival, policy_runtime(rival))}
    executor = LocalExecutor(1)
    try:
        report = run_grid(variants, [Cell("jpeg", 3.0)], SimConfig(image_size=16, max_steps=8),
                          1, 5, executor, tmp_path / "grid", progress=False)
    finally:
        executor.close()
    assert [(c["variant"], c["fault"], c["episodes"]) for c in report["cells"]] == [
        ("ptp", "jpeg", 1)]
    assert report["variants"]["ptp"]["checkpoint"] == rival
    assert f"ptp: `{rival}`" in (tmp_path / "grid" / "table.md").read_text()
    (record,) = [json.loads(line) for line in
                 (tmp_path / "grid" / "episodes.jsonl").read_text().splitlines()]
    assert (record["variant"], record["checkpoint"], record["seed"]) == ("ptp", rival, 5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_seeded_step_is_deterministic(kind, runs):
    policy = load_policy(runs[kind], device="cpu", seed=7)
    frames = {cam: np.full((16, 16, 3), 90, np.uint8) for cam in policy.cameras}
    episodes = []
    for _ in range(2):
        policy.reset()
        episodes.append([policy.step(frames).actions for _ in range(3)])
    np.testing.assert_array_equal(episodes[0], episodes[1])
    assert episodes[0][0].shape == (4, 8) and np.isfinite(episodes[0]).all()
    assert not np.array_equal(episodes[0][0], episodes[0][1]), "fresh noise every step"
    other = load_policy(runs[kind], device="cpu", seed=8)
    assert not np.array_equal(other.step(frames).actions, episodes[0][0])


def test_the_history_keeps_the_last_h_tokens_and_reset_clears_it(runs):
    policy = load_policy(runs["dp_long"], device="cpu")
    chunk = np.tile(np.array([0.5, 0.0, 0.3, 1, 0, 0, 0, 0], np.float32), (4, 1))
    shades = [10, 60, 110, 160, 210]
    for shade in shades:
        frames = {cam: np.full((16, 16, 3), shade, np.uint8) for cam in policy.cameras}
        policy.step(frames, executed=chunk + shade / 1000)
    held = list(policy.history.tokens)
    assert len(held) == 3, "frames older than H = 3 tokens are dropped"
    assert all(token.has_chunk for token in held), "the episode's first token has dropped out"
    for token, shade in zip(held, shades[-3:], strict=True):
        frames = {cam: np.full((16, 16, 3), shade, np.uint8) for cam in policy.cameras}
        expected = policy.model.encode_images(
            {cam: torch.full((1, 3, 16, 16), shade / 127.5 - 1) for cam in frames})
        torch.testing.assert_close(token.features, expected)
        raw = policy.loaded.normalizer.denormalize(token.action.view(4, 8))
        torch.testing.assert_close(raw, torch.from_numpy(chunk + shade / 1000))
    context = policy.history.windows()
    assert context["present"].tolist() == [[True, True, True]]
    policy.reset()
    assert len(policy.history) == 0
    policy.step({cam: None for cam in policy.cameras})
    only = policy.history.tokens[0]
    assert not only.has_chunk and torch.equal(only.action, torch.zeros_like(only.action))
    context = policy.history.windows()
    assert context["present"].tolist() == [[False, False, True]]


def test_a_checkpoint_of_one_kind_is_refused_as_another(runs, tiny_checkpoint, sim_store,
                                                         tmp_path):
    with pytest.raises(CheckpointError, match="'dp_long' policy"):
        DFPolicy.from_checkpoint(runs["dp_long"], device="cpu")
    with pytest.raises(CheckpointError, match="'df' policy, not one of dp_long, ptp"):
        DPLongPolicy(load_checkpoint(tiny_checkpoint))
    with pytest.raises(CheckpointError, match="cannot resume .* trains a 'dp_long' policy, "
                                              "not 'ptp'"):
        train(sim_store, TINY, TrainConfig(**{**RECIPE, "steps": 4}), runs["dp_long"],
              resume=True, progress=False, kind="ptp", context_cfg=CONTEXT)
    with pytest.raises(CheckpointError, match="long_context config differs .*history_tokens"):
        train(sim_store, TINY, TrainConfig(**{**RECIPE, "steps": 4}), runs["ptp"],
              resume=True, progress=False, kind="ptp",
              context_cfg=LongContextConfig(history_tokens=4, width=32, depth=1, heads=2))
    relabelled = tmp_path / "relabelled"
    export_checkpoint(runs["ptp"], sim_store, relabelled)
    config = relabelled / "config.yaml"
    sections = yaml.safe_load(config.read_text())
    config.write_text(yaml.safe_dump({**sections, "policy": {"kind": "dp_long"}}))
    with pytest.raises(CheckpointError, match="does not match the model config"):
        load_policy(relabelled, device="cpu")
    del sections["long_context"]
    config.write_text(yaml.safe_dump(sections))
    with pytest.raises(CheckpointError, match="'ptp' policy but no 'long_context' section"):
        load_policy(relabelled, device="cpu")
    with pytest.raises(ConfigError, match="long_context settings apply to the dp_long and ptp"):
        train(sim_store, TINY, TrainConfig(**RECIPE), tmp_path / "df", progress=False,
              kind="df", context_cfg=CONTEXT)
    with pytest.raises(ConfigError, match="'ptp' policy, which runs on the torch backend"):
        load_policy(runs["ptp"], "cpu", config=RuntimeConfig(backend="onnxruntime"))


def write_tiny_config(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({"model": to_dict(TINY), "train": {
        k: v for k, v in RECIPE.items() if k != "steps"}}))
    return config


def test_cli_trains_and_evaluates_a_rival(sim_store, tmp_path, capsys):
    run = tmp_path / "ptp"
    assert main(["train", "--policy", "ptp", "--data", str(sim_store), "--out", str(run),
                 "--steps", "2", "--quiet", "--config", str(write_tiny_config(tmp_path)),
                 "--set", "long_context.history_tokens=3", "--set", "long_context.width=32",
                 "--set", "long_context.depth=1", "--set", "long_context.heads=2"]) == 0
    assert load_checkpoint(run).model.context == CONTEXT
    assert main(["eval", "--checkpoint", str(run), "--suite", "clean", "--episodes", "1",
                 "--workers", "1", "--videos", "0", "--quiet", "--sim", "image_size=16",
                 "--sim", "max_steps=8", "--out", str(tmp_path / "eval")]) == 0
    assert "clean severity 0: success 0/1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--baseline", "noise_unaware"], "baseline noise_unaware is a variant of a DF "
                                      "checkpoint; .* holds a 'dp_long' policy"),
    (["--set", "gate=false"], r"runtime keys \['gate'\] apply to DF checkpoints only"),
    (["--set", "sampling_steps=3", "--set", "fresh_s=0.1"],
     r"\['sampling_steps', 'fresh_s'\] apply to DF checkpoints only"),
])
def test_cli_refuses_df_only_runtime_options_for_a_rival(argv, message, runs, tmp_path,
                                                         capsys):
    code = main(["eval", "--checkpoint", str(runs["dp_long"]), "--suite", "clean",
                 "--out", str(tmp_path / "eval"), *argv])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert re.search(message, err), err


def test_cli_refuses_long_context_settings_for_df(sim_store, tmp_path, capsys):
    code = main(["train", "--policy", "df", "--data", str(sim_store), "--out",
                 str(tmp_path / "df"), "--set", "long_context.width=32"])
    assert code == 2
    assert "apply to --policy dp_long or ptp only, not to df" in capsys.readouterr().err
