"""``df-policy convert bag2zarr``: rosbag2 recordings (MCAP or sqlite3) into the episode store.

Bags are read with the ``rosbags`` library, so no ROS installation is needed. For each bag:

1. **read** every configured topic; images are decoded and resized to the store's size as they
   arrive, so a long bag of full-size frames fits in memory. Message times are header stamps
   (or receive times, ``stamps: receive``).
2. **split** the bag into episodes: by gaps in ``joint_states``, by an episode topic, or by
   given time ranges.
3. **align** each episode to the control clock ``t_i = start + i / control_hz``:

   ===============  ===========================================================================
   cameras          the frame nearest to ``t_i`` if within the camera's tolerance, each frame
                    used once; otherwise the step is recorded as **missing** (``<cam>_valid``
                    False, a black frame) — never filled with an older frame
   joint_states,    the message nearest to ``t_i`` within tolerance; none is an error (the
   ee_pose          state of the robot is not optional)
   action           the commanded target in effect at the end of step ``i`` (the newest
                    command before ``t_{i+1}``): commands are held, as the controller holds
                    them; before the first command the robot holds its measured pose, open
   ===============  ===========================================================================

4. **append** each episode atomically (:meth:`EpisodeStore.append_episode`).

A bag that cannot be read, lacks a topic or carries an unexpected message type raises
:class:`DataError` before anything of it is written; the episodes of earlier bags stay
committed and the store stays valid.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from df_policy.data.config import BagImportConfig
from df_policy.data.messages import gripper_opening, joint_positions, msg_to_pose, stamp_seconds
from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.images import compressed_to_rgb, image_to_rgb, resize_images
from df_policy.keys import ACTION, EE_POSE, GRIPPER, JOINT_POS, valid_key

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
JOINT_STATE = "sensor_msgs/msg/JointState"
POSE = "geometry_msgs/msg/PoseStamped"
FLOAT = "std_msgs/msg/Float64"
EPISODE_TYPES = ("std_msgs/msg/Bool", "std_msgs/msg/String")


@dataclasses.dataclass
class Stream:
    """One topic's messages, converted, sorted by time (seconds)."""

    times: np.ndarray
    values: list[Any]


@dataclasses.dataclass
class BagStreams:
    """The streams of one bag by name, and the earliest message time (for time ranges)."""

    streams: dict[str, Stream]
    start: float


@dataclasses.dataclass
class BagEpisode:
    """One episode cut from a bag: its time window and whether it succeeded."""

    start: float
    end: float
    success: bool = True


def convert_bags(bags: Sequence[str | Path], config: BagImportConfig,
                 out: str | Path) -> dict[str, Any]:
    """Convert ``bags`` in order, appending their episodes to the store at ``out``.

    Returns a summary: episodes written per bag, skipped (too short) episodes, and missing
    frames per camera.
    """
    store = EpisodeStore.open_or_create(
        out, cameras=tuple(config.cameras), image_size=config.image_size,
        control_hz=config.control_hz, source="bag",
    )
    summary: dict[str, Any] = {"store": str(out), "bags": [], "episodes": 0,
                               "missing_frames": dict.fromkeys(config.cameras, 0)}
    for bag in bags:
        streams = read_bag(bag, config)
        episodes = split_episodes(streams, config)
        written, skipped = 0, 0
        for episode in episodes:
            arrays = align_episode(streams, episode, config)
            if arrays is None:
                skipped += 1
                continue
            store.append_episode(arrays, success=episode.success)
            written += 1
            for cam in config.cameras:
                summary["missing_frames"][cam] += int((~arrays[valid_key(cam)]).sum())
        summary["bags"].append({"bag": str(bag), "episodes": written, "skipped_short": skipped})
        summary["episodes"] += written
    return summary


# --------------------------------------------------------------------------------------------
# 1. Reading


def read_bag(path: str | Path, config: BagImportConfig) -> BagStreams:
    """Every configured topic of one bag as streams named ``camera``, ``joints``, ``gripper``,
    ``ee_pose``, ``target``, ``grip_command`` (and ``episode`` when split by topic).

    Raises:
        DataError: for an unreadable bag, a missing topic or an unexpected message type.
    """
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    path = Path(path)
    if not path.exists():
        raise DataError(f"bag not found: {path}")
    wanted = _wanted_topics(config)
    try:
        with AnyReader([path], default_typestore=get_typestore(Stores.ROS2_KILTED)) as reader:
            connections = {c.topic: c for c in reader.connections}
            for topic, (_, types, _) in wanted.items():
                if topic not in connections:
                    raise DataError(f"{path}: topic {topic} is not in the bag "
                                    f"(it has {sorted(connections)})")
                if connections[topic].msgtype not in types:
                    raise DataError(f"{path}: topic {topic} carries "
                                    f"{connections[topic].msgtype}, expected one of {list(types)}")
            collected: dict[str, tuple[list[float], list[Any]]] = {
                name: ([], []) for name, _, _ in wanted.values()
            }
            selected = [connections[topic] for topic in wanted]
            for connection, receive_ns, raw in reader.messages(connections=selected):
                name, _, convert = wanted[connection.topic]
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = _stamp(msg, receive_ns, config.stamps)
                try:
                    value = convert(msg)
                except ValueError as err:
                    raise DataError(f"{path}: {connection.topic} at t={stamp:.3f}: {err}") from None
                collected[name][0].append(stamp)
                collected[name][1].append(value)
    except DataError:
        raise
    except Exception as err:  # rosbags raises several types for damaged or foreign files
        raise DataError(f"cannot read bag {path}: {err}") from None
    streams = {}
    for name, (times, values) in collected.items():
        stamps = np.asarray(times, dtype=np.float64)
        order = np.argsort(stamps, kind="stable")
        streams[name] = Stream(stamps[order], [values[i] for i in order])
    starts = [stream.times[0] for stream in streams.values() if len(stream.times)]
    if not starts:
        raise DataError(f"{path}: the configured topics hold no messages")
    return BagStreams(streams, float(min(starts)))


def _wanted_topics(
    config: BagImportConfig,
) -> dict[str, tuple[str, tuple[str, ...], Callable[[Any], Any]]]:
    """topic -> (stream name, accepted message types, converter)."""
    size = config.image_size

    def image(msg: Any) -> np.ndarray:
        rgb = compressed_to_rgb(msg) if hasattr(msg, "format") else image_to_rgb(msg)
        return resize_images(np.ascontiguousarray(rgb), size)

    def joints(msg: Any) -> tuple[np.ndarray, float]:
        return (joint_positions(msg, config.arm_joints),
                gripper_opening(msg, config.finger_joints))

    entries = [(stream.topic, (cam, IMAGE_TYPES, image))
               for cam, stream in config.cameras.items()]
    entries += [
        (config.joint_states.topic, ("joints", (JOINT_STATE,), joints)),
        (config.ee_pose.topic, ("ee_pose", (POSE,), msg_to_pose)),
        (config.ee_target, ("target", (POSE,), msg_to_pose)),
        (config.gripper_command, ("grip_command", (FLOAT,), lambda msg: float(msg.data))),
    ]
    if config.split == "topic":
        def episode(msg: Any) -> tuple[Any, bool | None]:
            return _episode_value(msg, config.episode_field)

        entries.append((config.episode_topic, ("episode", EPISODE_TYPES, episode)))
    wanted = dict(entries)
    if len(wanted) != len(entries):
        raise DataError("two configured streams share one topic; each needs its own topic")
    return wanted


def _stamp(msg: Any, receive_ns: int, mode: str) -> float:
    """Message time in seconds: its header stamp, or the receive time."""
    header = getattr(msg, "header", None)
    if mode == "header" and header is not None and stamp_seconds(header.stamp):
        return stamp_seconds(header.stamp)
    return receive_ns * 1e-9


def _episode_value(msg: Any, field: str) -> tuple[Any, bool | None]:
    """(episode id or None between episodes, success if the message says)."""
    if isinstance(msg.data, bool):
        return (True if msg.data else None), None
    text = msg.data.strip()
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict) and field in parsed:
        success = parsed.get("success")
        return parsed[field], (bool(success) if success is not None else None)
    return (text or None), None


# --------------------------------------------------------------------------------------------
# 2. Splitting


def split_episodes(bag: BagStreams, config: BagImportConfig) -> list[BagEpisode]:
    """The episodes of one bag, in time order."""
    if config.split == "ranges":
        return [BagEpisode(bag.start + a, bag.start + b) for a, b in config.ranges]
    if config.split == "gap":
        times = bag.streams["joints"].times
        if len(times) == 0:
            return []
        breaks = np.flatnonzero(np.diff(times) > config.max_gap_s)
        starts = np.concatenate([[0], breaks + 1])
        ends = np.concatenate([breaks, [len(times) - 1]])
        return [BagEpisode(float(times[a]), float(times[b])) for a, b in zip(starts, ends,
                                                                              strict=True)]
    episodes: list[BagEpisode] = []
    stream = bag.streams["episode"]
    current: Any = None
    for time, (value, success) in zip(stream.times, stream.values, strict=True):
        if value is not None and value == current:
            episodes[-1].end = float(time)
            if success is not None:
                episodes[-1].success = success
        elif value is not None:
            episodes.append(BagEpisode(float(time), float(time),
                                       True if success is None else success))
        current = value
    return episodes


# --------------------------------------------------------------------------------------------
# 3. Aligning


def align_episode(bag: BagStreams, episode: BagEpisode,
                  config: BagImportConfig) -> dict[str, np.ndarray] | None:
    """The store arrays of one episode, or None when it is shorter than ``min_steps``.

    Raises:
        DataError: when joint_states or ee_pose have no message within tolerance of a tick.
    """
    period = 1.0 / config.control_hz
    steps = int(np.floor((episode.end - episode.start) * config.control_hz + 1e-9)) + 1
    if steps < config.min_steps:
        return None
    ticks = episode.start + np.arange(steps) * period
    streams = bag.streams
    arrays: dict[str, np.ndarray] = {}
    size = config.image_size
    for cam, stream_config in config.cameras.items():
        chosen = nearest_unique(streams[cam].times, ticks, stream_config.tolerance_s)
        frames = np.zeros((steps, size, size, 3), np.uint8)
        for i, index in enumerate(chosen):
            if index >= 0:
                frames[i] = streams[cam].values[index]
        arrays[cam] = frames
        arrays[valid_key(cam)] = chosen >= 0
    joints = _required(streams["joints"], ticks, config.joint_states.tolerance_s,
                       config.joint_states.topic, episode)
    arrays[JOINT_POS] = np.array([streams["joints"].values[i][0] for i in joints], np.float32)
    arrays[GRIPPER] = np.array([[streams["joints"].values[i][1]] for i in joints], np.float32)
    poses = _required(streams["ee_pose"], ticks, config.ee_pose.tolerance_s,
                      config.ee_pose.topic, episode)
    arrays[EE_POSE] = np.array([streams["ee_pose"].values[i] for i in poses], np.float32)
    arrays[ACTION] = _held_commands(streams, ticks + period, arrays[EE_POSE])
    return arrays


def nearest_unique(times: np.ndarray, ticks: np.ndarray, tolerance: float) -> np.ndarray:
    """For each tick the index of the nearest message within ``tolerance`` (-1: none).

    A message serves one tick at most (the closest one), so a late or dropped frame leaves
    a missing step instead of a repeated frame.
    """
    chosen = np.full(len(ticks), -1, dtype=np.int64)
    if len(times) == 0:
        return chosen
    nearest, distance = _nearest(times, ticks)
    chosen[distance <= tolerance] = nearest[distance <= tolerance]
    for index in np.unique(chosen[chosen >= 0]):
        users = np.flatnonzero(chosen == index)
        if len(users) > 1:
            keep = users[np.argmin(distance[users])]
            chosen[users[users != keep]] = -1
    return chosen


def _nearest(times: np.ndarray, ticks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the message nearest each tick in sorted ``times``, and its distance (s)."""
    right = np.clip(np.searchsorted(times, ticks), 0, len(times) - 1)
    left = np.clip(right - 1, 0, len(times) - 1)
    nearest = np.where(np.abs(times[left] - ticks) <= np.abs(times[right] - ticks), left, right)
    return nearest, np.abs(times[nearest] - ticks)


def _required(stream: Stream, ticks: np.ndarray, tolerance: float, topic: str,
              episode: BagEpisode) -> np.ndarray:
    """Nearest message per tick (may repeat); a tick with none in tolerance is an error."""
    if len(stream.times) == 0:
        raise DataError(f"{topic} has no messages")
    nearest, distance = _nearest(stream.times, ticks)
    late = distance > tolerance
    if late.any():
        first = ticks[np.argmax(late)] - episode.start
        raise DataError(f"{topic}: no message within {tolerance} s of t={first:.2f} s into the "
                        f"episode starting at {episode.start:.3f}; raise its tolerance_s or cut "
                        f"the episode there")
    return nearest


def _held_commands(streams: dict[str, Stream], until: np.ndarray,
                   measured: np.ndarray) -> np.ndarray:
    """(T, 8) actions: newest target pose and gripper command before each ``until`` time."""
    actions = np.zeros((len(until), 8), np.float32)
    actions[:, :7] = measured
    for name, columns in (("target", slice(0, 7)), ("grip_command", slice(7, 8))):
        stream = streams[name]
        newest = np.searchsorted(stream.times, until, side="left") - 1
        for i, index in enumerate(newest):
            if index >= 0:
                actions[i, columns] = stream.values[index]
    if not np.all(np.isfinite(actions)):
        raise DataError("a commanded target or gripper command is NaN or infinite")
    return actions
