"""``df-policy demo --view``: a node that streams a running ROS graph to a rerun live view.

Subscribes to ``/<camera>/image_raw``, ``/policy_node/forecast/<camera>``, ``/diagnostics``
(the policy node's per-camera ``level`` and ``surprise`` and its ``watchdog``), ``/ee_target``
and ``/gripper_command`` (the commands), ``/ee_pose`` and ``/episode_status``. Each status
message is one control step of the simulated arm: the latest frame of every camera, the
command and the tool pose are logged then, with the policy's output when a new one came;
a new seed starts an episode, ``done`` ends it with its success. Run in its own process
(:func:`start_view_process`) until SIGINT, which finishes the recording; the graph should
wait for it to find every topic's publisher (:func:`wait_until_matched`) before an episode
starts, or the view misses the episode's first steps while DDS discovery catches up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Float64, String

from df_policy import topics
from df_policy.data.messages import msg_to_pose
from df_policy.errors import DfPolicyError
from df_policy.images import image_to_rgb
from df_policy.ros.graph import ros_environment, stop_group
from df_policy.viz.live_view import LiveView

READY = "view node subscribed"
"""What the node prints once its subscriptions exist."""
MATCHED = "view node matched every topic"
"""What the node prints once it has found a publisher for every topic it subscribes to."""
ENDED = "view node ended seed"
"""What the node prints, with the seed, once an episode's outcome is in the recording."""


class ViewNode(Node):
    """Listens to the graph and logs each control step to a :class:`LiveView`."""

    def __init__(self, view: LiveView) -> None:
        super().__init__("df_policy_view")
        self.view = view
        self.frames: dict[str, np.ndarray] = {}
        self.forecast: dict[str, np.ndarray] = {}
        self.policy: dict[str, dict[str, float]] | None = None  # levels/surprise, when new
        self.action = np.full(8, np.nan)
        self.tool: np.ndarray | None = None
        self.hold = ""
        self.seed: int | None = None
        self.ended = True
        for cam in view.cameras:
            self.create_subscription(Image, topics.image_topic(cam), self._frame_saver(cam),
                                     qos_profile_sensor_data)
            self.create_subscription(Image, topics.forecast_topic(cam),
                                     self._forecast_saver(cam), 1)
        self.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diagnostics, 10)
        self.create_subscription(PoseStamped, topics.EE_TARGET, self._on_target, 10)
        self.create_subscription(Float64, topics.GRIPPER_COMMAND, self._on_gripper, 10)
        self.create_subscription(PoseStamped, topics.EE_POSE, self._on_pose, 10)
        self.create_subscription(String, topics.EPISODE_STATUS, self._on_status, 10)
        self.match_timer = self.create_timer(0.1, self._report_when_matched)

    def _report_when_matched(self) -> None:
        if all(self.count_publishers(sub.topic_name) for sub in self.subscriptions):
            print(MATCHED, flush=True)
            self.match_timer.cancel()

    def _frame_saver(self, cam: str) -> Any:
        def save(msg: Image) -> None:
            self.frames[cam] = image_to_rgb(msg).copy()
        return save

    def _forecast_saver(self, cam: str) -> Any:
        def save(msg: Image) -> None:
            self.forecast[cam] = image_to_rgb(msg).copy()
        return save

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name != topics.POLICY_NODE:
                continue
            values = {value.key: value.value for value in status.values}
            self.hold = "" if values.get("watchdog", "ok") == "ok" else values["watchdog"]
            if values.get("new_chunk") == "true":
                self.policy = {
                    kind: {cam: float(values[f"{cam}/{kind}"]) for cam in self.view.cameras
                           if f"{cam}/{kind}" in values}
                    for kind in ("level", "surprise")
                }

    def _on_target(self, msg: PoseStamped) -> None:
        self.action[:7] = msg_to_pose(msg)

    def _on_gripper(self, msg: Float64) -> None:
        self.action[7] = msg.data

    def _on_pose(self, msg: PoseStamped) -> None:
        self.tool = msg_to_pose(msg)

    def _on_status(self, msg: String) -> None:
        status = json.loads(msg.data)
        if status["seed"] != self.seed:
            if not self.ended:
                self.view.end_episode(False, "(reset before it ended)")
            self.seed, self.ended = status["seed"], False
            self.view.start_episode(f"demo seed {self.seed}")
        if self.ended:
            return  # the arm holds after the episode's end until the next reset
        if self.policy is not None:
            self.view.log_policy(dict(self.forecast), self.policy["level"],
                                 self.policy["surprise"])
            self.policy = None
        action = None if np.isnan(self.action).any() else self.action.copy()
        self.view.log_step(dict(self.frames), action, self.tool, hold_reason=self.hold)
        if status.get("done"):
            self.view.end_episode(bool(status["success"]), f"(stage {status['stage']})")
            self.ended = True
            print(f"{ENDED} {self.seed}", flush=True)


def start_view_process(target: str, log: Path, timeout: float = 60.0) -> subprocess.Popen:
    """Run this module's node in a new process group (stop it with SIGINT to the group);
    returns once it subscribes, so it sees the graph's first messages.

    Raises:
        DfPolicyError: when the node exits or is not up within ``timeout`` seconds.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-m", "df_policy.ros.view_node", str(target)],
                               env=ros_environment(), stdout=log.open("w"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    if not _log_shows(log, {READY}, timeout, process):
        stop_group(process)
        raise DfPolicyError(f"the view node did not start; see {log}")
    return process


def wait_until_matched(log: Path, timeout: float = 30.0) -> None:
    """Return once the view node's ``log`` says it found a publisher for every topic it
    subscribes to (call it with the graph up, before its first episode).

    Raises:
        DfPolicyError: when that has not happened within ``timeout`` seconds.
    """
    if not _log_shows(log, {MATCHED}, timeout):
        raise DfPolicyError(f"the view node found no publisher for some of its topics "
                            f"within {timeout:.0f} s; see {log}")


def wait_for_episodes(log: Path, seeds: list[int], timeout: float = 10.0) -> None:
    """Return once the view node's ``log`` says the episodes of ``seeds`` are recorded (their
    last messages may still be in flight when the demo ends), or after ``timeout`` seconds."""
    _log_shows(log, {f"{ENDED} {seed}" for seed in seeds}, timeout)


def _log_shows(log: Path, lines: set[str], timeout: float,
               process: subprocess.Popen | None = None) -> bool:
    """Whether every one of ``lines`` appears as a line of ``log`` within ``timeout`` seconds
    (False at once if ``process`` exits first)."""
    deadline = time.monotonic() + timeout
    while not lines <= set(log.read_text().splitlines()):
        if (process is not None and process.poll() is not None) or time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def main(args: list[str] | None = None) -> None:
    """``python -m df_policy.ros.view_node TARGET``: stream until SIGINT."""
    from df_policy.sim.config import SimConfig

    argv = sys.argv[1:] if args is None else args
    view = LiveView(argv[0], SimConfig().cameras)
    try:
        with rclpy.init():
            node = ViewNode(view)
            print(READY, flush=True)
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        view.close()


if __name__ == "__main__":
    main()
