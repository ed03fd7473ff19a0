"""Evaluation videos: each camera as delivered beside the model's forecast of it, with the
noise level the frame was absorbed at.

One video frame per policy step. Row per camera: ``delivered | forecast``, where the forecast is
the one made at the previous policy step for this moment (what the model expected to see), and
a bar under the pair whose length is the absorbed level (full = top level: "unknown").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from df_policy.data.video import write_video
from df_policy.images import resize_images

SCALE = 4
BAR = 12
"""Height of the level bar, pixels (after scaling)."""


def forecast_frames(record: Sequence[tuple[dict, dict, dict]], cameras: Sequence[str],
                    size: int, top: int) -> list[np.ndarray]:
    """Video frames from ``run_episode(record=True)``'s (delivered, forecast, levels) steps."""
    frames = []
    previous: dict[str, np.ndarray] | None = None
    for delivered, forecast, levels in record:
        rows = []
        for cam in cameras:
            frame = delivered.get(cam)
            seen = np.zeros((size, size, 3), np.uint8) if frame is None else resize_images(
                frame, size)
            expected = (np.zeros((size, size, 3), np.uint8) if previous is None
                        else resize_images(previous[cam], size))
            pair = np.concatenate([seen, expected], axis=1).repeat(SCALE, 0).repeat(SCALE, 1)
            bar = np.full((BAR, pair.shape[1], 3), 40, np.uint8)
            bar[:, : int(round(pair.shape[1] * levels[cam] / top))] = (220, 60, 40)
            pair = np.ascontiguousarray(np.concatenate([pair, bar], axis=0))
            cv2.putText(pair, f"{cam} level {levels[cam]}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (255, 255, 255), 1, cv2.LINE_AA)
            rows.append(pair)
        frames.append(np.concatenate(rows, axis=0))
        previous = forecast
    return frames


def write_forecast_video(path: str | Path, record: Sequence[tuple[dict, dict, dict]],
                         cameras: Sequence[str], size: int, top: int, fps: float) -> Path:
    """Write :func:`forecast_frames` as an mp4; returns the path."""
    return write_video(path, forecast_frames(record, cameras, size, top), fps)


def video_name(suite: str, severity: float, seed: int) -> str:
    """File name of one evaluation episode's video."""
    return f"{suite}_{severity:g}_seed{seed}.mp4"


def save_episode_video(out: Path, outcome: dict[str, Any], suite: str, severity: float,
                       cameras: Sequence[str], size: int, top: int, fps: float) -> str:
    """Pop the recorded frames from ``outcome`` and write them; returns the file name."""
    name = video_name(suite, severity, outcome["seed"])
    write_forecast_video(out / name, outcome.pop("frames"), cameras, size, top, fps)
    return name
