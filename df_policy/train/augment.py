"""Image augmentation of training batches, by category, on batched tensors (kornia kernels).

What real cameras and labs do to images, each drawn per episode and camera (a camera's
condition persists over an episode) and applied with probability ``prob`` per kind; ranges at
``strength`` 1 (``strength`` scales them towards none):

    geometric    rotation +-2 deg, shift +-1.5 px (of 32), zoom 1-1.08   a camera bumped
    exposure     gain x0.5 .. x1.5 (log-uniform)                        auto-exposure, lights
    white        red and blue gains x0.81 .. x1.23                       colour temperature
    contrast     x0.6 .. x1.4 about the image mean                       haze, lens flare
    gamma        0.66 .. 1.5                                             camera tone curve
    blur         Gaussian sigma 0.3 .. 1.2 px                            focus, motion
    noise        Gaussian, std up to 0.06 (of the 0..1 range)            sensor noise, gain
    compression  JPEG quality 20 .. 90                                   a compressed stream

and moving shadows (:func:`moving_shadows`): a band darkened to 30-70 % sliding across the
view, as an object passing a light casts one. These ranges are this module's own, chosen for
the categories above; they are not the evaluation's corruptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from kornia.enhance import (
    adjust_contrast_with_mean_subtraction,
    adjust_gamma,
    jpeg_codec_differentiable,
)
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import get_affine_matrix2d, warp_affine

from df_policy.model import rng

KINDS = ("geometric", "exposure", "white", "contrast", "gamma", "blur", "noise", "compression")
JPEG_BLOCK = 16
"""kornia's JPEG codec works on images whose sides are multiples of 16 (padded if not)."""


def augment_images(images: torch.Tensor, prob: float, strength: float,
                   generator: torch.Generator | None) -> torch.Tensor:
    """``(B, T, 3, S, S)`` images in [-1, 1], each kind of :data:`KINDS` applied to an
    episode with probability ``prob`` (a new tensor; the input is not changed)."""
    if prob <= 0 or strength <= 0:
        return images  # and no random draw: runs without augmentation keep their stream
    batch, horizon, _, size, _ = images.shape
    device = images.device

    def applied() -> torch.Tensor:
        """Which episodes get a kind: ``(B,)`` booleans, each true with probability ``prob``
        (one draw per kind, shared by all of that kind's parameters)."""
        return rng.rand((batch,), generator, device) < prob

    def draw(on: torch.Tensor, low: float, high: float) -> torch.Tensor:
        """Per-episode values in [low, high] scaled towards 0 by strength, 0 where ``on`` is
        false, repeated over the episode's tokens: (B * T,)."""
        value = (low + (high - low) * rng.rand((batch,), generator, device)) * strength
        return torch.where(on, value, 0.0).repeat_interleave(horizon)

    x = ((images.flatten(0, 1) + 1) / 2).clamp(0, 1)
    rows = len(x)
    bumped = applied()
    angle, shift_x, shift_y = draw(bumped, -2, 2), draw(bumped, -1.5, 1.5), draw(bumped, -1.5, 1.5)
    zoom = 1 + draw(bumped, 0, 0.08)
    scale = (size / 32) * torch.stack([shift_x, shift_y], dim=1)
    centre = torch.full((rows, 2), (size - 1) / 2, device=device)
    matrix = get_affine_matrix2d(scale, centre, torch.stack([zoom, zoom], dim=1), angle)
    moved = bumped.repeat_interleave(horizon)
    x = _on_rows(x, moved, lambda part, rows: warp_affine(
        part, matrix[rows, :2], (size, size), padding_mode="border"))
    gain = 2 ** draw(applied(), -1, math.log2(1.5))
    tinted = applied()
    white = 2 ** torch.stack([draw(tinted, -0.3, 0.3), torch.zeros(rows, device=device),
                              draw(tinted, -0.3, 0.3)], dim=1)
    x = (x * (gain[:, None] * white)[:, :, None, None]).clamp(0, 1)
    x = adjust_contrast_with_mean_subtraction(x, 1 + draw(applied(), -0.4, 0.4))
    x = adjust_gamma(x, 2 ** draw(applied(), -0.6, 0.6))
    sigma = draw(applied(), 0.3, 1.2)
    x = _on_rows(x, sigma > 0, lambda part, rows: gaussian_blur2d(
        part, 5, sigma[rows, None].expand(-1, 2)))
    noise_std = draw(applied(), 0, 0.06)[:, None, None, None]
    x = (x + noise_std * rng.randn(x.shape, generator, device)).clamp(0, 1)
    quality = draw(applied(), -70, -10) + 100  # 100 (not applied) -> not compressed
    x = _on_rows(x, quality < 100, lambda part, rows: _jpeg(part, quality[rows].clamp(20, 90)))
    return (x * 2 - 1).unflatten(0, (batch, horizon))


def _on_rows(x: torch.Tensor, chosen: torch.Tensor,
             apply: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``x`` with ``apply(x[rows], rows)`` written into the ``chosen`` rows (the kernel runs
    only where the augmentation is drawn)."""
    rows = chosen.nonzero()[:, 0]
    if len(rows) == 0:
        return x
    out = x.clone()
    out[rows] = apply(x[rows], rows)
    return out


def _jpeg(x: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """JPEG-compress ``(N, 3, S, S)`` images in [0, 1] at per-image ``quality``."""
    size = x.shape[-1]
    pad = -size % JPEG_BLOCK
    padded = torch.nn.functional.pad(x, (0, pad, 0, pad), mode="replicate") if pad else x
    with torch.no_grad():  # an augmentation: no gradient is wanted through the codec
        out = jpeg_codec_differentiable(padded, quality)
    return out[..., :size, :size].clamp(0, 1)


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
