"""A scripted demonstrator for the fruit swap, with human-like variety.

It reads privileged state (fruit and slot positions) and follows the orange-first rule:
orange -> C, apple -> the orange's start slot, orange -> the apple's start slot, then returns
above the table. Each episode draws its own style — speed, approach height, a sideways arc
while carrying, pauses, small hand tremor — so that no two demonstrations are the same
trajectory.

Each pick-and-place is a fixed list of phases; the commanded target moves towards the phase's
waypoint at the episode's speed (rate-limited), and the phase ends when the target has arrived
and the measured tool centre is close to it.

Recoveries: a move starts again from its first phase when the fruit is still on the table after
``lift``, falls while carried, or is not resting in its destination slot after ``retreat``
(at most ``MAX_RETRIES`` times per move). With ``fumble_prob`` > 0 the expert also causes such
failures on purpose, DART-style: in a fumbled pick or place the *executed* command is offset
sideways (:meth:`ScriptedExpert.executed`), while the recorded action stays the expert's
intention, so the demonstrations show what to do when a grasp misses or a fruit lands beside its
slot without teaching the policy to miss. Clean demonstrations never fail, so recoveries change
nothing in them; fumbles draw from their own random stream, so ``fumble_prob = 0`` reproduces
the plain expert exactly.

Operator variability (an :class:`~df_policy.sim.operator.OperatorStyle`, off by default): the
speed drifts within the episode, the arm pauses, approaches come in off-centre and are
corrected, and a pick may be grasped twice. Unlike a fumble this is recorded as it is executed:
it is what the operator meant to do. It draws from a third stream, after the fumbles'.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.operator import MovePlan, Operator, OperatorStyle

PHASES = ("above_pick", "descend", "grasp", "lift", "carry", "lower", "release", "retreat")
ARRIVE_TOLERANCE = 0.012
"""Metres between measured tool centre and waypoint for a phase to count as reached."""
HELD_HEIGHT = 0.045
"""A fruit whose centre is lower than this (metres) is on the table, not in the gripper."""
MAX_RETRIES = 3
"""Restarts of one move before the expert goes on regardless."""
FUMBLE_PHASES = {"pick": ("descend", "grasp", "lift"), "place": ("lower", "release", "retreat")}
"""Phases whose executed command is offset in a fumbled pick or place."""
FUMBLE_OFFSET = {"pick": (0.03, 0.045), "place": (0.05, 0.07)}
"""Range of the sideways offset, metres: a pick offset misses or barely holds the fruit (radius
0.029); a place offset exceeds the slot radius (0.045), so the fruit lands beside the slot."""


@dataclasses.dataclass
class ExpertStyle:
    """One episode's way of moving."""

    speed: float
    """Largest target move per control step, metres."""
    approach_height: float
    """Tool-centre height above the table while moving between slots, metres."""
    arc: float
    """Sideways bulge of the carrying path, metres (signed)."""
    pause_prob: float
    """Chance of pausing for a few steps when a phase ends."""
    tremor: float
    """Standard deviation of the noise added to each commanded position, metres."""
    grasp_steps: int
    """Control steps spent closing or opening the gripper."""

    @classmethod
    def sample(cls, rng: np.random.Generator, control_hz: float) -> ExpertStyle:
        """A random style; speeds scale with the control rate (about 0.2-0.4 m/s)."""
        return cls(
            speed=rng.uniform(0.2, 0.4) / control_hz,
            approach_height=rng.uniform(0.1, 0.15),
            arc=rng.uniform(-0.05, 0.05),
            pause_prob=rng.uniform(0.0, 0.25),
            tremor=rng.uniform(0.0, 0.0015),
            grasp_steps=max(2, int(round(rng.uniform(0.4, 0.7) * control_hz))),
        )


class ScriptedExpert:
    """Privileged-state demonstrator. Call :meth:`reset` after ``env.reset``, then :meth:`act`
    to get the action to record and :meth:`executed` for the one to send to the arm.
    ``operator`` adds a human operator's variability (:mod:`df_policy.sim.operator`)."""

    def __init__(self, env: FruitSwapEnv, rng: np.random.Generator,
                 fumble_prob: float = 0.0, operator: OperatorStyle | None = None) -> None:
        self.env = env
        self.rng = rng
        self.fumble_prob = fumble_prob
        self.fumble_rng = rng.spawn(1)[0]  # own stream: fumbles leave the styles unchanged
        self.operator = None if operator is None else Operator(
            operator, rng.spawn(1)[0], env.config.control_hz)
        self.reset()

    def reset(self) -> None:
        """Plan the three moves for the episode the env has just started, and draw a style."""
        env = self.env
        goal = env.goal_slots()
        self.moves = [("orange", "C"), ("apple", goal["apple"]), ("orange", goal["orange"])]
        self.style = ExpertStyle.sample(self.rng, env.config.control_hz)
        self.move_index = 0
        self.phase_index = 0
        self.phase_steps = 0
        self.pause = 0
        self.grip = 0.0
        self.target = env.tcp_pose()[:3].copy()
        self.carry_start: np.ndarray | None = None
        self.done = False
        self.retries = 0
        self.fumble: tuple[str, np.ndarray] | None = self._draw_fumble()
        self.steps = 0
        if self.operator is not None:
            self.operator.new_episode(env.config.max_steps)
        # The operator's plan of each move (nothing without one), and the events of the current
        # move's plan that have not happened yet.
        self.plans = [MovePlan() if self.operator is None else self.operator.plan_move()
                      for _ in self.moves]
        self.todo = self.plans[0].events()

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """The next action (8,) ``[x, y, z, qw, qx, qy, qz, grip]``."""
        if self.pause > 0:
            self.pause -= 1
        elif self.done:
            self._step_towards(self._home_position())
        else:
            self._advance()
        noisy = self.target + self.rng.normal(0.0, self.style.tremor, 3)
        self.steps += 1
        return np.concatenate([noisy, self.env.down_quat, [self.grip]]).astype(np.float32)

    def executed(self, action: np.ndarray) -> np.ndarray:
        """The command to send for the recorded ``action``: offset during a fumble."""
        offset = self._fumble_offset()
        if not offset.any():
            return action
        moved = action.copy()
        moved[:3] += offset
        return moved

    # ----------------------------------------------------------------------------------------

    def _advance(self) -> None:
        fruit, destination = self.moves[self.move_index]
        phase = PHASES[self.phase_index]
        self.phase_steps += 1
        if phase in ("grasp", "release"):
            self.grip = 1.0 if phase == "grasp" else 0.0
            if self.phase_steps >= self.style.grasp_steps:
                self._next_phase()
            return
        if phase == "carry" and not self._lifted(fruit):
            self._retry()  # dropped on the way
            return
        waypoint = self._waypoint(phase, fruit, destination)
        self._step_towards(waypoint)
        arrived = np.linalg.norm(self.target - waypoint) < 1e-6
        reached = waypoint + self._fumble_offset()
        close = np.linalg.norm(self.env.tcp_pose()[:3] - reached) < ARRIVE_TOLERANCE
        if arrived and (close or self.phase_steps > 3 * self.env.config.control_hz):
            if phase in self.todo:  # an off-centre approach got there: now correct it
                self.todo.discard(phase)
                self.phase_steps = 0
            else:
                self._next_phase()

    def _waypoint(self, phase: str, fruit: str, destination: str) -> np.ndarray:
        env = self.env
        height = self.style.approach_height
        fruit_pos = env.fruit_positions()[fruit]
        slot = env.slot_positions()[destination]
        radius = 0.029
        if phase == "above_pick":
            return np.array([fruit_pos[0], fruit_pos[1], height]) + self._approach_offset(phase)
        if phase == "descend":
            return np.array([fruit_pos[0], fruit_pos[1], max(fruit_pos[2] - 0.002, 0.02)])
        if phase in ("lift", "retreat"):
            return np.array([self.target[0], self.target[1], height])
        if phase == "carry":
            if self.carry_start is None:
                self.carry_start = self.target.copy()
            end = np.array([slot[0], slot[1], height]) + self._approach_offset(phase)
            return self._arc_point(self.carry_start, end)
        if phase == "lower":
            return np.array([slot[0], slot[1], radius + 0.008])
        raise ValueError(f"unknown phase {phase}")

    def _arc_point(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Waypoint along a sideways arc from start to end: the midpoint bulge, then the end."""
        mid = 0.5 * (start + end)
        direction = end[:2] - start[:2]
        length = np.linalg.norm(direction)
        if length < 1e-6 or np.linalg.norm(self.target[:2] - start[:2]) >= 0.5 * length:
            return end
        normal = np.array([-direction[1], direction[0]]) / length
        bulge = mid.copy()
        bulge[:2] += self.style.arc * normal
        if np.linalg.norm(self.target - bulge) < 0.02:
            return end
        return bulge

    def _approach_offset(self, phase: str) -> np.ndarray:
        """The operator's off-centre miss of approach ``phase`` until it has been corrected."""
        if phase not in self.todo:
            return np.zeros(3)
        return self.plans[self.move_index].approach[phase]

    def _speed(self) -> float:
        """Largest target move this step: the style's speed, drifting with an operator."""
        if self.operator is None:
            return self.style.speed
        return self.style.speed * self.operator.speed_factor(self.steps)

    def _step_towards(self, waypoint: np.ndarray) -> None:
        delta = waypoint - self.target
        distance = np.linalg.norm(delta)
        speed = self._speed()
        if distance <= speed:
            self.target = waypoint.copy()
        else:
            self.target = self.target + delta * (speed / distance)

    def _lifted(self, fruit: str) -> bool:
        return bool(self.env.fruit_positions()[fruit][2] > HELD_HEIGHT)

    def _failed(self, phase: str) -> bool:
        """Whether the move went wrong at the end of ``phase`` (and may still be retried)."""
        if self.retries >= MAX_RETRIES:
            return False
        fruit, destination = self.moves[self.move_index]
        if phase == "lift":
            return not self._lifted(fruit)
        if phase == "retreat":
            return self.env.slot_of(fruit) != destination
        return False

    def _retry(self) -> None:
        """Start the current move again from its first phase, gripper open, without fumble."""
        self.retries += 1
        self.fumble = None
        self._restart_move()

    def _restart_move(self) -> None:
        """Go back to the current move's first phase with the gripper open."""
        self.phase_index = 0
        self.phase_steps = 0
        self.grip = 0.0
        self.carry_start = None

    def _draw_fumble(self) -> tuple[str, np.ndarray] | None:
        """Whether the coming move is fumbled: its kind and sideways offset, or None."""
        if self.fumble_prob <= 0 or self.fumble_rng.random() >= self.fumble_prob:
            return None
        kind = str(self.fumble_rng.choice(list(FUMBLE_PHASES)))
        angle = self.fumble_rng.uniform(0.0, 2 * np.pi)
        size = self.fumble_rng.uniform(*FUMBLE_OFFSET[kind])
        return kind, np.array([size * np.cos(angle), size * np.sin(angle), 0.0])

    def _fumble_offset(self) -> np.ndarray:
        if self.fumble is None or self.done:
            return np.zeros(3)
        kind, offset = self.fumble
        return offset if PHASES[self.phase_index] in FUMBLE_PHASES[kind] else np.zeros(3)

    def _next_phase(self) -> None:
        phase = PHASES[self.phase_index]
        if self._failed(phase):
            self._retry()
            return
        plan = self.plans[self.move_index]
        if phase == "grasp" and "regrasp" in self.todo:
            self.todo.discard("regrasp")
            self.pause = self.style.grasp_steps  # hold still while the gripper opens
            self._restart_move()  # then approach from above and grasp again
            return
        self.phase_steps = 0
        if self.rng.random() < self.style.pause_prob:
            self.pause = int(self.rng.integers(1, 5))
        if phase == plan.pause_after and "pause" in self.todo:
            self.todo.discard("pause")
            self.pause += plan.pause_steps
        if phase == "carry":
            self.carry_start = None
        self.phase_index += 1
        if self.phase_index == len(PHASES):
            self.phase_index = 0
            self.move_index += 1
            self.retries = 0
            self.done = self.move_index == len(self.moves)
            self.fumble = None if self.done else self._draw_fumble()
            self.todo = set() if self.done else self.plans[self.move_index].events()

    def _home_position(self) -> np.ndarray:
        return np.array([-0.1, 0.0, 0.3])


