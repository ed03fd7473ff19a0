"""``df-policy eval``: closed-loop episodes of a checkpoint under a suite, with statistics.

The episodes (:func:`df_policy.eval.episode.run_episode`, through the robot's controller) run
on an executor (:mod:`df_policy.eval.executors`); each severity becomes one cell of results.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from df_policy.config import to_dict
from df_policy.eval.executors import EpisodeTask, Executor, LocalExecutor
from df_policy.eval.stats import wilson_interval
from df_policy.eval.suites import SUITES, check_severity, default_severities
from df_policy.policy.config import RuntimeConfig
from df_policy.seeds import EVAL_SEED_OFFSET
from df_policy.sim.config import SimConfig


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
