"""sim_node and policy_node as real processes exchanging real messages over DDS."""

import os
import signal

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from df_policy.data.messages import FINGER_JOINTS, msg_to_pose
from df_policy.ros.graph import node_processes, stop_group
from df_policy.ros.image_conversion import rgb_to_image
from df_policy.ros.params import pose_to_msg
from df_policy.ros.policy_node import measured_opening

from .conftest import spin_until


def call(node, client, request, timeout=60.0):
    assert client.wait_for_service(timeout_sec=timeout), client.srv_name
    future = client.call_async(request)
    assert spin_until(node, future.done, timeout)
    return future.result()


def transition(node, transition_id):
    client = node.create_client(ChangeState, "/policy_node/change_state")
    request = ChangeState.Request()
    request.transition.id = transition_id
    return call(node, client, request).success


def node_topics(node):
    """Topics policy_node subscribes or publishes, lifecycle and parameter services aside."""
    found = set()
    for query in (node.get_subscriber_names_and_types_by_node,
                  node.get_publisher_names_and_types_by_node):
        found |= {name for name, _ in query("policy_node", "/")}
    return found - {"/parameter_events", "/rosout", "/policy_node/transition_event"}


def assert_step_limited(targets, max_step_m=0.05):
    """Consecutive targets are at most max_step_m apart, all inside the workspace box."""
    low, high = np.array([-0.25, -0.4, 0.0]), np.array([0.3, 0.4, 0.45])
    for a, b in zip(targets, targets[1:], strict=False):
        assert np.linalg.norm(b[:3] - a[:3]) <= max_step_m + 1e-6
    assert all(np.all(np.isfinite(t)) and np.all((low <= t[:3]) & (t[:3] <= high))
               for t in targets)


def watch(node):
    seen = {"images": [], "pose": None, "targets": [], "diag": []}
    node.create_subscription(Image, "/front/image_raw",
                             lambda m: seen["images"].append(m), qos_profile_sensor_data)
    node.create_subscription(PoseStamped, "/ee_pose",
                             lambda m: seen.__setitem__("pose", msg_to_pose(m)), 10)
    node.create_subscription(PoseStamped, "/ee_target",
                             lambda m: seen["targets"].append(msg_to_pose(m)), 10)
    node.create_subscription(DiagnosticArray, "/diagnostics",
                             lambda m: seen["diag"].append(m.status[0]), 10)
    return seen


def test_the_gripper_opening_is_unknown_without_its_finger_joints():
    """The node hands the policy the fingers' sum, or None (absorbed at the top level) when
    no finger joint is configured, one is missing, or a position is not finite: never a
    made-up 0, which would read as fingers shut."""
    fingers = list(FINGER_JOINTS)
    both = JointState(name=fingers, position=[0.02, 0.015])
    assert measured_opening(both, fingers) == pytest.approx(0.035)
    assert measured_opening(both, []) is None
    assert measured_opening(JointState(name=fingers[:1], position=[0.02]), fingers) is None
    assert measured_opening(JointState(name=fingers, position=[0.02, float("nan")]),
                            fingers) is None


def test_sim_node_publishes_cameras_and_obeys_targets(tmp_path, params_file, ros_node):
    seen = watch(ros_node)
    target_pub = ros_node.create_publisher(PoseStamped, "/ee_target", 10)
    ros_node.create_publisher(Float64, "/gripper_command", 10)
    with node_processes(params_file, {}, tmp_path / "logs") as processes:
        stop_group(processes.pop("policy_node"))  # not needed here
        assert spin_until(ros_node, lambda: seen["images"] and seen["pose"] is not None, 60)
        image = seen["images"][-1]
        assert (image.width, image.height, image.encoding) == (24, 24, "rgb8")
        start = seen["pose"].copy()
        goal = start.copy()
        goal[0] += 0.05
        for _ in range(5):
            target_pub.publish(pose_to_msg(goal, ros_node.get_clock().now().to_msg()))
            spin_until(ros_node, lambda: False, 0.2)
        assert spin_until(ros_node, lambda: abs(seen["pose"][0] - goal[0]) < 0.01, 10)


def test_policy_node_closed_loop_watchdog_and_bad_images(tmp_path, params_file, ros_node):
    seen = watch(ros_node)
    forecasts = {cam: [] for cam in ("front", "wrist")}
    for cam, received in forecasts.items():
        ros_node.create_subscription(Image, f"/policy_node/forecast/{cam}", received.append, 1)
    fake_camera = ros_node.create_publisher(Image, "/front/image_raw", qos_profile_sensor_data)
    with node_processes(params_file, {}, tmp_path / "logs") as processes:
        assert transition(ros_node, Transition.TRANSITION_CONFIGURE)
        assert transition(ros_node, Transition.TRANSITION_ACTIVATE)
        assert spin_until(ros_node, lambda: len(seen["targets"]) >= 10, 60), "actions flow"
        assert all(np.all(np.isfinite(t)) for t in seen["targets"])
        assert spin_until(ros_node, lambda: all(forecasts.values()), 5), "forecasts published"
        for cam, received in forecasts.items():
            image = received[-1]
            assert (image.width, image.height, image.encoding) == (16, 16, "rgb8"), cam
        values = {v.key: v.value for v in seen["diag"][-1].values}
        assert {"front/level", "wrist/level", "front/surprise", "front/health"} <= set(values)
        assert values["threads"] == "1", "the model step keeps to num_threads (default 1)"
        opening = float(values["gripper_opening_m"])  # the sim's two finger joints, summed
        assert 0.0 <= opening <= 0.09

        bad = Image(height=4, width=4, encoding="mono16", step=8, data=bytes(32))
        fake_camera.publish(bad)
        spin_until(ros_node, lambda: False, 0.5)
        assert processes["policy_node"].poll() is None, "a malformed image does not kill it"

        stop_group(processes.pop("sim_node"))  # every camera goes silent
        seen["diag"].clear()
        period = 0.1
        assert spin_until(ros_node, lambda: any(d.message == "all cameras stale"
                                                for d in seen["diag"]), 0.25 + 3 * period)
        # /joint_states went silent with the sim: the last opening ages into unknown
        assert spin_until(ros_node, lambda: any(
            v.key == "gripper_opening_m" and v.value == "unknown"
            for d in seen["diag"] for v in d.values), 0.25 + 3 * period)
        assert processes["policy_node"].poll() is None
        pid = processes["policy_node"].pid
        assert stop_group(processes.pop("policy_node")) is not None
        try:
            os.killpg(pid, 0)
            orphans = True
        except ProcessLookupError:
            orphans = False
        assert not orphans, "SIGINT leaves no process of the node's group behind"
    log = (tmp_path / "logs" / "policy_node.log").read_text()
    assert "unsupported image encoding 'mono16'" in log


def test_configure_fails_clearly_for_a_mismatching_checkpoint(tmp_path, params_file, ros_node):
    extra = {"policy_node": ["-p", "cameras:=[front, side]"]}
    with node_processes(params_file, extra, tmp_path / "logs") as processes:
        assert not transition(ros_node, Transition.TRANSITION_CONFIGURE)
        assert processes["policy_node"].poll() is None
    assert "checkpoint cameras" in (tmp_path / "logs" / "policy_node.log").read_text()


def test_sigint_stops_both_nodes(tmp_path, params_file, ros_node):
    with node_processes(params_file, {}, tmp_path / "logs") as processes:
        seen = watch(ros_node)
        assert spin_until(ros_node, lambda: seen["images"], 60)
        codes = {name: stop_group(p) for name, p in list(processes.items())}
        processes.clear()
    assert all(code in (0, -signal.SIGINT, 130) for code in codes.values()), codes


def test_joint_trajectory_output_drives_the_arm(tmp_path, params_file, ros_node):
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import JointState
    from trajectory_msgs.msg import JointTrajectory

    from df_policy.data.messages import ARM_JOINTS, joint_positions

    seen = watch(ros_node)
    trajectories, joints, clock = [], [], []
    ros_node.create_subscription(JointTrajectory, "/arm_controller/joint_trajectory",
                                 trajectories.append, 10)
    ros_node.create_subscription(JointState, "/joint_states",
                                 lambda m: joints.append(joint_positions(m, ARM_JOINTS)), 10)
    ros_node.create_subscription(Clock, "/clock", clock.append, 10)
    bad_joints = ros_node.create_publisher(JointState, "/joint_states", 10)
    extra = {"policy_node": ["-p", "output:=joint_trajectory", "-p", "use_sim_time:=true"],
             "sim_node": ["-p", "publish_clock:=true"]}
    with node_processes(params_file, extra, tmp_path / "logs") as processes:
        assert transition(ros_node, Transition.TRANSITION_CONFIGURE)
        assert transition(ros_node, Transition.TRANSITION_ACTIVATE)
        assert spin_until(ros_node, lambda: len(trajectories) >= 6, 60), "trajectories flow"
        assert seen["diag"][-1].message == "running", "fresh frames on the simulated clock"
        bad_joints.publish(JointState(name=list(ARM_JOINTS), position=[float("nan")] * 7))
        spin_until(ros_node, lambda: False, 0.5)
        assert processes["policy_node"].poll() is None, "NaN joint states do not kill it"
    assert not seen["targets"], "joint_trajectory output publishes no /ee_target"
    chunks = [msg for msg in trajectories if len(msg.points) > 1]
    assert len(chunks) >= 3, "each new chunk is one multi-point trajectory"
    for msg in trajectories:
        assert list(msg.joint_names) == list(ARM_JOINTS)
        times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points]
        np.testing.assert_allclose(times, 0.1 * np.arange(1, len(times) + 1), atol=1e-9)
        assert all(np.all(np.isfinite(p.positions)) and not p.velocities for p in msg.points)
    assert max(len(msg.points) for msg in trajectories) == 4, "the tiny checkpoint's chunk"
    commanded = np.array(trajectories[-3].points[0].positions)
    assert np.abs(joints[-1] - commanded).max() < 0.3, "the simulated arm follows the joints"
    times = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clock]
    assert times[0] < 1e4, "simulated time, not wall time"
    np.testing.assert_allclose(np.diff(times), 0.1, atol=1e-6)
    stamp = seen["images"][-1].header.stamp
    # on a tick of the simulated clock; not looked up among the /clock messages received,
    # since the last image may arrive before its tick's /clock message (a race under load)
    ticks = (stamp.sec + stamp.nanosec * 1e-9 - times[0]) / 0.1
    assert 0 <= ticks < 1e5 and abs(ticks - round(ticks)) < 1e-6, \
        "images are stamped with simulated time"
    assert "non-finite /joint_states" in (tmp_path / "logs" / "policy_node.log").read_text()


def test_camera_loss_holds_then_recovers_and_lifecycle(tmp_path, params_file, ros_node):
    """This process is the robot's cameras. Unconfigured -> no topics; a silent wrist camera
    at the start -> hold for start_wait_s, then run without it; stop both -> hold within 2
    periods of hold_after_s, moving to the measured pose at most max_step_m a period; reset
    the memory -> frames and poses stamped before the reset are ignored; start the cameras
    again -> control resumes; deactivate -> hold; cleanup destroys the node's topics."""
    seen = watch(ros_node)
    cameras = {cam: ros_node.create_publisher(Image, f"/{cam}/image_raw",
                                              qos_profile_sensor_data)
               for cam in ("front", "wrist")}
    pose_pub = ros_node.create_publisher(PoseStamped, "/ee_pose", 10)
    pose = np.array([0.0, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0])
    rng = np.random.default_rng(0)
    streaming = {"front": True, "wrist": False}
    late = {"stamp": None, "pose": None}  # messages of a previous episode, delivered late

    def publish_frames():
        stamp = late["stamp"] or ros_node.get_clock().now().to_msg()
        pose_pub.publish(pose_to_msg(pose if late["pose"] is None else late["pose"], stamp))
        for cam, publisher in cameras.items():
            if streaming[cam]:
                msg = rgb_to_image(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
                msg.header.stamp = stamp
                publisher.publish(msg)

    ros_node.create_timer(0.1, publish_frames)
    extra = {"policy_node": ["-p", "runtime.start_wait_s:=1.0"]}
    with node_processes(params_file, extra, tmp_path / "logs", names=("policy_node",)) as processes:
        assert spin_until(ros_node, lambda: "policy_node" in ros_node.get_node_names(), 30)
        assert not node_topics(ros_node), "an unconfigured node has no topics yet"
        assert transition(ros_node, Transition.TRANSITION_CONFIGURE)
        assert spin_until(ros_node, lambda: {"/front/image_raw", "/ee_target"}
                          <= node_topics(ros_node), 10), "configure creates them"
        assert transition(ros_node, Transition.TRANSITION_ACTIVATE)
        assert spin_until(ros_node, lambda: seen["diag"] and seen["diag"][-1].message
                          == "waiting for the first frame of wrist", 30)
        waiting = ros_node.get_clock().now()
        assert spin_until(ros_node, lambda: seen["targets"], 1)
        np.testing.assert_allclose(seen["targets"][-1], pose, atol=1e-6)
        assert spin_until(ros_node, lambda: seen["diag"][-1].message == "running", 5)
        waited = (ros_node.get_clock().now() - waiting).nanoseconds * 1e-9
        assert 0.5 <= waited <= 1.0 + 0.3, f"start_wait_s is 1 s, the gate opened after {waited}"
        streaming.update(front=False)
        assert spin_until(ros_node, lambda: seen["diag"][-1].message == "all cameras stale", 5)
        streaming.update(front=True, wrist=True)
        assert spin_until(ros_node, lambda: seen["diag"][-1].message == "running", 5)
        streaming.update(front=False, wrist=False)
        stopped = ros_node.get_clock().now()
        assert spin_until(ros_node, lambda: seen["diag"][-1].message == "all cameras stale", 5)
        held_after = (ros_node.get_clock().now() - stopped).nanoseconds * 1e-9
        assert held_after <= 0.25 + 2 * 0.1 + 0.1, held_after
        reset = ros_node.create_client(Trigger, "/policy_node/reset_memory")
        before_reset = ros_node.get_clock().now().to_msg()
        assert call(ros_node, reset, Trigger.Request()).success
        assert spin_until(ros_node, lambda: seen["diag"][-1].message
                          == "waiting for the first frame of front, wrist", 5), \
            "a new episode does not start from the previous episode's frames"
        late.update(stamp=before_reset, pose=pose + [0.2, 0, 0, 0, 0, 0, 0])
        streaming.update(front=True, wrist=True)
        seen["targets"].clear()
        spin_until(ros_node, lambda: False, 0.5)
        assert seen["diag"][-1].message == "waiting for the first frame of front, wrist", \
            "frames stamped before the reset opened the start gate"
        assert not any(np.allclose(t, late["pose"]) for t in seen["targets"]), \
            "a hold went to a pose stamped before the reset"
        late.update(stamp=None, pose=None)
        streaming.update(front=False, wrist=False)
        seen["targets"].clear()
        assert spin_until(ros_node, lambda: seen["targets"] and np.allclose(
            seen["targets"][-1], pose, atol=1e-6), 5), "a hold goes to the measured pose"
        assert_step_limited(seen["targets"])
        streaming.update(front=True, wrist=True)
        assert spin_until(ros_node, lambda: seen["diag"][-1].message == "running", 5), \
            "control resumes when frames return"
        count = len(seen["targets"])
        assert transition(ros_node, Transition.TRANSITION_DEACTIVATE)
        assert spin_until(ros_node, lambda: len(seen["targets"]) > count, 5)
        spin_until(ros_node, lambda: False, 0.3)
        before, held = seen["targets"][-2:]
        assert_step_limited([before, held])
        assert np.linalg.norm(held[:3] - pose[:3]) <= np.linalg.norm(before[:3] - pose[:3])
        np.testing.assert_allclose(held[3:], pose[3:], atol=1e-6), "deactivate holds"
        assert transition(ros_node, Transition.TRANSITION_CLEANUP)
        assert spin_until(ros_node, lambda: not node_topics(ros_node), 10), \
            "cleanup destroys the subscriptions and publishers"
        assert processes["policy_node"].poll() is None


def test_bad_parameters_log_clearly_and_the_node_runs(tmp_path, params_file, ros_node):
    seen = watch(ros_node)
    extra = {"sim_node": ["-p", "drop_rate:=5.0", "-p", "control_hz:=fast"]}
    with node_processes(params_file, extra, tmp_path / "logs", names=("sim_node",)) as processes:
        assert spin_until(ros_node, lambda: len(seen["images"]) >= 5, 60), "still publishing"
        assert processes["sim_node"].poll() is None
    log = (tmp_path / "logs" / "sim_node.log").read_text()
    assert "parameter drop_rate=5.0 is out of range (a probability in [0, 1])" in log
    assert "parameter control_hz:" in log and "using the default 10.0" in log


def test_malformed_messages_are_reported_and_never_become_commands(tmp_path, params_file,
                                                                    ros_node):
    """Every field of every subscribed message, malformed: images (encoding, size, step, data),
    poses (non-finite, outside the workspace, non-unit quaternion), joint states (names,
    lengths, values). The node keeps running, says why in /diagnostics, and every target it
    publishes stays finite, inside the workspace and step-limited."""
    from sensor_msgs.msg import JointState

    from df_policy.data.messages import ARM_JOINTS

    seen = watch(ros_node)
    cameras = {cam: ros_node.create_publisher(Image, f"/{cam}/image_raw",
                                              qos_profile_sensor_data)
               for cam in ("front", "wrist")}
    pose_pub = ros_node.create_publisher(PoseStamped, "/ee_pose", 10)
    joints_pub = ros_node.create_publisher(JointState, "/joint_states", 10)
    good_pose = np.array([0.0, 0.0, 0.3, 0.0, 1.0, 0.0, 0.0])
    bad_images = [Image(height=4, width=4, encoding="mono16", step=8, data=bytes(32)),
                  Image(height=4, width=4, encoding="rgb8", step=6, data=bytes(48)),
                  Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(10)),
                  Image(height=0, width=4, encoding="rgb8", step=12, data=b"")]
    bad_poses = [good_pose + [np.nan, 0, 0, 0, 0, 0, 0], good_pose + [np.inf, 0, 0, 0, 0, 0, 0],
                 good_pose + [5.0, 0, 0, 0, 0, 0, 0], np.array([0.0, 0, 0.3, 0, 0, 0, 0]),
                 np.array([0.0, 0, 0.3, 0, 3.0, 0, 0])]
    bad_joints = [JointState(name=["a"], position=[0.0]),
                  JointState(name=list(ARM_JOINTS), position=[0.0] * 3),
                  JointState(name=list(ARM_JOINTS), position=[float("nan")] * 7)]
    rng = np.random.default_rng(0)
    state = {"tick": 0, "malformed": True}

    def publish():
        stamp = ros_node.get_clock().now().to_msg()
        k = state["tick"]
        state["tick"] += 1
        bad = state["malformed"] and k % 2 == 1
        k //= 2  # the index of this bad message in each list
        pose = bad_poses[k % len(bad_poses)] if bad else good_pose
        pose_pub.publish(pose_to_msg(pose, stamp))
        for cam, publisher in cameras.items():
            msg = (bad_images[k % len(bad_images)] if bad and cam == "front" else
                   rgb_to_image(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)))
            msg.header.stamp = stamp
            publisher.publish(msg)
        joints = (bad_joints[k % len(bad_joints)] if bad else
                  JointState(name=list(ARM_JOINTS), position=[0.0] * 7))
        joints.header.stamp = stamp
        joints_pub.publish(joints)

    ros_node.create_timer(0.1, publish)
    with node_processes(params_file, {}, tmp_path / "logs", names=("policy_node",)) as processes:
        assert transition(ros_node, Transition.TRANSITION_CONFIGURE)
        assert transition(ros_node, Transition.TRANSITION_ACTIVATE)

        def reported():
            """What the diagnostics said was wrong: {key: {texts}}."""
            found = {}
            for status in seen["diag"]:
                for value in status.values:
                    if value.key.startswith("input/") or (value.key == "measured_pose"
                                                         and value.value != "ok"):
                        found.setdefault(value.key, set()).add(value.value)
            return found

        whys = ("unsupported image encoding 'mono16'", "image step 6 is smaller",
                "image data has 10 bytes", "empty image", "measured pose is not finite",
                "outside the workspace", "not a unit quaternion", "lacks joints",
                "non-finite /joint_states")

        def all_reported():
            texts = set().union(*reported().values())
            return all(any(why in text for text in texts) for why in whys)

        assert spin_until(ros_node, all_reported, 30), reported()
        assert {"input/front/image_raw", "input/joint_states", "measured_pose"} <= set(reported())
        assert processes["policy_node"].poll() is None, "malformed input does not kill it"
        state["malformed"] = False
        assert spin_until(ros_node, lambda: seen["diag"][-1].message == "running", 10)
    assert seen["targets"]
    assert_step_limited(seen["targets"])
