"""Episodes from the zarr store as padded batches of tokens: whole episodes (for full BPTT),
episode-start windows, or windows after a burn-in from the episode start.

Each batch picks episodes at random and a random start offset in ``[0, chunk)`` per episode
(so tokens do not always fall on the same control steps), then builds the tokens of
:mod:`df_policy.model.tokens` and pads them to the longest episode::

    tokens[camera]    (B, T, 3, S, S)   float in [-1, 1]
    tokens["gripper"] (B, T, 1)         the measured opening, normalised (``gripper_state``)
    tokens["action"]  (B, T, chunk * 8) normalised; token 0 zeros
    token_mask        (B, T) bool        False for padding
    modality_mask     (B, T, M) bool     False where a camera frame is missing
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.images import resize_images
from df_policy.keys import ACTION, ACTION_DIM, EE_POSE, GRIPPER, valid_key
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import ACTION_KEY, GRIPPER_KEY
from df_policy.model.tokens import ActionNormalizer, images_to_tensor
from df_policy.train.idle import idle_steps


class EpisodeDataset:
    """All episodes of a store in memory at the model's image size; with ``drop_idle``, each
    without its idle steps (:mod:`df_policy.train.idle`)."""

    def __init__(self, path: str | Path, config: ModelConfig, drop_idle: bool = False) -> None:
        store = EpisodeStore.open(path)
        check_store_matches(store, config)
        self.config = config
        self.images: list[dict[str, np.ndarray]] = []
        self.valid: list[dict[str, np.ndarray]] = []
        self.actions: list[np.ndarray] = []
        self.openings: list[np.ndarray] = []
        self.idle_steps_dropped = 0
        """Steps left out of the episodes as idle (0 without ``drop_idle``)."""
        for index in range(store.n_episodes):
            episode = store.episode(index)
            if drop_idle:
                moving = ~idle_steps(episode[ACTION], episode[EE_POSE], episode[GRIPPER],
                                     store.control_hz)
                kept = int(moving.sum())
                if kept < config.chunk:
                    raise DataError(
                        f"episode {index} of {path} has {kept} steps in which the arm moved, "
                        f"fewer than a token's {config.chunk}: remove it from the store, or "
                        "train with train.drop_idle_steps=false")
                episode = {key: value[moving] for key, value in episode.items()}
                self.idle_steps_dropped += len(moving) - kept
            self.images.append(
                {cam: resize_images(episode[cam], config.image_size) for cam in config.cameras}
            )
            self.valid.append({cam: episode[valid_key(cam)] for cam in config.cameras})
            self.actions.append(episode[ACTION])
            if config.gripper_state:
                self.openings.append(episode[GRIPPER])
        if not self.actions:
            raise DataError(f"{path} holds no episodes")
        self.gripper_range = (ActionNormalizer(1).fit(np.concatenate(self.openings))
                              if config.gripper_state else None)
        """The measured opening's range over the store (``gripper_state``); the model saves
        it with its weights, for the runtime."""

    def __len__(self) -> int:
        return len(self.actions)

    def fit_normalizer(self) -> ActionNormalizer:
        """Action ranges over every step of every episode."""
        return ActionNormalizer(self.config.action_dim).fit(np.concatenate(self.actions))

    def episode_tokens(
        self, index: int, offset: int, normalizer: ActionNormalizer,
        max_tokens: int | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Tokens of one episode: ({modality: (T, ...)}, modality mask (T, M)).

        ``max_tokens`` keeps only the episode's first tokens (an episode-start window).
        """
        cfg = self.config
        length = len(self.actions[index])
        steps = np.arange(offset, length, cfg.chunk)[:max_tokens]
        tokens = {cam: images_to_tensor(self.images[index][cam][steps]) for cam in cfg.cameras}
        chunks = np.zeros((len(steps), cfg.chunk, cfg.action_dim), np.float32)
        for t in range(1, len(steps)):
            chunks[t] = self.actions[index][steps[t - 1] : steps[t]]
        action = normalizer.normalize(torch.from_numpy(chunks))
        action[0] = 0.0  # token 0: no executed chunk
        tokens[ACTION_KEY] = action.flatten(1)
        if self.gripper_range is not None:
            opening = torch.from_numpy(self.openings[index][steps].astype(np.float32))
            tokens[GRIPPER_KEY] = self.gripper_range.normalize(opening)
        present = [torch.from_numpy(self.valid[index][cam][steps]) for cam in cfg.cameras]
        always = [torch.ones(len(steps), dtype=torch.bool)] * (len(cfg.modalities) - len(present))
        mask = torch.stack([*present, *always], dim=1)
        return tokens, mask

    def sample_batch(
        self,
        batch_size: int,
        normalizer: ActionNormalizer,
        generator: torch.Generator,
        max_tokens: int | None = None,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """A padded batch: (tokens {m: (B, T, ...)}, token_mask (B, T), modality_mask (B, T, M)).

        ``max_tokens`` cuts every episode to its first tokens (an episode-start window).
        """
        indices = torch.randint(0, len(self), (batch_size,), generator=generator).tolist()
        offsets = torch.randint(0, self.config.chunk, (batch_size,), generator=generator).tolist()
        episodes = [self.episode_tokens(i, o, normalizer, max_tokens)
                    for i, o in zip(indices, offsets, strict=True)]
        horizon = max(mask.shape[0] for _, mask in episodes)
        names = self.config.modalities
        tokens = {}
        for name in names:
            sample = episodes[0][0][name]
            padded = torch.zeros((batch_size, horizon, *sample.shape[1:]))
            for b, (episode, _) in enumerate(episodes):
                padded[b, : len(episode[name])] = episode[name]
            tokens[name] = padded
        token_mask = torch.zeros((batch_size, horizon), dtype=torch.bool)
        modality_mask = torch.zeros((batch_size, horizon, len(names)), dtype=torch.bool)
        for b, (_, mask) in enumerate(episodes):
            token_mask[b, : len(mask)] = True
            modality_mask[b, : len(mask)] = mask
        return tokens, token_mask, modality_mask

    def sample_window(
        self,
        batch_size: int,
        normalizer: ActionNormalizer,
        generator: torch.Generator,
        window: int,
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, int]:
        """A batch of ``window`` consecutive tokens per episode after a burn-in.

        One start ``s`` is drawn per batch, so that every episode has its whole window; the
        batch holds tokens ``[0, s + window)`` and ``s`` is returned as the burn-in (the tokens
        that only build the latent, see ``DiffusionForcingModel.loss``). Returns (tokens,
        token_mask, modality_mask, burn_in); an episode shorter than ``window`` runs whole.
        """
        tokens, token_mask, modality_mask = self.sample_batch(batch_size, normalizer, generator)
        shortest = int(token_mask.sum(dim=1).min())
        latest = max(0, shortest - window)
        burn_in = int(torch.randint(0, latest + 1, (), generator=generator))
        end = burn_in + window
        tokens = {name: value[:, :end] for name, value in tokens.items()}
        return tokens, token_mask[:, :end], modality_mask[:, :end], burn_in


def check_store_matches(store: EpisodeStore, config: ModelConfig) -> None:
    """Raise DataError naming the mismatch between a store and a model config."""
    missing = [cam for cam in config.cameras if cam not in store.cameras]
    if missing:
        raise DataError(
            f"the model needs cameras {list(config.cameras)} but the store "
            f"{store.path} has {list(store.cameras)} (missing {missing})"
        )
    if config.action_dim != ACTION_DIM:
        raise DataError(
            f"the model's action_dim is {config.action_dim} but stores hold {ACTION_DIM}-d actions"
        )
    if store.image_size < config.image_size:
        raise DataError(
            f"the store's images are {store.image_size} px but the model needs "
            f"{config.image_size} px (images are only ever downscaled)"
        )
