"""Operator variability for the scripted expert: demonstrations that move like a person's.

A human operator does not move at one speed, straight to the centre, without stopping. With
an :class:`OperatorStyle` (``collect.operator``) the expert (:mod:`df_policy.sim.expert`)
also

- drifts its speed smoothly within the episode, between ``1 - speed_variation`` and
  ``1 + speed_variation`` times the episode's speed (cosine-interpolated random knots
  :data:`SPEED_KNOT_S` apart, so neighbouring steps have nearly the same speed);
- stops once in a move with chance ``pause_prob``, after a random phase, holding still for
  ``pause_s`` seconds;
- comes in off-centre on the pre-grasp and pre-place approaches (``approach_offset_m``
  sideways, direction at random), then corrects to the centre before descending;
- with chance ``regrasp_prob`` per pick, closes the gripper, opens it again, re-approaches
  from above and grasps a second time.

All of it is the operator's intention: the arm is commanded exactly what is recorded. The
draws come from a random stream of their own, so the expert's style, tremor and fumbles are the
same as without an operator, and an operator with no variability reproduces the plain expert.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from df_policy.config import require

SPEED_KNOT_S = 1.5
"""Seconds between the random knots of the speed drift: slow enough to read as an operator
speeding up and slowing down, fast enough that every episode (15-20 s) sees both."""
PAUSE_PHASES = ("above_pick", "descend", "grasp", "lift", "carry", "lower", "release")
"""Phases after which an operator may pause (not after ``retreat``, when the move is over)."""
APPROACH_PHASES = ("above_pick", "carry")
"""The pre-grasp and pre-place approaches, whose waypoint may come in off-centre."""


@dataclasses.dataclass
class OperatorStyle:
    """How far the expert imitates a human operator (``collect.operator``; null = not at all)."""

    speed_variation: float = 0.3
    """Relative drift of the speed within an episode: between (1 - v) and (1 + v) times it."""
    pause_prob: float = 0.6
    """Chance that a move (one fruit picked and placed) contains one pause."""
    pause_s: tuple[float, float] = (0.3, 1.5)
    """Range of a pause's length, seconds."""
    approach_offset_m: tuple[float, float] = (0.005, 0.02)
    """Range of the sideways miss of each pre-grasp and pre-place approach, metres; (0, 0): the
    approaches come in centred."""
    regrasp_prob: float = 0.1
    """Chance that a pick is grasped, released and grasped again."""

    def __post_init__(self) -> None:
        require(0.0 <= self.speed_variation < 1.0, "speed_variation", "must be in [0, 1)")
        require(0.0 <= self.pause_prob <= 1.0, "pause_prob", "must be in [0, 1]")
        require(0.0 < self.pause_s[0] <= self.pause_s[1], "pause_s",
                "must be [low, high] seconds with 0 < low <= high")
        require(0.0 <= self.approach_offset_m[0] <= self.approach_offset_m[1],
                "approach_offset_m", "must be [low, high] metres with 0 <= low <= high")
        require(0.0 <= self.regrasp_prob <= 1.0, "regrasp_prob", "must be in [0, 1]")


@dataclasses.dataclass(frozen=True)
class MovePlan:
    """What the operator does differently in one move; the default is nothing."""

    pause_after: str | None = None
    """Phase after which the operator pauses, or None."""
    pause_steps: int = 0
    """Control steps of that pause."""
    approach: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """Approach phase -> sideways offset (3,) of its waypoint until the arm gets there."""
    regrasp: bool = False
    """Whether the first grasp of the move is released and made again."""

    def events(self) -> set[str]:
        """The move's operator events still to happen when it starts: ``pause``, ``regrasp``
        and the names of the approach phases that come in off-centre."""
        events = set(self.approach)
        if self.pause_after is not None:
            events.add("pause")
        if self.regrasp:
            events.add("regrasp")
        return events


class Operator:
    """Draws one episode's operator behaviour from an :class:`OperatorStyle`."""

    def __init__(self, style: OperatorStyle, rng: np.random.Generator,
                 control_hz: float) -> None:
        self.style = style
        self.rng = rng
        self.control_hz = control_hz
        self.knot_steps = max(1, int(round(SPEED_KNOT_S * control_hz)))
        self.knots = np.zeros(2)

    def new_episode(self, max_steps: int) -> None:
        """Draw the episode's speed drift (knots in [-1, 1] covering ``max_steps`` steps)."""
        self.knots = self.rng.uniform(-1.0, 1.0, max_steps // self.knot_steps + 2)

    def speed_factor(self, step: int) -> float:
        """Speed at control step ``step`` relative to the episode's speed."""
        index, within = divmod(step, self.knot_steps)
        index = min(index, len(self.knots) - 2)
        weight = 0.5 - 0.5 * np.cos(np.pi * within / self.knot_steps)
        drift = (1.0 - weight) * self.knots[index] + weight * self.knots[index + 1]
        return float(1.0 + self.style.speed_variation * drift)

    def plan_move(self) -> MovePlan:
        """Draw the pause, approach offsets and regrasp of the coming move."""
        style, rng = self.style, self.rng
        pause_after, pause_steps = None, 0
        if rng.random() < style.pause_prob:
            pause_after = str(rng.choice(PAUSE_PHASES))
            pause_steps = max(1, int(round(rng.uniform(*style.pause_s) * self.control_hz)))
        approach = {}
        if style.approach_offset_m[1] > 0:
            for phase in APPROACH_PHASES:
                angle = rng.uniform(0.0, 2 * np.pi)
                size = rng.uniform(*style.approach_offset_m)
                approach[phase] = np.array([size * np.cos(angle), size * np.sin(angle), 0.0])
        return MovePlan(pause_after, pause_steps, approach, bool(rng.random() < style.regrasp_prob))
