"""Simulator speed: control steps per second with and without cameras, reset time, demo rate."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.expert import ScriptedExpert


def _steps_per_second(env: FruitSwapEnv, steps: int, seed: int) -> float:
    """Time ``steps`` control steps of the scripted expert (resetting when an episode ends)."""
    obs, _ = env.reset(seed=seed)
    expert = ScriptedExpert(env, np.random.default_rng(seed))
    started = time.perf_counter()
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(expert.act(obs))
        if terminated or truncated:
            seed += 1
            obs, _ = env.reset(seed=seed)
            expert = ScriptedExpert(env, np.random.default_rng(seed))
    return steps / (time.perf_counter() - started)


def run_sim_bench(steps: int = 500, repeats: int = 5, demos: int = 0) -> dict[str, Any]:
    """Median figures over ``repeats`` runs of ``steps`` control steps (one process)."""
    default = SimConfig()
    result: dict[str, Any] = {"image_size": default.image_size, "control_hz": default.control_hz}
    for name, config in (("no_render", SimConfig(render=False)), ("two_cameras", default)):
        env = FruitSwapEnv(config)
        _steps_per_second(env, 20, 0)  # warm up renderers
        rates = [_steps_per_second(env, steps, 1000 * r) for r in range(repeats)]
        result[f"steps_per_s_{name}"] = round(statistics.median(rates), 1)
        env.close()
    env = FruitSwapEnv(default)
    times = []
    for seed in range(20):
        started = time.perf_counter()
        env.reset(seed=seed)
        times.append(time.perf_counter() - started)
    result["reset_ms_median"] = round(1000 * statistics.median(times), 2)
    if demos:
        from df_policy.data.collect import run_expert_episode

        started = time.perf_counter()
        for seed in range(demos):
            run_expert_episode(env, seed)
        elapsed = time.perf_counter() - started
        result["demos_per_minute_one_process"] = round(60 * demos / elapsed, 1)
    env.close()
    return result
