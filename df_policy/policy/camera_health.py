"""What the runtime knows about each camera stream: age, frozen content, failed decodes, and
frames that carry no content (black, saturated, flat).

Plain Python over timestamps and numpy frames, shared by the evaluation harness and the ROS
policy node (no rclpy here).
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np


@dataclasses.dataclass
class CameraHealth:
    """The state of one camera stream at a decision time."""

    age_s: float | None
    """Seconds since the newest frame was captured; None if no frame ever arrived."""
    frozen_s: float = 0.0
    """Seconds of stream time over which the content has not changed (same image)."""
    decode_failed: bool = False
    """The newest message could not be turned into an image (encoding, size, step)."""
    no_content: str = ""
    """Why the newest frame carries no information ("black", "white", "uniform"), else ""."""

    @property
    def problem(self) -> str:
        """Why this stream's newest frame is not fully trusted ("" when it is fresh)."""
        if self.decode_failed:
            return "decode failed"
        if self.no_content:
            return f"no content ({self.no_content} frames)"
        if self.age_s is None:
            return "no frame yet"
        if self.frozen_s > 0:
            return f"frozen {self.frozen_s:.2f} s"
        return ""

    @property
    def staleness_s(self) -> float | None:
        """Age of the newest *information*: frame age plus frozen time; None if unusable."""
        if self.age_s is None or self.decode_failed or self.no_content:
            return None
        return self.age_s + self.frozen_s


MIN_CONTENT_STD = 3.0
"""Below this spread of a frame's luminance (standard deviation, 0..255 units, every 2nd pixel)
a frame carries no information: a capped lens, a saturated sensor, a flat test pattern. The
dullest real frames measured (wrist camera, validation seeds, lights at 35 %) spread 7.4, at
full light 20.7 (docs/decisions.md, "Frames with no content")."""


def content_problem(frame: np.ndarray) -> str:
    """"black", "white" or "uniform" when ``frame`` carries no information, else ""."""
    luminance = frame[::2, ::2].astype(np.float32).mean(axis=2)
    if float(luminance.std()) >= MIN_CONTENT_STD:
        return ""
    level = float(luminance.mean())
    return "black" if level < 16 else "white" if level > 239 else "uniform"


def fingerprint(frame: np.ndarray) -> int:
    """A cheap content hash (every 4th byte) to detect a frozen stream."""
    return zlib.crc32(np.ascontiguousarray(frame).reshape(-1)[::4].tobytes())


class CameraMonitor:
    """Tracks one stream: call :meth:`frame` per arriving frame, :meth:`health` to query."""

    def __init__(self) -> None:
        self.stamp: float | None = None
        self.print: int | None = None
        self.changed_at: float | None = None
        self.decode_failed = False
        self.no_content = ""

    def frame(self, frame: np.ndarray, stamp: float) -> None:
        """A decoded frame captured at ``stamp`` (seconds)."""
        content = fingerprint(frame)
        if content != self.print and stamp != self.stamp:
            self.changed_at = stamp
        self.print, self.stamp = content, stamp
        self.decode_failed = False
        self.no_content = content_problem(frame)

    def failed(self) -> None:
        """The newest message could not be decoded."""
        self.decode_failed = True

    def health(self, now: float) -> CameraHealth:
        """Health at time ``now`` (same clock as the stamps)."""
        if self.stamp is None:
            return CameraHealth(age_s=None, decode_failed=self.decode_failed)
        frozen = now - self.changed_at if self.changed_at is not None else 0.0
        age = max(0.0, now - self.stamp)
        return CameraHealth(age_s=age, frozen_s=max(0.0, frozen - age),
                            decode_failed=self.decode_failed, no_content=self.no_content)
