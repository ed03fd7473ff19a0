"""Calibrate innovation gating: forecast error statistics on clean validation episodes.

Each episode of a store is replayed through the model as the runtime would see it (absorb the
recorded token clean, forecast the next one with the runtime's DDIM steps and action samples);
the :func:`forecast_error` between each camera's forecast and the frame that follows is
collected. Its mean and standard deviation turn a run-time error into a z-score. The result is
saved as ``calibration.json`` beside the weights, with the name of the error it measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from df_policy.checkpoint import LoadedCheckpoint
from df_policy.data.store import EpisodeStore
from df_policy.errors import CheckpointError
from df_policy.files import write_atomically
from df_policy.images import resize_images
from df_policy.keys import ACTION, GRIPPER
from df_policy.model.df_model import ACTION_KEY, GRIPPER_KEY
from df_policy.model.tokens import images_to_tensor
from df_policy.policy.config import RuntimeConfig

CALIBRATION_FILE = "calibration.json"
FORECAST_ERROR = "standardised_mse"
"""The name of :func:`forecast_error`, recorded in every calibration: statistics of another
measure cannot z-score it."""
STANDARDISE_EPS = 1e-3
"""Added to a channel's spread before dividing by it (a blank channel has none)."""


def forecast_error(forecast: torch.Tensor, observed: torch.Tensor) -> float:
    """How far an arriving frame is from the model's forecast of it, blind to the camera's
    photometry: the mean squared difference of the two ``(1, 3, S, S)`` images after each
    image's channels are standardised (zero mean, unit spread). A camera whose exposure,
    white balance or contrast changed still shows what was forecast, and a frame whose content
    differs (occluded, frozen, late, blank) does not; the raw difference confused the two and
    shut a brightened camera out for good (its forecasts never caught up with the frames it
    was no longer given)."""
    def standardised(image: torch.Tensor) -> torch.Tensor:
        flat = image.flatten(2)
        return (flat - flat.mean(dim=2, keepdim=True)) / (flat.std(dim=2, keepdim=True)
                                                          + STANDARDISE_EPS)
    return float(((standardised(forecast) - standardised(observed)) ** 2).mean())


@torch.no_grad()
def forecast_errors(
    loaded: LoadedCheckpoint, store: EpisodeStore, episodes: list[int], seed: int = 0,
    sampling_steps: int | None = None, samples: int = 1,
) -> dict[str, list[float]]:
    """Per-camera forecast MSEs over the tokens of ``episodes`` (teacher-forced replay);
    ``sampling_steps`` and ``samples`` are the ``steps`` and ``samples`` of
    :meth:`~df_policy.model.df_model.DiffusionForcingModel.predict_next`."""
    model, cfg = loaded.model, loaded.config
    generator = torch.Generator().manual_seed(seed)
    levels = model.observation_levels()  # every token a healthy observation
    errors: dict[str, list[float]] = {cam: [] for cam in cfg.cameras}
    for index in episodes:
        episode = store.episode(index)
        steps = np.arange(0, len(episode[ACTION]), cfg.chunk)
        z = model.initial_latent(1)
        forecast: dict[str, torch.Tensor] | None = None
        for t, step in enumerate(steps):
            token = {cam: images_to_tensor(resize_images(episode[cam][step], cfg.image_size))[None]
                     for cam in cfg.cameras}
            chunk = np.zeros((cfg.chunk, cfg.action_dim), np.float32)
            if t:
                chunk = episode[ACTION][steps[t - 1] : step]
            action = loaded.normalizer.normalize(torch.from_numpy(chunk)).flatten()[None]
            token[ACTION_KEY] = action if t else torch.zeros_like(action)
            if cfg.gripper_state:
                opening = torch.from_numpy(episode[GRIPPER][step : step + 1])
                token[GRIPPER_KEY] = model.opening_token(opening)
            if forecast is not None:
                for cam in cfg.cameras:
                    errors[cam].append(forecast_error(forecast[cam], token[cam]))
            z = model.absorb(z, token, levels, generator)
            forecast = model.predict_next(z, generator, sampling_steps, samples)
    return errors


def calibrate(loaded: LoadedCheckpoint, store_path: str | Path, episodes: int = 10,
              seed: int = 0, runtime: RuntimeConfig | None = None) -> dict[str, Any]:
    """Statistics of clean forecast errors from the last ``episodes`` of a store, forecast as
    ``runtime`` (default: the runtime defaults) forecasts."""
    runtime = runtime or RuntimeConfig()
    store = EpisodeStore.open(store_path)
    chosen = list(range(max(0, store.n_episodes - episodes), store.n_episodes))
    steps = runtime.ddim_steps(loaded.config.sampling_steps)
    errors = forecast_errors(loaded, store, chosen, seed, steps, runtime.action_samples)
    return {
        "error": FORECAST_ERROR,
        "episodes": chosen,
        "store": str(store_path),
        "sampling_steps": steps,
        "action_samples": runtime.action_samples,
        "cameras": {
            cam: {"mean": float(np.mean(v)), "std": float(np.std(v) + 1e-6),
                  "p99": float(np.percentile(v, 99)), "tokens": len(v)}
            for cam, v in errors.items()
        },
    }


def save_calibration(folder: Path, calibration: dict[str, Any]) -> Path:
    """Write calibration.json into a checkpoint folder, whole or not at all."""
    return write_atomically(Path(folder) / CALIBRATION_FILE, json.dumps(calibration, indent=2))


def load_calibration(folder: Path) -> dict[str, Any] | None:
    """The checkpoint's calibration, or None when it has not been calibrated.

    Raises:
        CheckpointError: it measured another forecast error than :func:`forecast_error`
            (calibrations before the name was recorded measured the raw squared difference).
    """
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    calibration = json.loads(path.read_text())
    measured = calibration.get("error", "mse")
    if calibration.get("cameras") and measured != FORECAST_ERROR:
        raise CheckpointError(
            f"{path} holds statistics of the forecast error {measured!r}, and this runtime "
            f"gates on {FORECAST_ERROR!r}: recalibrate it on clean demonstrations with "
            f"`df-policy export --checkpoint {folder} --data STORE`")
    return calibration
