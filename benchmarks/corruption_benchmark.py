"""The corruption benchmark: DF, noise-unaware and memoryless over every fault and severity.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL=egl python benchmarks/corruption_benchmark.py
        [--checkpoint data/checkpoints/df_fruit_swap] [--episodes 50] [--quick]
        [--variants df,noise_unaware,memoryless | --rows NAME=CHECKPOINT[:BASELINE],...]
        [--corruptions all|NAME,...] [--levels 1,2,3]
        [--suites all|none|NAME,...] [--combine a+b ...] [--first-seed 1000000]
        [--workers 2 | --ray auto|local|HOST:PORT] [--sim KEY=VALUE ...] [--out results/corruption]

Writes ``<out>/episodes.jsonl`` (every episode as it finishes; rerun the same command to
continue an interrupted run), ``results.json``, ``table.md`` and ``heatmap.png``
(:mod:`df_policy.eval.benchmark`), and prints the headline. ``--quick`` runs the whole grid
with 2 episodes per cell. ``--variants`` runs DF and its baselines of ``--checkpoint``;
``--rows`` runs any policies instead, rivals included (a row as in
:func:`df_policy.eval.rivals.parse_rows`: ``ptp=runs/ptp,noise_unaware=CKPT``; the row named
``noise_unaware`` is the paired comparison's reference). The corruptions and what their
severities mean: docs/corruptions.md. Choose settings on validation seeds (``--first-seed
2000000``), publish test seeds (the default).
"""

import argparse
import json
import sys
import time
from pathlib import Path

from df_policy.config import load_section
from df_policy.errors import ConfigError, DfPolicyError
from df_policy.eval.benchmark import VARIANTS, GridPolicy, grid, headline, run_grid
from df_policy.eval.corruptions import CORRUPTIONS, LEVELS
from df_policy.eval.executors import make_executor
from df_policy.eval.rivals import named_rows, parse_rows, policy_runtime
from df_policy.eval.suites import SUITES
from df_policy.paths import data_dir
from df_policy.seeds import EVAL_SEED_OFFSET
from df_policy.sim.config import SimConfig

SHIPPED = "data/checkpoints/df_fruit_swap"
"""The checkpoint ``--variants`` runs unless ``--checkpoint`` names another."""


def _names(value: str, everything: list[str]) -> list[str]:
    if value == "all":
        return everything
    return [] if value == "none" else value.split(",")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help=f"the DF checkpoint of --variants (default "
                                             f"{SHIPPED})")
    parser.add_argument("--episodes", type=int, default=50, help="episodes per cell")
    parser.add_argument("--quick", action="store_true", help="2 episodes per cell")
    policies = parser.add_mutually_exclusive_group()
    policies.add_argument("--variants", default=",".join(VARIANTS),
                          help="DF and its baselines of --checkpoint")
    policies.add_argument("--rows", help="NAME=CHECKPOINT[:BASELINE],... instead of --variants")
    parser.add_argument("--corruptions", default="all", help="all or a comma-separated list")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument("--suites", default="all",
                        help="evaluation suites in the grid too: all, none or a list")
    parser.add_argument("--combine", action="append", default=[], metavar="A+B",
                        help="two corruptions at once (repeatable), at each level")
    parser.add_argument("--first-seed", type=int, default=EVAL_SEED_OFFSET)
    parser.add_argument("--workers", type=int, default=2, help="local worker processes")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run episodes on a Ray cluster: auto, local or HOST:PORT")
    parser.add_argument("--sim", dest="sim_overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one simulator config key")
    parser.add_argument("--runtime-config", default=str(data_dir("config") / "runtime.yaml"))
    parser.add_argument("--out", type=Path, default=Path("results/corruption"))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args()
    try:
        if args.rows and args.checkpoint:
            raise ConfigError("--checkpoint names the checkpoint of --variants; with --rows "
                              "each row names its own")
        rows = (parse_rows(args.rows) if args.rows else
                named_rows(args.variants, VARIANTS, lambda _: args.checkpoint or SHIPPED))
        try:
            levels = [int(level) for level in args.levels.split(",")]
        except ValueError:
            raise DfPolicyError(f"--levels must be integers (valid: "
                                f"{', '.join(map(str, LEVELS))}), got '{args.levels}'") from None
        cells = grid(_names(args.corruptions, list(CORRUPTIONS)) + args.combine, levels,
                     _names(args.suites, list(SUITES)))
        variants = {row.name: GridPolicy(row.checkpoint, policy_runtime(
                        row.checkpoint, row.baseline, args.runtime_config)) for row in rows}
        sim = load_section(data_dir("config") / "sim.yaml", "sim", SimConfig, args.sim_overrides)
        episodes = 2 if args.quick else args.episodes
        started = time.perf_counter()
        executor = make_executor(args.workers, args.ray)
        try:
            report = run_grid(variants, cells, sim, episodes, args.first_seed, executor,
                              args.out, progress=not args.quiet)
        finally:
            executor.close()
    except DfPolicyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = {"command": " ".join(["python", *sys.argv]),
               "wall_s": round(time.perf_counter() - started),
               "cells": len(cells), "episodes_per_cell": episodes,
               "headline": {variant: headline(report, variant) for variant in variants}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
