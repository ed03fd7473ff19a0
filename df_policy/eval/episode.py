"""One closed-loop episode of a policy in the simulated world, through the robot's controller.

Each control step the world renders both cameras; each camera's frame passes through the
suite's faults (a lost frame delivers nothing) and reaches the same
:class:`~df_policy.policy.controller.Controller` the ROS node runs: camera health, start gate,
watchdog hold, workspace and step clamps, the chunk queue, and the commanded actions fed back
to the policy. The simulated arm executes each command (``action_delay`` steps late in the
latency suite; repeating the previous one when a period is missed under control jitter).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from df_policy.eval.suites import make_setup
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.controller import Command, Controller
from df_policy.policy.safety import SafetyConfig
from df_policy.sim.config import SimConfig
from df_policy.sim.env import AMBIGUOUS_SCENES, ambiguous_keys


def hold_action(obs: dict[str, np.ndarray]) -> np.ndarray:
    """The action that keeps the arm where it is, gripper open (what the simulated arm does
    before the first command reaches it)."""
    return np.concatenate([obs["ee_pose"], [0.0]]).astype(np.float32)


EVAL_SAFETY = SafetyConfig(max_inference_s=math.inf)
"""The robot's safety limits; inference never overruns, since simulated time stands still while
the policy thinks."""


_env: tuple[str, Any] | None = None
"""The world of this process's last episode, by its config (its renderers cost 0.3 s to make;
a reset restores everything else)."""


def reusable_env(config: SimConfig) -> Any:
    """A :class:`~df_policy.sim.env.FruitSwapEnv` for ``config``: the last one made in this
    process when its config is the same, else a new one (the old one closed)."""
    global _env
    from df_policy.sim.env import FruitSwapEnv

    key = repr(config)
    if _env is None or _env[0] != key:
        if _env is not None:
            _env[1].close()
        _env = (key, FruitSwapEnv(config))
    return _env[1]


def run_episode(policy: Any, sim: SimConfig, suite: str, severity: float, seed: int,
                record: bool = False,
                start_wait_s: float = RuntimeConfig.start_wait_s,
                observer: Callable[[Any, np.ndarray, Command], None] | None = None,
                ) -> dict[str, Any]:
    """One closed-loop episode through the robot's :class:`Controller`; returns its outcome
    (and frames when ``record``). The suite's faults act on the frames before the controller
    sees them, its latency and missed periods on the commands after it. ``observer(env,
    action, tick)``, if given, sees the world after every control step with the action the arm
    executed and the controller's :class:`Command` of that step (e.g. a
    :class:`df_policy.eval.grasps.GraspLog`). The outcome's ``ambiguous_step`` and
    ``ambiguous_move`` (and ``second_...``) are the world's memory checks
    (:data:`df_policy.sim.env.AMBIGUOUS_SCENES`): when each scene both layouts share was first
    reached, and which fruit moved next."""
    rng = np.random.default_rng(seed)
    setup = make_setup(suite, severity, sim.cameras, sim.control_hz, rng)
    env = reusable_env(dataclasses.replace(sim, **setup.sim_overrides))
    obs, info = env.reset(seed=seed)
    controller = Controller(policy, sim.cameras, EVAL_SAFETY, start_wait_s)
    sent = hold_action(obs)  # what the arm executed last
    pending = deque([sent] * setup.action_delay)
    timings, frames, levels_log = [], [], []
    start_wait_steps = hold_steps = 0
    dt = 1.0 / sim.control_hz
    for step in range(sim.max_steps):
        now = step * dt
        for cam in sim.cameras:
            fault = setup.faults.get(cam)
            frame = fault(obs[cam]) if fault else obs[cam]
            if frame is not None:
                controller.frame(cam, frame, now)
        tick = controller.tick(now, obs["ee_pose"], float(obs["gripper"][0]))
        start_wait_steps += tick.starting
        hold_steps += tick.hold and not tick.starting
        if tick.new_chunk:
            timings.append(tick.output.timings_ms["total"])
            levels_log.append(tick.output.levels)
            if record:
                frames.append((dict(controller.frames), tick.output.forecast, tick.output.levels))
        if setup.command_late is not None and step > 0 and setup.command_late():
            action = sent  # this period's command missed its deadline: the arm repeats the last
        else:
            pending.append(hold_action(obs) if tick.action is None else tick.action)
            action = pending.popleft()
        sent = action
        obs, _, terminated, truncated, info = env.step(action)
        if observer is not None:
            observer(env, action, tick)
        if terminated or truncated:
            break
    result = {
        "seed": seed, "success": bool(info["is_success"]), "stage": int(info["stage"]),
        "steps": step + 1, "start_wait_steps": start_wait_steps, "hold_steps": hold_steps,
        "orange_start": info["orange_start"],
        **{key: info[key] for scene in AMBIGUOUS_SCENES for key in ambiguous_keys(scene)},
        "policy_ms_median": statistics.median(timings) if timings else None,
        "mean_levels": {cam: float(np.mean([lv[cam] for lv in levels_log]))
                        for cam in sim.cameras},
    }
    if record:
        result["frames"] = frames
    return result
