"""The DP-style baseline: Diffusion Policy's recipe without recurrent state.

An action chunk is denoised (x0-prediction, the same cosine schedule and DDIM sampler as the DF
model) conditioned on a 2-frame observation window of every camera — the frames of the previous
and the current token, one chunk apart — and nothing else. It sees no further back, so on the
fruit swap it cannot know which stage it is in once the fruits look the same as before; that is
the point of the baseline.

It trains on the same episode batches as the DF model (``forward`` has the same signature; the
DF-specific level options are ignored) so ``df-policy train --policy dp`` reuses the trainer,
checkpoints and resume.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from df_policy.model import rng
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import ACTION_KEY, ENCODER_CHANNELS
from df_policy.model.networks import ImageEncoder, LevelEmbedding
from df_policy.model.sampler import ddim_sample, pure_noise
from df_policy.model.schedule import NoiseSchedule

WINDOW = 2
"""Frames per camera in the observation window."""


class DiffusionPolicyModel(nn.Module):
    """Observation window -> action chunk by conditional denoising; no memory."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.schedule = NoiseSchedule(config.num_levels, config.clip_noise)
        self.image_encoders = nn.ModuleDict(
            {cam: ImageEncoder(ENCODER_CHANNELS, config.latent_downsample)
             for cam in config.cameras})
        grid = config.latent_size ** 2
        hidden = config.action_hidden
        self.observation = nn.Sequential(
            nn.Flatten(), nn.Linear(WINDOW * len(config.cameras) * ENCODER_CHANNELS * grid,
                                    hidden), nn.SiLU())
        self.level_embedding = LevelEmbedding(1, config.level_embedding)
        self.denoiser = nn.Sequential(
            nn.Linear(config.action_size + hidden + config.level_embedding, hidden), nn.SiLU(),
            nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, config.action_size))

    def observe(self, previous: dict[str, torch.Tensor],
                current: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features (B, hidden) of the window: per camera (B, 3, S, S) frames, older first."""
        maps = [self.image_encoders[cam](frames[cam]) for cam in self.config.cameras
                for frames in (previous, current)]
        return self.observation(torch.cat(maps, dim=1))

    def denoise(self, noisy: torch.Tensor, levels: torch.Tensor,
                features: torch.Tensor) -> torch.Tensor:
        """x0_hat of the action chunk (B, A) from its noisy version at ``levels`` (B, 1)."""
        return self.denoiser(torch.cat([noisy, features, self.level_embedding(levels)], dim=1))

    @torch.no_grad()
    def sample(self, features: torch.Tensor, generator: torch.Generator | None = None,
               steps: int | None = None) -> torch.Tensor:
        """DDIM-sample the action chunk (B, A) for observation ``features``."""
        shape = (features.shape[0], self.config.action_size)
        noise = pure_noise(self.schedule, {ACTION_KEY: shape}, generator, features.device)
        return ddim_sample(
            lambda noisy, levels: {ACTION_KEY: self.denoise(noisy[ACTION_KEY], levels, features)},
            self.schedule, noise, steps or self.config.sampling_steps)[ACTION_KEY]

    def forward(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss (for DistributedDataParallel); see :meth:`loss`."""
        return self.loss(*args, **kwargs)

    def loss(self, tokens: dict[str, torch.Tensor], token_mask: torch.Tensor,
             modality_mask: torch.Tensor, generator: torch.Generator | None = None,
             *unused: float) -> tuple[torch.Tensor, dict[str, float]]:
        """x0 MSE of the chunk after token t given the frames of tokens t-1 and t.

        Every (episode, t) pair with a next token is one sample; token 0's window repeats its
        frame (as Diffusion Policy pads). Missing frames are given as zeros.
        """
        cfg = self.config
        batch, horizon = token_mask.shape
        valid = token_mask[:, 1:]  # a next chunk exists
        frames = {}
        for m, cam in enumerate(cfg.cameras):
            present = modality_mask[:, :, m, None, None, None].to(tokens[cam].dtype)
            frames[cam] = tokens[cam] * present
        current = {cam: frames[cam][:, :-1][valid] for cam in cfg.cameras}
        previous = {cam: torch.cat([frames[cam][:, :1], frames[cam][:, :-2]], dim=1)[valid]
                    for cam in cfg.cameras}
        target = tokens[ACTION_KEY][:, 1:][valid]
        levels = rng.randint(cfg.num_levels, (len(target), 1), generator, target.device)
        noise = self.schedule.sample_noise(target, generator)
        noisy = self.schedule.add_noise(target, noise, levels[:, 0])
        x0_hat = self.denoise(noisy, levels, self.observe(previous, current))
        value = ((x0_hat - target) ** 2).mean()
        return value, {f"loss/{ACTION_KEY}": float(value.detach())}
