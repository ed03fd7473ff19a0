"""Image augmentation of training batches: moving shadows.

An object passing between a light and the table darkens a band of the scene that moves from
frame to frame; a camera close to the table (the wrist) sees it as a large, changing dark
region. Each camera of an episode gets such a shadow with probability ``prob``: a straight band
of random direction, width and darkness that slides across the image at a constant speed.
"""

from __future__ import annotations

import math

import torch

from df_policy.model import rng


def moving_shadows(images: torch.Tensor, prob: float,
                   generator: torch.Generator | None) -> torch.Tensor:
    """``(B, T, 3, S, S)`` images in [-1, 1] with a moving shadow in a ``prob`` share of
    the episodes (a new tensor; the input is not changed)."""
    if prob <= 0:
        return images  # and no random draw: runs without shadows keep their random stream
    batch, horizon, _, size, _ = images.shape
    device = images.device
    shadowed = rng.rand((batch,), generator, device) < prob
    angle = rng.rand((batch,), generator, device) * 2 * math.pi
    half_width = 0.3 + 0.4 * rng.rand((batch,), generator, device)  # image half-sizes
    darkness = 0.3 + 0.4 * rng.rand((batch,), generator, device)  # remaining brightness
    start = rng.rand((batch,), generator, device) * 2 - 1  # band centre, in [-1, 1]
    speed = (rng.rand((batch,), generator, device) - 0.5) * 1.6  # image half-sizes per token
    axis = torch.linspace(-1, 1, size, device=device)
    rows, cols = torch.meshgrid(axis, axis, indexing="ij")
    # Coordinate of every pixel along each episode's band direction: (B, S, S).
    along = (cols[None] * torch.cos(angle)[:, None, None]
             + rows[None] * torch.sin(angle)[:, None, None])
    centre = start[:, None] + speed[:, None] * torch.arange(horizon, device=device)[None]
    inside = (along[:, None] - centre[:, :, None, None]).abs() < half_width[:, None, None, None]
    scale = torch.where(inside & shadowed[:, None, None, None],
                        darkness[:, None, None, None], torch.ones((), device=device))
    return (images + 1) * scale[:, :, None] - 1
