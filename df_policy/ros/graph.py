"""Start the node graph of ``arm.launch.py`` without the launch stack, and run closed-loop demos.

``ros2 launch`` cannot be installed on a pip-only machine, so ``df-policy demo`` starts the same
executables (``<prefix>/lib/df_policy/<node>``) with the same parameter file as separate
processes, drives ``policy_node`` through its lifecycle, runs episodes over real DDS, and stops
everything with SIGINT (each child in its own session, reaped as a group: no orphans).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from df_policy import topics
from df_policy.errors import DfPolicyError
from df_policy.ros.params import package_share


def executable(name: str) -> list[str]:
    """Command that runs node ``name``: ``lib/df_policy/<name>`` of the prefix the package's
    share was found in (a sourced colcon ``install/`` or this Python prefix), else
    ``python -m``."""
    for prefix in (package_share().parents[1], Path(sys.prefix)):
        installed = prefix / "lib" / "df_policy" / name
        if installed.is_file():
            return [str(installed)]
    return [sys.executable, "-m", f"df_policy.ros.{name}"]


def ros_environment() -> dict[str, str]:
    """The current environment with DDS discovery kept on this machine."""
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.setdefault("MUJOCO_GL", "egl")
    env["RCUTILS_LOGGING_BUFFERED_STREAM"] = "0"  # node logs reach the log file at once
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def node_processes(params_file: Path, extra: dict[str, list[str]], log_dir: Path,
                   names: tuple[str, ...] = ("sim_node", "policy_node"),
                   ) -> Iterator[dict[str, subprocess.Popen]]:
    """Start the nodes ``names`` (each with ``extra[name]`` arguments); SIGINT and reap all
    of them on exit."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: dict[str, subprocess.Popen] = {}
    try:
        for name in names:
            command = [*executable(name), "--ros-args", "--params-file", str(params_file),
                       *extra.get(name, [])]
            log = (log_dir / f"{name}.log").open("w")
            processes[name] = subprocess.Popen(command, env=ros_environment(), stdout=log,
                                               stderr=subprocess.STDOUT,
                                               start_new_session=True)
        yield processes
    finally:
        for process in processes.values():
            stop_group(process)


def stop_group(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGINT the process group, wait, SIGKILL if it does not exit; returns the exit code."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return process.returncode


class DemoClient:
    """A node in this process that drives the lifecycle, resets episodes and listens."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from lifecycle_msgs.srv import ChangeState
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        from std_msgs.msg import String
        from std_srvs.srv import SetBool, Trigger

        self.rclpy = rclpy
        rclpy.init()
        self.node = rclpy.create_node("df_policy_demo")
        self.change_state = self.node.create_client(ChangeState,
                                                    topics.policy_service("change_state"))
        self.reset_sim = self.node.create_client(Trigger, topics.SIM_RESET)
        self.reset_memory = self.node.create_client(Trigger, topics.policy_service("reset_memory"))
        self.enable = self.node.create_client(SetBool, topics.policy_service("enable"))
        self.status: dict[str, Any] = {}
        self.latencies: list[float] = []
        self.frames: list[np.ndarray] | None = None
        self.node.create_subscription(String, topics.EPISODE_STATUS, self._on_status, 10)
        self.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, 10)
        self.node.create_subscription(Image, topics.image_topic("front"), self._on_image,
                                      qos_profile_sensor_data)

    def _on_status(self, msg: Any) -> None:
        self.status = json.loads(msg.data)

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            values = {value.key: value.value for value in status.values}
            if values.get("new_chunk") == "true" and "latency_ms/total" in values:
                self.latencies.append(float(values["latency_ms/total"]))

    def _on_image(self, msg: Any) -> None:
        if self.frames is not None:
            from df_policy.images import image_to_rgb

            self.frames.append(image_to_rgb(msg).copy())

    def spin_until(self, done: Any, timeout: float) -> bool:
        """Spin until ``done()`` is true or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.rclpy.spin_once(self.node, timeout_sec=0.05)
            if done():
                return True
        return False

    def call(self, client: Any, request: Any, timeout: float = 60.0) -> Any:
        """Call a service, waiting for it to appear; raises DfPolicyError on failure."""
        if not client.wait_for_service(timeout_sec=timeout):
            raise DfPolicyError(f"service {client.srv_name} did not appear in {timeout:.0f} s")
        future = client.call_async(request)
        if not self.spin_until(future.done, timeout):
            raise DfPolicyError(f"service {client.srv_name} did not answer")
        return future.result()

    def new_episode(self) -> dict[str, Any]:
        """Pause the policy, reset the scene, reset the policy's memory, resume; returns the
        sim's episode (seed, orange_start). Paused first, so no command computed in the old
        episode reaches the new one."""
        from std_srvs.srv import SetBool, Trigger

        self.call(self.enable, SetBool.Request(data=False))
        reply = self.call(self.reset_sim, Trigger.Request())
        self.call(self.reset_memory, Trigger.Request())
        self.call(self.enable, SetBool.Request(data=True))
        return json.loads(reply.message)

    def transition(self, transition_id: int) -> bool:
        """Ask policy_node for a lifecycle transition; True on success."""
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = transition_id
        return bool(self.call(self.change_state, request).success)

    def close(self) -> None:
        """Destroy the node and shut rclpy down."""
        self.node.destroy_node()
        self.rclpy.shutdown()


def run_demo(episodes: int, params_file: Path, checkpoint: str | None,
             json_path: Path | None, video_path: Path | None,
             log_dir: Path = Path("results/demo_logs"), episode_timeout: float = 90.0,
             before_episodes: Callable[[], None] | None = None) -> dict[str, Any]:
    """Closed-loop fruit swapping through the ROS nodes; returns (and writes) the figures.
    ``before_episodes`` is called once the nodes are up and policy_node is configured, before
    the first episode (to wait for a listener such as the view node)."""
    from lifecycle_msgs.msg import Transition

    extra = {"policy_node": ["-p", f"checkpoint:={checkpoint}"]} if checkpoint else {}
    outcomes = []
    with node_processes(params_file, extra, log_dir):
        client = DemoClient()
        try:
            if not client.transition(Transition.TRANSITION_CONFIGURE):
                raise DfPolicyError(f"policy_node failed to configure; see {log_dir}")
            if before_episodes is not None:
                before_episodes()
            for index in range(episodes):
                episode = client.new_episode()
                client.status = {}
                client.frames = [] if index == 0 and video_path else None
                if index == 0:
                    client.transition(Transition.TRANSITION_ACTIVATE)
                started = time.monotonic()
                client.spin_until(lambda: client.status.get("done", False), episode_timeout)
                status = client.status
                outcomes.append({"episode": index, **episode,
                                 "success": bool(status.get("success")),
                                 "stage": status.get("stage"), "steps": status.get("step"),
                                 "seconds": round(time.monotonic() - started, 1)})
                print(f"episode {index}: success={outcomes[-1]['success']} "
                      f"stage={outcomes[-1]['stage']} steps={outcomes[-1]['steps']}")
                if client.frames:
                    from df_policy.data.video import write_video

                    write_video(video_path, [f.repeat(4, 0).repeat(4, 1) for f in client.frames],
                                fps=10)
                    client.frames = None
        finally:
            client.close()
    latencies = client.latencies
    result = {
        "episodes": len(outcomes),
        "success_rate": sum(o["success"] for o in outcomes) / max(1, len(outcomes)),
        "outcomes": outcomes,
        "policy_step_ms": {
            "p50": statistics.median(latencies) if latencies else None,
            "p90": float(np.percentile(latencies, 90)) if latencies else None,
            "samples": len(latencies),
        },
    }
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=2))
    return result
