"""``df-policy convert zarr2lerobot``: an episode store as a LeRobotDataset v3.0 folder.

The folder is built in a hidden temporary folder beside ``out`` and renamed into place when
complete, so a failure or a kill leaves nothing at ``out``.
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
from df_policy.data.lerobot.mp4 import CODEC, PIX_FMT, Mp4Writer
from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.keys import ACTION, valid_key

IMAGE_STATS_FRAMES = 20
"""Frames per episode sampled for image statistics (LeRobot samples too)."""


def export_lerobot(store_path: str | Path, out: str | Path, progress: bool = True) -> dict:
    """Write the store at ``store_path`` as a LeRobotDataset v3.0 folder ``out``.

    Returns a summary (episodes, frames, fps, cameras, path).

    Raises:
        DataError: when ``out`` exists, the store is invalid or empty, or its control rate is
            not a whole number of frames per second (LeRobot's ``fps`` is an integer).
    """
    out = Path(out)
    if out.exists():
        raise DataError(f"{out} already exists")
    store = EpisodeStore.open(store_path)
    if store.n_episodes == 0:
        raise DataError(f"{store_path} has no episodes to export")
    fps = round(store.control_hz)
    if abs(store.control_hz - fps) > 1e-9:
        raise DataError(f"LeRobot needs a whole fps; {store_path} runs at {store.control_hz} Hz")
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.with_name(f".{out.name}.exporting-{uuid.uuid4().hex[:8]}")
    try:
        summary = _write(store, building, fps, progress)
        os.rename(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return {**summary, "path": str(out)}


def _write(store: EpisodeStore, root: Path, fps: int, progress: bool) -> dict:
    cameras = store.cameras
    writers = {
        cam: Mp4Writer(root / _video_file(cam), store.image_size, fps) for cam in cameras
    }
    frames: dict[str, list[np.ndarray]] = {}
    episodes: list[dict[str, Any]] = []
    image_samples: dict[str, list[np.ndarray]] = {cam: [] for cam in cameras}
    try:
        for index in tqdm(range(store.n_episodes), desc="zarr2lerobot", unit="episode",
                          disable=not progress):
            arrays = store.episode(index)
            start, end = store.episode_range(index)
            columns = _frame_columns(arrays, cameras, index, start, fps)
            for key, values in columns.items():
                frames.setdefault(key, []).append(values)
            row = _episode_row(store, index, start, end, fps, columns)
            for cam in cameras:
                writers[cam].write(arrays[cam])
                sample = _sample(arrays[cam])
                image_samples[cam].append(sample)
                stats = layout.feature_stats(sample, image=True)
                row.update(_stats_columns(layout.video_key(cam), stats))
            episodes.append(row)
    finally:
        for writer in writers.values():
            writer.close()
    data = {key: np.concatenate(parts) for key, parts in frames.items()}
    _write_table(root / layout.DATA_PATH.format(chunk_index=0, file_index=0), data)
    _write_episodes(root / layout.EPISODES_PATH.format(chunk_index=0, file_index=0), episodes)
    _write_tasks(root / layout.TASKS_PATH)
    stats = {key: layout.feature_stats(values) for key, values in data.items()}
    for cam in cameras:
        stats[layout.video_key(cam)] = layout.feature_stats(
            np.concatenate(image_samples[cam]), image=True
        )
    video_info = {"video.codec": "h264", "video.pix_fmt": PIX_FMT, "video.channels": 3,
                  "video.encoder": CODEC, "has_audio": False, "is_depth_map": False}
    info = layout.info(cameras, store.image_size, fps, store.n_episodes, store.n_steps, video_info)
    _write_json(root / layout.STATS_PATH, stats)
    _write_json(root / layout.INFO_PATH, info)
    return {"episodes": store.n_episodes, "frames": store.n_steps, "fps": fps,
            "cameras": list(cameras)}


def _video_file(camera: str) -> str:
    return layout.VIDEO_PATH.format(video_key=layout.video_key(camera), chunk_index=0,
                                    file_index=0)


def _frame_columns(arrays: dict[str, np.ndarray], cameras: tuple[str, ...], episode: int,
                   start: int, fps: int) -> dict[str, np.ndarray]:
    """The per-frame parquet columns of one episode."""
    length = len(arrays[ACTION])
    frame_index = np.arange(length, dtype=np.int64)
    columns = {
        ACTION: arrays[ACTION].astype(np.float32),
        layout.STATE: np.concatenate(
            [arrays[key] for key in layout.STATE_PARTS], axis=1
        ).astype(np.float32),
        "timestamp": (frame_index / fps).astype(np.float32),
        "frame_index": frame_index,
        "episode_index": np.full(length, episode, np.int64),
        "index": start + frame_index,
        "task_index": np.zeros(length, np.int64),
    }
    for cam in cameras:
        columns[layout.valid_feature(cam)] = arrays[valid_key(cam)].astype(bool)
    return columns


def _episode_row(store: EpisodeStore, index: int, start: int, end: int, fps: int,
                 columns: dict[str, np.ndarray]) -> dict[str, Any]:
    """One row of meta/episodes: frame range, video time ranges, extras, stats."""
    meta = store.episode_meta(index)
    row: dict[str, Any] = {
        "episode_index": index,
        "tasks": [layout.TASK],
        "length": end - start,
        "data/chunk_index": 0,
        "data/file_index": 0,
        "dataset_from_index": start,
        "dataset_to_index": end,
    }
    for cam in store.cameras:
        key = layout.video_key(cam)
        row[f"videos/{key}/chunk_index"] = 0
        row[f"videos/{key}/file_index"] = 0
        row[f"videos/{key}/from_timestamp"] = start / fps
        row[f"videos/{key}/to_timestamp"] = end / fps
    row["meta/episodes/chunk_index"] = 0
    row["meta/episodes/file_index"] = 0
    row[layout.SUCCESS_COLUMN] = meta["success"]
    row[layout.SEED_COLUMN] = meta["seed"]
    for key, values in columns.items():
        row.update(_stats_columns(key, layout.feature_stats(values)))
    return row


def _stats_columns(feature: str, stats: dict[str, list]) -> dict[str, list]:
    return {f"stats/{feature}/{name}": value for name, value in stats.items()}


def _sample(frames: np.ndarray) -> np.ndarray:
    """At most :data:`IMAGE_STATS_FRAMES` frames spread over the episode."""
    picks = np.linspace(0, len(frames) - 1, min(len(frames), IMAGE_STATS_FRAMES)).round()
    return frames[picks.astype(int)]


def _write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Per-frame columns as parquet: scalars as values, vectors as fixed-size lists."""
    arrays = {}
    for key, values in columns.items():
        if values.ndim == 1:
            arrays[key] = pa.array(values)
        else:
            flat = pa.array(values.reshape(-1))
            arrays[key] = pa.FixedSizeListArray.from_arrays(flat, values.shape[1])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(arrays), path)


def _write_episodes(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def _write_tasks(path: Path) -> None:
    """meta/tasks.parquet as pandas writes it: ``task`` is the index, ``task_index`` a column.

    LeRobot reads it with pandas and takes a task's text from the row's index.
    """
    table = pa.table({"task_index": pa.array([0], pa.int64()), "task": [layout.TASK]})
    columns = [
        {"name": "task_index", "field_name": "task_index", "pandas_type": "int64",
         "numpy_type": "int64", "metadata": None},
        {"name": "task", "field_name": "task", "pandas_type": "unicode",
         "numpy_type": "object", "metadata": None},
    ]
    pandas_meta = {"index_columns": ["task"], "column_indexes": [], "columns": columns,
                   "creator": {"library": "pyarrow", "version": pa.__version__},
                   "pandas_version": "2.2.0"}
    table = table.replace_schema_metadata({"pandas": json.dumps(pandas_meta)})
    pq.write_table(table, path)


def _write_json(path: Path, value: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=4))
