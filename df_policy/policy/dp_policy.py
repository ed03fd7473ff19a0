"""The DP-style baseline as a controller, with the interface of :class:`DFPolicy`.

Each step encodes the 2-frame window (the frames given at the previous step and now) and
DDIM-samples the next action chunk. It keeps no memory beyond the previous frames, ignores
camera health (a missing frame is a black frame, as a plain Diffusion Policy would get), and
forecasts nothing (its ``forecast`` is the current frame, so ``surprise`` is empty).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from df_policy.checkpoint import LoadedCheckpoint
from df_policy.model.tokens import images_to_tensor
from df_policy.policy.base import (
    CheckpointPolicy,
    PolicyOutput,
    frames_or_black,
    frames_output,
    postprocess_actions,
)
from df_policy.policy.camera_health import CameraHealth


class DPPolicy(CheckpointPolicy):
    """A trained DP-style baseline as a controller. Not thread-safe."""

    def __init__(self, loaded: LoadedCheckpoint, seed: int = 0) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.model_config = loaded.config
        self.seed = seed
        self.top = self.model_config.num_levels - 1
        self.reset()

    def reset(self) -> None:
        """Start a new episode: forget the previous frames; same seed as before."""
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.previous: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def step(self, images: dict[str, np.ndarray | None],
             health: dict[str, CameraHealth] | None = None,
             executed: np.ndarray | None = None, gripper: float | None = None,
             ) -> PolicyOutput:
        """The next action chunk from the newest frames (``health``, ``executed`` and
        ``gripper`` unused)."""
        started = time.perf_counter()
        device = next(self.model.parameters()).device
        frames = frames_or_black(images, self.cameras, self.image_size)
        current = {cam: images_to_tensor(frames[cam])[None].to(device) for cam in self.cameras}
        previous = self.previous or current
        prepared = time.perf_counter()
        features = self.model.observe(previous, current)
        action = self.model.sample(features, self.generator)
        self.previous = current
        actions = postprocess_actions(self.loaded.normalizer, action, self.model_config)
        done = time.perf_counter()
        return frames_output(actions, images, frames, self.top, f"torch/{device.type}",
                             started, prepared, done)
