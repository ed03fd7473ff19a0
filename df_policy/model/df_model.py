"""The recurrent Diffusion Forcing model: one call is both denoiser and filter update.

Notation (paper -> code)::

    x_t            token: {camera: (B, 3, S, S), ["gripper": (B, 1),] "action": (B, A)},
                   normalised to [-1, 1] (the gripper's opening with ``gripper_state``)
    k_t            levels (B, M) long, one noise level per modality (config.modalities order)
    z_{t-1}        latent (B, C_z, L, L); z_0 is learned (``initial_latent``)
    x_t^{k_t}      noisy token (each modality forward-diffused to its own level)
    u              Denoiser(concat[z_{t-1}, enc(x_t^{k_t})], emb(k_t))
    z_t            ConvGRU(u, z_{t-1})
    x0_hat_t       heads(z_t): the predicted clean token

Training (:meth:`DiffusionForcingModel.loss`) draws independent levels per token, per sample and
per modality, runs the recurrence over whole episodes (full back-propagation, no detach; or a
window after a no-grad burn-in from the episode start) and
regresses x0 with a masked mean over valid tokens and modalities. At run time the same
:meth:`step` absorbs an observation (the filter update) and, from the resulting latent, DDIM
predicts the next token (:meth:`predict_next`); the latent produced while sampling is discarded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from df_policy.model import rng
from df_policy.model.config import ModelConfig
from df_policy.model.networks import (
    ActionEncoder,
    ActionHead,
    ConvGRU,
    Denoiser,
    ImageEncoder,
    ImageHead,
    LevelEmbedding,
)
from df_policy.model.sampler import Token, ddim_sample, pure_noise
from df_policy.model.schedule import NoiseSchedule
from df_policy.model.tokens import ActionNormalizer

ACTION_KEY = "action"
GRIPPER_KEY = "gripper"
GRIPPER_HIDDEN = 64
"""Width of the gripper opening's encoder and head MLPs (one number in, one out)."""
ENCODER_CHANNELS = 32
"""Feature channels each modality contributes to the denoiser input."""
OPENING_LIMIT = 1.5
"""Bound on the normalised opening the model is given: the training store's range is
[-1, 1], and an opening far outside it (fingers shut on a missed grasp, a wider gripper)
reads as just beyond that range instead of as a value no encoder was trained on."""


class DiffusionForcingModel(nn.Module):
    """Recurrent latent + per-modality noise levels; see the module docstring."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        side = config.latent_size
        self.schedule = NoiseSchedule(config.num_levels, config.clip_noise)
        self.z0 = nn.Parameter(torch.zeros(1, config.latent_channels, side, side))
        self.level_embedding = LevelEmbedding(len(config.modalities), config.level_embedding)
        self.image_encoders = nn.ModuleDict(
            {cam: ImageEncoder(ENCODER_CHANNELS, config.latent_downsample)
             for cam in config.cameras}
        )
        self.action_encoder = ActionEncoder(
            config.action_size, ENCODER_CHANNELS, side, config.action_hidden
        )
        in_ch = config.latent_channels + ENCODER_CHANNELS * len(config.modalities)
        self.denoiser = Denoiser(
            in_ch, config.latent_channels, config.channels, config.level_embedding
        )
        self.gru = ConvGRU(config.latent_channels)
        self.image_heads = nn.ModuleDict(
            {
                cam: ImageHead(config.latent_channels, ENCODER_CHANNELS, config.latent_downsample)
                for cam in config.cameras
            }
        )
        self.action_head = ActionHead(
            config.latent_channels, side, config.action_size, config.action_hidden
        )
        if config.gripper_state:
            self.gripper_encoder = ActionEncoder(1, ENCODER_CHANNELS, side, GRIPPER_HIDDEN)
            self.gripper_head = ActionHead(config.latent_channels, side, 1, GRIPPER_HIDDEN)
            self.gripper_range = ActionNormalizer(1)
            """The opening's range over the training store (set before training; saved
            with the weights)."""

    def opening_token(self, opening: torch.Tensor) -> torch.Tensor:
        """The token's gripper part (``gripper_state``) from measured finger openings (B, 1)
        in metres: scaled by the training store's range, bounded by :data:`OPENING_LIMIT`."""
        return self.gripper_range.normalize(opening).clamp(-OPENING_LIMIT, OPENING_LIMIT)

    # ----------------------------------------------------------------------------------------
    # The recurrence

    def initial_latent(self, batch: int) -> torch.Tensor:
        """z_0 (B, C_z, L, L): the learned initial latent, the same in training and deployment."""
        return self.z0.expand(batch, -1, -1, -1)

    def encode(self, noisy: Token, names: tuple[str, ...] | None = None
               ) -> dict[str, torch.Tensor]:
        """Features (B, C, L, L) of the named modalities (all by default) of a noisy token."""
        return {name: self.encoder(name)(noisy[name]) for name in names or self.config.modalities}

    def encoder(self, name: str) -> nn.Module:
        """The network encoding modality ``name`` of a noisy token."""
        if name == ACTION_KEY:
            return self.action_encoder
        return self.gripper_encoder if name == GRIPPER_KEY else self.image_encoders[name]

    def transition(
        self, z_prev: torch.Tensor, features: dict[str, torch.Tensor], levels: torch.Tensor
    ) -> torch.Tensor:
        """z_t = ConvGRU(Denoiser(concat[z_{t-1}, features], emb(levels)), z_{t-1})."""
        stacked = torch.cat([features[name] for name in self.config.modalities], dim=1)
        return self.update(z_prev, stacked, self.level_embedding(levels))

    def update(self, z_prev: torch.Tensor, stacked: torch.Tensor, embedding: torch.Tensor
               ) -> torch.Tensor:
        """:meth:`transition` from the modalities' features already concatenated
        (B, M * C, L, L) and the levels already embedded (B, E); training prepares both for
        every token in one batch."""
        u = self.denoiser(torch.cat([z_prev, stacked], dim=1), embedding)
        return self.gru(u, z_prev)

    def decode(self, z: torch.Tensor, names: tuple[str, ...] | None = None) -> Token:
        """x0_hat of the named modalities (all by default) from latent z."""
        names = names or self.config.modalities
        return {name: self.head(name)(z) for name in names}

    def head(self, name: str) -> nn.Module:
        """The network decoding modality ``name`` from a latent."""
        if name == ACTION_KEY:
            return self.action_head
        return self.gripper_head if name == GRIPPER_KEY else self.image_heads[name]

    def observation_levels(self, camera_levels: torch.Tensor | None = None,
                           gripper_measured: bool = True) -> torch.Tensor:
        """Levels (B, M) at which an observation is absorbed: each camera's (B, C) as given
        (default: one row, every camera clean), the gripper's opening (``gripper_state``)
        clean when measured, else at the top level, and the executed chunk at
        ``config.history_level`` (what the runtime does, and what training's clean tokens
        imitate)."""
        if camera_levels is None:
            camera_levels = torch.zeros((1, len(self.config.cameras)), dtype=torch.long,
                                        device=self.z0.device)
        parts = [camera_levels]
        if self.config.gripper_state:
            level = 0 if gripper_measured else self.config.num_levels - 1
            parts.append(torch.full_like(camera_levels[:, :1], level))
        parts.append(torch.full_like(camera_levels[:, :1], self.config.history_level))
        return torch.cat(parts, dim=1)

    def step(
        self, z_prev: torch.Tensor, noisy: Token, levels: torch.Tensor
    ) -> tuple[torch.Tensor, Token]:
        """One recurrent step: returns (z_t, x0_hat_t) for a noisy token at ``levels``."""
        z = self.transition(z_prev, self.encode(noisy), levels)
        return z, self.decode(z)

    def draw_noise(self, token: Token, generator: torch.Generator | None) -> Token:
        """Fresh clamped noise shaped like each modality of ``token``, drawn in modality
        order (what :meth:`noise_token` draws when given no noise)."""
        return {name: self.schedule.sample_noise(token[name], generator)
                for name in self.config.modalities}

    def noise_token(
        self, token: Token, levels: torch.Tensor, generator: torch.Generator | None = None,
        noise: Token | None = None,
    ) -> Token:
        """Forward-diffuse each modality m of ``token`` to ``levels[:, m]`` with ``noise``
        (default: fresh noise from ``generator``)."""
        noise = noise if noise is not None else self.draw_noise(token, generator)
        return {
            name: self.schedule.add_noise(token[name], noise[name], levels[:, m])
            for m, name in enumerate(self.config.modalities)
        }

    def absorb(
        self, z_prev: torch.Tensor, token: Token, levels: torch.Tensor,
        generator: torch.Generator | None = None, noise: Token | None = None,
    ) -> torch.Tensor:
        """The filter update: noise the observed token to ``levels`` and return the new latent
        (:meth:`step` without decoding x0_hat, which the update does not use)."""
        noisy = self.noise_token(token, levels, generator, noise)
        return self.transition(z_prev, self.encode(noisy), levels)

    def prediction_noise(self, batch: int, samples: int, generator: torch.Generator | None,
                         device: torch.device | str = "cpu") -> Token:
        """The noise :meth:`predict_next` starts from: per camera the unknown next images, the
        unknown next opening (``gripper_state``) and the action chunk's x^K,
        ``batch * samples`` rows each, drawn in that order."""
        cfg = self.config
        rows = batch * samples
        shapes = {cam: (rows, 3, cfg.image_size, cfg.image_size) for cam in cfg.cameras}
        if cfg.gripper_state:
            shapes[GRIPPER_KEY] = (rows, 1)
        shapes[ACTION_KEY] = (rows, cfg.action_size)
        return pure_noise(self.schedule, shapes, generator, device)

    @torch.no_grad()
    def predict_next(
        self, z: torch.Tensor, generator: torch.Generator | None = None,
        steps: int | None = None, samples: int = 1, noise: Token | None = None,
    ) -> Token:
        """Predict the next token from latent ``z``.

        The action chunk is DDIM-sampled with every observation held at the top level (the
        next images and opening are unknown; the per-modality levels make this a trained
        query). With ``samples > 1`` that many chunks are sampled from each latent in one
        batch and their mean is returned. The images returned are the model's forecast:
        x0_hat of the cameras given the returned action. ``noise`` (default: drawn from
        ``generator``) is :meth:`prediction_noise`; given it, the prediction is a
        deterministic function of ``z`` (what the exported predict graph computes).
        """
        cfg = self.config
        batch = z.shape[0]
        if noise is None:
            noise = self.prediction_noise(batch, samples, generator, z.device)
        z_samples = z.repeat_interleave(samples, dim=0)
        top = cfg.num_levels - 1
        unknown = cfg.modalities[:-1]  # the next token's observations: all but the action
        unknown_features = self.encode(noise, unknown)

        def levels_with(action_level: torch.Tensor) -> torch.Tensor:
            """Everything but the action at the top level, the action at ``action_level``
            (one row each)."""
            unknown_levels = torch.full((len(action_level), len(unknown)), top,
                                        device=z.device)
            return torch.cat([unknown_levels, action_level], dim=1).long()

        def denoise(noisy: Token, levels: torch.Tensor) -> Token:
            features = {**unknown_features, ACTION_KEY: self.action_encoder(noisy[ACTION_KEY])}
            z_next = self.transition(z_samples, features, levels_with(levels))
            return self.decode(z_next, (ACTION_KEY,))

        steps = steps or cfg.sampling_steps
        action = ddim_sample(denoise, self.schedule, {ACTION_KEY: noise[ACTION_KEY]},
                             steps)[ACTION_KEY]
        action = action.view(batch, samples, -1).mean(dim=1)
        features = {name: f[::samples] for name, f in unknown_features.items()}
        features[ACTION_KEY] = self.action_encoder(action)
        clean_action = torch.zeros((batch, 1), device=z.device)
        forecast = self.decode(self.transition(z, features, levels_with(clean_action)), cfg.cameras)
        return {**forecast, ACTION_KEY: action}

    def query_action(self, z: torch.Tensor, noise: Token) -> torch.Tensor:
        """The runtime's query in one DDIM step: x0_hat of the action (B, A) from latent ``z``
        with every modality at the top level, given as ``noise`` (:meth:`prediction_noise`).
        :meth:`predict_next` with ``steps=1, samples=1`` returns the same action; training
        calls this with gradient (:meth:`loss`'s ``query_weight``)."""
        levels = torch.full((z.shape[0], len(self.config.modalities)),
                            self.config.num_levels - 1, device=z.device)
        with torch.no_grad():  # features of pure noise: nothing for the encoders to learn
            features = self.encode(noise)
        z_next = self.transition(z, features, levels)
        return self.decode(z_next, (ACTION_KEY,))[ACTION_KEY]

    # ----------------------------------------------------------------------------------------
    # Training objective

    def forward(self, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The training loss (so DistributedDataParallel can wrap the model); see :meth:`loss`."""
        return self.loss(*args, **kwargs)

    def draw_levels(
        self,
        modality_mask: torch.Tensor,
        generator: torch.Generator | None = None,
        sampling: LevelSampling | None = None,
        floor: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Training noise levels (B, T, M) for tokens with ``modality_mask`` (B, T, M).

        Independent per token, sample and modality, except (``sampling``, see
        :class:`LevelSampling`): a ``whole_token_prob`` share of tokens use one level for all
        modalities; a ``policy_query_prob`` share hold every observation (all but the action)
        at the top level; a ``clean_token_prob`` share are absorbed as the runtime absorbs a
        healthy observation (:meth:`observation_levels` of clean cameras), the query
        overridden; token 0 is absorbed so with ``first_clean_prob`` (one draw per batch); in
        a ``camera_dropout_prob`` share of the episodes one camera, drawn uniformly or with
        ``camera_dropout_weights``, is at the top level all episode long (a dead camera).
        ``floor`` (B, T, M), if given, is a lowest level per entry (a faulty frame: blank at
        the top level, frozen rising with its age). A missing modality is always at the top
        level. See :meth:`loss`.
        """
        cfg = self.config
        sampling = sampling or LevelSampling()
        batch, horizon, modalities = modality_mask.shape
        device = modality_mask.device
        top = cfg.num_levels - 1
        levels = rng.randint(cfg.num_levels, (batch, horizon, modalities), generator, device)
        shared = rng.rand((batch, horizon, 1), generator, device)
        levels = torch.where(shared < sampling.whole_token_prob, levels[:, :, :1], levels)
        query = rng.rand((batch, horizon, 1), generator, device)
        unknown = torch.arange(modalities, device=device) < modalities - 1  # all but the action
        levels = torch.where((query < sampling.policy_query_prob) & unknown, top, levels)
        # as the runtime absorbs a healthy observation: the cameras and the opening clean, the
        # chunk executed since the last token at config.history_level
        absorbed = self.observation_levels()[0].to(device)
        if sampling.clean_token_prob > 0:
            clean = rng.rand((batch, horizon, 1), generator, device)
            levels = torch.where(clean < sampling.clean_token_prob, absorbed, levels)
        if torch.rand((), generator=generator).item() < sampling.first_clean_prob:
            levels[:, 0] = absorbed
        dead = draw_dead_camera(batch, len(cfg.cameras), sampling, generator, device)
        levels = torch.where(torch.arange(modalities, device=device) == dead[:, None, None],
                             top, levels)
        if floor is not None:
            levels = torch.maximum(levels, floor.to(levels.dtype))
        return torch.where(modality_mask, levels, torch.full_like(levels, top))

    def loss(
        self,
        tokens: Token,
        token_mask: torch.Tensor,
        modality_mask: torch.Tensor,
        generator: torch.Generator | None = None,
        sampling: LevelSampling | None = None,
        action_weight: float = 1.0,
        level_floor: torch.Tensor | None = None,
        burn_in: int = 0,
        image_loss_share: float = 1.0,
        query_weight: float = 0.0,
        inputs: Token | None = None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """x0-prediction MSE over sequences of tokens, masked.

        Args:
            tokens: {modality: (B, T, ...)} normalised clean tokens (padded to T).
            token_mask: (B, T) bool, False for padding (nothing is computed for it).
            modality_mask: (B, T, M) bool, False where a modality is missing (e.g. a dropped
                frame): it is given at the top level as input and left out of the loss.
            generator: randomness for levels and noise (reproducible training).
            sampling: how the noise levels are drawn (:class:`LevelSampling`; its
                ``policy_query_prob`` trains :meth:`predict_next`'s query, cameras at the top
                level: without it the action is nearly always learned with some view of its
                own outcome, the next frames, and the model ignores what only past frames
                show; a dead camera stays in the loss, as a forecast from memory).
            action_weight: weight of the action's MSE against each camera's (weight 1):
                the loss is the weighted mean over modalities.
            level_floor: (B, T, M) lowest level per entry (faulty frames), or None.
            burn_in: the first ``burn_in`` tokens only build the latent (no gradient, no
                loss): a window of an episode keeps the context of the episode's start.
                0 back-propagates through the whole sequence.
            image_loss_share: chance per trained token (one draw per token index) that the
                camera images are decoded and in the loss; the action always is. Below 1 it
                saves the image heads' compute.
            query_weight: weight of the runtime's query (:meth:`query_action`), asked at
                every trained token t >= 1 from the latent z_{t-1} that the recurrence built,
                beside the recurrence and off it (its latent is not carried on), against the
                true action chunk of token t. 0 leaves it out. Within the recurrence the query
                is only the share of tokens that ``policy_query_prob`` and the action's level
                make it, and each one carries no observation into the memory.
            inputs: {modality: (B, T, ...)} what the model is given where it differs from
                ``tokens`` (faulty frames, :mod:`df_policy.train.faults`; the executed chunks
                with a tracking drift, :mod:`df_policy.train.drift`); every target stays the
                recorded token. None or missing modalities: the tokens themselves.

        Returns:
            (loss, {"loss/<modality>": value}) — masked means over valid entries.
        """
        names = self.config.modalities
        batch, horizon = token_mask.shape
        # Rows by length, longest first: at token t the rows still running are a prefix,
        # and padding is never computed.
        positions = torch.arange(1, horizon + 1, device=token_mask.device)
        lengths = (token_mask * positions).amax(dim=1)
        order = torch.argsort(lengths, descending=True, stable=True)
        tokens = {name: tokens[name][order] for name in names}
        inputs = {**tokens, **{name: value[order] for name, value in (inputs or {}).items()}}
        token_mask, modality_mask = token_mask[order], modality_mask[order]
        floor = None if level_floor is None else level_floor[order]
        running = (lengths[order][None] > torch.arange(horizon, device=lengths.device)[:, None])
        running = running.sum(dim=1).tolist()  # rows still running at each token

        levels = self.draw_levels(modality_mask, generator, sampling, floor)
        flat = {name: value.flatten(0, 1) for name, value in inputs.items()}
        noisy = self.noise_token(flat, levels.flatten(0, 1), generator)
        sequences = {n: v.unflatten(0, (batch, horizon)) for n, v in noisy.items()}

        def encode_tokens(part: slice) -> dict[str, torch.Tensor]:
            """Features (B, T', C, L, L) of the tokens in ``part``, all in one batch."""
            features = self.encode({n: v[:, part].flatten(0, 1) for n, v in sequences.items()})
            return {n: f.unflatten(0, (batch, -1)) for n, f in features.items()}

        features = encode_tokens(slice(burn_in, None))
        if burn_in > 0:
            with torch.no_grad():  # the burn-in's inputs: no gradient reaches the encoders
                early = encode_tokens(slice(0, burn_in))
            features = {n: torch.cat([early[n], features[n]], dim=1) for n in names}
        decoded = torch.ones(horizon, dtype=torch.bool)
        if image_loss_share < 1:
            decoded = torch.rand((horizon,), generator=generator) < image_loss_share
        decoded[:burn_in] = False

        # Only the recurrence runs token by token. What does not depend on the latent is done
        # for all tokens at once: the levels' embedding and the features' concatenation
        # before the loop, and decoding (which does not feed back) after it, one batch per
        # modality (large convolutions instead of a small batch per token).
        stacked = torch.cat([features[n] for n in names], dim=2)  # (B, T, M * C, L, L)
        embeddings = self.level_embedding(levels.flatten(0, 1)).unflatten(0, (batch, horizon))
        # Per token by unbind, not by indexing: an index's backward writes a zero tensor the
        # size of the whole sequence for every token, unbind's one stack for all of them.
        stacked_at, embeddings_at = stacked.unbind(1), embeddings.unbind(1)
        z = self.initial_latent(batch)
        device = z.device
        latents = []  # z of each trained token index t: its running[t] rows
        for t in range(horizon):
            rows = running[t]
            if rows == 0:
                break
            with torch.set_grad_enabled(t >= burn_in and torch.is_grad_enabled()):
                z = self.update(z[:rows], stacked_at[t][:rows], embeddings_at[t][:rows])
            if t >= burn_in:
                latents.append(z)

        def rows_of(steps: range) -> tuple[torch.Tensor, torch.Tensor]:
            """(row, token) of every row still running at each token index in ``steps``."""
            row = torch.cat([torch.arange(running[t], device=device) for t in steps])
            token = torch.cat([torch.full((running[t],), t, device=device) for t in steps])
            return row, token

        errors = {name: torch.zeros((batch, horizon), device=device) for name in names}
        if latents:  # (B, T) errors: one decoding batch per modality for all trained tokens
            row, token = rows_of(range(burn_in, burn_in + len(latents)))
            latent, image_rows = torch.cat(latents), decoded.to(device)[token]
            for name in names:
                keep = image_rows if name in self.config.cameras else torch.ones_like(image_rows)
                if keep.any():
                    x0_hat = self.decode(latent[keep], (name,))[name]
                    err = ((x0_hat - tokens[name][row[keep], token[keep]]) ** 2).flatten(1)
                    errors[name] = errors[name].index_put((row[keep], token[keep]),
                                                          err.mean(dim=1))
        query = None
        if query_weight > 0 and len(latents) > 1:  # token t asked from z_{t-1}, in one batch
            steps = range(burn_in + 1, burn_in + len(latents))
            z_prev = torch.cat([latents[t - 1 - burn_in][:running[t]] for t in steps])
            row, token = rows_of(steps)
            noise = self.prediction_noise(len(z_prev), 1, generator, device)
            err = ((self.query_action(z_prev, noise) - tokens[ACTION_KEY][row, token]) ** 2)
            weight = modality_mask[row, token, -1].float()
            query = (err.mean(dim=1) * weight).sum() / weight.sum().clamp(min=1.0)
        trained = torch.arange(horizon, device=token_mask.device) >= burn_in
        valid = modality_mask & (token_mask & trained)[:, :, None]  # (B, T, M)
        per_modality = {}
        total = torch.zeros((), device=token_mask.device)
        weights = {name: action_weight if name == ACTION_KEY else 1.0 for name in names}
        for m, name in enumerate(names):
            weight = valid[:, :, m].float()
            if name in self.config.cameras:
                weight = weight * decoded.to(weight.device)
            value = (errors[name] * weight).sum() / weight.sum().clamp(min=1.0)
            per_modality[f"loss/{name}"] = float(value.detach())
            total = total + weights[name] * value
        if query is not None:
            per_modality["loss/query"] = float(query.detach())
            return ((total + query_weight * query) / (sum(weights.values()) + query_weight),
                    per_modality)
        return total / sum(weights.values()), per_modality


def draw_dead_camera(batch: int, cameras: int, sampling: LevelSampling,
                     generator: torch.Generator | None, device: torch.device | str,
                     ) -> torch.Tensor:
    """Per episode (B,) long: the camera dead all episode long, -1 for none.

    A ``sampling.camera_dropout_prob`` share of the episodes has one, drawn uniformly or with
    ``sampling.camera_dropout_weights``. DF gives it the top level; the long-context rivals a
    black frame (:mod:`df_policy.model.dp_long`).
    """
    dead = rng.rand((batch,), generator, device) < sampling.camera_dropout_prob
    if sampling.camera_dropout_weights is None:  # randint: the random stream of earlier runs
        which = rng.randint(cameras, (batch,), generator, device)
    else:  # the camera whose cumulative share first exceeds a uniform draw
        shares = torch.tensor(sampling.camera_dropout_weights, device=device).cumsum(0)
        draw = rng.rand((batch,), generator, device) * shares[-1]
        which = (draw[:, None] >= shares[:-1]).sum(-1)
    return torch.where(dead, which, -1)


@dataclasses.dataclass(frozen=True)
class LevelSampling:
    """How training draws the noise levels of a token (see
    :meth:`DiffusionForcingModel.draw_levels`); built once from the training config."""

    whole_token_prob: float = 0.25
    """Chance that all modalities of a token share one level (the paper's case)."""
    first_clean_prob: float = 0.5
    """Chance (one draw per batch) that token 0 is given clean, as at deployment."""
    policy_query_prob: float = 0.5
    """Chance per token that every camera is at the top level, as when the policy asks for
    its next action chunk."""
    camera_dropout_prob: float = 0.0
    """Chance per episode that one camera is dead (top level) all episode long."""
    camera_dropout_weights: tuple[float, ...] | None = None
    """Relative chance of each camera (in ``config.cameras`` order) to be the dead one;
    None: uniform."""
    clean_token_prob: float = 0.0
    """Chance per token that every modality is clean (level 0), as the runtime absorbs a
    healthy observation; it overrides the policy query, not a dead camera or a fault."""
