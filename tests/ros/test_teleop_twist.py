"""Velocity teleop: a TwistStamped publisher in its own process drives the simulated arm over
real DDS, and recorder_node records the episode."""

import subprocess
import sys

import numpy as np
from geometry_msgs.msg import PoseStamped
from std_srvs.srv import Trigger

from df_policy.cli import main
from df_policy.data.messages import msg_to_pose
from df_policy.data.store import EpisodeStore
from df_policy.ros.graph import node_processes, ros_environment

from .conftest import spin_until
from .test_nodes import call
from .test_recorder import recorder_params

SPEED = 0.1
"""m/s along world +y."""

DISTANCE = 0.1
"""How far (m) the driver moves the measured tool before it lets go."""

# A stand-in for any ROS teleop driver (teleop_twist_keyboard, a joystick, a SpaceMouse node):
# once its topics are matched it publishes TwistStamped on /ee_twist at 20 Hz with the gripper
# closed, like an operator, until the measured tool has moved DISTANCE along +y (exit 1 if it
# never does).
DRIVER = f"""
import sys
import time
import rclpy
from geometry_msgs.msg import PoseStamped, TwistStamped
from std_msgs.msg import Float64
rclpy.init()
node = rclpy.create_node("twist_driver")
twist_pub = node.create_publisher(TwistStamped, "/ee_twist", 10)
grip_pub = node.create_publisher(Float64, "/gripper_command", 10)
ys = []
node.create_subscription(PoseStamped, "/ee_pose", lambda m: ys.append(m.pose.position.y), 10)
deadline = time.monotonic() + 60
# like an operator who waits for the robot to come up: start once sim_node hears the twist and
# both sim_node and recorder_node hear the gripper (DDS drops what goes out before discovery)
while ((twist_pub.get_subscription_count() < 1 or grip_pub.get_subscription_count() < 2)
       and time.monotonic() < deadline):
    rclpy.spin_once(node, timeout_sec=0.05)
while (not ys or ys[-1] - ys[0] < {DISTANCE}) and time.monotonic() < deadline:
    msg = TwistStamped()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.header.frame_id = "world"
    msg.twist.linear.y = {SPEED}
    twist_pub.publish(msg)
    grip_pub.publish(Float64(data=1.0))
    rclpy.spin_once(node, timeout_sec=0.05)
node.destroy_node()
rclpy.shutdown()
sys.exit(0 if ys and ys[-1] - ys[0] >= {DISTANCE} else 1)
"""


def test_twist_driver_moves_the_arm_and_the_episode_is_recorded(tmp_path, ros_node, capsys):
    store_path = tmp_path / "twist.zarr"
    params = recorder_params(tmp_path, store_path)
    poses = []
    ros_node.create_subscription(PoseStamped, "/ee_pose", lambda m: poses.append(msg_to_pose(m)),
                                 10)
    start = ros_node.create_client(Trigger, "/recorder_node/start")
    stop = ros_node.create_client(Trigger, "/recorder_node/stop")
    with node_processes(params, {}, tmp_path / "logs", names=("sim_node", "recorder_node")):
        assert spin_until(ros_node, lambda: poses, 60)
        assert spin_until(ros_node, lambda: call(ros_node, start, Trigger.Request()).success, 30)
        driver = subprocess.Popen([sys.executable, "-c", DRIVER], env=ros_environment())
        assert spin_until(ros_node, lambda: driver.poll() is not None, 60)
        assert driver.returncode == 0
        spin_until(ros_node, lambda: False, 1.0)  # the deadman stops the arm; it settles
        reply = call(ros_node, stop, Trigger.Request())
        assert reply.success, reply.message

    assert main(["dataset", "info", str(store_path), "--json"]) == 0
    assert '"episodes": 1' in capsys.readouterr().out
    episode = EpisodeStore.open(store_path).episode(0)
    action, pose = episode["action"], episode["ee_pose"]
    steps = np.diff(action[:, 1])
    # the target moves SPEED / control_hz each control period while the twist is fresh; the
    # recorder samples on its own clock, so a recorded step spans a whole number of periods
    periods = steps / (SPEED / 10)
    np.testing.assert_allclose(periods, np.round(periods), atol=1e-3)
    assert periods.min() > -1e-3 and periods.sum() >= DISTANCE / (SPEED / 10) - 1e-3
    assert np.ptp(action[:, [0, 2]], axis=0).max() < 1e-6, "x and z held"
    assert action[-1, 7] == 1.0, "the gripper command was recorded"
    moved = pose[-1, :3] - pose[0, :3]
    assert moved[1] >= DISTANCE and abs(moved[0]) < 0.02 and abs(moved[2]) < 0.02, moved
