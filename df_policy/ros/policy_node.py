"""``policy_node``: the Diffusion Forcing policy as a ROS 2 lifecycle node (ROS plumbing only).

configure  read ``runtime_config`` (+ ``runtime.<key>`` overrides), load the checkpoint, check it
           against ``cameras``; create publishers, subscriptions, services and the timer
activate   start control from a fresh memory: each period the
           :class:`~df_policy.policy.controller.Controller` turns the newest frames and pose
           into one command (the same loop ``df-policy eval`` measures)
deactivate hold the arm where it is
cleanup    destroy what configure made and free the model

Subscribes ``/<camera>/image_raw`` (sensor-data QoS, rgb8/bgr8, any size and step),
``/ee_pose`` and ``/joint_states`` (the arm's joints; the fingers' give the gripper's measured
opening, which a model trained with ``gripper_state`` absorbs, unknown when they are
absent). Publishes, by ``output``, ``/ee_target`` (PoseStamped, one a
period) or ``trajectory_topic`` (JointTrajectory: the rest of the chunk, positions only, one
point a period, replaced by each new chunk or hold), plus ``/gripper_command``,
``~/forecast/<camera>`` (the model's forecast, sensor_msgs/Image) and ``/diagnostics`` (per
camera age, health, level, surprise; why the arm holds; rejected inputs; latencies). Services
``~/reset_memory`` (Trigger) and ``~/enable`` (SetBool). A malformed message is logged, named
in diagnostics and dropped; the node keeps running.
"""

from __future__ import annotations

import math
import time

import numpy as np
import rclpy
import torch
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from df_policy import topics
from df_policy.data.messages import (
    ARM_JOINTS,
    FINGER_JOINTS,
    gripper_opening,
    joint_positions,
    msg_to_pose,
    stamp_seconds,
)
from df_policy.images import image_to_rgb
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.controller import Command, Controller
from df_policy.policy.safety import SafetyConfig
from df_policy.ros.image_conversion import rgb_to_image
from df_policy.ros.params import declare_overrides, declare_parameters, pose_to_msg, share_path

PARAMETERS = {
    "checkpoint": ("", "run or checkpoint folder; empty: the shipped one in the package share"),
    "runtime_config": ("", "runtime YAML (section runtime); empty: config/runtime.yaml in the "
                           "package share. Keys can be overridden as runtime.<key>"),
    "cameras": (["front", "wrist"], "camera names; topics are /<camera>/image_raw"),
    "device": ("auto", "cpu, cuda or auto"),
    "control_hz": (10.0, "control rate: one action per period"),
    "seed": (0, "seed of the policy's sampling noise"),
    "hold_after_s": (0.25, "hold the arm when no camera has delivered for longer; a gripper "
                           "opening older than this is unknown, seconds"),
    "max_step_m": (0.05, "largest target move per control period, metres"),
    "max_inference_s": (0.5, "a policy step slower than this holds the next period"),
    "num_threads": (1, "CPU threads the model's step may use (torch and ONNX Runtime); 0: "
                       "torch's default, every core"),
    "output": ("pose", "pose (/ee_target) or joint_trajectory (trajectory_topic)"),
    "trajectory_topic": (topics.JOINT_TRAJECTORY, "JointTrajectory command topic"),
    "finger_joints": (list(FINGER_JOINTS), "joints of /joint_states whose positions sum to the "
                                           "gripper's opening"),
}
"""Parameter name -> (default, description); config/arm.yaml sets the same names."""
SHIPPED_CHECKPOINT = "checkpoints/df_fruit_swap"
"""The checkpoint installed with the package, inside its share folder."""
OUTPUTS = ("pose", "joint_trajectory")
CHECKS = {
    "device": (lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
    "control_hz": (lambda v: 0 < v <= 100, "0..100 Hz"),
    "hold_after_s": (lambda v: v > 0, "> 0 s"),
    "max_step_m": (lambda v: 0 < v <= 0.5, "0..0.5 m"),
    "max_inference_s": (lambda v: v > 0, "> 0 s"),
    "num_threads": (lambda v: v >= 0, ">= 0"),
    "output": (lambda v: v in OUTPUTS, " or ".join(OUTPUTS)),
}


class PolicyNode(LifecycleNode):
    """Runs the :class:`Controller` on live camera topics."""

    def __init__(self) -> None:
        super().__init__(topics.POLICY_NODE)
        self.params = declare_parameters(self, PARAMETERS, CHECKS)
        self.runtime_overrides = declare_overrides(self, "runtime", RuntimeConfig)
        self.controller: Controller | None = None
        self.threads = 0  # the model's CPU threads, set in on_configure
        self.kinematics = None
        self.active = False
        self.enabled = True
        self._made: list = []  # publishers, subscriptions, services, timer (made in configure)
        self._start_episode()

    # -- lifecycle --------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the configuration and checkpoint; create the node's interfaces."""
        from df_policy.errors import DfPolicyError
        from df_policy.policy.runtime import check_policy_matches, load_policy

        p = self.params
        if p["num_threads"] > 0:  # before the model loads: ONNX Runtime sessions read it
            torch.set_num_threads(p["num_threads"])
        self.threads = torch.get_num_threads()  # the model's; onnxruntime then keeps torch at 1
        try:
            runtime = self._runtime_config()
            checkpoint = share_path(p["checkpoint"], SHIPPED_CHECKPOINT)
            policy = load_policy(checkpoint, p["device"], p["seed"], runtime)
            check_policy_matches(policy, tuple(p["cameras"]), None)
        except (DfPolicyError, FileNotFoundError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        safety = SafetyConfig(max_step_m=p["max_step_m"], hold_after_s=p["hold_after_s"],
                              max_inference_s=p["max_inference_s"])
        self.controller = Controller(policy, tuple(p["cameras"]), safety, runtime.start_wait_s)
        if p["output"] == "joint_trajectory" and self.kinematics is None:
            from df_policy.sim.kinematics import ArmKinematics

            self.kinematics = ArmKinematics()
        self._create_interfaces()
        self.get_logger().info(f"loaded {checkpoint} (cameras {list(policy.cameras)}, chunk "
                               f"{policy.chunk})")
        return TransitionCallbackReturn.SUCCESS

    def _runtime_config(self) -> RuntimeConfig:
        from df_policy.config import from_dict, read_yaml

        path = share_path(self.params["runtime_config"], "config/runtime.yaml")
        values = dict(read_yaml(path).get("runtime") or {})
        return from_dict(RuntimeConfig, {**values, **self.runtime_overrides}, "runtime")

    def _create_interfaces(self) -> None:
        p = self.params
        lifecycle_pub = self.create_lifecycle_publisher
        self.target_pub = lifecycle_pub(PoseStamped, topics.EE_TARGET, 10)
        self.trajectory_pub = lifecycle_pub(JointTrajectory, p["trajectory_topic"], 10)
        self.gripper_pub = lifecycle_pub(Float64, topics.GRIPPER_COMMAND, 10)
        self.diag_pub = lifecycle_pub(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.forecast_pubs = {cam: lifecycle_pub(Image, f"~/forecast/{cam}", 1)
                              for cam in p["cameras"]}
        self._made = [self.target_pub, self.trajectory_pub, self.gripper_pub, self.diag_pub,
                      *self.forecast_pubs.values()]
        for cam in p["cameras"]:
            self._made.append(self.create_subscription(
                Image, topics.image_topic(cam), lambda msg, cam=cam: self._on_image(cam, msg),
                qos_profile_sensor_data))
        self._made += [
            self.create_subscription(PoseStamped, topics.EE_POSE, self._on_pose, 10),
            self.create_subscription(JointState, topics.JOINT_STATES, self._on_joints, 10),
            self.create_service(Trigger, "~/reset_memory", self._on_reset),
            self.create_service(SetBool, "~/enable", self._on_enable),
            self.create_timer(1.0 / p["control_hz"], self._tick),
        ]

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start control from a fresh memory."""
        self._start_episode()
        self.active = True
        return super().on_activate(state)  # switches the lifecycle publishers on

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop control and hold the arm where it is (published before the publishers stop)."""
        self.active = False
        self._publish(self.controller.hold(self._now(), self.ee_pose, "deactivated"))
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what configure created and free the model."""
        self._destroy_interfaces()
        self.controller = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy everything on the way out."""
        self.active = False
        self._destroy_interfaces()
        return TransitionCallbackReturn.SUCCESS

    def _destroy_interfaces(self) -> None:
        destroyers = {"LifecyclePublisher": self.destroy_lifecycle_publisher,
                      "Subscription": self.destroy_subscription,
                      "Service": self.destroy_service, "Timer": self.destroy_timer}
        for entity in self._made:
            destroyers[type(entity).__name__](entity)
        self._made = []

    # -- inputs -----------------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _reject(self, topic: str, why: str) -> None:
        """A malformed message: logged (at most every 2 s per topic), named in diagnostics,
        dropped."""
        self.input_errors[topic] = why
        now = time.monotonic()
        if now - self.logged_at.get(topic, -math.inf) >= 2.0:
            self.logged_at[topic] = now
            self.get_logger().error(f"{topic}: {why}")

    def _on_image(self, cam: str, msg: Image) -> None:
        if self._before_episode(msg) or self.controller is None:
            return
        topic = topics.image_topic(cam)
        try:
            frame = image_to_rgb(msg).copy()
            stamp = stamp_seconds(msg.header.stamp) or self._now()
            self.controller.frame(cam, frame, stamp)
        except ValueError as err:
            self.controller.decode_failed(cam)
            self._reject(topic, str(err))
            return
        self.input_errors.pop(topic, None)
        self.transport_ms[cam] = 1000 * (self._now() - stamp)

    def _before_episode(self, msg: object) -> bool:
        """Whether the message is stamped before this episode started (then it is dropped)."""
        return 0.0 < stamp_seconds(msg.header.stamp) < self.episode_start

    def _on_pose(self, msg: PoseStamped) -> None:
        if not self._before_episode(msg):
            self.ee_pose = msg_to_pose(msg)  # checked by the controller at the next tick

    def _on_joints(self, msg: JointState) -> None:
        if self._before_episode(msg):
            return
        try:
            joints = joint_positions(msg, ARM_JOINTS)
            if not np.all(np.isfinite(joints)):
                raise ValueError("non-finite /joint_states positions")
        except ValueError as err:
            self._reject(topics.JOINT_STATES, str(err))
            return
        self.input_errors.pop(topics.JOINT_STATES, None)
        self.joints = joints
        self.gripper = measured_opening(msg, self.params["finger_joints"])
        self.gripper_stamp = stamp_seconds(msg.header.stamp) or self._now()

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._start_episode()
        response.success = self.controller is not None
        response.message = "memory reset" if response.success else "not configured"
        return response

    def _start_episode(self) -> None:
        """Fresh memory, and only frames and arm states stamped from now on: a frame of the
        previous episode must not become the first token of this one, nor its last pose the
        target of a hold (a reset scene may have moved the arm)."""
        if self.controller is not None:
            self.controller.reset()
        self.episode_start = self._now()
        self.ee_pose: np.ndarray | None = None
        self.joints: np.ndarray | None = None
        self.gripper: float | None = None
        self.gripper_stamp = -math.inf
        self.input_errors: dict[str, str] = {}
        self.logged_at: dict[str, float] = {}
        self.transport_ms: dict[str, float] = {}

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.enabled = bool(request.data)
        if not self.enabled and self.active:
            self._publish(self.controller.hold(self._now(), self.ee_pose, "disabled"))
        response.success = True
        response.message = "enabled" if self.enabled else "disabled (holding)"
        return response

    # -- control ----------------------------------------------------------------------------

    def _tick(self) -> None:
        if not self.active or not self.enabled:
            return
        started = time.perf_counter()
        now = self._now()
        opening = self._fresh_opening(now)
        command = self.controller.tick(now, self.ee_pose, opening)
        self._publish(command)
        if command.new_chunk:
            self._publish_forecast(command)
        self._diagnostics(command, opening, 1000 * (time.perf_counter() - started))

    def _fresh_opening(self, now: float) -> float | None:
        """The gripper's last measured opening, or None (unknown) once it is older than
        ``hold_after_s``: a silent ``/joint_states`` must not freeze the fingers' state."""
        if now - self.gripper_stamp > self.params["hold_after_s"]:
            return None
        return self.gripper

    def _publish(self, command: Command) -> None:
        if command.action is None:
            return
        stamp = self.get_clock().now().to_msg()
        if self.params["output"] == "pose":
            self.target_pub.publish(pose_to_msg(command.action[:7], stamp))
        elif command.replanned:
            self._publish_trajectory(command.plan, stamp)
        self.gripper_pub.publish(Float64(data=float(command.action[7])))

    def _publish_trajectory(self, plan: np.ndarray, stamp: object) -> None:
        """The plan as one positions-only trajectory, one point a control period apart."""
        if self.joints is None:
            self._reject(topics.JOINT_STATES, "none received yet: cannot command joints")
            return
        period_ns = int(1e9 / self.params["control_hz"])
        msg = JointTrajectory(joint_names=list(ARM_JOINTS))
        msg.header.stamp = stamp
        seed = self.joints
        for index, pose in enumerate(plan):
            seed = self.kinematics.joint_targets(pose[:7], seed)
            if not np.all(np.isfinite(seed)):
                break
            point = JointTrajectoryPoint(positions=[float(q) for q in seed])
            point.time_from_start.sec, point.time_from_start.nanosec = divmod(
                (index + 1) * period_ns, 10**9)
            msg.points.append(point)
        if msg.points:
            self.trajectory_pub.publish(msg)

    def _publish_forecast(self, command: Command) -> None:
        stamp = self.get_clock().now().to_msg()
        for cam, image in command.output.forecast.items():
            msg = rgb_to_image(image)
            msg.header.stamp = stamp
            msg.header.frame_id = f"{cam}_camera"
            self.forecast_pubs[cam].publish(msg)

    def _diagnostics(self, command: Command, opening: float | None, tick_ms: float) -> None:
        values = command.report()
        values.update({f"{cam}/transport_ms": f"{ms:.3f}" for cam, ms in self.transport_ms.items()})
        values.update({f"input{topic}": why for topic, why in self.input_errors.items()})
        values["latency_ms/tick"] = f"{tick_ms:.3f}"
        values["threads"] = str(self.threads)
        values["gripper_opening_m"] = "unknown" if opening is None else f"{opening:.4f}"
        problem = command.hold_reason or next(iter(self.input_errors.values()), "")
        status = DiagnosticStatus(name=self.get_name(), hardware_id="df_policy",
                                  level=DiagnosticStatus.WARN if problem else DiagnosticStatus.OK,
                                  message=command.hold_reason or "running",
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)


def measured_opening(msg: JointState, finger_joints: list[str]) -> float | None:
    """The gripper's opening in metres from ``finger_joints`` of a joint state; None (unknown)
    when none are configured, the message lacks one, or the sum is not finite."""
    if not finger_joints:
        return None
    try:
        opening = gripper_opening(msg, finger_joints)
    except ValueError:
        return None
    return opening if math.isfinite(opening) else None


def main(args: list[str] | None = None) -> None:
    """Run the policy node until SIGINT (it starts unconfigured; drive it via lifecycle)."""
    try:
        with rclpy.init(args=args):
            node = PolicyNode()
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
