"""Small helpers shared by the nodes: parameter declaration and pose messages."""

from __future__ import annotations

from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node


def declare_parameters(node: Node, table: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    """Declare every ``name -> (default, description)`` and return the values in effect."""
    values = {}
    for name, (default, description) in table.items():
        descriptor = ParameterDescriptor(description=description)
        values[name] = node.declare_parameter(name, default, descriptor).value
    return values


def pose_to_msg(pose: np.ndarray, stamp: Any, frame_id: str = "world") -> PoseStamped:
    """[x, y, z, qw, qx, qy, qz] -> PoseStamped."""
    msg = PoseStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in pose[:3])
    msg.pose.orientation.w = float(pose[3])
    msg.pose.orientation.x = float(pose[4])
    msg.pose.orientation.y = float(pose[5])
    msg.pose.orientation.z = float(pose[6])
    return msg
