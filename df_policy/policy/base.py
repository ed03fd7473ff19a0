"""What every policy made from a checkpoint shares: its output, its interface, action decoding."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

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
