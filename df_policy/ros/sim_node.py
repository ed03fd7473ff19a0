"""``sim_node``: the fruit-swap world as the robot, over ROS 2.

Publishes (every control period): ``/<camera>/image_raw`` (sensor_msgs/Image rgb8, stamped),
``/joint_states``, ``/ee_pose`` (geometry_msgs/PoseStamped) and ``/episode_status``
(std_msgs/String, JSON: seed, step, stage, success). Executes the latest ``/ee_target``
(PoseStamped) or ``/arm_controller/joint_trajectory`` (JointTrajectory: its points' arm joint
positions, one a control period, the last one held), whichever came last, and
``/gripper_command`` (std_msgs/Float64, 1 = close); holds the current pose until a command
arrives. With ``publish_clock`` it publishes ``/clock`` (simulated time, one control period per
step) and stamps everything with it, for nodes run with ``use_sim_time``. ``/sim/reset``
(std_srvs/Trigger) starts a new episode with the next seed. Fault injection (``drop_rate``,
``freeze_s``, ``noise_sigma``) perturbs the published
camera frames, to show the policy's robustness live.

Velocity teleop: ``/ee_twist`` (geometry_msgs/TwistStamped: linear m/s and angular rad/s of
the tool centre, world axes) moves the pose target each control period
(:func:`df_policy.sim.teleop.integrate_twist`: speeds capped, target kept in the workspace),
so any ROS teleop driver (keyboard, joystick, SpaceMouse; remap its output to ``/ee_twist``)
drives the arm. A twist older than ``twist_timeout_s`` stops the arm (a driver that dies or
stops publishing does not leave it moving). While a twist drives it, the node publishes the
target it executes on ``/ee_target`` (frame ``sim_node/twist``, which it ignores itself), so
``recorder_node`` records twist teleoperation as it records absolute commands.
"""

from __future__ import annotations

import json
import time

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped, TwistStamped
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from df_policy import topics
from df_policy.data.messages import ARM_JOINTS, FINGER_JOINTS, positions_by_name
from df_policy.keys import EE_POSE, GRIPPER, JOINT_POS
from df_policy.ros.image_conversion import rgb_to_image
from df_policy.ros.params import declare_parameters, pose_to_msg
from df_policy.sim.config import SimConfig
from df_policy.sim.perturbations import FrameDrops, Freeze, PixelNoise
from df_policy.sim.teleop import integrate_twist

TWIST_FRAME = "sim_node/twist"
"""frame_id of the targets this node publishes while a twist drives the arm."""

PARAMETERS = {
    "seed": (0, "seed of the first episode; each reset uses the next one"),
    "image_size": (64, "side of the published camera images, pixels"),
    "control_hz": (10.0, "simulation control rate"),
    "max_steps": (400, "episode time limit in control steps (status reports it)"),
    "drop_rate": (0.0, "probability that a camera frame is not published"),
    "freeze_s": (0.0, "seconds the front camera repeats one frame, once per episode"),
    "noise_sigma": (0.0, "Gaussian pixel noise added to the camera frames (0..255 units)"),
    "publish_clock": (False, "publish /clock (simulated time) and stamp messages with it"),
    "twist_timeout_s": (0.5, "an /ee_twist older than this stops the arm (deadman)"),
}
"""Parameter name -> (default, description); config/arm.yaml sets the same names."""
CHECKS = {
    "image_size": (lambda v: 8 <= v <= 1024, "8..1024 pixels"),
    "control_hz": (lambda v: 0 < v <= 100, "0..100 Hz"),
    "max_steps": (lambda v: v > 0, "> 0"),
    "drop_rate": (lambda v: 0 <= v <= 1, "a probability in [0, 1]"),
    "freeze_s": (lambda v: v >= 0, ">= 0 s"),
    "noise_sigma": (lambda v: v >= 0, ">= 0"),
    "twist_timeout_s": (lambda v: v > 0, "> 0 s"),
}


class SimNode(Node):
    """Steps the MuJoCo world at the control rate and talks ROS like a real arm would."""

    def __init__(self) -> None:
        super().__init__("sim_node")
        self.params = declare_parameters(self, PARAMETERS, CHECKS)
        from df_policy.sim.env import FruitSwapEnv

        self.sim_config = SimConfig(image_size=self.params["image_size"],
                                    control_hz=self.params["control_hz"],
                                    max_steps=self.params["max_steps"])
        self.env = FruitSwapEnv(self.sim_config)
        self.seed = self.params["seed"]
        self.image_pubs = {
            cam: self.create_publisher(Image, topics.image_topic(cam), qos_profile_sensor_data)
            for cam in self.sim_config.cameras
        }
        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.pose_pub = self.create_publisher(PoseStamped, topics.EE_POSE, 10)
        self.status_pub = self.create_publisher(String, topics.EPISODE_STATUS, 10)
        self.create_subscription(PoseStamped, topics.EE_TARGET, self._on_target, 10)
        self.create_subscription(Float64, topics.GRIPPER_COMMAND, self._on_gripper, 10)
        self.create_subscription(TwistStamped, topics.EE_TWIST, self._on_twist, 10)
        self.target_pub = self.create_publisher(PoseStamped, topics.EE_TARGET, 10)
        self.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY,
                                 self._on_trajectory, 10)
        self.clock_pub = (self.create_publisher(Clock, topics.CLOCK, 10)
                          if self.params["publish_clock"] else None)
        self.sim_time_ns = 0
        self.create_service(Trigger, topics.SIM_RESET, self._on_reset)
        self._start_episode()
        self.create_timer(1.0 / self.sim_config.control_hz, self._tick)

    def _start_episode(self) -> None:
        self.obs, self.info = self.env.reset(seed=self.seed)
        self.target = np.concatenate([self.obs[EE_POSE], [0.0]])
        self.joint_plan: list[np.ndarray] = []  # set by a JointTrajectory, else pose
        self.twist: tuple[np.ndarray, np.ndarray, float] | None = None  # linear, angular, when
        self.steps = 0
        rng = np.random.default_rng(self.seed)
        p = self.params
        self.faults = {cam: [] for cam in self.sim_config.cameras}
        for cam in self.sim_config.cameras:
            if p["noise_sigma"] > 0:
                self.faults[cam].append(PixelNoise(p["noise_sigma"], rng))
            if p["drop_rate"] > 0:
                self.faults[cam].append(FrameDrops(p["drop_rate"], rng))
        if p["freeze_s"] > 0:
            steps = int(round(p["freeze_s"] * self.sim_config.control_hz))
            self.faults["front"].append(Freeze(steps, rng, start_min=10, start_max=60))

    def _on_target(self, msg: PoseStamped) -> None:
        if msg.header.frame_id == TWIST_FRAME:
            return  # our own report of a twist-driven target
        self.twist = None
        pose = msg.pose
        target = [pose.position.x, pose.position.y, pose.position.z, pose.orientation.w,
                  pose.orientation.x, pose.orientation.y, pose.orientation.z]
        if not np.all(np.isfinite(target)):
            self.get_logger().error("ignored a non-finite /ee_target")
            return
        self.target[:7] = target
        self.joint_plan = []

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            if not msg.points:
                raise ValueError("no points")
            plan = [positions_by_name(msg.joint_names, point.positions, ARM_JOINTS)
                    for point in msg.points]
        except ValueError as err:
            self.get_logger().error(f"ignored a JointTrajectory: {err}")
            return
        if not np.all(np.isfinite(plan)):
            self.get_logger().error("ignored a non-finite JointTrajectory")
            return
        self.joint_plan = plan
        self.twist = None

    def _on_twist(self, msg: TwistStamped) -> None:
        lin, ang = msg.twist.linear, msg.twist.angular
        linear, angular = np.array([lin.x, lin.y, lin.z]), np.array([ang.x, ang.y, ang.z])
        if not (np.all(np.isfinite(linear)) and np.all(np.isfinite(angular))):
            self.get_logger().error("ignored a non-finite /ee_twist")
            return
        if self.twist is None:  # from a pose or joint command: start where the arm is
            self.target[:7] = self.obs[EE_POSE]
        self.twist = (linear, angular, time.monotonic())
        self.joint_plan = []

    def _apply_twist(self) -> None:
        """Move the target by the latest twist for one control period, and report it."""
        linear, angular, received = self.twist
        if time.monotonic() - received > self.params["twist_timeout_s"]:
            return  # stale: hold the target
        position, quat = integrate_twist(self.target[:3], self.target[3:7], linear, angular,
                                         1.0 / self.sim_config.control_hz)
        self.target[:3], self.target[3:7] = position, quat
        self.target_pub.publish(pose_to_msg(self.target[:7], self.get_clock().now().to_msg(),
                                            frame_id=TWIST_FRAME))

    def _on_gripper(self, msg: Float64) -> None:
        if not np.isfinite(msg.data):
            self.get_logger().error("ignored a non-finite /gripper_command")
            return
        self.target[7] = float(np.clip(msg.data, 0.0, 1.0))

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.seed += 1
        self._start_episode()
        response.success = True
        start = self.info["orange_start"]
        response.message = json.dumps({"seed": self.seed, "orange_start": start})
        return response

    def _tick(self) -> None:
        if self.twist is not None:
            self._apply_twist()
        if self.steps < self.sim_config.max_steps and not self.info["is_success"]:
            if self.joint_plan:
                joints = self.joint_plan.pop(0) if len(self.joint_plan) > 1 else self.joint_plan[0]
                result = self.env.step_joints(joints, self.target[7])
            else:
                result = self.env.step(self.target.astype(np.float32))
            self.obs, _, _, _, self.info = result
            self.steps += 1
        self._publish()

    def _stamp(self) -> object:
        """Now: simulated time (advancing one control period a tick) with publish_clock."""
        if self.clock_pub is None:
            return self.get_clock().now().to_msg()
        self.sim_time_ns += int(1e9 / self.sim_config.control_hz)
        stamp = Time(nanoseconds=self.sim_time_ns).to_msg()
        self.clock_pub.publish(Clock(clock=stamp))
        return stamp

    def _publish(self) -> None:
        stamp = self._stamp()
        for cam, publisher in self.image_pubs.items():
            frame = self.obs[cam]
            for fault in self.faults[cam]:
                frame = fault(frame) if frame is not None else None
            if frame is None:
                continue
            msg = rgb_to_image(frame)
            msg.header.stamp = stamp
            msg.header.frame_id = f"{cam}_camera"
            publisher.publish(msg)
        joints = JointState()
        joints.header.stamp = stamp
        joints.name = [*ARM_JOINTS, *FINGER_JOINTS]
        finger = float(self.obs[GRIPPER][0]) / 2  # each finger moves half the opening
        joints.position = [*(float(q) for q in self.obs[JOINT_POS]), finger, finger]
        self.joint_pub.publish(joints)
        self.pose_pub.publish(pose_to_msg(self.obs[EE_POSE], stamp))
        status = {"seed": self.seed, "step": self.steps, "stage": self.info["stage"],
                  "success": self.info["is_success"],
                  "done": self.info["is_success"] or self.steps >= self.sim_config.max_steps}
        self.status_pub.publish(String(data=json.dumps(status)))


def main(args: list[str] | None = None) -> None:
    """Run the sim node until SIGINT."""
    try:
        with rclpy.init(args=args):
            node = SimNode()
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
