"""Small helpers shared by the nodes: parameters, package files and pose messages."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

PACKAGE = "df_policy"
PARAMETER_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER,
                   float: Parameter.Type.DOUBLE, str: Parameter.Type.STRING}

Check = tuple[Callable[[Any], bool], str]
"""(predicate on a parameter value, what a valid value is)."""


def declare_parameters(node: Node, table: dict[str, tuple[Any, str]],
                       checks: dict[str, Check] | None = None) -> dict[str, Any]:
    """Declare every ``name -> (default, description)`` and return the values in effect.

    A value of the wrong type, or one failing its ``checks`` entry, logs a clear error and the
    default is used instead: a bad parameter never stops the node.
    """
    values = {}
    checks = checks or {}
    for name, (default, description) in table.items():
        descriptor = ParameterDescriptor(description=description)
        try:
            value = node.declare_parameter(name, default, descriptor).value
        except (InvalidParameterTypeException, InvalidParameterValueException) as err:
            node.get_logger().error(f"parameter {name}: {err}; using the default {default!r}")
            node.declare_parameter(name, default, descriptor, ignore_override=True)
            value = default
        check = checks.get(name)
        if check is not None and not check[0](value):
            node.get_logger().error(f"parameter {name}={value!r} is out of range ({check[1]}); "
                                    f"using the default {default!r}")
            value = default
        values[name] = value
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


def package_share() -> Path:
    """The package's ``share/df_policy`` folder: from the ament index (a ROS install), else
    the one installed into this Python prefix (a pip install)."""
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (LookupError, OSError, ValueError):
        return Path(sys.prefix) / "share" / PACKAGE


def share_path(value: str, default: str) -> Path:
    """A file parameter: ``value`` as given, or, when empty, ``default`` inside the share."""
    return Path(value).expanduser() if value else package_share() / default


def declare_overrides(node: Node, prefix: str, config_cls: type) -> dict[str, Any]:
    """Declare ``<prefix>.<field>`` for every field of dataclass ``config_cls``, unset by
    default; returns the fields the user set. One of the wrong type logs an error and is
    ignored."""
    overrides = {}
    for field in dataclasses.fields(config_cls):
        name = f"{prefix}.{field.name}"
        kind = PARAMETER_TYPES[type(field.default)]
        descriptor = ParameterDescriptor(description=f"overrides {field.name} of the file")
        try:
            value = node.declare_parameter(name, kind, descriptor).value
        except (InvalidParameterTypeException, InvalidParameterValueException) as err:
            node.get_logger().error(f"parameter {name}: {err}; ignored")
            continue
        if value is not None:
            overrides[field.name] = value
    return overrides
