"""Exporting a run: a small folder with EMA weights and a gating calibration that loads."""

import json

import numpy as np
import pytest
import torch

from df_policy.cli import main
from df_policy.errors import CheckpointError
from df_policy.policy.calibration import FORECAST_ERROR, forecast_error
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.export import export_checkpoint, recalibrate_checkpoint
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
    flat = policy.step({cam: np.full((16, 16, 3), 255, np.uint8) for cam in policy.cameras})
    policy.reset()
    policy.step(frames)
    texture = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    shock = policy.step({cam: texture for cam in policy.cameras})
    for cam in policy.cameras:  # a z-score: content the forecast lacks is the surprise
        assert shock.surprise[cam] > flat.surprise[cam]


def test_the_forecast_error_ignores_the_camera_s_photometry_and_not_its_content():
    """A frame as forecast but brighter, tinted or flatter (a gain and an offset per channel)
    is no surprise; the same scene moved, or covered by a card, is."""
    generator = torch.Generator().manual_seed(0)
    forecast = torch.rand((1, 3, 16, 16), generator=generator) * 2 - 1
    gain = torch.tensor([1.5, 1.2, 0.8])[None, :, None, None]
    recoloured = forecast * gain * 0.6 + 0.1  # dimmer, tinted, lifted: within [-1, 1]
    moved = forecast.roll(3, dims=3)
    covered = forecast.clone()
    covered[..., 4:12, 4:12] = 0.3
    assert forecast_error(forecast, forecast) == 0
    assert forecast_error(forecast, recoloured) < 1e-4
    assert forecast_error(forecast, moved) > 1.0
    assert forecast_error(forecast, covered) > 0.2
    raw = float(((forecast - recoloured) ** 2).mean())
    assert raw > 0.04, "the raw difference saw a change"


def test_a_calibration_of_another_forecast_error_is_refused_until_made_anew(
        tiny_checkpoint, sim_store, tmp_path):
    out = tmp_path / "exported"
    export_checkpoint(tiny_checkpoint, sim_store, out, calibration_episodes=1)
    path = out / "calibration.json"
    old = json.loads(path.read_text())
    assert old["error"] == FORECAST_ERROR
    del old["error"]  # as written before the error was named: the raw squared difference
    path.write_text(json.dumps(old))
    with pytest.raises(CheckpointError, match="'mse'.*'standardised_mse'.*export --checkpoint"):
        DFPolicy.from_checkpoint(out, device="cpu")
    assert main(["export", "--checkpoint", str(out), "--data", str(sim_store),
                 "--calibration-episodes", "1"]) == 0
    policy = DFPolicy.from_checkpoint(out, device="cpu")
    assert policy.calibration["error"] == FORECAST_ERROR
    assert policy.calibration["source_checkpoint"] == old["source_checkpoint"]
    assert policy.calibration["cameras"]["front"]["tokens"] > 0
    assert not list(out.glob("*.tmp")), "written whole, then renamed"
    path.write_text(path.read_text()[:40])  # a file cut short is made anew, not read
    recalibrate_checkpoint(out, sim_store, calibration_episodes=1)
    assert DFPolicy.from_checkpoint(out, device="cpu").calibration["error"] == FORECAST_ERROR
