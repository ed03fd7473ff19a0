"""Real rosbag2 files for the importer tests, written with ``rosbags`` (MCAP or sqlite3).

:func:`write_teleop_bag` records what a teleoperated arm publishes, with known timing faults,
so the tests can check every aligned value exactly:

* control at 10 Hz from ``T0``; episode e covers ticks ``e * (TICKS + 20) + [0, TICKS)``
  (a 2 s silence between episodes);
* ``/front/image_raw`` rgb8 48x64 (not square) stamped ``tick + jitter`` (|jitter| <= 15 ms);
  each frame is one flat colour whose red channel is the tick number; ``FRONT_DROPPED`` ticks
  are never published;
* ``/wrist/image_raw`` PNG CompressedImage (or bgr8), stamped ``tick + 20 ms``; tick
  ``WRIST_LATE`` is stamped 60 ms late (beyond the 50 ms tolerance);
* ``/joint_states`` at 100 Hz from the first to the last tick of each episode, every arm joint
  at position = seconds since ``T0``, fingers 0.02 each;
* ``/ee_pose`` at 50 Hz over the same span, x = seconds since ``T0``;
* ``/ee_target`` 30 ms after each tick with x = tick number; ``/gripper_command`` = tick % 2;
* ``/episode_status`` String JSON ``{"seed": e, "success": ...}`` at every tick.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

T0 = 1_700_000_000.0
TICKS = 30
FRONT_DROPPED = (5, 6, 17)
WRIST_LATE = 9
JITTER = (0.0, 0.012, -0.015, 0.007, -0.004)

TYPES = get_typestore(Stores.ROS2_KILTED)
T = TYPES.types


def _stamp(seconds: float):
    sec = int(np.floor(seconds))
    header = T["std_msgs/msg/Header"]
    return header(stamp=T["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(
        round((seconds - sec) * 1e9))), frame_id="")


def _image(value: int, seconds: float, encoding: str):
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[...] = (value, 100, 200)
    if encoding == "bgr8":
        pixels = pixels[..., ::-1].copy()
    return T["sensor_msgs/msg/Image"](header=_stamp(seconds), height=48, width=64,
                                      encoding=encoding, is_bigendian=0, step=64 * 3,
                                      data=pixels.reshape(-1))


def _png(value: int, seconds: float):
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[...] = (200, 100, value)  # BGR for cv2: red channel = value
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return T["sensor_msgs/msg/CompressedImage"](header=_stamp(seconds), format="png",
                                                data=encoded.reshape(-1))


def _pose(x: float, seconds: float):
    pose = T["geometry_msgs/msg/Pose"](
        position=T["geometry_msgs/msg/Point"](x=x, y=0.0, z=0.3),
        orientation=T["geometry_msgs/msg/Quaternion"](x=1.0, y=0.0, z=0.0, w=0.0))
    return T["geometry_msgs/msg/PoseStamped"](header=_stamp(seconds), pose=pose)


def _joints(seconds: float):
    names = [f"panda_joint{i}" for i in range(1, 8)] + ["panda_finger_joint1",
                                                          "panda_finger_joint2"]
    position = np.array([seconds - T0] * 7 + [0.02, 0.02])
    return T["sensor_msgs/msg/JointState"](header=_stamp(seconds), name=names,
                                           position=position, velocity=np.zeros(0),
                                           effort=np.zeros(0))


def write_teleop_bag(path: Path, storage: str = "mcap", episodes: int = 2,
                     wrist: str = "png", omit_topic: str | None = None) -> Path:
    """Write the bag described in the module docstring (less ``omit_topic``); returns it."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    messages: list[tuple[float, str, object]] = []
    for episode in range(episodes):
        first = episode * (TICKS + 20)
        for k in range(first, first + TICKS):
            tick = T0 + k * 0.1
            local = k - first
            if local not in FRONT_DROPPED:
                stamp = tick + JITTER[k % len(JITTER)]
                messages.append((stamp, "/front/image_raw", _image(k, stamp, "rgb8")))
            stamp = tick + (0.06 if local == WRIST_LATE else 0.02)
            msg = _png(k, stamp) if wrist == "png" else _image(k, stamp, "bgr8")
            messages.append((stamp, "/wrist/image_raw", msg))
            messages.append((tick + 0.03, "/ee_target", _pose(float(k), tick + 0.03)))
            messages.append((tick + 0.03, "/gripper_command",
                             T["std_msgs/msg/Float64"](data=float(k % 2))))
            status = {"seed": episode, "success": episode == 0, "step": local}
            messages.append((tick, "/episode_status",
                             T["std_msgs/msg/String"](data=json.dumps(status))))
        for j in range(first * 10, (first + TICKS - 1) * 10 + 1):
            messages.append((T0 + j * 0.01, "/joint_states", _joints(T0 + j * 0.01)))
        for j in range(first * 5, (first + TICKS - 1) * 5 + 1):
            seconds = T0 + j * 0.02
            messages.append((seconds, "/ee_pose", _pose(seconds - T0, seconds)))
    messages = [m for m in messages if m[1] != omit_topic]
    messages.sort(key=lambda m: m[0])
    types = {
        "/front/image_raw": "sensor_msgs/msg/Image",
        "/wrist/image_raw": ("sensor_msgs/msg/CompressedImage" if wrist == "png"
                             else "sensor_msgs/msg/Image"),
        "/joint_states": "sensor_msgs/msg/JointState",
        "/ee_pose": "geometry_msgs/msg/PoseStamped",
        "/ee_target": "geometry_msgs/msg/PoseStamped",
        "/gripper_command": "std_msgs/msg/Float64",
        "/episode_status": "std_msgs/msg/String",
    }
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        connections = {topic: writer.add_connection(topic, kind, typestore=TYPES)
                       for topic, kind in types.items() if topic != omit_topic}
        for seconds, topic, msg in messages:
            raw = TYPES.serialize_cdr(msg, types[topic])
            writer.write(connections[topic], int(round(seconds * 1e9)), raw)
    return path
