"""Camera faults applied to delivered frames, as a real camera or its driver would fail.

Scene-level perturbations (distractor objects, lighting and camera-pose jitter, a moving
occluder) are options of :class:`~df_policy.sim.config.SimConfig` built into the world by
:mod:`df_policy.sim.scene`. The faults here act on the images after rendering, never on the
policy: each takes a frame and returns the frame the consumer receives, or ``None`` when no
frame arrives. All are seeded and deterministic.
"""

from __future__ import annotations

import numpy as np


class PixelNoise:
    """Additive Gaussian pixel noise; ``sigma`` in 0..255 intensity units."""

    def __init__(self, sigma: float, rng: np.random.Generator) -> None:
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.sigma = sigma
        self.rng = rng

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The noisy frame (uint8)."""
        noise = self.rng.normal(0.0, self.sigma, frame.shape)
        return np.clip(frame.astype(np.float32) + noise, 0, 255).astype(np.uint8)


class FrameDrops:
    """Each frame independently fails to arrive with probability ``rate``."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"drop rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.rng = rng

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The frame, or None when it is dropped."""
        return None if self.rng.random() < self.rate else frame


class Freeze:
    """The stream repeats one frame for ``duration`` steps, starting at a random step.

    The frozen window starts uniformly in ``[start_min, start_max)`` steps after reset.
    """

    def __init__(
        self, duration: int, rng: np.random.Generator, start_min: int = 5, start_max: int = 60
    ) -> None:
        if duration < 0:
            raise ValueError(f"freeze duration must be >= 0, got {duration}")
        self.duration = duration
        self.start = int(rng.integers(start_min, max(start_min + 1, start_max)))
        self.step = 0
        self.held: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The live frame, or the held one inside the frozen window."""
        frozen = self.start <= self.step < self.start + self.duration
        self.step += 1
        if not frozen:
            self.held = frame
            return frame
        if self.held is None:
            self.held = frame
        return self.held
