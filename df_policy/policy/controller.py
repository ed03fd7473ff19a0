"""One control loop from camera frames to arm commands, shared by the ROS node and evaluation.

Per control period the caller hands over the frames that arrived (:meth:`Controller.frame`)
and asks for a command (:meth:`Controller.tick`)::

    frames --> camera monitors (age, frozen, decode) --> health per camera
    tick:  measured pose checked (finite, in the workspace, unit quaternion)
           hold?  start gate (first frame of every camera) / watchdog (all stale, overrun)
                  / non-finite action
             yes: the hold target: where the arm was measured when the hold began (the last
                  command instead when that measurement was rejected)
             no:  next action of the chunk queue; an empty queue asks the policy for a new
                  chunk, passing the actions really commanded since its last step
           clamp: workspace box, ``max_step_m`` from the previous command, unit quaternion
           --> Command (pose + grip, why held, new chunk, the remaining plan, health)

Everything in a :class:`Command` has been clamped: no command leaves the workspace box or
moves further than the step limit, holds included, and none is non-finite. The policy absorbs
what was commanded (clamped, held), not what it predicted. What the simulated arm does after
that (actuation latency, missed periods) is the arm's business, outside the controller.

No rclpy, no simulator: plain numpy over timestamps (seconds on one clock).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from df_policy.policy.camera_health import CameraHealth, CameraMonitor
from df_policy.policy.safety import SafetyConfig, StartGate, Watchdog, clamp_action, pose_problem

if TYPE_CHECKING:
    from df_policy.policy.runtime import PolicyOutput

OPEN = 0.0
"""Gripper command of a hold before anything was commanded (open)."""


@dataclasses.dataclass
class Command:
    """What the arm is told in one control period."""

    action: np.ndarray | None
    """(8,) [x, y, z, qw, qx, qy, qz, grip], clamped; None when there is nothing safe to send
    yet (no command so far and no usable measured pose)."""
    hold_reason: str
    """Why the arm holds this period; "" when it follows the policy."""
    starting: bool
    """Held by the start gate (waiting for the first frame of every camera)."""
    new_chunk: bool
    """The policy was stepped this period."""
    replanned: bool
    """The remaining plan is not the continuation of the previous period's plan (new chunk,
    hold, or the first move after a hold): a trajectory output must be replaced."""
    plan: np.ndarray
    """(n, 8): this period's command followed by the rest of the chunk, each clamped against
    the one before (just the command while holding; empty when ``action`` is None)."""
    output: PolicyOutput | None
    """The policy's latest output (levels, surprise, forecast, timings)."""
    health: dict[str, CameraHealth]
    """Each camera's stream health at this period."""
    pose_problem: str
    """Why the measured pose was rejected ("" when usable or not given)."""
    inference_s: float
    """Seconds the policy step of this period took (0 without one)."""

    @property
    def hold(self) -> bool:
        """Whether the arm holds this period."""
        return bool(self.hold_reason)

    def report(self) -> dict[str, str]:
        """What this period says about itself, as diagnostics key -> value strings."""
        values = {}
        for cam, health in self.health.items():
            values[f"{cam}/age_s"] = "none" if health.age_s is None else f"{health.age_s:.3f}"
            values[f"{cam}/health"] = health.problem or "ok"
        values["watchdog"] = self.hold_reason or "ok"
        values["measured_pose"] = self.pose_problem or "ok"
        values["new_chunk"] = str(self.new_chunk).lower()
        if self.output is not None:
            values["backend"] = self.output.backend
            values.update({f"{cam}/level": str(v) for cam, v in self.output.levels.items()})
            values.update({f"{cam}/surprise": f"{v:.2f}"
                           for cam, v in self.output.surprise.items()})
            values.update({f"latency_ms/{k}": f"{v:.2f}"
                           for k, v in self.output.timings_ms.items()})
        return values


class Controller:
    """The policy with its safety around it. One instance per robot; not thread-safe.

    Args:
        policy: a :class:`~df_policy.policy.runtime.DFPolicy` or ``DPPolicy`` (anything with
            ``chunk``, ``reset()`` and ``step(images, health, executed, gripper)``).
        cameras: camera names, in the policy's order.
        safety: workspace, step limit and watchdog limits.
        start_wait_s: the start gate's longest wait for a camera's first frame
            (:attr:`RuntimeConfig.start_wait_s <df_policy.policy.config.RuntimeConfig>`).
    """

    def __init__(self, policy: Any, cameras: tuple[str, ...], safety: SafetyConfig,
                 start_wait_s: float) -> None:
        self.policy = policy
        self.cameras = tuple(cameras)
        self.safety = safety
        self.watchdog = Watchdog(safety)
        self.start_gate = StartGate(start_wait_s)
        self.reset()

    def reset(self) -> None:
        """A new episode: fresh memory, monitors and queue; the start gate closes."""
        self.policy.reset()
        self.start_gate.reset()
        self.monitors = {cam: CameraMonitor() for cam in self.cameras}
        self.frames: dict[str, np.ndarray | None] = {cam: None for cam in self.cameras}
        self.queue: deque[np.ndarray] = deque()
        self.commanded: deque[np.ndarray] = deque(maxlen=self.policy.chunk)
        self.last_command: np.ndarray | None = None
        self.good_pose: np.ndarray | None = None
        self.hold_target: np.ndarray | None = None
        self.output: PolicyOutput | None = None
        self.stepped = False
        self.inference_s = 0.0
        self.was_holding = True

    # -- inputs -----------------------------------------------------------------------------

    def frame(self, cam: str, image: np.ndarray, stamp: float) -> None:
        """A frame of ``cam`` captured at ``stamp``; the controller keeps a reference to it.

        Raises:
            ValueError: for an unknown camera or an image that is not (H, W, 3) uint8 (the
                stream then counts as failed to decode).
        """
        monitor = self._monitor(cam)
        if (not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3
                or image.dtype != np.uint8 or 0 in image.shape):
            monitor.failed()
            shape = getattr(image, "shape", None)
            raise ValueError(f"camera '{cam}' frame must be (H, W, 3) uint8, got {shape}")
        monitor.frame(image, stamp)
        self.frames[cam] = image

    def decode_failed(self, cam: str) -> None:
        """The newest message of ``cam`` could not be turned into an image."""
        self._monitor(cam).failed()

    def _monitor(self, cam: str) -> CameraMonitor:
        if cam not in self.monitors:
            raise ValueError(f"unknown camera '{cam}' (known: {', '.join(self.cameras)})")
        return self.monitors[cam]

    # -- control ----------------------------------------------------------------------------

    def tick(self, now: float, measured_pose: np.ndarray | None = None,
             gripper: float | None = None) -> Command:
        """The command for the control period at ``now`` (seconds, the frames' clock).

        ``measured_pose`` [x, y, z, qw, qx, qy, qz] is where the arm is, None if unknown. It
        only serves as a hold target: a rejected one never does (the last command does), and
        is reported in :attr:`Command.pose_problem`; the policy itself does not read it.
        ``gripper`` is the measured finger opening in metres (None if unknown), handed to
        the policy when it steps (a model trained with ``gripper_state`` absorbs it).
        """
        health, problem = self._observe(now, measured_pose)
        awaited = self.start_gate.waiting_for({c: h.age_s for c, h in health.items()}, now)
        reason = self._hold_reason(awaited, health)
        new_chunk, inference_s = False, 0.0
        action = None
        if not reason:
            if not self.queue:
                self.output = self.policy.step(dict(self.frames), health, self._executed(),
                                               gripper)
                self.stepped, new_chunk = True, True
                inference_s = self.output.timings_ms["total"] / 1000.0
                self.queue.extend(np.asarray(self.output.actions, dtype=np.float64))
            action = clamp_action(self.queue.popleft(), self._reference(), self.safety)
            if action is None:
                reason = "the policy produced a non-finite action"
        if reason:
            action = self._hold(problem != "")
        else:
            self.hold_target = None
        self.inference_s = inference_s
        if action is not None:
            self.last_command = action
            self.commanded.append(action)
        command = Command(
            action=action, hold_reason=reason, starting=bool(awaited), new_chunk=new_chunk,
            replanned=new_chunk or bool(reason) or self.was_holding,
            plan=self._plan(action, bool(reason)), output=self.output, health=health,
            pose_problem=problem, inference_s=inference_s)
        self.was_holding = bool(reason)
        return command

    def hold(self, now: float, measured_pose: np.ndarray | None, reason: str) -> Command:
        """A hold outside the policy's schedule (the node deactivated or disabled)."""
        health, problem = self._observe(now, measured_pose)
        self.hold_target = None  # hold where the arm is now
        action = self._hold(problem != "")
        if action is not None:
            self.last_command = action
        self.was_holding = True
        return Command(action, reason, False, False, True, self._plan(action, True),
                       self.output, health, problem, 0.0)

    def _observe(self, now: float, measured_pose: np.ndarray | None,
                 ) -> tuple[dict[str, CameraHealth], str]:
        """Camera health at ``now`` and why ``measured_pose`` is rejected ("" if usable); a
        usable pose becomes the last good one."""
        health = {cam: monitor.health(now) for cam, monitor in self.monitors.items()}
        problem = pose_problem(measured_pose, self.safety) if measured_pose is not None else ""
        if measured_pose is not None and not problem:
            self.good_pose = np.asarray(measured_pose, dtype=np.float64)
        return health, problem

    def _hold_reason(self, awaited: list[str], health: dict[str, CameraHealth]) -> str:
        if awaited:
            return f"waiting for the first frame of {', '.join(awaited)}"
        if self.watchdog.must_hold({c: h.age_s for c, h in health.items()}, self.inference_s):
            return self.watchdog.reason
        return ""

    def _hold(self, pose_rejected: bool) -> np.ndarray | None:
        """The clamped hold command: where the arm was measured when the hold began (the last
        command instead when this period's pose was rejected), with the last grip."""
        if self.hold_target is None:
            grip = self.last_command[7] if self.last_command is not None else OPEN
            pose = None if pose_rejected else self.good_pose
            if pose is None and self.last_command is not None:
                pose = self.last_command[:7]
            if pose is None:
                pose = self.good_pose
            if pose is None:
                return None
            self.hold_target = np.concatenate([pose, [grip]])
        return clamp_action(self.hold_target, self._reference(), self.safety)

    def _reference(self) -> np.ndarray | None:
        """What the step limit is measured from: the previous command, else the arm's pose."""
        if self.last_command is not None:
            return self.last_command
        return None if self.good_pose is None else np.concatenate([self.good_pose, [OPEN]])

    def _executed(self) -> np.ndarray | None:
        """The last ``chunk`` commands, for the policy's next token (None before its first
        step: the first token carries no actions)."""
        if not self.stepped or len(self.commanded) < self.policy.chunk:
            return None
        return np.stack(self.commanded).astype(np.float32)

    def _plan(self, action: np.ndarray | None, holding: bool) -> np.ndarray:
        """This command and the rest of the queue, each clamped against the one before."""
        if action is None:
            return np.zeros((0, 8))
        plan = [action]
        if not holding:
            for queued in self.queue:
                safe = clamp_action(queued, plan[-1], self.safety)
                if safe is None:
                    break
                plan.append(safe)
        return np.stack(plan)
