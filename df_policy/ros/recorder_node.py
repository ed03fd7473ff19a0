"""``recorder_node``: record episodes from live topics straight into the zarr episode store.

Subscribes to ``/<camera>/image_raw`` (sensor_msgs/Image rgb8/bgr8, sensor-data QoS),
``/joint_states``, ``/ee_pose`` (measured tool pose), ``/ee_target`` and ``/gripper_command``
(the commands a teleoperator — or the policy — sends); remap them for a real robot. While an
episode is recording, a timer samples every stream at ``control_hz`` with the rules of the bag
importer (:mod:`df_policy.data.bag_import`):

* a camera frame counts for a tick if it arrived since the previous tick and its stamp is at
  most ``tolerance_s`` old; otherwise the step is recorded as missing (``<cam>_valid`` False).
  A camera at the control rate delivers frames up to one period old at a tick, whatever the
  phase between the two clocks, so the default is 1.5 periods;
* the action of step i is the command in effect at tick i+1 (commands are held; before the
  first command the measured pose, gripper open).

Services (std_srvs/Trigger): ``~/start``, ``~/stop`` (commit the episode, marked successful)
and ``~/discard``. An episode is written with one atomic append when it stops, so a SIGKILL
loses at most the episode in progress. The same node records simulated teleoperation (with
``sim_node`` and any command source), so simulated and real data share one path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rclpy
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from rclpy.time import Time
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Float64
from std_srvs.srv import Trigger

from df_policy import topics
from df_policy.data.messages import (
    ARM_JOINTS,
    FINGER_JOINTS,
    gripper_opening,
    joint_positions,
    msg_to_pose,
)
from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.images import image_to_rgb, resize_images
from df_policy.keys import ACTION, EE_POSE, GRIPPER, JOINT_POS, valid_key
from df_policy.ros.params import declare_parameters

PARAMETERS = {
    "store": ("~/.local/share/df_policy/recorded.zarr",
              "zarr episode store to create or append to (~ expands to the home folder)"),
    "cameras": (["front", "wrist"], "camera names; each reads /<name>/image_raw"),
    "image_size": (64, "side of the stored square images, pixels"),
    "control_hz": (10.0, "rate at which streams are sampled into steps"),
    "tolerance_s": (0.15, "a frame older than this at a tick is recorded as missing "
                          "(at least one control period: camera and control clocks drift)"),
    "arm_joints": (list(ARM_JOINTS), "the 7 arm joints of /joint_states, in store order"),
    "finger_joints": (list(FINGER_JOINTS), "joints whose positions sum to the gripper opening"),
}
"""Parameter name -> (default, description)."""
CHECKS = {
    "image_size": (lambda v: 8 <= v <= 1024, "8..1024 pixels"),
    "control_hz": (lambda v: 0 < v <= 100, "0..100 Hz"),
    "tolerance_s": (lambda v: v > 0, "> 0 s"),
    "arm_joints": (lambda v: len(v) == 7, "7 joint names"),
}


class RecorderNode(Node):
    """Samples live topics into episodes; see the module docstring."""

    def __init__(self) -> None:
        super().__init__("recorder_node")
        self.params = declare_parameters(self, PARAMETERS, CHECKS)
        p = self.params
        self.cameras: list[str] = list(p["cameras"])
        self.store = EpisodeStore.open_or_create(
            Path(p["store"]).expanduser(), cameras=tuple(self.cameras), image_size=p["image_size"],
            control_hz=p["control_hz"], source="ros",
        )
        self.frames: dict[str, tuple[np.ndarray, Time] | None] = dict.fromkeys(self.cameras)
        self.joints: tuple[np.ndarray, float] | None = None
        self.pose: np.ndarray | None = None
        self.target: np.ndarray | None = None
        self.grip_command = 0.0
        self.rows: list[dict[str, np.ndarray]] | None = None
        for cam in self.cameras:
            self.create_subscription(Image, topics.image_topic(cam),
                                     lambda msg, cam=cam: self._on_image(cam, msg),
                                     qos_profile_sensor_data)
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joints, 10)
        self.create_subscription(PoseStamped, topics.EE_POSE, self._on_pose, 10)
        self.create_subscription(PoseStamped, topics.EE_TARGET, self._on_target, 10)
        self.create_subscription(Float64, topics.GRIPPER_COMMAND, self._on_grip, 10)
        self.create_service(Trigger, "~/start", self._on_start)
        self.create_service(Trigger, "~/stop", self._on_stop)
        self.create_service(Trigger, "~/discard", self._on_discard)
        self.create_timer(1.0 / p["control_hz"], self._tick)
        self.get_logger().info(f"recording into {p['store']} "
                               f"({self.store.n_episodes} episodes so far)")

    # ----------------------------------------------------------------------------------------
    # Streams

    def _on_image(self, cam: str, msg: Image) -> None:
        try:
            frame = resize_images(np.ascontiguousarray(image_to_rgb(msg)),
                                  self.params["image_size"])
        except ValueError as err:
            self.get_logger().error(f"{topics.image_topic(cam)}: {err}; frame recorded as missing")
            return
        self.frames[cam] = (frame, Time.from_msg(msg.header.stamp))

    def _on_joints(self, msg: JointState) -> None:
        try:
            self.joints = (joint_positions(msg, self.params["arm_joints"]),
                           gripper_opening(msg, self.params["finger_joints"]))
        except ValueError as err:
            self.get_logger().error(f"/joint_states: {err}")

    def _on_pose(self, msg: PoseStamped) -> None:
        self.pose = msg_to_pose(msg)

    def _on_target(self, msg: PoseStamped) -> None:
        target = msg_to_pose(msg)
        if np.all(np.isfinite(target)):
            self.target = target
        else:
            self.get_logger().error("ignored a non-finite /ee_target")

    def _on_grip(self, msg: Float64) -> None:
        if np.isfinite(msg.data):
            self.grip_command = float(msg.data)
        else:
            self.get_logger().error("ignored a non-finite /gripper_command")

    # ----------------------------------------------------------------------------------------
    # Sampling

    def _tick(self) -> None:
        if self.rows is None:
            return
        if self.rows:
            self.rows[-1][ACTION] = self._command()
        now = self.get_clock().now()
        size = self.params["image_size"]
        row: dict[str, np.ndarray] = {}
        for cam in self.cameras:
            fresh = self.frames[cam]
            age = (now - fresh[1]).nanoseconds * 1e-9 if fresh else np.inf
            valid = fresh is not None and age <= self.params["tolerance_s"]
            row[cam] = fresh[0] if valid else np.zeros((size, size, 3), np.uint8)
            row[valid_key(cam)] = np.bool_(valid)
            self.frames[cam] = None  # each frame serves one tick at most
        joints, opening = self.joints
        row[JOINT_POS], row[GRIPPER], row[EE_POSE] = joints, np.array([opening]), self.pose
        row[ACTION] = self._command()
        self.rows.append(row)

    def _command(self) -> np.ndarray:
        """The command in effect now: [target pose, gripper]; the measured pose before any."""
        pose = self.target if self.target is not None else self.pose
        return np.concatenate([pose, [self.grip_command]])

    # ----------------------------------------------------------------------------------------
    # Services

    def _on_start(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        if self.joints is None or self.pose is None:
            response.success = False
            response.message = "no /joint_states or /ee_pose received yet"
        elif self.rows is not None:
            response.success = False
            response.message = "already recording"
        else:
            self.rows, self.target, self.grip_command = [], None, 0.0
            response.success = True
            response.message = f"recording episode {self.store.n_episodes}"
        return response

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        rows, self.rows = self.rows, None
        if not rows:
            response.success = False
            response.message = "not recording (or no step recorded yet)"
            return response
        rows[-1][ACTION] = self._command()
        arrays = {key: np.stack([row[key] for row in rows]) for key in rows[0]}
        try:
            index = self.store.append_episode(arrays, success=True)
        except DataError as err:
            self.get_logger().error(f"episode not saved: {err}")
            response.success, response.message = False, str(err)
            return response
        response.success = True
        response.message = f"saved episode {index} ({len(rows)} steps)"
        self.get_logger().info(response.message)
        return response

    def _on_discard(self, request: Trigger.Request,
                    response: Trigger.Response) -> Trigger.Response:
        response.success = self.rows is not None
        response.message = "discarded" if self.rows is not None else "not recording"
        self.rows = None
        return response


def main(args: list[str] | None = None) -> None:
    """Run the recorder until SIGINT (an episode in progress is not saved)."""
    try:
        with rclpy.init(args=args):
            node = RecorderNode()
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
