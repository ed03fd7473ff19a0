"""``df-policy convert lerobot2zarr``: a LeRobotDataset v3.0 folder into an episode store.

The dataset must carry this project's features (as :mod:`df_policy.data.lerobot.layout`
names them): an 8-dim ``action``, ``observation.state`` with the 15 named state entries, and
square RGB videos ``observation.images.<camera>`` of known cameras. Everything is checked
before the first episode is decoded, and the store is built in a hidden temporary folder and
renamed into place at the end, so bad input writes nothing at ``out``.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from df_policy.data.lerobot import layout
from df_policy.data.lerobot.mp4 import Mp4Reader
from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.keys import ACTION, valid_key

KNOWN_CAMERAS = ("front", "wrist")


def import_lerobot(folder: str | Path, out: str | Path, progress: bool = True) -> dict:
    """Convert the LeRobot dataset ``folder`` into a new episode store ``out``.

    Returns a summary (episodes, frames, cameras, path).

    Raises:
        DataError: naming what is wrong: not a v3.0 dataset, a missing or unexpected
            feature, a missing camera video, a video whose fps or size differs from
            info.json, or ``out`` already existing.
    """
    folder, out = Path(folder), Path(out)
    if out.exists():
        raise DataError(f"{out} already exists")
    info = _read_info(folder)
    fps = int(info["fps"])
    cameras, size = _cameras(info, folder)
    episodes = _read_table(folder, "meta/episodes").to_pylist()
    data = _read_table(folder, "data")
    _check_columns(data, folder)
    episodes.sort(key=lambda row: row["episode_index"])
    readers = _open_videos(folder, info, cameras, fps, size)
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.with_name(f".{out.name}.importing-{uuid.uuid4().hex[:8]}")
    try:
        store = EpisodeStore.create(building, cameras=cameras, image_size=size,
                                    control_hz=float(fps))
        columns = _frame_arrays(data, cameras)
        for row in tqdm(episodes, desc="lerobot2zarr", unit="episode", disable=not progress):
            arrays = _episode_arrays(row, columns, readers, cameras, fps)
            store.append_episode(arrays, success=bool(row.get(layout.SUCCESS_COLUMN, False)),
                                 seed=int(row.get(layout.SEED_COLUMN, -1)))
        os.rename(building, out)
    finally:
        for reader in readers.values():
            reader.close()
        shutil.rmtree(building, ignore_errors=True)
    return {"episodes": len(episodes), "frames": int(len(data)), "cameras": list(cameras),
            "path": str(out)}


def _read_info(folder: Path) -> dict[str, Any]:
    path = folder / layout.INFO_PATH
    if not path.is_file():
        raise DataError(f"{folder} is not a LeRobot dataset ({layout.INFO_PATH} is missing)")
    try:
        info = json.loads(path.read_text())
        version = info["codebase_version"]
        int(info["fps"])
        info["features"].items()
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{path} is not a LeRobot info.json ({err!r})") from None
    if version != layout.CODEBASE_VERSION:
        raise DataError(f"{folder} is LeRobot {version}; only {layout.CODEBASE_VERSION} is read")
    return info


def _cameras(info: dict, folder: Path) -> tuple[tuple[str, ...], int]:
    """Camera names and the common square image size, from the video features."""
    features = info["features"]
    for key, dim, names in ((ACTION, 8, layout.ACTION_NAMES),
                            (layout.STATE, 15, layout.STATE_NAMES)):
        feature = features.get(key)
        if feature is None:
            raise DataError(f"{folder} has no '{key}' feature")
        if list(feature.get("shape", [])) != [dim] or feature.get("names") != names:
            raise DataError(f"{folder}: '{key}' must have shape [{dim}] and names {names}")
    prefix = layout.video_key("")
    cameras = tuple(key.removeprefix(prefix) for key, ft in features.items()
                    if key.startswith(prefix) and ft.get("dtype") == "video")
    if not cameras:
        raise DataError(f"{folder} has no video features {prefix}<camera>")
    unknown = sorted(set(cameras) - set(KNOWN_CAMERAS))
    if unknown:
        raise DataError(f"{folder} has cameras {unknown}; known cameras are {KNOWN_CAMERAS}")
    shapes = sorted({tuple(features[layout.video_key(cam)]["shape"]) for cam in cameras})
    if len(shapes) != 1 or shapes[0][0] != shapes[0][1] or shapes[0][2:] != (3,):
        raise DataError(f"{folder}: every camera must be square RGB of one size, got {shapes}")
    return cameras, int(shapes[0][0])


def _read_table(folder: Path, under: str) -> pa.Table:
    files = sorted((folder / under).glob("chunk-*/file-*.parquet"))
    if not files:
        raise DataError(f"{folder} has no {under}/chunk-*/file-*.parquet")
    try:
        return pa.concat_tables([pq.read_table(file) for file in files])
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{folder}/{under} cannot be read ({err})") from None


def _check_columns(data: pa.Table, folder: Path) -> None:
    """The per-frame columns every import needs (validity masks are optional)."""
    missing = [key for key in (ACTION, layout.STATE, "index") if key not in data.column_names]
    if missing:
        raise DataError(f"{folder}: data parquet lacks columns {missing}")


def _open_videos(folder: Path, info: dict, cameras: tuple[str, ...], fps: int,
                 size: int) -> dict[str, Mp4Reader]:
    """One forward reader per camera's first video file (we read one file per camera)."""
    readers: dict[str, Mp4Reader] = {}
    try:
        for cam in cameras:
            path = folder / (info.get("video_path") or layout.VIDEO_PATH).format(
                video_key=layout.video_key(cam), chunk_index=0, file_index=0)
            if not path.is_file():
                raise DataError(f"{folder}: camera '{cam}' has no video file {path}")
            reader = Mp4Reader(path, fps)
            readers[cam] = reader
            if (reader.stream.width, reader.stream.height) != (size, size):
                raise DataError(f"{path} is {reader.stream.width}x{reader.stream.height}, "
                                f"info.json says {size}x{size}")
    except DataError:
        for reader in readers.values():
            reader.close()
        raise
    return readers


def _frame_arrays(data: pa.Table, cameras: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-frame columns as numpy, ordered by the global frame index."""
    order = np.argsort(data.column("index").to_numpy())
    columns = {
        ACTION: _matrix(data.column(ACTION))[order],
        layout.STATE: _matrix(data.column(layout.STATE))[order],
    }
    for cam in cameras:
        key = layout.valid_feature(cam)
        if key in data.column_names:
            columns[key] = data.column(key).to_numpy(zero_copy_only=False)[order].astype(bool)
    return columns


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    flat = pa.concat_arrays([chunk.flatten() for chunk in column.chunks]).to_numpy()
    return flat.reshape(len(column), -1).astype(np.float32)


def _episode_arrays(row: dict[str, Any], columns: dict[str, np.ndarray],
                    readers: dict[str, Mp4Reader], cameras: tuple[str, ...],
                    fps: int) -> dict[str, np.ndarray]:
    start, end = int(row["dataset_from_index"]), int(row["dataset_to_index"])
    length = end - start
    if length <= 0 or end > len(columns[ACTION]):
        raise DataError(f"episode {row['episode_index']}: frames {start}..{end} out of range")
    arrays: dict[str, np.ndarray] = {ACTION: columns[ACTION][start:end]}
    state = columns[layout.STATE][start:end]
    offset = 0
    for key, names in layout.STATE_PARTS.items():
        arrays[key] = state[:, offset:offset + len(names)]
        offset += len(names)
    for cam in cameras:
        video = layout.video_key(cam)
        if int(row.get(f"videos/{video}/file_index", 0)) or int(
                row.get(f"videos/{video}/chunk_index", 0)):
            raise DataError(f"episode {row['episode_index']}: only one video file per camera "
                            "is read")
        first = round(float(row[f"videos/{video}/from_timestamp"]) * fps)
        arrays[cam] = readers[cam].read(first, length)
        mask = columns.get(layout.valid_feature(cam))
        arrays[valid_key(cam)] = mask[start:end] if mask is not None else np.ones(length, bool)
    return arrays
