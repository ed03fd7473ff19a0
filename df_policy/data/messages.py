"""Robot-state messages as arrays, for live topics (rclpy) and bags (rosbags) alike.

Messages are duck-typed by their fields, so the same functions read a ``rclpy`` message in the
recorder node and a ``rosbags``-deserialised one in the bag importer; nothing here imports
rclpy. Conventions are those of :mod:`df_policy.keys`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
"""Joint names of the arm in ``sensor_msgs/JointState``, in store order (the sim uses these)."""
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
"""Finger joints; the gripper opening is the sum of their positions (each 0..0.04 m)."""


def stamp_seconds(stamp: Any) -> float:
    """A ``builtin_interfaces/Time`` in seconds (0.0 for an unset stamp)."""
    return stamp.sec + stamp.nanosec * 1e-9


def msg_to_pose(msg: Any) -> np.ndarray:
    """``geometry_msgs/PoseStamped`` -> ``[x, y, z, qw, qx, qy, qz]``."""
    p, q = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])


def joint_positions(msg: Any, names: Sequence[str]) -> np.ndarray:
    """Positions of ``names`` (in that order) from a ``sensor_msgs/JointState``.

    Raises:
        ValueError: naming the joints the message lacks.
    """
    return positions_by_name(msg.name, msg.position, names)


def positions_by_name(names: Sequence[str], positions: Sequence[float],
                      wanted: Sequence[str]) -> np.ndarray:
    """The positions of the ``wanted`` joints, given parallel ``names`` and ``positions``.

    Raises:
        ValueError: when the lists differ in length or a wanted joint is absent.
    """
    if len(names) != len(positions):
        raise ValueError(f"{len(names)} joint names but {len(positions)} positions")
    index = {name: i for i, name in enumerate(names)}
    missing = [name for name in wanted if name not in index]
    if missing:
        raise ValueError(f"lacks joints {missing} (it has {list(names)})")
    values = np.asarray(positions, dtype=np.float64)
    return np.array([values[index[name]] for name in wanted])


def gripper_opening(msg: Any, finger_joints: Sequence[str]) -> float:
    """Finger opening in metres: the sum of the finger joints (0 when none are configured)."""
    return float(joint_positions(msg, finger_joints).sum()) if finger_joints else 0.0
