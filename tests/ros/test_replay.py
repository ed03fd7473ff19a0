"""Replay: policy_node over DDS and the evaluation's controller, fed the same recorded frames
and poses (with a stretch where the wrist camera drops out), command the same actions."""

import numpy as np
from geometry_msgs.msg import PoseStamped
from lifecycle_msgs.msg import Transition
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import Float64

from df_policy.config import from_dict, read_yaml
from df_policy.data.messages import msg_to_pose
from df_policy.data.store import EpisodeStore
from df_policy.keys import CAMERAS, EE_POSE
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.controller import Controller
from df_policy.policy.runtime import load_policy
from df_policy.policy.safety import SafetyConfig
from df_policy.ros.graph import node_processes
from df_policy.ros.image_conversion import rgb_to_image
from df_policy.ros.params import pose_to_msg, share_path

from .conftest import spin_until
from .test_nodes import transition

STEPS = 12
PERIOD_NS = 100_000_000
WRIST_LOST = range(5, 8)
"""Steps at which the recorded wrist frame never arrived."""
SAFETY = SafetyConfig(max_step_m=0.05, hold_after_s=0.25, max_inference_s=1000.0)


def recorded_stream(store_path):
    """[(frames, pose)] per control step, from the first episode of a recorded store."""
    episode = EpisodeStore.open(store_path).episode(0)
    return [({cam: episode[cam][k] for cam in CAMERAS if not (cam == "wrist" and k in WRIST_LOST)},
             episode[EE_POSE][k].astype(np.float64)) for k in range(STEPS)]


def evaluation_commands(checkpoint, stream):
    """What the evaluation's controller commands for the stream (step k at k periods)."""
    runtime = from_dict(RuntimeConfig, read_yaml(share_path("", "config/runtime.yaml"))["runtime"])
    policy = load_policy(checkpoint, "cpu", 0, runtime)
    controller = Controller(policy, CAMERAS, SAFETY, runtime.start_wait_s)
    commands = []
    for k, (frames, pose) in enumerate(stream, start=1):
        now = k * PERIOD_NS * 1e-9
        for cam, frame in frames.items():
            controller.frame(cam, frame, now)
        commands.append(controller.tick(now, pose).action)
    return np.stack(commands)


def test_node_and_evaluation_command_the_same_actions(tmp_path, params_file, tiny_checkpoint,
                                                      sim_store, ros_node):
    stream = recorded_stream(sim_store)
    expected = evaluation_commands(tiny_checkpoint, stream)
    assert np.ptp(expected[:, :3], axis=0).max() > 1e-3, "the commands move: a real comparison"
    targets, grips = [], []
    ros_node.create_subscription(PoseStamped, "/ee_target",
                                 lambda m: targets.append(msg_to_pose(m)), 10)
    ros_node.create_subscription(Float64, "/gripper_command", lambda m: grips.append(m.data), 10)
    cameras = {cam: ros_node.create_publisher(Image, f"/{cam}/image_raw",
                                              qos_profile_sensor_data) for cam in CAMERAS}
    pose_pub = ros_node.create_publisher(PoseStamped, "/ee_pose", 10)
    clock_pub = ros_node.create_publisher(Clock, "/clock", 10)
    extra = {"policy_node": ["-p", "use_sim_time:=true", "-p", "max_inference_s:=1000.0"]}
    with node_processes(params_file, extra, tmp_path / "logs", names=("policy_node",)):
        assert transition(ros_node, Transition.TRANSITION_CONFIGURE)
        assert transition(ros_node, Transition.TRANSITION_ACTIVATE)
        for k, (frames, pose) in enumerate(stream, start=1):
            stamp = Time(nanoseconds=k * PERIOD_NS).to_msg()
            for cam, frame in frames.items():
                msg = rgb_to_image(frame)
                msg.header.stamp = stamp
                cameras[cam].publish(msg)
            pose_pub.publish(pose_to_msg(pose, stamp))
            spin_until(ros_node, lambda: False, 0.15)  # delivered before the clock moves on
            clock_pub.publish(Clock(clock=stamp))
            assert spin_until(ros_node, lambda k=k: len(targets) >= k and len(grips) >= k, 10), k
    assert len(targets) == STEPS
    np.testing.assert_allclose(np.stack(targets), expected[:, :7], atol=1e-5)
    np.testing.assert_allclose(grips, expected[:, 7], atol=1e-5)
