"""Building blocks of the recurrent Diffusion Forcing model.

Shapes (B batch, C_z latent channels, L latent side, S image side, A = chunk * action_dim)::

    LevelEmbedding  levels (B, M) long          -> (B, E)    one sinusoid per modality, mixed
    Denoiser        (B, C_in, L, L), (B, E)     -> (B, C_z, L, L)   small U-Net with FiLM
    ConvGRU         u (B, C_z, L, L), z (B, C_z, L, L) -> z' (B, C_z, L, L)
    ImageHead       z (B, C_z, L, L)            -> (B, 3, S, S)
    ActionHead      z (B, C_z, L, L)            -> (B, A)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


def sinusoid(level: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B, dim) of integer levels (B,)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=level.device) / half)
    angles = level.float()[:, None] * freqs[None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class LevelEmbedding(nn.Module):
    """Embeds one noise level per modality and mixes them into one conditioning vector."""

    def __init__(self, modalities: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mix = nn.Sequential(nn.Linear(modalities * dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, levels: torch.Tensor) -> torch.Tensor:
        """levels (B, M) long -> (B, dim)."""
        parts = [sinusoid(levels[:, m], self.dim) for m in range(levels.shape[1])]
        return self.mix(torch.cat(parts, dim=1))


class ResBlock(nn.Module):
    """Conv residual block with FiLM (scale, shift) from the level embedding."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.film = nn.Linear(cond_dim, 2 * out_ch)
        self.norm2 = nn.GroupNorm(min(8, out_ch), out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, in, H, W), cond (B, E) -> (B, out, H, W)."""
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class Denoiser(nn.Module):
    """U-Net over the latent grid: one ResBlock per level down, a middle block, and up again."""

    def __init__(self, in_ch: int, out_ch: int, channels: tuple[int, ...], cond_dim: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_ch, channels[0], 3, padding=1)
        self.down = nn.ModuleList()
        prev = channels[0]
        for width in channels:
            self.down.append(ResBlock(prev, width, cond_dim))
            prev = width
        self.middle = ResBlock(prev, prev, cond_dim)
        self.up = nn.ModuleList()
        for width in reversed(channels):
            self.up.append(ResBlock(prev + width, width, cond_dim))
            prev = width
        self.out = nn.Conv2d(prev, out_ch, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, in_ch, L, L), cond (B, E) -> (B, out_ch, L, L)."""
        h = self.stem(x)
        skips = []
        for index, block in enumerate(self.down):
            h = block(h, cond)
            skips.append(h)
            if index < len(self.down) - 1:
                h = F.avg_pool2d(h, 2)
        h = self.middle(h, cond)
        for block in self.up:
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), cond)
        return self.out(F.silu(h))


class ConvGRU(nn.Module):
    """Convolutional GRU cell: z' = (1 - g) * z + g * tanh(W [u, r * z])."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gates = nn.Conv2d(2 * channels, 2 * channels, 3, padding=1)
        self.candidate = nn.Conv2d(2 * channels, channels, 3, padding=1)

    def forward(self, u: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """u, z (B, C, L, L) -> new z (B, C, L, L)."""
        gate, reset = torch.sigmoid(self.gates(torch.cat([u, z], dim=1))).chunk(2, dim=1)
        candidate = torch.tanh(self.candidate(torch.cat([u, reset * z], dim=1)))
        return (1 - gate) * z + gate * candidate


class ImageEncoder(nn.Module):
    """A noisy camera image (B, 3, S, S) -> features on the latent grid (B, C, L, L)."""

    def __init__(self, out_ch: int, downsample: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, out_ch, 3, padding=1)]
        for _ in range(int(math.log2(downsample))):
            layers += [nn.SiLU(), nn.Conv2d(out_ch, out_ch, 4, stride=2, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, out_ch, L, L)."""
        return self.net(image)


class ImageHead(nn.Module):
    """Latent (B, C_z, L, L) -> predicted clean image (B, 3, S, S)."""

    def __init__(self, latent_ch: int, hidden: int, upsample: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(latent_ch, hidden, 3, padding=1)]
        for _ in range(int(math.log2(upsample))):
            layers += [nn.SiLU(), nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1)]
        layers += [nn.SiLU(), nn.Conv2d(hidden, 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C_z, L, L) -> (B, 3, S, S)."""
        return self.net(z)


class ActionEncoder(nn.Module):
    """Noisy action chunk (B, A) -> a feature map on the latent grid (B, C, L, L)."""

    def __init__(self, action_size: int, out_ch: int, side: int, hidden: int) -> None:
        super().__init__()
        self.out_ch, self.side = out_ch, side
        self.net = nn.Sequential(
            nn.Linear(action_size, hidden), nn.SiLU(), nn.Linear(hidden, out_ch * 4 * 4)
        )

    def forward(self, action: torch.Tensor) -> torch.Tensor:
        """(B, A) -> (B, out_ch, L, L)."""
        coarse = self.net(action).view(-1, self.out_ch, 4, 4)
        return F.interpolate(coarse, size=(self.side, self.side), mode="nearest")


class ActionHead(nn.Module):
    """Latent (B, C_z, L, L) -> predicted clean action chunk (B, A)."""

    def __init__(self, latent_ch: int, side: int, action_size: int, hidden: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(latent_ch, 16, 3, padding=1)
        self.mlp = nn.Sequential(
            nn.Linear(16 * (side // 2) ** 2, hidden), nn.SiLU(), nn.Linear(hidden, action_size)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C_z, L, L) -> (B, A)."""
        h = F.avg_pool2d(F.silu(self.reduce(z)), 2)
        return self.mlp(h.flatten(1))
