"""Camera faults applied to delivered frames, as a real camera or its driver would fail.

Scene-level perturbations (distractor objects, lighting and camera-pose jitter, a moving
occluder) are options of :class:`~df_policy.sim.config.SimConfig` built into the world by
:mod:`df_policy.sim.scene`. The faults here act on the images after rendering, never on the
policy: each takes a frame and returns the frame the consumer receives, or ``None`` when no
frame arrives. All are seeded and deterministic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np

Fault = Callable[[np.ndarray], "np.ndarray | None"]
"""A camera fault: the frame a camera delivers for a rendered one, None when none arrives."""


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
        self.window = Window(duration, rng, start_min, start_max)
        self.held: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The live frame, or the held one inside the frozen window."""
        if not self.window.tick() or self.held is None:
            self.held = frame
        return self.held


class Window:
    """A fault window of ``duration`` steps that starts uniformly in ``[start_min, start_max)``
    steps after reset; :meth:`tick` advances one step and tells whether the fault is on."""

    def __init__(self, duration: int, rng: np.random.Generator, start_min: int,
                 start_max: int) -> None:
        if duration < 0:
            raise ValueError(f"fault duration must be >= 0 steps, got {duration}")
        self.duration = duration
        self.start = int(rng.integers(start_min, max(start_min + 1, start_max)))
        self.step = 0

    def tick(self) -> bool:
        """Whether the current step is inside the window (then advance)."""
        inside = self.start <= self.step < self.start + self.duration
        self.step += 1
        return inside


class ContentlessFrames:
    """Inside a fault window the camera keeps delivering fresh frames with no content: black
    (a capped lens, ``value`` 0), white (a saturated sensor, 255) or one flat grey level."""

    def __init__(self, value: int, window: Window) -> None:
        if not 0 <= value <= 255:
            raise ValueError(f"frame value must be in 0..255, got {value}")
        self.value = value
        self.window = window

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The live frame, or a flat one inside the window."""
        return np.full_like(frame, self.value) if self.window.tick() else frame


class TornFrames:
    """With probability ``rate`` per frame the frame is torn: the rows below a random line are
    still the previous frame's (a partially updated buffer)."""

    def __init__(self, rate: float, rng: np.random.Generator) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"tear rate must be in [0, 1], got {rate}")
        self.rate = rate
        self.rng = rng
        self.previous: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The frame, or its upper part over the previous frame's lower part."""
        out = frame
        if self.previous is not None and self.rng.random() < self.rate:
            line = int(self.rng.integers(1, frame.shape[0]))
            out = frame.copy()
            out[line:] = self.previous[line:]
        self.previous = frame
        return out


class MissingBlocks:
    """Every frame loses a ``fraction`` of its ``block`` x ``block`` tiles, drawn per frame
    (zeroed, as a transport that drops packets of a compressed stream)."""

    def __init__(self, fraction: float, rng: np.random.Generator, block: int = 8) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"missing fraction must be in [0, 1], got {fraction}")
        self.fraction = fraction
        self.rng = rng
        self.block = block

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The frame with holes."""
        rows, cols = -(-frame.shape[0] // self.block), -(-frame.shape[1] // self.block)
        lost = self.rng.random((rows, cols)) < self.fraction
        mask = np.kron(lost, np.ones((self.block, self.block), bool))
        out = frame.copy()
        out[mask[:frame.shape[0], :frame.shape[1]]] = 0
        return out


class LateContent:
    """The content is ``delay`` steps old while the stamp is fresh (a driver that buffers)."""

    def __init__(self, delay: int) -> None:
        if delay < 0:
            raise ValueError(f"content delay must be >= 0 steps, got {delay}")
        self.buffer: deque[np.ndarray] = deque(maxlen=delay + 1)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The frame of ``delay`` steps ago (the oldest there is at the start)."""
        self.buffer.append(frame)
        return self.buffer[0]
