"""Exporting a run: a small folder with EMA weights and a gating calibration that loads."""

import json

import numpy as np

from df_policy.policy.config import RuntimeConfig
from df_policy.policy.export import export_checkpoint
from df_policy.policy.runtime import DFPolicy


def test_export_then_run_with_gating(tiny_checkpoint, sim_store, tmp_path):
    out = tmp_path / "shipped"
    result = export_checkpoint(tiny_checkpoint, sim_store, out, calibration_episodes=2)
    assert sorted(p.name for p in out.iterdir()) == [
        "calibration.json", "config.yaml", "model.safetensors", "normalizer.safetensors"]
    assert result["size_bytes"] < 5_000_000
    calibration = json.loads((out / "calibration.json").read_text())
    stats = calibration["cameras"]
    assert stats["front"]["tokens"] > 0 and stats["front"]["std"] > 0
    policy = DFPolicy.from_checkpoint(out, device="cpu")
    assert policy.calibration is not None
    runtime = RuntimeConfig()
    assert (calibration["sampling_steps"], calibration["action_samples"]) == (
        runtime.ddim_steps(policy.model_config.sampling_steps), runtime.action_samples), \
        "forecast as the runtime does"
    frames = {cam: np.full((16, 16, 3), 90, np.uint8) for cam in policy.cameras}
    policy.step(frames)
    shock = {cam: np.full((16, 16, 3), 255, np.uint8) for cam in policy.cameras}
    surprised = policy.step(shock)
    assert max(surprised.surprise.values()) > 0
