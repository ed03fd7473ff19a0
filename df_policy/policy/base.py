"""What every policy made from a checkpoint shares: its output, its interface, action decoding."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from df_policy.images import resize_images
from df_policy.model.config import ModelConfig
from df_policy.model.tokens import ActionNormalizer


@dataclasses.dataclass
class PolicyOutput:
    """What one policy step produces."""

    actions: np.ndarray
    """(chunk, 8) float32 absolute targets [x, y, z, qw, qx, qy, qz, grip] to execute next."""
    levels: dict[str, int]
    """Noise level each camera's frame was absorbed at."""
    surprise: dict[str, float]
    """Forecast/frame disagreement per camera (z-score; raw MSE when uncalibrated)."""
    forecast: dict[str, np.ndarray]
    """The model's forecast of each camera at the next token, (S, S, 3) uint8."""
    timings_ms: dict[str, float]
    """Wall time of each stage: prepare, absorb, predict, total."""
    backend: str = "torch"
    """What ran the model: ``torch`` or ``onnxruntime``, and its device (e.g. ``torch/cpu``)."""


class CheckpointPolicy:
    """What every controller made from a checkpoint tells its callers."""

    model_config: ModelConfig

    @property
    def cameras(self) -> tuple[str, ...]:
        """Cameras the model reads, in order."""
        return self.model_config.cameras

    @property
    def chunk(self) -> int:
        """Actions per step."""
        return self.model_config.chunk

    @property
    def image_size(self) -> int:
        """Side of the images inside the model."""
        return self.model_config.image_size


def postprocess_actions(normalizer: ActionNormalizer, action: torch.Tensor,
                        config: ModelConfig) -> np.ndarray:
    """A sampled, normalised chunk (1, A) -> (chunk, 8) float32 targets: denormalised, unit
    quaternions, gripper in [0, 1]."""
    actions = normalizer.denormalize(action.view(config.chunk, -1)).float().cpu().numpy()
    quat = actions[:, 3:7]
    actions[:, 3:7] = quat / np.maximum(np.linalg.norm(quat, axis=1, keepdims=True), 1e-6)
    actions[:, 7] = np.clip(actions[:, 7], 0.0, 1.0)
    return actions


def frames_or_black(images: dict[str, np.ndarray | None], cameras: tuple[str, ...],
                    size: int) -> dict[str, np.ndarray]:
    """Each camera's frame resized to ``(size, size, 3) uint8``, black where none arrived (what
    a plain Diffusion Policy gets for a missing frame)."""
    return {cam: np.zeros((size, size, 3), np.uint8) if images.get(cam) is None
            else resize_images(images[cam], size) for cam in cameras}


def normalized_chunk(chunk: np.ndarray | None, normalizer: ActionNormalizer,
                     config: ModelConfig, device: torch.device) -> torch.Tensor:
    """The ``(chunk, 8)`` actions executed since the last token as a token's normalised action
    part (1, A); zeros for None (before the first token: nothing was executed)."""
    if chunk is None:
        return torch.zeros((1, config.action_size), device=device)
    chunk = np.asarray(chunk, dtype=np.float32)
    if chunk.shape != (config.chunk, config.action_dim) or not np.all(np.isfinite(chunk)):
        raise ValueError(f"executed actions must be a finite ({config.chunk}, "
                         f"{config.action_dim}) array, got {chunk.shape}")
    return normalizer.normalize(torch.from_numpy(chunk).to(device)).reshape(1, -1)


def frames_output(actions: np.ndarray, images: dict[str, np.ndarray | None],
                  frames: dict[str, np.ndarray], top: int, backend: str,
                  started: float, prepared: float, done: float) -> PolicyOutput:
    """The step report of a policy that knows no noise levels (the DP-style baseline, the
    long-context rivals): the top level for a camera that delivered nothing, no surprise, the
    frames it was given as the "forecast", and the ``perf_counter`` times of the step's start,
    end of preparation and end."""
    return PolicyOutput(
        actions=actions,
        levels={cam: 0 if images.get(cam) is not None else top for cam in frames},
        surprise={},
        forecast=frames,
        timings_ms={"prepare": 1000 * (prepared - started),
                    "predict": 1000 * (done - prepared), "total": 1000 * (done - started)},
        backend=backend,
    )
