"""Where each grasp of an episode closed, relative to the fruit, and whether it lifted it.

A :class:`GraspLog` watches an episode from privileged simulator state (it is an observer for
:func:`df_policy.eval.episode.run_episode`, or for any loop that steps a ``FruitSwapEnv``): every
time the gripper command closes, it notes the fruit nearest the tool centre, the tool
centre's offset from that fruit's centre and the slot nearest the fruit (where it was picked
from); the grasp counts as lifted if the fruit rises off the table before the gripper opens
again, and then the slot nearest the fruit when the gripper opens is where it was put down.
This tells a grasp that missed from one that held and lost the fruit later, in which direction
a policy's grasps are off, and where a carried fruit was taken (a move that went back where
it came from, or to another move's slot, is the swap's phase lost, not a bad grasp).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from df_policy.keys import GRIP_CLOSED
from df_policy.sim.env import other_start_slot
from df_policy.sim.expert import HELD_HEIGHT

CARRY_ENDS = ("goal", "C", "other", "held")
"""Where the last move's orange can be let go (:func:`last_carry_end`)."""


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
    picked_from: str
    """The slot nearest the fruit when the gripper closed."""
    lifted: bool = False
    """Whether the fruit rose off the table before the gripper opened again."""
    put_down_near: str | None = None
    """For a lifted fruit, the slot nearest it when the gripper opened; None while held."""

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
        closed = float(action[-1]) > GRIP_CLOSED
        if closed:
            fruits = env.fruit_positions()
            if not self._closed:
                tool = env.tcp_pose()[:2]
                fruit = min(fruits, key=lambda name: np.linalg.norm(fruits[name][:2] - tool))
                dx, dy = (1000.0 * (tool - fruits[fruit][:2])).tolist()
                self.grasps.append(Grasp(self._step, fruit, (round(dx, 1), round(dy, 1)),
                                         nearest_slot(env, fruits[fruit])))
            if fruits[self.grasps[-1].fruit][2] > HELD_HEIGHT:
                self.grasps[-1].lifted = True
        elif self._closed and self.grasps[-1].lifted:
            let_go = self.grasps[-1]
            let_go.put_down_near = nearest_slot(env, env.fruit_positions()[let_go.fruit])
        self._closed = closed
        self._step += 1


def last_carry_end(grasps: list[Grasp], orange_start: str) -> str | None:
    """Where the last move's orange was let go: the first orange lifted from C after the apple
    was put down at the orange's start slot, let go nearest its goal (the apple's start slot:
    ``goal``), nearest C (``C``: back where it came from, the first move's destination, the
    move mistaken for the first), nearest the other slot (``other``), or never (``held``);
    None when the episode never lifted it."""
    apple = next((i for i, g in enumerate(grasps)
                  if g.fruit == "apple" and g.put_down_near == orange_start), None)
    if apple is None:
        return None
    carry = next((g for g in grasps[apple + 1:]
                  if g.fruit == "orange" and g.lifted and g.picked_from == "C"), None)
    if carry is None:
        return None
    if carry.put_down_near is None:
        return "held"
    goal = other_start_slot(orange_start)
    return "goal" if carry.put_down_near == goal else "C" if carry.put_down_near == "C" else "other"


def nearest_slot(env: Any, position: np.ndarray) -> str:
    """The name of the slot whose centre is horizontally nearest ``position``."""
    slots = env.slot_positions()
    return min(slots, key=lambda name: np.linalg.norm(slots[name][:2] - position[:2]))


def placements_mm(env: Any) -> dict[str, np.ndarray]:
    """Each fruit's offset (x, y) in millimetres from the centre of the slot it lies in, on the
    axes of :attr:`Grasp.offset_mm`."""
    slots = env.slot_positions()
    return {fruit: 1000.0 * (position[:2] - slots[env.slot_of(fruit)][:2])
            for fruit, position in env.fruit_positions().items()}
