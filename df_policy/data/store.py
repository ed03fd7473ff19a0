"""The episode store: a zarr v3 group in the layout Diffusion Policy users know.

Layout (see :mod:`df_policy.keys` for shapes): ``data/<key>`` arrays concatenated over
episodes, ``meta/episode_ends`` (exclusive end of each episode), ``meta/episode_success``,
``meta/episode_seed``. Images are stored one frame per chunk, compressed with Blosc/zstd.
Chunk files use flat keys (``data/front/c.17.0.0.0``, as zarr v2 and Diffusion Policy do):
one file per frame instead of four nested folders, so listing, sizing and copying a
150-episode store take milliseconds, not tens of seconds.

A store is created in a hidden temporary folder beside ``path`` and renamed into place once
complete, so a kill during creation never leaves a half-made store at ``path``.

Crash safety — the commit protocol of :meth:`EpisodeStore.append_episode`:

1. the episode's rows are written to every ``data/`` array past the committed end;
2. its entries are written to the ``meta/`` arrays;
3. the root attribute ``committed_episodes`` is increased — **the commit point**.

zarr 3 writes every file (chunk or metadata) to a temporary name and renames it, so each step
is made of atomic file replacements, and a chunk that also holds committed rows is replaced
whole, never torn. A SIGKILL anywhere leaves ``committed_episodes`` at its old or its new
value; readers look only at the committed episodes, and opening the store for appending trims
any uncommitted tail (and removes leftover ``*.partial`` temp files). Every finished episode
therefore survives and the store stays valid.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec, BloscShuffle

from df_policy.errors import DataError
from df_policy.keys import (
    ACTION,
    ACTION_DIM,
    EE_POSE,
    EPISODE_ENDS,
    EPISODE_SEED,
    EPISODE_SUCCESS,
    GRIPPER,
    JOINT_DIM,
    JOINT_POS,
    POSE_DIM,
    valid_key,
)

SCHEMA = "df_policy.episodes"
SCHEMA_VERSION = 1
COMMITTED = "committed_episodes"
RUNS = "runs"
"""Root attribute: the settings of each run that added episodes, oldest first, each with the
index of its first episode (``df-policy collect`` records its resolved configs); absent in
stores whose runs were not recorded."""
LOW_DIM_CHUNK = 4096
"""Rows per chunk of the low-dimensional arrays."""

LOW_DIM_SHAPES = {
    ACTION: (ACTION_DIM,), EE_POSE: (POSE_DIM,), GRIPPER: (1,), JOINT_POS: (JOINT_DIM,)
}
WRITE_ALL_CHUNKS = {"array.write_empty_chunks": True}
"""Write chunks even when they equal the fill value, so a missing chunk file means damage."""
FLAT_CHUNK_KEYS = {"name": "default", "separator": "."}
"""Chunk file names like ``c.17.0.0.0`` in the array's folder."""
META_DTYPES = {EPISODE_ENDS: np.int64, EPISODE_SUCCESS: np.bool_, EPISODE_SEED: np.int64}
SOURCES = ("sim", "ros", "bag")
"""Where a store's episodes came from: the simulator, a live robot, or an imported bag."""


class EpisodeStore:
    """A zarr episode store; create with :meth:`create`, open with :meth:`open`."""

    def __init__(self, root: zarr.Group, path: Path, writable: bool) -> None:
        self.root = root
        self.path = path
        self.writable = writable
        attrs = root.attrs
        self.cameras: tuple[str, ...] = tuple(attrs["cameras"])
        self.image_size: int = int(attrs["image_size"])
        self.control_hz: float = float(attrs["control_hz"])
        self.source: str = str(attrs["source"])
        self.n_episodes: int = int(attrs[COMMITTED])
        ends = root["meta"][EPISODE_ENDS][: self.n_episodes]
        self.episode_ends: np.ndarray = np.asarray(ends, dtype=np.int64)

    # ----------------------------------------------------------------------------------------
    # Creating and opening

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        cameras: Sequence[str],
        image_size: int,
        control_hz: float,
        source: str = "sim",
    ) -> EpisodeStore:
        """Create an empty store at ``path`` (which must not exist).

        Raises:
            DataError: if ``path`` exists or the arguments cannot describe a store.
        """
        path = Path(path)
        if path.exists():
            raise DataError(f"{path} already exists (use --resume to continue it)")
        if not cameras or image_size < 1 or control_hz <= 0:
            raise DataError("a store needs cameras, a positive image_size and control_hz")
        if source not in SOURCES:
            raise DataError(f"store source must be one of {SOURCES}, got {source!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        building = path.with_name(f".{path.name}.creating-{uuid.uuid4().hex[:8]}")
        _build_empty(building, cameras, image_size, control_hz, source)
        try:
            os.rename(building, path)  # atomic; fails if path appeared meanwhile
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            raise DataError(f"{path} already exists (use --resume to continue it)") from None
        return cls(zarr.open_group(str(path), mode="r+"), path, writable=True)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r") -> EpisodeStore:
        """Open an existing store: ``"r"`` read-only, ``"a"`` to append.

        Raises:
            DataError: when ``path`` is not a store of this schema, or an array is truncated.
        """
        if mode not in ("r", "a"):
            raise ValueError(f"mode must be 'r' or 'a', got {mode!r}")
        path = Path(path)
        if not path.exists():
            raise DataError(f"episode store not found: {path}")
        try:
            root = zarr.open_group(str(path), mode="r" if mode == "r" else "r+")
        except Exception as err:  # zarr raises several types for a non-store folder
            raise DataError(f"{path} is not a zarr episode store ({err})") from None
        _check_schema(root, path)
        store = cls(root, path, writable=mode == "a")
        store.validate()
        if mode == "a":
            store._discard_uncommitted_tail()
        return store

    @classmethod
    def open_or_create(cls, path: str | Path, **create_kwargs: Any) -> EpisodeStore:
        """Open ``path`` for appending if it exists (checking it matches), else create it."""
        if not Path(path).exists():
            return cls.create(path, **create_kwargs)
        store = cls.open(path, mode="a")
        expected = {
            "cameras": tuple(create_kwargs.get("cameras", store.cameras)),
            "image_size": int(create_kwargs.get("image_size", store.image_size)),
            "control_hz": float(create_kwargs.get("control_hz", store.control_hz)),
        }
        actual = {
            "cameras": store.cameras,
            "image_size": store.image_size,
            "control_hz": store.control_hz,
        }
        for key, value in expected.items():
            if actual[key] != value:
                raise DataError(
                    f"{path} was made with {key}={actual[key]!r}, but {value!r} was asked for"
                )
        return store

    # ----------------------------------------------------------------------------------------
    # Reading

    @property
    def n_steps(self) -> int:
        """Committed steps over all episodes."""
        return int(self.episode_ends[-1]) if self.n_episodes else 0

    def data_keys(self) -> tuple[str, ...]:
        """Every ``data/`` array name."""
        return (*self.cameras, *(valid_key(c) for c in self.cameras), *LOW_DIM_SHAPES)

    def episode_range(self, index: int) -> tuple[int, int]:
        """``(start, end)`` rows of episode ``index`` in the ``data/`` arrays."""
        if not 0 <= index < self.n_episodes:
            raise IndexError(f"episode {index} out of range (store has {self.n_episodes})")
        start = int(self.episode_ends[index - 1]) if index else 0
        return start, int(self.episode_ends[index])

    def episode(self, index: int) -> dict[str, np.ndarray]:
        """Every ``data/`` array of episode ``index``, keyed by :mod:`df_policy.keys` names."""
        start, end = self.episode_range(index)
        data = self.root["data"]
        return {key: np.asarray(data[key][start:end]) for key in self.data_keys()}

    def episode_meta(self, index: int) -> dict[str, Any]:
        """``length``, ``success`` and ``seed`` of episode ``index``."""
        start, end = self.episode_range(index)
        meta = self.root["meta"]
        return {
            "length": end - start,
            "success": bool(meta[EPISODE_SUCCESS][index]),
            "seed": int(meta[EPISODE_SEED][index]),
        }

    def seeds(self) -> np.ndarray:
        """Simulator seed of every committed episode (-1 for recorded data)."""
        return np.asarray(self.root["meta"][EPISODE_SEED][: self.n_episodes], dtype=np.int64)

    @property
    def runs(self) -> list[dict[str, Any]]:
        """The recorded runs: ``{"first_episode": i, **settings}`` each, oldest first."""
        return list(self.root.attrs.get(RUNS, []))

    def record_run(self, settings: Mapping[str, Any]) -> None:
        """Record that the episodes appended from now on come from a run with ``settings``
        (JSON values); it replaces a recorded run that never appended an episode."""
        self._check_writable()
        runs = [run for run in self.runs if run["first_episode"] < self.n_episodes]
        self.root.attrs[RUNS] = [*runs, {"first_episode": self.n_episodes, **settings}]

    def _check_writable(self) -> None:
        if not self.writable:
            raise DataError(f"{self.path} was opened read-only")

    def successes(self) -> np.ndarray:
        """Success flag of every committed episode."""
        return np.asarray(self.root["meta"][EPISODE_SUCCESS][: self.n_episodes], dtype=bool)

    def validate(self) -> None:
        """Check the committed episodes are fully present.

        Raises:
            DataError: naming the array that is truncated or has missing chunks.
        """
        ends = self.episode_ends
        if len(ends) < self.n_episodes or np.any(np.diff(ends) <= 0) or (
            self.n_episodes and ends[0] <= 0
        ):
            raise DataError(f"{self.path}: meta/{EPISODE_ENDS} is inconsistent or truncated")
        for group, keys, needed in (
            ("data", self.data_keys(), self.n_steps),
            ("meta", tuple(META_DTYPES), self.n_episodes),
        ):
            for key in keys:
                if key not in self.root[group]:
                    raise DataError(f"{self.path}: array {group}/{key} is missing")
                array = self.root[group][key]
                if array.shape[0] < needed:
                    raise DataError(
                        f"{self.path}: array {group}/{key} is truncated "
                        f"({array.shape[0]} rows, committed episodes need {needed})"
                    )
                missing = _missing_chunks(self.path, array, needed)
                if missing:
                    raise DataError(
                        f"{self.path}: array {group}/{key} is missing {missing} of its chunk files"
                    )

    # ----------------------------------------------------------------------------------------
    # Writing

    def append_episode(
        self, arrays: Mapping[str, np.ndarray], *, success: bool, seed: int = -1
    ) -> int:
        """Append one episode atomically; returns its index.

        ``arrays``: every camera ``(T, S, S, 3) uint8``, ``action (T, 8)``, ``ee_pose (T, 7)``,
        ``gripper (T, 1)``, ``joint_pos (T, 7)``; optional ``<camera>_valid (T,) bool``
        (default all True).

        Raises:
            DataError: naming the key for a missing array, a wrong shape or dtype, or a
                non-finite value. Nothing is written then.
        """
        self._check_writable()
        rows = self._checked_rows(arrays)
        length = len(rows[ACTION])
        start = self.n_steps
        end = start + length
        index = self.n_episodes
        with zarr.config.set(WRITE_ALL_CHUNKS):
            data = self.root["data"]
            for key, values in rows.items():
                array = data[key]
                array.resize((end, *array.shape[1:]))
                array[start:end] = values
            meta = self.root["meta"]
            entries = ((EPISODE_ENDS, end), (EPISODE_SUCCESS, success), (EPISODE_SEED, seed))
            for key, value in entries:
                meta[key].resize((index + 1,))
                meta[key][index] = value
        self.root.attrs[COMMITTED] = index + 1  # the commit point
        self.n_episodes = index + 1
        self.episode_ends = np.append(self.episode_ends, end)
        return index

    def _checked_rows(self, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if ACTION not in arrays:
            raise DataError(f"episode is missing '{ACTION}'")
        length = len(arrays[ACTION])
        if length == 0:
            raise DataError("episode is empty")
        size = self.image_size
        expected: dict[str, tuple[tuple[int, ...], type]] = {
            camera: ((length, size, size, 3), np.uint8) for camera in self.cameras
        }
        for key, tail in LOW_DIM_SHAPES.items():
            expected[key] = ((length, *tail), np.float32)
        rows: dict[str, np.ndarray] = {}
        for key, (shape, dtype) in expected.items():
            if key not in arrays:
                raise DataError(f"episode is missing '{key}'")
            value = np.asarray(arrays[key])
            if value.shape != shape:
                raise DataError(f"'{key}' has shape {value.shape}, expected {shape}")
            if dtype is np.uint8 and value.dtype != np.uint8:
                raise DataError(f"'{key}' must be uint8 RGB, got {value.dtype}")
            if dtype is np.float32:
                if not np.issubdtype(value.dtype, np.floating):
                    raise DataError(f"'{key}' must be floating point, got {value.dtype}")
                if not np.all(np.isfinite(value)):
                    raise DataError(f"'{key}' contains NaN or infinite values")
            rows[key] = value.astype(dtype, copy=False)
        for camera in self.cameras:
            key = valid_key(camera)
            mask = np.asarray(arrays.get(key, np.ones(length, bool)))
            if mask.shape != (length,) or mask.dtype != np.bool_:
                raise DataError(f"'{key}' must be a ({length},) bool mask")
            rows[key] = mask
        unknown = set(arrays) - set(rows)
        if unknown:
            raise DataError(f"episode has unknown arrays {sorted(unknown)}")
        return rows

    def _discard_uncommitted_tail(self) -> None:
        """Trim arrays written by an append that never committed; remove temp files."""
        for partial in self.path.rglob("*.partial"):
            partial.unlink(missing_ok=True)
        for group, keys, size in (
            ("data", self.data_keys(), self.n_steps),
            ("meta", tuple(META_DTYPES), self.n_episodes),
        ):
            for key in keys:
                array = self.root[group][key]
                if array.shape[0] != size:
                    array.resize((size, *array.shape[1:]))


def _build_empty(
    path: Path, cameras: Sequence[str], image_size: int, control_hz: float, source: str
) -> None:
    """Write an empty store with every array and attribute at ``path``."""
    root = zarr.open_group(str(path), mode="w-")
    data = root.create_group("data")
    meta = root.create_group("meta")
    image_codec = BloscCodec(cname="zstd", clevel=3, shuffle=BloscShuffle.bitshuffle)
    for camera in cameras:
        data.create_array(
            camera,
            shape=(0, image_size, image_size, 3),  # (N, S, S, 3) RGB, one frame per chunk
            chunks=(1, image_size, image_size, 3),
            dtype=np.uint8,
            compressors=image_codec,
            chunk_key_encoding=FLAT_CHUNK_KEYS,
        )
        data.create_array(
            valid_key(camera),
            shape=(0,),
            chunks=(LOW_DIM_CHUNK,),
            dtype=bool,
            chunk_key_encoding=FLAT_CHUNK_KEYS,
        )
    for key, tail in LOW_DIM_SHAPES.items():
        data.create_array(
            key,
            shape=(0, *tail),
            chunks=(LOW_DIM_CHUNK, *tail),
            dtype=np.float32,
            chunk_key_encoding=FLAT_CHUNK_KEYS,
        )
    for key, dtype in META_DTYPES.items():
        meta.create_array(
            key, shape=(0,), chunks=(LOW_DIM_CHUNK,), dtype=dtype,
            chunk_key_encoding=FLAT_CHUNK_KEYS,
        )
    root.attrs.update(
        {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "cameras": list(cameras),
            "image_size": int(image_size),
            "control_hz": float(control_hz),
            "source": source,
            COMMITTED: 0,
        }
    )


def _missing_chunks(store_path: Path, array: zarr.Array, rows: int) -> int:
    """How many chunk files that hold the first ``rows`` rows of ``array`` are absent.

    A stat per chunk: zarr's ``nchunks_initialized`` lists and matches every key and takes
    seconds on a store with tens of thousands of frames.
    """
    folder = store_path / array.path
    first_axis = range(math.ceil(rows / array.chunks[0]))
    other_axes = [range(n) for n in array.cdata_shape[1:]]
    return sum(
        not (folder / array.metadata.encode_chunk_key(coords)).is_file()
        for coords in itertools.product(first_axis, *other_axes)
    )


def _check_schema(root: zarr.Group, path: Path) -> None:
    attrs = dict(root.attrs)
    if attrs.get("schema") != SCHEMA:
        raise DataError(f"{path} is not a df_policy episode store (no '{SCHEMA}' schema tag)")
    if attrs.get("schema_version") != SCHEMA_VERSION:
        raise DataError(
            f"{path} has schema version {attrs.get('schema_version')}, "
            f"this df_policy reads version {SCHEMA_VERSION}"
        )
    for key in ("cameras", "image_size", "control_hz", "source", COMMITTED):
        if key not in attrs:
            raise DataError(f"{path} is missing the store attribute '{key}'")
    for group in ("data", "meta"):
        if group not in root:
            raise DataError(f"{path} is missing the '{group}' group")
    if EPISODE_ENDS not in root["meta"]:
        raise DataError(f"{path} is missing meta/{EPISODE_ENDS}")


def _disk_usage(path: Path) -> int:
    """Bytes allocated on disk for ``path`` and everything below it (like ``du``)."""
    return sum(entry.lstat().st_blocks * 512 for entry in [path, *path.rglob("*")])


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def describe(path: str | Path) -> dict[str, Any]:
    """Summary of a store for ``df-policy dataset info``."""
    store = EpisodeStore.open(path)
    lengths = np.diff(np.concatenate([[0], store.episode_ends]))
    successes = store.successes()
    data = store.root["data"]
    missing = {
        camera: int(store.n_steps - np.count_nonzero(data[valid_key(camera)][: store.n_steps]))
        for camera in store.cameras
    }
    size = _disk_usage(Path(path))
    return {
        "path": str(path),
        "episodes": store.n_episodes,
        "steps": store.n_steps,
        "success_rate": float(successes.mean()) if len(successes) else 0.0,
        "episode_length_mean": float(lengths.mean()) if len(lengths) else 0.0,
        "episode_length_min": int(lengths.min()) if len(lengths) else 0,
        "episode_length_max": int(lengths.max()) if len(lengths) else 0,
        "cameras": list(store.cameras),
        "image_size": store.image_size,
        "control_hz": store.control_hz,
        "source": store.source,
        "missing_frames": missing,
        "runs": store.runs,
        "size_bytes": size,
        "size": _human(size),
    }
