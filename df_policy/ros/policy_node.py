"""``policy_node``: the Diffusion Forcing policy as a ROS 2 lifecycle node.

configure  load the checkpoint, check it against the parameters (cameras, chunk)
activate   start control: one action per control period, a new chunk every ``chunk`` periods
deactivate hold the arm (publish the current pose as the target)
cleanup    free the model

Subscribes ``/<camera>/image_raw`` (sensor-data QoS, rgb8/bgr8, any size and step),
``/ee_pose`` and ``/joint_states``; publishes, by the ``output`` parameter, ``/ee_target``
(PoseStamped, for a Cartesian controller) or ``trajectory_topic`` (JointTrajectory, one point a
control period ahead, for a joint trajectory controller), plus ``/gripper_command`` and
``/diagnostics``. Services
``~/reset_memory`` (Trigger) and ``~/enable`` (SetBool). Inference runs in the control timer
under a single-threaded executor. Camera health (frame age, frozen content, failed decodes)
sets the runtime's per-camera noise levels; the watchdog holds the arm when every camera is
stale or inference overruns, the start gate at the start of an episode (activation or
``~/reset_memory``) until every camera has sent a new frame; every command is clamped and never
non-finite.
"""

from __future__ import annotations

import time

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64
from std_srvs.srv import SetBool, Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from df_policy.data.messages import ARM_JOINTS, joint_positions, msg_to_pose, stamp_seconds
from df_policy.images import image_to_rgb
from df_policy.policy.camera_health import CameraMonitor
from df_policy.policy.safety import SafetyConfig, StartGate, Watchdog, clamp_action
from df_policy.ros.params import declare_parameters, pose_to_msg

PARAMETERS = {
    "checkpoint": ("data/checkpoints/df_fruit_swap", "run or checkpoint folder to load"),
    "cameras": (["front", "wrist"], "camera names; topics are /<camera>/image_raw"),
    "device": ("auto", "cpu, cuda or auto"),
    "control_hz": (10.0, "control rate: one action per period"),
    "seed": (0, "seed of the policy's sampling noise"),
    "stale_s": (0.25, "a camera with no new frame for longer is stale; all stale -> hold"),
    "max_step_m": (0.05, "largest target move per control period, metres"),
    "start_wait_s": (0.2, "at start, hold until every camera has sent a frame, or this long"),
    "output": ("pose", "pose (/ee_target) or joint_trajectory (trajectory_topic)"),
    "trajectory_topic": ("/arm_controller/joint_trajectory", "JointTrajectory command topic"),
}
"""Parameter name -> (default, description); config/arm.yaml sets the same names."""
OUTPUTS = ("pose", "joint_trajectory")
CHECKS = {
    "device": (lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
    "control_hz": (lambda v: 0 < v <= 100, "0..100 Hz"),
    "stale_s": (lambda v: v > 0, "> 0 s"),
    "max_step_m": (lambda v: 0 < v <= 0.5, "0..0.5 m"),
    "start_wait_s": (lambda v: v >= 0, ">= 0 s"),
    "output": (lambda v: v in OUTPUTS, " or ".join(OUTPUTS)),
}


class PolicyNode(LifecycleNode):
    """Runs :class:`~df_policy.policy.runtime.DFPolicy` on live camera topics."""

    def __init__(self) -> None:
        super().__init__("policy_node")
        self.params = declare_parameters(self, PARAMETERS, CHECKS)
        self.policy = None
        self.enabled = True
        self.active = False
        self.kinematics = None
        self.last_output = None
        self.inference_s = 0.0
        self.transport_ms: dict[str, float] = {}
        self.tick_ms = 0.0
        self.new_chunk = False
        self.hold_reason = ""
        self.safety = SafetyConfig(stale_s=self.params["stale_s"],
                                   max_step_m=self.params["max_step_m"])
        self.watchdog = Watchdog(self.safety)
        self.start_gate = StartGate(self.params["start_wait_s"])
        self._start_episode()  # camera monitors, frames, arm state, action queue, last command
        for cam in self.params["cameras"]:
            self.create_subscription(Image, f"/{cam}/image_raw",
                                     lambda msg, cam=cam: self._on_image(cam, msg),
                                     qos_profile_sensor_data)
        self.create_subscription(PoseStamped, "/ee_pose", self._on_pose, 10)
        self.create_subscription(JointState, "/joint_states", self._on_joints, 10)
        self.target_pub = self.create_publisher(PoseStamped, "/ee_target", 10)
        self.trajectory_pub = self.create_publisher(JointTrajectory,
                                                    self.params["trajectory_topic"], 10)
        self.gripper_pub = self.create_publisher(Float64, "/gripper_command", 10)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_service(Trigger, "~/reset_memory", self._on_reset)
        self.create_service(SetBool, "~/enable", self._on_enable)
        self.timer = self.create_timer(1.0 / self.params["control_hz"], self._tick)

    # -- lifecycle --------------------------------------------------------------------------

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load and check the checkpoint."""
        from df_policy.errors import DfPolicyError
        from df_policy.policy.runtime import check_policy_matches, load_policy

        try:
            policy = load_policy(self.params["checkpoint"], self.params["device"],
                                 self.params["seed"])
            check_policy_matches(policy, tuple(self.params["cameras"]), None)
        except (DfPolicyError, FileNotFoundError) as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        self.policy = policy
        if self.params["output"] == "joint_trajectory" and self.kinematics is None:
            from df_policy.sim.kinematics import ArmKinematics

            self.kinematics = ArmKinematics()
        self.get_logger().info(f"loaded {self.params['checkpoint']} (cameras "
                               f"{list(policy.cameras)}, chunk {policy.chunk})")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start control from a fresh memory."""
        self._start_episode()
        self.active = True
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop control and hold the arm where it is."""
        self.active = False
        self._hold()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Free the model."""
        self.policy = None
        return TransitionCallbackReturn.SUCCESS

    # -- inputs -----------------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, cam: str, msg: Image) -> None:
        if self._before_episode(msg):
            return
        try:
            frame = image_to_rgb(msg)
        except ValueError as err:
            self.monitors[cam].failed()
            self.get_logger().error(f"/{cam}/image_raw: {err}", throttle_duration_sec=2.0)
            return
        stamp = stamp_seconds(msg.header.stamp)
        now = self._now()
        if stamp:
            self.transport_ms[cam] = 1000 * (now - stamp)
        self.monitors[cam].frame(frame, stamp or now)
        self.frames[cam] = frame.copy()

    def _before_episode(self, msg: object) -> bool:
        """Whether the message is stamped before this episode started (then it is dropped)."""
        return 0.0 < stamp_seconds(msg.header.stamp) < self.episode_start

    def _on_pose(self, msg: PoseStamped) -> None:
        if self._before_episode(msg):
            return
        pose = msg_to_pose(msg)
        if np.all(np.isfinite(pose)):
            self.ee_pose = pose
        else:
            self.get_logger().error("ignored a non-finite /ee_pose", throttle_duration_sec=2.0)

    def _on_joints(self, msg: JointState) -> None:
        if self._before_episode(msg):
            return
        try:
            joints = joint_positions(msg, ARM_JOINTS)
        except ValueError as err:
            self.get_logger().error(f"/joint_states: {err}", throttle_duration_sec=2.0)
            return
        if np.all(np.isfinite(joints)):
            self.joints = joints
        else:
            self.get_logger().error("ignored a non-finite /joint_states",
                                    throttle_duration_sec=2.0)

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._start_episode()
        response.success = self.policy is not None
        response.message = "memory reset" if response.success else "not configured"
        return response

    def _start_episode(self) -> None:
        """Fresh memory, and only frames and arm states stamped from now on: a frame of the
        previous episode must not become the first token of this one (the start gate waits
        for new frames), nor its last pose the target of a hold (a reset scene may have moved
        the arm)."""
        if self.policy is not None:
            self.policy.reset()
        self.start_gate.reset()
        self.episode_start = self._now()
        self.ee_pose: np.ndarray | None = None
        self.joints: np.ndarray | None = None
        self.monitors = {cam: CameraMonitor() for cam in self.params["cameras"]}
        self.frames: dict[str, np.ndarray | None] = {cam: None for cam in self.params["cameras"]}
        self.queue: list[np.ndarray] = []
        self.last_command: np.ndarray | None = None

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        self.enabled = bool(request.data)
        if not self.enabled:
            self._hold()
        response.success = True
        response.message = "enabled" if self.enabled else "disabled (holding)"
        return response

    # -- control ----------------------------------------------------------------------------

    def _tick(self) -> None:
        if not self.active or self.policy is None or not self.enabled:
            return
        tick_started = time.perf_counter()
        now = self._now()
        health = {cam: monitor.health(now) for cam, monitor in self.monitors.items()}
        ages = {cam: h.age_s for cam, h in health.items()}
        self.hold_reason = self._hold_reason(ages, now)
        if self.hold_reason:
            self.inference_s = 0.0
            self._hold()
            self._diagnostics(health)
            return
        self.new_chunk = not self.queue
        if self.new_chunk:
            started = time.perf_counter()
            self.last_output = self.policy.step(dict(self.frames), health)
            self.inference_s = time.perf_counter() - started
            self.queue = list(self.last_output.actions)
        action = clamp_action(self.queue.pop(0), self.last_command, self.safety)
        if action is None:
            self.get_logger().error("policy produced a non-finite action: holding")
            self._hold()
        else:
            self._send(action)
        self.tick_ms = 1000 * (time.perf_counter() - tick_started)
        self._diagnostics(health)

    def _hold_reason(self, ages: dict[str, float | None], now: float) -> str:
        """Why the arm must hold this period ("" when it may move)."""
        awaited = self.start_gate.waiting_for(ages, now)
        if awaited:
            return f"waiting for the first frame of {', '.join(awaited)}"
        return self.watchdog.reason if self.watchdog.must_hold(ages, self.inference_s) else ""

    def _send(self, action: np.ndarray) -> None:
        if self.params["output"] == "joint_trajectory":
            if self.joints is None:
                self.get_logger().error("no /joint_states yet: cannot command joints",
                                        throttle_duration_sec=2.0)
                return
            self._publish_joints(self.kinematics.joint_targets(action[:7], self.joints))
        else:
            self.target_pub.publish(pose_to_msg(action[:7], self.get_clock().now().to_msg()))
        self.last_command = action
        self.gripper_pub.publish(Float64(data=float(action[7])))

    def _hold(self) -> None:
        """Command where the arm is (a hold, not silence)."""
        grip = self.last_command[7] if self.last_command is not None else 0.0
        if self.params["output"] == "joint_trajectory":
            if self.joints is None:
                return
            self._publish_joints(self.joints)
        else:
            pose = self.ee_pose if self.ee_pose is not None else (
                self.last_command[:7] if self.last_command is not None else None)
            if pose is None:
                return
            self.target_pub.publish(pose_to_msg(pose, self.get_clock().now().to_msg()))
        self.gripper_pub.publish(Float64(data=float(grip)))

    def _publish_joints(self, positions: np.ndarray) -> None:
        """One trajectory point, reached one control period from now."""
        period_ns = int(1e9 / self.params["control_hz"])
        point = JointTrajectoryPoint(positions=[float(q) for q in positions])
        point.time_from_start.sec, point.time_from_start.nanosec = divmod(period_ns, 10**9)
        msg = JointTrajectory(joint_names=list(ARM_JOINTS), points=[point])
        msg.header.stamp = self.get_clock().now().to_msg()
        self.trajectory_pub.publish(msg)

    def _diagnostics(self, health: dict) -> None:
        values = {f"{cam}/age_s": "none" if h.age_s is None else f"{h.age_s:.3f}"
                  for cam, h in health.items()}
        values.update({f"{cam}/transport_ms": f"{ms:.3f}"
                       for cam, ms in self.transport_ms.items()})
        values["watchdog"] = self.hold_reason or "ok"
        values["latency_ms/tick"] = f"{self.tick_ms:.3f}"
        values["new_chunk"] = str(self.new_chunk).lower()
        if self.last_output is not None:
            values.update({f"{cam}/level": str(v) for cam, v in self.last_output.levels.items()})
            values.update({f"{cam}/surprise": f"{v:.2f}"
                           for cam, v in self.last_output.surprise.items()})
            values.update({f"latency_ms/{k}": f"{v:.2f}"
                           for k, v in self.last_output.timings_ms.items()})
        status = DiagnosticStatus(name="policy_node", hardware_id="df_policy",
                                  level=DiagnosticStatus.WARN if self.hold_reason
                                  else DiagnosticStatus.OK,
                                  message=self.hold_reason or "running",
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)


def main(args: list[str] | None = None) -> None:
    """Run the policy node until SIGINT (start it unconfigured; drive it via lifecycle)."""
    try:
        with rclpy.init(args=args):
            node = PolicyNode()
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
