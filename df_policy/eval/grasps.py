"""Where each grasp of an episode closed, relative to the fruit, and whether it lifted it.

A :class:`GraspLog` watches an episode from privileged simulator state (it is an observer for
:func:`df_policy.eval.episode.run_episode`, or for any loop that steps a ``FruitSwapEnv``): every
time the gripper command closes, it notes the fruit nearest the tool centre and the tool
centre's offset from that fruit's centre; the grasp counts as lifted if the fruit rises off the
table before the gripper opens again. This tells a grasp that missed from one that held and
lost the fruit later, and in which direction a policy's grasps are off.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from df_policy.sim.expert import HELD_HEIGHT

CLOSED = 0.5
"""Gripper commands above this close the gripper."""


@dataclasses.dataclass
class Grasp:
    """One closing of the gripper."""

    step: int
    """Control step (0-based) at which the close command was executed."""
    fruit: str
    """The fruit nearest the tool centre when the gripper closed."""
    offset_mm: tuple[float, float]
    """Tool centre minus fruit centre on the table, (x, y) in millimetres; x points away from
    the front camera (its depth), y sideways."""
    lifted: bool = False
    """Whether the fruit rose off the table before the gripper opened again."""

    @property
    def distance_mm(self) -> float:
        """Horizontal distance between tool centre and fruit centre, millimetres."""
        return float(np.hypot(*self.offset_mm))


class GraspLog:
    """Observer ``(env, action, tick) -> None`` that records every :class:`Grasp` of an
    episode (``tick``, the controller's command of the step, is not needed here)."""

    def __init__(self) -> None:
        self.grasps: list[Grasp] = []
        self._step = 0
        self._closed = False

    def __call__(self, env: Any, action: np.ndarray, tick: Any = None) -> None:
        """Record the world after one control step that executed ``action``."""
        closed = float(action[-1]) > CLOSED
        if closed:
            fruits = env.fruit_positions()
            if not self._closed:
                tool = env.tcp_pose()[:2]
                fruit = min(fruits, key=lambda name: np.linalg.norm(fruits[name][:2] - tool))
                dx, dy = (1000.0 * (tool - fruits[fruit][:2])).tolist()
                self.grasps.append(Grasp(self._step, fruit, (round(dx, 1), round(dy, 1))))
            if fruits[self.grasps[-1].fruit][2] > HELD_HEIGHT:
                self.grasps[-1].lifted = True
        self._closed = closed
        self._step += 1


def placements_mm(env: Any) -> dict[str, np.ndarray]:
    """Each fruit's offset (x, y) in millimetres from the centre of the slot it lies in, on the
    axes of :attr:`Grasp.offset_mm`."""
    slots = env.slot_positions()
    return {fruit: 1000.0 * (position[:2] - slots[env.slot_of(fruit)][:2])
            for fruit, position in env.fruit_positions().items()}
