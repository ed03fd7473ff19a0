"""Deterministic DDIM (eta = 0) for one token from a fixed latent.

The caller supplies ``denoise(noisy_token, levels) -> x0_hat``; this module only walks the
levels. Levels per step: ``linspace(-1, K-1, S+1)`` rounded, reversed — e.g. K = 1000, S = 25:
999, 959, ..., 39, then -1 meaning "return x0_hat". ``k_next`` is always passed explicitly,
never derived from a stride (cf. diffusers#12633).

One DDIM step (Song et al. eq. 12 with sigma = 0)::

    1. x0_hat = denoise(x^k, k)
    2. eps_hat = (x^k - sqrt(ab_k) x0_hat) / sqrt(1 - ab_k)
    3. x^k' = sqrt(ab_k') x0_hat + sqrt(1 - ab_k') eps_hat        (k' = k_next)
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from df_policy.model.schedule import NoiseSchedule

Token = dict[str, torch.Tensor]
Denoise = Callable[[Token, torch.Tensor], Token]
"""(noisy token, levels (B, M) long) -> x0_hat token."""


@functools.cache
def ddim_levels(num_levels: int, steps: int) -> tuple[int, ...]:
    """The level visited at each DDIM step, noisiest first, ending with -1 (= clean).

    Cached: plain ints once computed, which is also what lets ``torch.export`` trace
    :func:`ddim_sample` (it cannot trace ``tolist``; the exporter computes the levels first).
    """
    levels = torch.linspace(-1, num_levels - 1, steps + 1).round().long().tolist()
    return tuple(reversed(levels))


def pure_noise(schedule: NoiseSchedule, shapes: dict[str, tuple[int, ...]],
               generator: torch.Generator | None, device: torch.device | str = "cpu") -> Token:
    """x^K of each modality: clamped Gaussian noise of the given shapes, drawn in order."""
    return {name: schedule.sample_noise(torch.empty(shape, device=device), generator)
            for name, shape in shapes.items()}


@torch.no_grad()
def ddim_sample(denoise: Denoise, schedule: NoiseSchedule, noise: Token, steps: int) -> Token:
    """Sample a clean token from pure ``noise`` (x^K of each modality, batch first; see
    :func:`pure_noise`). Deterministic given the noise, so it traces into one graph."""
    token = noise
    first = next(iter(noise.values()))
    batch, device = first.shape[0], first.device
    schedule_levels = ddim_levels(schedule.num_levels, steps)
    x0_hat = token
    for k, k_next in zip(schedule_levels[:-1], schedule_levels[1:], strict=True):
        level = torch.full((batch, len(noise)), k, dtype=torch.long, device=device)
        x0_hat = {name: x.clamp(-1.0, 1.0) for name, x in denoise(token, level).items()}
        if k_next < 0:
            break
        level_now = level[:, 0]
        level_next = torch.full_like(level_now, k_next)
        token = {
            name: schedule.add_noise(
                x0_hat[name], schedule.noise_from_x0(token[name], x0_hat[name], level_now),
                level_next,
            )
            for name in token
        }
    return x0_hat
