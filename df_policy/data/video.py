"""mp4 videos of episodes: the cameras side by side, upscaled so small images are viewable."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import imageio.v2 as imageio
import numpy as np


def side_by_side(frames: Sequence[np.ndarray], scale: int = 4) -> np.ndarray:
    """Concatenate same-height RGB frames horizontally and upscale (nearest) by ``scale``."""
    row = np.concatenate(list(frames), axis=1)
    return row.repeat(scale, axis=0).repeat(scale, axis=1)


def write_video(path: str | Path, frames: Sequence[np.ndarray], fps: float) -> Path:
    """Write ``(H, W, 3) uint8`` frames as an H.264 mp4; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=8) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path


def write_episode_video(
    path: str | Path, episode: dict[str, np.ndarray], cameras: Sequence[str], fps: float
) -> Path:
    """One episode (arrays keyed by camera) as a video with the cameras side by side."""
    length = len(episode[cameras[0]])
    frames = [side_by_side([episode[cam][i] for cam in cameras]) for i in range(length)]
    return write_video(path, frames, fps)
