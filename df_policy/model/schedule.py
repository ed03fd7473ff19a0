"""The cosine noise schedule, with a noise level per sample (and per modality) of a token.

Notation (paper symbol -> name here)::

    k          level    integer noise level, 0 = clean ... K-1 = pure noise
    alpha_bar  alpha_bar[k], cumulative signal fraction
    x^k        noisy    sqrt(alpha_bar_k) * x0 + sqrt(1 - alpha_bar_k) * eps
    x0_hat     x0_hat   the model's prediction of the clean token
"""

from __future__ import annotations

import math

import torch

from df_policy.model import rng


def cosine_alpha_bar(num_levels: int, s: float = 0.008) -> torch.Tensor:
    """alpha_bar for levels 0..K-1 from the cosine schedule (betas clipped at 0.999)."""
    steps = num_levels + 1
    t = torch.linspace(0, num_levels, steps, dtype=torch.float64) / num_levels
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = torch.clip(1 - f[1:] / f[:-1], 0, 0.999)
    return torch.cumprod(1 - betas, dim=0).float()


class NoiseSchedule(torch.nn.Module):
    """alpha_bar table plus the forward-noising and inversion formulas, per-sample levels."""

    def __init__(self, num_levels: int, clip_noise: float = 6.0) -> None:
        super().__init__()
        self.num_levels = num_levels
        self.clip_noise = clip_noise
        self.register_buffer("alpha_bar", cosine_alpha_bar(num_levels), persistent=False)

    def coefficients(self, level: torch.Tensor, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """sqrt(alpha_bar), sqrt(1 - alpha_bar) for ``level`` (B,), shaped to broadcast."""
        alpha_bar = self.alpha_bar[level].view(-1, *([1] * (ndim - 1)))
        return alpha_bar.sqrt(), (1 - alpha_bar).sqrt()

    def sample_noise(self, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Standard Gaussian noise clamped to +-clip_noise."""
        noise = rng.randn(like.shape, generator, like.device, like.dtype)
        return noise.clamp(-self.clip_noise, self.clip_noise)

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        """Forward diffusion: x^k = sqrt(alpha_bar_k) x0 + sqrt(1 - alpha_bar_k) eps."""
        signal, sigma = self.coefficients(level, x0.ndim)
        return signal * x0 + sigma * noise

    def noise_from_x0(
        self, noisy: torch.Tensor, x0_hat: torch.Tensor, level: torch.Tensor
    ) -> torch.Tensor:
        """eps implied by a clean prediction: (x^k - sqrt(alpha_bar_k) x0_hat) / sigma_k."""
        signal, sigma = self.coefficients(level, noisy.ndim)
        return (noisy - signal * x0_hat) / sigma.clamp(min=1e-8)
