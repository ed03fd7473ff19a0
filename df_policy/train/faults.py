"""Sensor faults in training tokens, at the noise level the runtime gives them.

Per episode and camera, with probability ``prob``, a fault of 1-4 consecutive tokens starts
at a random token after the first:

    blank    the frame is black                      level floor: the top level
    frozen   the last good frame is repeated         level floor: rising with the frame's age,
                                                     top/2 one token stale, the top from two

which is how the runtime absorbs them (a contentless frame is unknown; a frozen stream's
level ramps with its staleness, :mod:`df_policy.policy.noise_levels`). The loss still asks for
the true frame: like a dead camera, the model learns to forecast it from memory.
"""

from __future__ import annotations

import torch

from df_policy.model import rng

MAX_TOKENS = 4
"""Longest fault, in tokens."""


def sensor_faults(
    images: dict[str, torch.Tensor], prob: float, top: int, generator: torch.Generator | None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """Faulty inputs and their level floors.

    Args:
        images: {camera: (B, T, 3, S, S)} in [-1, 1].
        prob: chance per episode and camera of a fault.
        top: the top noise level.

    Returns:
        ({camera: faulty images}, floor (B, T, cameras) long) — ``(images, None)`` when
        ``prob`` is 0 (and no random draw is made).
    """
    if prob <= 0:
        return images, None
    cameras = list(images)
    batch, horizon = images[cameras[0]].shape[:2]
    device = images[cameras[0]].device
    steps = torch.arange(horizon, device=device)[None]
    faulty, floors = {}, []
    for cam in cameras:
        on = rng.rand((batch, 1), generator, device) < prob
        start = 1 + rng.randint(max(1, horizon - 1), (batch, 1), generator, device)
        length = 1 + rng.randint(MAX_TOKENS, (batch, 1), generator, device)
        blank = rng.rand((batch, 1), generator, device) < 0.5
        inside = on & (steps >= start) & (steps < start + length)  # (B, T)
        age = (steps - start + 1).clamp(min=0)
        frozen_level = torch.clamp(age * (top // 2), max=top)
        floors.append(torch.where(inside, torch.where(blank, top, frozen_level), 0))
        last_good = torch.where(inside, (start - 1).clamp(max=horizon - 1), steps)  # (B, T)
        source = images[cam].gather(1, last_good[:, :, None, None, None].expand_as(images[cam]))
        black = torch.full_like(images[cam], -1.0)
        mask = inside[:, :, None, None, None]
        faulty[cam] = torch.where(mask & blank[:, :, None, None, None], black,
                                  torch.where(mask, source, images[cam]))
    return faulty, torch.stack(floors, dim=2).long()
