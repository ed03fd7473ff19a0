"""Real node processes over real DDS (LOCALHOST discovery, this run's private domain id)."""

import time

import pytest
import rclpy
import yaml


@pytest.fixture
def params_file(tmp_path, tiny_checkpoint):
    """config/arm.yaml with the tiny checkpoint and small images."""
    params = yaml.safe_load(open("config/arm.yaml"))
    params["sim_node"]["ros__parameters"]["image_size"] = 24
    params["policy_node"]["ros__parameters"]["checkpoint"] = str(tiny_checkpoint)
    params["policy_node"]["ros__parameters"]["device"] = "cpu"
    path = tmp_path / "arm.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture
def ros_node():
    """An rclpy node in the test process."""
    rclpy.init()
    node = rclpy.create_node(f"test_probe_{int(time.monotonic() * 1000) % 100000}")
    yield node
    node.destroy_node()
    rclpy.shutdown()


def spin_until(node, condition, timeout):
    """Spin ``node`` until ``condition()`` or timeout; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if condition():
            return True
    return False
