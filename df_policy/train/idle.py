"""The idle steps of a demonstration: the steps in which the arm stands still by choice.

A human operator stops now and then (to look, to think, to rest a hand), and so does a
scripted expert. A policy trained on those stops learns to stand still at random, and a still
arm hides the motion that tells the task's look-alike moments apart: the orange held above
slot C is the end of the first move when it came in sideways and the start of the last when it
was just lifted, and after a stop only the episode's memory can say which (docs/results.md,
"Set (b)'s last move"). Training on the episodes without those steps
(``train.drop_idle_steps``) removes both, as robot-learning datasets drop no-op actions
before training.

A step is idle when the arm and the fingers stood still around it: the tool centre moved less
than :data:`STILL_M` a step, and the fingers less than :data:`FINGERS_STILL_M`, from the step
before to the step after. It is read from the measured motion, not the commands, so a hand's
tremor on the commanded target does not hide a stop. The :data:`GRIP_SETTLE_S` seconds after
the gripper command closes or opens are never idle: a grip that has closed still has to
settle before the lift, and a policy that never saw the wait would lift too early.
"""

from __future__ import annotations

import numpy as np

from df_policy.keys import GRIP_CLOSED

STILL_M = 0.001
"""A tool centre that moved less than this a step (metres) stood still."""
FINGERS_STILL_M = 0.0005
"""Fingers whose opening changed less than this a step (metres) stood still."""
GRIP_SETTLE_S = 0.7
"""Seconds after the gripper command closes or opens that are always kept."""


def idle_steps(action: np.ndarray, ee_pose: np.ndarray, opening: np.ndarray,
               control_hz: float) -> np.ndarray:
    """Which steps of an episode are idle (see the module docstring): a bool array over its
    steps, from its ``action`` (T, 8) targets, measured ``ee_pose`` (T, 7) and finger
    ``opening`` (T,) or (T, 1), recorded at ``control_hz``. The first and last steps are never
    idle."""
    steps = len(action)
    opening = np.asarray(opening, dtype=np.float64).reshape(steps)
    idle = np.zeros(steps, dtype=bool)
    if steps < 3:
        return idle
    tool = np.linalg.norm(ee_pose[2:, :3] - ee_pose[:-2, :3], axis=1) / 2
    fingers = np.abs(opening[2:] - opening[:-2]) / 2
    idle[1:-1] = (tool < STILL_M) & (fingers < FINGERS_STILL_M)
    settle = int(round(GRIP_SETTLE_S * control_hz))
    closed = action[:, 7] > GRIP_CLOSED
    for change in np.flatnonzero(closed[1:] != closed[:-1]) + 1:
        idle[change:change + settle] = False
    return idle
