"""Camera streams as mp4 files, written and read with PyAV (FFmpeg).

H.264 (libx264), lossless (``crf 0``), in full-chroma ``yuv444p``: the images are small (16-96
px), so chroma subsampling (``yuv420p``, LeRobot's default) would smear colours over whole
objects, and lossy rates cost more error than they save bytes here (measured in
docs/lerobot.md: crf 0 leaves only the RGB -> YUV rounding, mean 0.35 and max 2 levels, and at
16 px makes smaller files than crf 4). No B-frames, so a frame's presentation time is its
index over fps, and a short GOP so a reader seeking to one episode decodes few frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from df_policy.errors import DataError

CODEC = "libx264"
PIX_FMT = "yuv444p"
CRF = 0
"""Constant rate factor 0: lossless in YUV."""
GOP = 10


class Mp4Writer:
    """Appends ``(S, S, 3) uint8`` RGB frames to one mp4 at a fixed frame rate."""

    def __init__(self, path: Path, size: int, fps: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.container = av.open(str(path), mode="w")
        self.stream = self.container.add_stream(CODEC, rate=fps)
        self.stream.width = size
        self.stream.height = size
        self.stream.pix_fmt = PIX_FMT
        self.stream.time_base = Fraction(1, fps)
        self.stream.options = {"crf": str(CRF), "g": str(GOP), "bf": "0"}
        self.frames = 0

    def write(self, frames: np.ndarray) -> None:
        """Encode ``(T, S, S, 3)`` frames after the ones already written."""
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = self.frames
            self.frames += 1
            self.container.mux(self.stream.encode(frame))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        self.container.mux(self.stream.encode(None))
        self.container.close()


class Mp4Reader:
    """Reads frames of one mp4 by index (frame time x fps), decoding forward only."""

    def __init__(self, path: Path, fps: int) -> None:
        if not path.is_file():
            raise DataError(f"video file {path} is missing")
        try:
            self.container = av.open(str(path))
            self.stream = self.container.streams.video[0]
        except (av.error.FFmpegError, IndexError) as err:
            raise DataError(f"{path} is not a readable video ({err})") from None
        self.path = path
        rate = self.stream.average_rate or self.stream.base_rate
        if rate is None or round(float(rate)) != fps:
            raise DataError(f"{path} runs at {float(rate or 0):g} fps, the dataset at {fps}")
        self.fps = fps
        self.frames: Iterator[av.VideoFrame] = self.container.decode(self.stream)
        self.next_index = 0

    def read(self, start: int, count: int) -> np.ndarray:
        """Frames ``start .. start+count-1`` as ``(count, H, W, 3) uint8`` RGB.

        Raises:
            DataError: when the file has fewer frames, or ``start`` lies behind frames
                already read (episodes must be read in file order).
        """
        if start < self.next_index:
            raise DataError(f"{self.path}: frame {start} requested after {self.next_index}")
        out: list[np.ndarray] = []
        for frame in self.frames:
            index = round(float(frame.time) * self.fps) if frame.time is not None else -1
            self.next_index = index + 1
            if index < start:
                continue
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == count:
                return np.stack(out)
        raise DataError(f"{self.path} ends before frame {start + count - 1}")

    def close(self) -> None:
        """Release the file."""
        self.container.close()
