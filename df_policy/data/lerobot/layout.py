"""The LeRobotDataset v3.0 layout as this project writes and reads it.

A dataset folder (``codebase_version`` ``v3.0``; paths as LeRobot's ``DEFAULT_DATA_PATH``,
``DEFAULT_VIDEO_PATH`` and ``DEFAULT_EPISODES_PATH`` define them)::

    meta/info.json                                   fps, features, totals, path templates
    meta/stats.json                                  min/max/mean/std/count/q01..q99 per feature
    meta/tasks.parquet                               task text (index) -> task_index
    meta/episodes/chunk-000/file-000.parquet         one row per episode: length, frame range,
                                                     video time range per camera, episode stats
    data/chunk-000/file-000.parquet                  one row per frame: action, state, indices
    videos/observation.images.<cam>/chunk-000/file-000.mp4   every episode of one camera

Our arrays map to LeRobot features so: ``action`` (8) as is; ``observation.state`` (15) =
``ee_pose`` (7) + ``gripper`` (1) + ``joint_pos`` (7); each camera to
``observation.images.<cam>`` (video) and its validity mask to ``observation.<cam>_valid``.
An episode's success and simulator seed are extra columns of the episodes table.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from df_policy.keys import ACTION, EE_POSE, GRIPPER, JOINT_POS

CODEBASE_VERSION = "v3.0"
CHUNK_FILE = "chunk-{chunk_index:03d}/file-{file_index:03d}"
DATA_PATH = "data/" + CHUNK_FILE + ".parquet"
VIDEO_PATH = "videos/{video_key}/" + CHUNK_FILE + ".mp4"
EPISODES_PATH = "meta/episodes/" + CHUNK_FILE + ".parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 200
"""LeRobot's defaults, recorded in info.json (limits for writers that append; we write one file)."""

ROBOT_TYPE = "panda"
TASK = "swap the two fruits"
STATE = "observation.state"
SUCCESS_COLUMN = "df_policy/success"
SEED_COLUMN = "df_policy/seed"

ACTION_NAMES = ["x", "y", "z", "qw", "qx", "qy", "qz", "grip"]
STATE_PARTS = {
    EE_POSE: ["ee_x", "ee_y", "ee_z", "ee_qw", "ee_qx", "ee_qy", "ee_qz"],
    GRIPPER: ["gripper_opening"],
    JOINT_POS: [f"joint_{i}" for i in range(7)],
}
"""Our low-dimensional arrays, in the order they make up ``observation.state``."""
STATE_NAMES = [name for names in STATE_PARTS.values() for name in names]
INDEX_FEATURES = {
    "timestamp": "float32",
    "frame_index": "int64",
    "episode_index": "int64",
    "index": "int64",
    "task_index": "int64",
}
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)


def video_key(camera: str) -> str:
    """LeRobot feature name of a camera (``front`` -> ``observation.images.front``)."""
    return f"observation.images.{camera}"


def valid_feature(camera: str) -> str:
    """LeRobot feature name of a camera's validity mask."""
    return f"observation.{camera}_valid"


def features(cameras: tuple[str, ...], size: int, fps: int, video_info: dict) -> dict:
    """The ``features`` entry of info.json."""
    out: dict[str, Any] = {
        ACTION: {"dtype": "float32", "shape": [len(ACTION_NAMES)], "names": ACTION_NAMES},
        STATE: {"dtype": "float32", "shape": [len(STATE_NAMES)], "names": STATE_NAMES},
    }
    for camera in cameras:
        out[video_key(camera)] = {
            "dtype": "video",
            "shape": [size, size, 3],
            "names": ["height", "width", "channels"],
            "info": {"video.height": size, "video.width": size, "video.fps": fps, **video_info},
        }
        out[valid_feature(camera)] = {"dtype": "bool", "shape": [1], "names": None}
    for name, dtype in INDEX_FEATURES.items():
        out[name] = {"dtype": dtype, "shape": [1], "names": None}
    return out


def info(cameras: tuple[str, ...], size: int, fps: int, episodes: int, frames: int,
         video_info: dict) -> dict:
    """The whole of meta/info.json."""
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": ROBOT_TYPE,
        "total_episodes": episodes,
        "total_frames": frames,
        "total_tasks": 1,
        "chunks_size": CHUNKS_SIZE,
        "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
        "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
        "fps": fps,
        "splits": {"train": f"0:{episodes}"},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH,
        "features": features(cameras, size, fps, video_info),
    }


def feature_stats(values: np.ndarray, image: bool = False) -> dict[str, list]:
    """LeRobot's statistics of one feature over frames.

    ``values``: ``(N, D)`` numbers, or ``(N, H, W, 3) uint8`` frames when ``image`` (then per
    channel, scaled to 0..1 and shaped ``(3, 1, 1)`` as LeRobot keeps them).
    """
    if image:
        flat = values.reshape(-1, 3).astype(np.float64) / 255.0
    else:
        flat = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    stats = {
        "min": flat.min(axis=0),
        "max": flat.max(axis=0),
        "mean": flat.mean(axis=0),
        "std": flat.std(axis=0),
    }
    for q in QUANTILES:
        stats[f"q{round(q * 100):02d}"] = np.quantile(flat, q, axis=0)
    shape = (3, 1, 1) if image else (-1,)
    out = {key: value.reshape(shape).tolist() for key, value in stats.items()}
    out["count"] = [len(values)]
    return out
