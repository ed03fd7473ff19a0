"""``df-policy eval --view``: watch closed-loop episodes of a checkpoint in rerun.

The first ``episodes`` seeds of each severity run in this process, through the same
:func:`~df_policy.eval.episode.run_episode` as the evaluation, with a
:class:`~df_policy.viz.live_view.LiveView` as the observer; the parallel evaluation then runs
as usual.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm import tqdm

from df_policy.eval.episode import run_episode
from df_policy.eval.suites import check_severity, default_severities
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.runtime import load_policy
from df_policy.sim.config import SimConfig
from df_policy.viz.live_view import LiveView, check_target


def view_episodes(checkpoint: str | Path, suite: str, severities: tuple[float, ...] | None,
                  episodes: int, first_seed: int, runtime: RuntimeConfig, sim: SimConfig,
                  target: str | Path, progress: bool = True) -> list[dict[str, Any]]:
    """Run and stream ``episodes`` episodes per severity to ``target``; returns outcomes."""
    severities = severities or default_severities(suite)
    for severity in severities:
        check_severity(suite, severity)
    check_target(target)
    policy = load_policy(checkpoint, device="cpu", config=runtime)  # may fail: no file yet
    view = LiveView(target, sim.cameras)
    outcomes = []
    runs = [(severity, first_seed + i) for severity in severities for i in range(episodes)]
    try:
        for severity, seed in tqdm(runs, desc=f"view {suite}", unit="episode",
                                   disable=not progress):
            view.start_episode(f"{suite} severity {severity:g} seed {seed}")
            outcome = run_episode(policy, sim, suite, severity, seed,
                                  start_wait_s=runtime.start_wait_s,
                                  observer=view.eval_observer())
            view.end_episode(outcome["success"], f"(stage {outcome['stage']})")
            outcomes.append(outcome)
    finally:
        view.close()
    return outcomes
