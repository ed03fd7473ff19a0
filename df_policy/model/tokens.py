"""From camera images and executed actions to model tokens, and back.

A token t of an episode is taken at control step ``s_t = offset + t * chunk``::

    camera part   image of each camera at step s_t, resized to image_size, scaled to [-1, 1]
    action part   actions[s_{t-1} : s_t] (the chunk executed since the previous token),
                  flattened and normalised; token 0 has no previous chunk: zeros (normalised)

The same functions serve training (whole episodes) and the runtime (one token at a time), so
resizing and normalisation cannot drift apart.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """``(..., S, S, 3) uint8`` -> ``(..., 3, S, S) float32`` in [-1, 1]."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)
    return tensor.movedim(-1, -3)


def tensor_to_images(tensor: torch.Tensor) -> np.ndarray:
    """``(..., 3, S, S)`` in [-1, 1] -> ``(..., S, S, 3) uint8``."""
    scaled = ((tensor.detach().float().clamp(-1, 1) + 1.0) * 127.5).round()
    return scaled.movedim(-3, -1).to(torch.uint8).cpu().numpy()


class ActionNormalizer(nn.Module):
    """Per-dimension min-max scaling of action vectors to [-1, 1], fitted on training data.

    A dimension that barely varies (range below ``min_range``) is scaled by ``min_range`` so
    that its noise is not blown up.
    """

    def __init__(self, action_dim: int, min_range: float = 1e-2) -> None:
        super().__init__()
        self.min_range = min_range
        self.register_buffer("low", torch.zeros(action_dim))
        self.register_buffer("high", torch.ones(action_dim))

    def fit(self, actions: np.ndarray) -> ActionNormalizer:
        """Set the ranges from ``(N, action_dim)`` actions; returns self."""
        low = torch.as_tensor(actions.min(axis=0), dtype=torch.float32)
        high = torch.as_tensor(actions.max(axis=0), dtype=torch.float32)
        centre = (low + high) / 2
        half = torch.clamp((high - low) / 2, min=self.min_range / 2)
        self.low.copy_(centre - half)
        self.high.copy_(centre + half)
        return self

    def normalize(self, actions: torch.Tensor) -> torch.Tensor:
        """``(..., action_dim)`` raw -> normalised."""
        return 2 * (actions - self.low) / (self.high - self.low) - 1

    def denormalize(self, actions: torch.Tensor) -> torch.Tensor:
        """``(..., action_dim)`` normalised -> raw."""
        return (actions + 1) / 2 * (self.high - self.low) + self.low
