"""Safety checks applied to every command before it reaches the arm (no rclpy).

- a non-finite action is never sent: it becomes a hold;
- the target position is clipped to a workspace box and moved at most ``max_step_m`` from the
  previous command per control step;
- a measured pose that is non-finite, outside the workspace box or has a non-unit quaternion is
  rejected (:func:`pose_problem`): it is never a hold target;
- the watchdog holds the arm when no camera has delivered for ``hold_after_s``, or when
  inference overruns;
- the start gate holds it at the start of an episode until every camera has delivered a frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from df_policy.config import require


@dataclasses.dataclass
class SafetyConfig:
    """Limits on commands and when to hold."""

    workspace_low: tuple[float, float, float] = (-0.25, -0.4, 0.0)
    workspace_high: tuple[float, float, float] = (0.3, 0.4, 0.45)
    max_step_m: float = 0.05
    """Largest change of the target position between two control steps, metres."""
    hold_after_s: float = 0.25
    """Hold when no camera has delivered a frame for longer than this, seconds. (Not
    :attr:`RuntimeConfig.stale_s <df_policy.policy.config.RuntimeConfig.stale_s>`, the
    staleness at which a frame is absorbed at the top noise level.)"""
    max_inference_s: float = 0.5
    """Inference longer than this is an overrun -> hold. Simulated time stands still while
    the policy thinks, so the evaluation sets it to infinity."""
    quaternion_tolerance: float = 0.01
    """A measured orientation whose norm differs from 1 by more is rejected."""

    def __post_init__(self) -> None:
        low, high = np.array(self.workspace_low), np.array(self.workspace_high)
        require(bool(np.all(low < high)), "workspace_low", "must be below workspace_high")
        require(self.max_step_m > 0, "max_step_m", "must be > 0")
        require(self.hold_after_s > 0, "hold_after_s", "must be > 0")
        require(self.max_inference_s > 0, "max_inference_s", "must be > 0")

    def inside(self, position: np.ndarray) -> bool:
        """Whether ``position`` (x, y, z) lies in the workspace box (edges included)."""
        return bool(np.all(position >= self.workspace_low)
                    and np.all(position <= self.workspace_high))


def pose_problem(pose: np.ndarray | None, config: SafetyConfig) -> str:
    """Why a measured pose [x, y, z, qw, qx, qy, qz] must not be used ("" when it may)."""
    if pose is None:
        return "no measured pose"
    pose = np.asarray(pose, dtype=np.float64)
    if pose.shape != (7,):
        return f"measured pose has shape {pose.shape}, not (7,)"
    if not np.all(np.isfinite(pose)):
        return "measured pose is not finite"
    if not config.inside(pose[:3]):
        return f"measured position {np.round(pose[:3], 3).tolist()} is outside the workspace"
    norm = float(np.linalg.norm(pose[3:7]))
    if abs(norm - 1.0) > config.quaternion_tolerance:
        return f"measured orientation is not a unit quaternion (norm {norm:.3f})"
    return ""


def clamp_action(action: np.ndarray, previous: np.ndarray | None,
                 config: SafetyConfig) -> np.ndarray | None:
    """The action made safe, or None when it cannot be (non-finite: the caller holds)."""
    action = np.asarray(action, dtype=np.float64)
    if action.shape != (8,) or not np.all(np.isfinite(action)):
        return None
    safe = action.copy()
    safe[:3] = np.clip(safe[:3], config.workspace_low, config.workspace_high)
    if previous is not None:
        delta = safe[:3] - previous[:3]
        distance = np.linalg.norm(delta)
        if distance > config.max_step_m:
            safe[:3] = previous[:3] + delta * (config.max_step_m / distance)
    norm = np.linalg.norm(safe[3:7])
    if norm < 1e-6:
        return None
    safe[3:7] /= norm
    safe[7] = np.clip(safe[7], 0.0, 1.0)
    return safe


class Watchdog:
    """Decides each control step whether the arm must hold."""

    def __init__(self, config: SafetyConfig) -> None:
        self.config = config
        self.reason = ""

    def must_hold(self, camera_ages: dict[str, float | None], inference_s: float) -> bool:
        """True (with :attr:`reason`) when all cameras are stale or inference overran."""
        stale = [age is None or age > self.config.hold_after_s for age in camera_ages.values()]
        if camera_ages and all(stale):
            self.reason = "all cameras stale"
            return True
        if inference_s > self.config.max_inference_s:
            self.reason = f"inference overrun ({inference_s:.3f} s)"
            return True
        self.reason = ""
        return False


class StartGate:
    """Holds the arm at the start of an episode until every camera has delivered a frame.

    The first token decides what memory carries (on the fruit swap, where each fruit is), so a
    camera whose first frame was lost would leave that decision to the other camera alone.
    After ``wait_s`` the gate opens anyway: a camera still silent is then absorbed as missing
    (a dead camera must not stop the robot).
    """

    def __init__(self, wait_s: float) -> None:
        self.wait_s = wait_s
        self.reset()

    def reset(self) -> None:
        """A new episode: close the gate; the wait starts at the next :meth:`waiting_for`."""
        self.started_at: float | None = None
        self.opened = False

    def waiting_for(self, camera_ages: dict[str, float | None], now: float) -> list[str]:
        """Cameras still awaited at ``now`` (seconds); empty once the gate has opened."""
        if self.opened:
            return []
        if self.started_at is None:
            self.started_at = now
        silent = [cam for cam, age in camera_ages.items() if age is None]
        if not silent or now - self.started_at >= self.wait_s:
            self.opened = True
            return []
        return silent
