"""The long-context rivals: Diffusion Policy conditioned on the last H tokens of the episode.

Two kinds share one network (``df-policy train --policy dp_long|ptp``):

- ``dp_long``: the next action chunk is denoised conditioned on the images *and* the executed
  actions of the last H tokens, through a transformer encoder (Diffusion Policy's recipe with a
  long context instead of a 2-frame window).
- ``ptp``: past-token prediction (Torne et al., arXiv 2505.09561). The context holds the images
  only, as the paper's ``pi(o_{t-k:t})``, and the denoiser predicts the chunks executed before
  each context token together with the next one (one noise level for all), with the past
  chunks' loss weighted by ``ptp_weight``. At run time past and next are sampled jointly and only
  the next chunk is executed. The paper's test-time verification (sampling several candidates
  and keeping the one whose past best matches the executed actions) is not implemented, nor its
  multistage training with cached embeddings: both kinds train end to end.

Notation (shapes; N samples, H = ``history_tokens``, W = ``width``, A = chunk * action_dim)::

    slot i        the context's positions, i = 0 oldest ... H-1 the current token t
    c_i           sum over cameras of Linear(ImageEncoder(frame)) + (dp_long) Linear(chunk
                  executed before the token) + embedding of slot i                 (N, H, W)
    present       (N, H) bool, False for the slots before the episode start (masked keys)
    memory        TransformerEncoder(c)                                             (N, H, W)
    x^k           noisy chunks: "action" the next one (N, A); (ptp) "past" (N, H, A)
    x0_hat        TransformerDecoder(Linear(x^k) + query slot + emb(k), memory) -> Linear

x0-prediction with the DF model's cosine :class:`NoiseSchedule` and DDIM sampler. Training
(:meth:`LongContextModel.loss`) takes the trainer's batches of whole episodes: every (episode,
token t) with a next token is one sample, its context the tokens t-H+1..t. A missing frame, a
camera dead for the episode (the trainer's camera dropout) and a blank sensor fault are black
frames, which is what the runtime gives the model for a frame that did not arrive.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from df_policy.model import rng
from df_policy.model.config import LongContextConfig, ModelConfig
from df_policy.model.df_model import (
    ACTION_KEY,
    ENCODER_CHANNELS,
    LevelSampling,
    draw_dead_camera,
)
from df_policy.model.networks import ImageEncoder, LevelEmbedding
from df_policy.model.sampler import Token, ddim_sample, pure_noise
from df_policy.model.schedule import NoiseSchedule

PAST_KEY = "past"
"""The past chunks of the context (ptp), beside ``action``, the next chunk."""
BLACK = -1.0
"""A black frame in the model's [-1, 1] image range."""


def history_windows(sequence: torch.Tensor, length: int) -> torch.Tensor:
    """``(B, T, ...)`` -> ``(B, T, length, ...)``: at token t the entries t-length+1..t, oldest
    first, zeros before the sequence start (a bool sequence gives False there)::

        T = 3, length = 2:   t=0 [0, x0]   t=1 [x0, x1]   t=2 [x1, x2]
    """
    pad = sequence.new_zeros((sequence.shape[0], length - 1, *sequence.shape[2:]))
    return torch.cat([pad, sequence], dim=1).unfold(1, length, 1).movedim(-1, 2)


def transformer(layer: type[nn.Module], context: LongContextConfig) -> nn.Module:
    """One pre-norm layer of ``layer``'s kind (no dropout) at the configured width."""
    return layer(context.width, context.heads, 4 * context.width, dropout=0.0,
                 batch_first=True, norm_first=True)


class LongContextModel(nn.Module):
    """Last-H-tokens context -> next action chunk by conditional denoising; see the module
    docstring. ``predicts_past`` makes it the ``ptp`` kind."""

    def __init__(self, config: ModelConfig, context: LongContextConfig,
                 predicts_past: bool = False) -> None:
        super().__init__()
        self.config, self.context, self.predicts_past = config, context, predicts_past
        self.schedule = NoiseSchedule(config.num_levels, config.clip_noise)
        width, history = context.width, context.history_tokens
        grid = config.latent_size ** 2
        self.image_encoders = nn.ModuleDict({cam: nn.Sequential(
            ImageEncoder(ENCODER_CHANNELS, config.latent_downsample), nn.Flatten(),
            nn.Linear(ENCODER_CHANNELS * grid, width)) for cam in config.cameras})
        if not predicts_past:  # ptp's context holds no actions: they are what it predicts
            self.action_embedding = nn.Linear(config.action_size, width)
        self.slots = nn.Parameter(0.02 * torch.randn(history, width))
        self.encoder = nn.TransformerEncoder(transformer(nn.TransformerEncoderLayer, context),
                                             context.depth, enable_nested_tensor=False)
        self.level_embedding = nn.Sequential(LevelEmbedding(1, config.level_embedding),
                                             nn.Linear(config.level_embedding, width))
        self.query_in = nn.Linear(config.action_size, width)
        self.query_slots = nn.Parameter(
            0.02 * torch.randn(history + 1 if predicts_past else 1, width))
        self.decoder = nn.TransformerDecoder(transformer(nn.TransformerDecoderLayer, context),
                                             context.depth)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, config.action_size))

    # ----------------------------------------------------------------------------------------
    # Context and denoiser (the same calls at training and at run time)

    def encode_images(self, frames: dict[str, torch.Tensor]) -> torch.Tensor:
        """Features (N, W) of one token's frames, per camera (N, 3, S, S) in [-1, 1]."""
        return sum(self.image_encoders[cam](frames[cam]) for cam in self.config.cameras)

    def read_context(self, features: torch.Tensor, actions: torch.Tensor,
                     present: torch.Tensor) -> torch.Tensor:
        """Memory (N, H, W) of a context: image ``features`` (N, H, W), the normalised chunks
        executed before each token ``actions`` (N, H, A; zeros for token 0), ``present``
        (N, H) bool. ``actions`` are ignored by ``ptp``."""
        tokens = features + self.slots
        if not self.predicts_past:
            tokens = tokens + self.action_embedding(actions)
        return self.encoder(tokens, src_key_padding_mask=~present)

    def denoise(self, noisy: Token, level: torch.Tensor, memory: torch.Tensor,
                present: torch.Tensor, past_known: torch.Tensor) -> Token:
        """x0_hat of the noisy chunks at ``level`` (N,) given a context's ``memory`` and
        ``present``; ``past_known`` (N, H) bool marks the context tokens that carry an executed
        chunk (ptp's past queries; the others are masked)."""
        chunks = noisy[ACTION_KEY][:, None]
        queries_mask = None
        if self.predicts_past:
            chunks = torch.cat([noisy[PAST_KEY], chunks], dim=1)
            next_known = torch.ones_like(past_known[:, :1])
            queries_mask = ~torch.cat([past_known, next_known], dim=1)
        queries = (self.query_in(chunks) + self.query_slots
                   + self.level_embedding(level[:, None])[:, None])
        hidden = self.decoder(queries, memory, tgt_key_padding_mask=queries_mask,
                              memory_key_padding_mask=~present)
        out = self.head(hidden)
        x0_hat = {ACTION_KEY: out[:, -1]}
        if self.predicts_past:
            x0_hat[PAST_KEY] = out[:, :-1]
        return x0_hat

    def noise_shapes(self, rows: int) -> dict[str, tuple[int, ...]]:
        """Shape of each noisy part for ``rows`` samples: the next chunk, (ptp) the past ones."""
        shapes = {ACTION_KEY: (rows, self.config.action_size)}
        if self.predicts_past:
            shapes[PAST_KEY] = (rows, self.context.history_tokens, self.config.action_size)
        return shapes

    @torch.no_grad()
    def sample(self, memory: torch.Tensor, present: torch.Tensor, past_known: torch.Tensor,
               generator: torch.Generator | None = None, steps: int | None = None,
               ) -> torch.Tensor:
        """DDIM-sample the next action chunk (N, A) of a context (see :meth:`denoise`); ptp
        samples its past chunks jointly and drops them."""
        noise = pure_noise(self.schedule, self.noise_shapes(len(memory)), generator,
                           memory.device)
        return ddim_sample(
            lambda noisy, levels: self.denoise(noisy, levels[:, 0], memory, present, past_known),
            self.schedule, noise, steps or self.config.sampling_steps)[ACTION_KEY]

    # ----------------------------------------------------------------------------------------
    # Training objective

    def forward(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss (for DistributedDataParallel); see :meth:`loss`."""
        return self.loss(*args, **kwargs)

    def blacken(self, tokens: Token, modality_mask: torch.Tensor,
                generator: torch.Generator | None, sampling: LevelSampling | None,
                ) -> dict[str, torch.Tensor]:
        """Frames (B, T, 3, S, S) per camera with missing frames and, by ``sampling``'s camera
        dropout, a camera dead all episode black."""
        batch = modality_mask.shape[0]
        dead = torch.full((batch,), -1, device=modality_mask.device)
        if sampling is not None and sampling.camera_dropout_prob > 0:
            dead = draw_dead_camera(batch, len(self.config.cameras), sampling, generator,
                                    modality_mask.device)
        frames = {}
        for m, cam in enumerate(self.config.cameras):
            black = ~modality_mask[:, :, m] | (dead == m)[:, None]
            frames[cam] = torch.where(black[:, :, None, None, None], BLACK, tokens[cam])
        return frames

    def loss(self, tokens: Token, token_mask: torch.Tensor, modality_mask: torch.Tensor,
             generator: torch.Generator | None = None, sampling: LevelSampling | None = None,
             burn_in: int = 0) -> tuple[torch.Tensor, dict[str, float]]:
        """x0 MSE of the chunk after each token t given the context t-H+1..t.

        Args:
            tokens, token_mask, modality_mask: a trainer batch (see ``EpisodeDataset``).
            generator: randomness for camera dropout, levels and noise.
            sampling: only its camera dropout applies (the DF level knobs have no meaning
                here): the dead camera's frames are black all episode.
            burn_in: tokens before it are context only, never a sample (window batches).

        Returns:
            (loss, {"loss/action": next chunk MSE[, "loss/past": ptp's masked past MSE]}).
        """
        history = self.context.history_tokens
        batch, horizon = token_mask.shape
        frames = self.blacken(tokens, modality_mask, generator, sampling)
        features = self.encode_images({cam: f.flatten(0, 1) for cam, f in frames.items()})
        position = torch.arange(horizon, device=token_mask.device)
        # (episode, t) pairs with a next token, after the burn-in
        chosen = torch.cat([token_mask[:, 1:], torch.zeros_like(token_mask[:, :1])], dim=1)
        chosen = chosen & (position >= burn_in)
        windows = {name: history_windows(value, history)[chosen] for name, value in (
            ("features", features.unflatten(0, (batch, horizon))),
            ("actions", tokens[ACTION_KEY]), ("present", token_mask),
            ("past_known", token_mask & (position >= 1)))}
        memory = self.read_context(windows["features"], windows["actions"],
                                   windows["present"])
        targets = {ACTION_KEY: tokens[ACTION_KEY][:, 1:][chosen[:, :-1]]}
        if self.predicts_past:
            targets[PAST_KEY] = windows["actions"]
        level = rng.randint(self.config.num_levels, (len(memory),), generator, memory.device)
        noisy = {name: self.schedule.add_noise(x0, self.schedule.sample_noise(x0, generator),
                                               level) for name, x0 in targets.items()}
        x0_hat = self.denoise(noisy, level, memory, windows["present"], windows["past_known"])
        value = ((x0_hat[ACTION_KEY] - targets[ACTION_KEY]) ** 2).mean()
        info = {f"loss/{ACTION_KEY}": float(value.detach())}
        if self.predicts_past:
            known = windows["past_known"].float()
            errors = ((x0_hat[PAST_KEY] - targets[PAST_KEY]) ** 2).mean(dim=2)
            past = (errors * known).sum() / known.sum().clamp(min=1.0)
            info[f"loss/{PAST_KEY}"] = float(past.detach())
            weight = self.context.ptp_weight
            value = (value + weight * past) / (1 + weight)
        return value, info
