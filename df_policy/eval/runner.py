"""``df-policy eval``: closed-loop episodes of a checkpoint under a suite, with statistics.

Each control step the world renders both cameras; each camera's frame passes through the
suite's faults (a lost frame delivers nothing) and reaches the same
:class:`~df_policy.policy.controller.Controller` the ROS node runs: camera health, start gate,
watchdog hold, workspace and step clamps, the chunk queue, and the commanded actions fed back
to the policy. The simulated arm executes each command (``action_delay`` steps late in the
latency suite; repeating the previous one when a period is missed under control jitter).
"""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from df_policy.config import to_dict
from df_policy.eval.executors import EpisodeTask, Executor, LocalExecutor
from df_policy.eval.stats import wilson_interval
from df_policy.eval.suites import SUITES, check_severity, default_severities, make_setup
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.controller import Command, Controller
from df_policy.policy.safety import SafetyConfig
from df_policy.seeds import EVAL_SEED_OFFSET
from df_policy.sim.config import SimConfig


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
    :class:`df_policy.eval.grasps.GraspLog`)."""
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
        tick = controller.tick(now, obs["ee_pose"])
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
        "policy_ms_median": statistics.median(timings) if timings else None,
        "mean_levels": {cam: float(np.mean([lv[cam] for lv in levels_log]))
                        for cam in sim.cameras},
    }
    if record:
        result["frames"] = frames
    return result


def evaluate(checkpoint: str | Path, suite: str, episodes: int, workers: int,
             runtime: RuntimeConfig, sim: SimConfig, out: str | Path,
             severities: tuple[float, ...] | None = None, first_seed: int = EVAL_SEED_OFFSET,
             progress: bool = True, videos: int = 0,
             executor: Executor | None = None) -> dict[str, Any]:
    """Run ``episodes`` per severity of ``suite``; writes ``<out>/results.json``, a plot, and
    for the first ``videos`` episodes of each severity ``<out>/videos/*.mp4`` (camera beside
    forecast, with levels). Episodes run on ``executor`` (default: ``workers`` local
    processes)."""
    severities = severities or default_severities(suite)
    for severity in severities:
        check_severity(suite, severity)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cells = []
    started = time.perf_counter()
    own = executor is None
    executor = executor or LocalExecutor(workers)
    bar = tqdm(total=episodes * len(severities), disable=not progress, unit="episode",
               desc=f"eval {suite}")
    try:
        for severity in severities:
            tasks = [EpisodeTask(str(checkpoint), runtime, sim, suite, severity, first_seed + i,
                                 str(out / "videos") if i < videos else "")
                     for i in range(episodes)]
            outcomes = []
            for outcome in executor.map(tasks):
                outcomes.append(outcome)
                bar.update(1)
            cells.append(summarize_cell(severity, outcomes))
    finally:
        bar.close()
        if own:
            executor.close()
    report = {"checkpoint": str(checkpoint), "suite": suite, "runtime": to_dict(runtime),
              "sim": to_dict(sim), "seconds": round(time.perf_counter() - started, 1),
              "cells": cells}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    plot_success(report, out / f"{suite}.png")
    return report


def summarize_cell(severity: float, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Success (with its 95 % Wilson interval), mean stage, policy step time and where the
    episodes of one severity went wrong, with every outcome."""
    wins = sum(o["success"] for o in outcomes)
    low, high = wilson_interval(wins, len(outcomes))
    timings = [o["policy_ms_median"] for o in outcomes if o["policy_ms_median"] is not None]
    return {
        "severity": severity, "episodes": len(outcomes), "successes": wins,
        "success_rate": wins / len(outcomes), "wilson95": [low, high],
        "mean_stage": float(np.mean([o["stage"] for o in outcomes])),
        "policy_ms_median": statistics.median(timings) if timings else None,
        **outcome_breakdown(outcomes),
        "outcomes": outcomes,
    }


def outcome_breakdown(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Where episodes went wrong: successes/episodes per starting layout (orange in slot A or
    B) and the number of failures that stopped at each stage (moves completed, 0..2)."""
    by_layout = {start: [sum(o["success"] for o in outcomes if o["orange_start"] == start),
                         sum(o["orange_start"] == start for o in outcomes)] for start in "AB"}
    failed = [sum(not o["success"] and o["stage"] == stage for o in outcomes)
              for stage in range(3)]
    return {"by_layout": by_layout, "failed_at_stage": failed}


def plot_success(report: dict[str, Any], png: Path) -> None:
    """Success rate (with Wilson intervals) against severity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = report["cells"]
    x = [c["severity"] for c in cells]
    y = [c["success_rate"] for c in cells]
    err = [[c["success_rate"] - c["wilson95"][0] for c in cells],
           [c["wilson95"][1] - c["success_rate"] for c in cells]]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(x, y, yerr=err, marker="o", capsize=4)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"{report['suite']} severity")
    ax.set_ylabel("success rate (95% Wilson)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def checkpoint_evaluator(episodes: int, runtime: RuntimeConfig, sim: SimConfig, out: Path,
                         suite: str = "clean") -> Callable[[Path, int], dict[str, float]]:
    """A ``train(on_checkpoint=...)`` hook: ``episodes`` closed-loop episodes of each new
    checkpoint (one worker process), results under ``<out>/step_<N>/``."""

    def run(folder: Path, step: int) -> dict[str, float]:
        report = evaluate(folder, suite, episodes, 1, runtime, sim, out / f"step_{step:08d}",
                          (SUITES[suite][0],), progress=False)
        cell = report["cells"][0]
        return {"success_rate": cell["success_rate"], "mean_stage": cell["mean_stage"]}

    return run
