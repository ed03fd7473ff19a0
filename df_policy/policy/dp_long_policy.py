"""The long-context rivals (``dp_long``, ``ptp``) as controllers, with the interface of DFPolicy.

One :meth:`DPLongPolicy.step` (one token = ``chunk`` control steps)::

    1. encode   the newest frames (black where none arrived) -> image features of the token
    2. push     features + the chunk executed since the last step into the ring buffer of the
                last H tokens (the oldest drops out once H are held)
    3. sample   context transformer over the buffer, then DDIM-sample the next chunk (ptp also
                samples the past chunks and drops them)

Like the DP-style baseline it ignores camera health (a missing frame is a black frame) and
forecasts nothing (its ``forecast`` is the current frame, so ``surprise`` is empty).
"""

from __future__ import annotations

import dataclasses
import time
from collections import deque

import numpy as np
import torch

from df_policy.checkpoint import LONG_CONTEXT_KINDS, LoadedCheckpoint
from df_policy.errors import CheckpointError
from df_policy.model.dp_long import history_windows
from df_policy.model.tokens import images_to_tensor
from df_policy.policy.base import (
    CheckpointPolicy,
    PolicyOutput,
    frames_or_black,
    frames_output,
    normalized_chunk,
    postprocess_actions,
)
from df_policy.policy.camera_health import CameraHealth


@dataclasses.dataclass
class HistoryToken:
    """What the buffer keeps of one token."""

    features: torch.Tensor
    """(1, W) image features of its frames."""
    action: torch.Tensor
    """(1, A) the normalised chunk executed before it (zeros for the episode's first token)."""
    has_chunk: bool
    """Whether a chunk was executed before it (False for the first token of an episode)."""


class TokenHistory:
    """Ring buffer of the last ``length`` tokens, oldest first."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.tokens: deque[HistoryToken] = deque(maxlen=length)

    def __len__(self) -> int:
        return len(self.tokens)

    def clear(self) -> None:
        """Forget every token (a new episode)."""
        self.tokens.clear()

    def push(self, token: HistoryToken) -> None:
        """Append the newest token; beyond ``length`` the oldest drops out."""
        self.tokens.append(token)

    def windows(self) -> dict[str, torch.Tensor]:
        """The context of the newest token as the model reads it (batch 1, ``length`` slots,
        empty slots first): features (1, H, W), actions (1, H, A), present and past_known
        (1, H) bool."""
        held = list(self.tokens)
        sequences = {
            "features": torch.cat([t.features for t in held])[None],
            "actions": torch.cat([t.action for t in held])[None],
            "present": torch.ones((1, len(held)), dtype=torch.bool),
            "past_known": torch.tensor([[t.has_chunk for t in held]]),
        }
        device = held[0].features.device
        return {name: history_windows(value.to(device), self.length)[:, -1]
                for name, value in sequences.items()}


class DPLongPolicy(CheckpointPolicy):
    """A trained ``dp_long`` or ``ptp`` checkpoint as a controller. Not thread-safe."""

    def __init__(self, loaded: LoadedCheckpoint, seed: int = 0) -> None:
        if loaded.kind not in LONG_CONTEXT_KINDS:
            raise CheckpointError(f"{loaded.path} holds a {loaded.kind!r} policy, not one of "
                                  f"{', '.join(LONG_CONTEXT_KINDS)}; use load_policy()")
        self.loaded = loaded
        self.model = loaded.model
        self.model_config = loaded.config
        self.seed = seed
        self.top = self.model_config.num_levels - 1
        self.device = next(self.model.parameters()).device
        self.history = TokenHistory(self.model.context.history_tokens)
        self.reset()

    def reset(self) -> None:
        """Start a new episode: empty history; same seed as before."""
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.history.clear()
        self.executed: np.ndarray | None = None

    @torch.no_grad()
    def step(self, images: dict[str, np.ndarray | None],
             health: dict[str, CameraHealth] | None = None,
             executed: np.ndarray | None = None, gripper: float | None = None,
             ) -> PolicyOutput:
        """The next action chunk from the newest frames and the last H tokens.

        Args:
            images: per camera an ``(H, W, 3) uint8`` RGB frame of any size, or None.
            health, gripper: unused (the rivals know nothing of camera health or the
                gripper's measured opening).
            executed: the ``(chunk, 8)`` actions really executed since the last step; by
                default the chunk this policy returned last time.
        """
        started = time.perf_counter()
        frames = frames_or_black(images, self.cameras, self.image_size)
        current = {cam: images_to_tensor(frames[cam])[None].to(self.device)
                   for cam in self.cameras}
        chunk = executed if executed is not None else self.executed
        action = normalized_chunk(chunk, self.loaded.normalizer, self.model_config, self.device)
        prepared = time.perf_counter()
        features = self.model.encode_images(current)
        self.history.push(HistoryToken(features, action, has_chunk=len(self.history) > 0))
        context = self.history.windows()
        memory = self.model.read_context(context["features"], context["actions"],
                                         context["present"])
        sampled = self.model.sample(memory, context["present"], context["past_known"],
                                    self.generator)
        actions = postprocess_actions(self.loaded.normalizer, sampled, self.model_config)
        self.executed = actions
        done = time.perf_counter()
        return frames_output(actions, images, frames, self.top, f"torch/{self.device.type}",
                             started, prepared, done)
