"""The memory check (issue 24): each policy's right moves at the ambiguous scenes alone.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL=egl python benchmarks/memory_check.py
        [--checkpoint data/checkpoints/df_fruit_swap] [--baseline memoryless|noise_unaware]
        [--name NAME] [--episodes 100] [--workers 2] [--first-seed 1000000]
        [--suite clean] [--severity S] [--sim KEY=VALUE ...] [--out results/memory_check]
    python benchmarks/memory_check.py --results results/table/df_clean_0/results.json [...]

Runs ``df-policy eval``'s :func:`~df_policy.eval.runner.evaluate` on the held-out test seeds
(the same loading path, any policy kind; ``--baseline`` as in ``df-policy eval``), or reads the
outcomes of an earlier evaluation (``--results``; one row per severity and scene), and reports
for each of the two scenes both layouts share (A empty, apple in B, orange in C; B empty, apple
in A, orange in C), among the episodes that reached it, the share whose next move took the
right fruit, with its 95 % Wilson interval and chance (50 %) marked:
:func:`df_policy.eval.rivals.memory_check`. Prints the command, a JSON record and a markdown
table, and writes them to ``<out>/memory_check.json`` and ``<out>/memory_check.md``.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from df_policy.config import load_section
from df_policy.errors import DfPolicyError
from df_policy.eval.rivals import BASELINES, memory_checks, memory_table, policy_runtime
from df_policy.eval.runner import evaluate
from df_policy.eval.suites import default_severities
from df_policy.paths import data_dir
from df_policy.seeds import EVAL_SEED_OFFSET
from df_policy.sim.config import SimConfig


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--baseline", choices=BASELINES,
                        help="run a baseline variant of the same DF checkpoint")
    parser.add_argument("--name", help="the row's name (default: checkpoint folder[+baseline])")
    parser.add_argument("--results", type=Path,
                        help="score this df-policy eval results.json instead of running")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=EVAL_SEED_OFFSET)
    parser.add_argument("--suite", default="clean")
    parser.add_argument("--severity", type=float, help="default: the suite's first")
    parser.add_argument("--sim", dest="sim_overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one simulator config key")
    parser.add_argument("--runtime-config", default=str(data_dir("config") / "runtime.yaml"))
    parser.add_argument("--out", type=Path, default=Path("results/memory_check"))
    return parser.parse_args()


def evaluation(args: argparse.Namespace) -> dict[str, Any]:
    """The ``df-policy eval`` report to score: read from ``--results``, or run now (one
    severity) into ``<out>/eval``."""
    if args.results:
        return json.loads(args.results.read_text())
    severity = default_severities(args.suite)[0] if args.severity is None else args.severity
    runtime = policy_runtime(args.checkpoint, args.baseline, args.runtime_config)
    sim = load_section(data_dir("config") / "sim.yaml", "sim", SimConfig, args.sim_overrides)
    return evaluate(args.checkpoint, args.suite, args.episodes, args.workers, runtime, sim,
                    args.out / "eval", (severity,), args.first_seed, progress=False)


def row_name(args: argparse.Namespace) -> str:
    """``--name``, else the evaluated folder's name (with ``+baseline``)."""
    if args.name:
        return args.name
    if args.results:
        return args.results.parent.name
    return Path(args.checkpoint).name + (f"+{args.baseline}" if args.baseline else "")


def main() -> int:
    args = parse_args()
    name = row_name(args)
    try:
        report = evaluation(args)
        cells = report["cells"]
        checks = {row: check for cell in cells for row, check in memory_checks(
            cell["outcomes"], name if len(cells) == 1 else f"{name} @{cell['severity']:g}",
        ).items()}
    except DfPolicyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    command = " ".join(["python", *sys.argv])
    record = {"command": command, "checkpoint": report["checkpoint"], "suite": report["suite"],
              "runtime": report["runtime"], "memory_check": checks}
    table = (f"`{command}` ({report['suite']} suite, `{report['checkpoint']}`)\n\n"
             + memory_table(checks))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "memory_check.json").write_text(json.dumps(record, indent=2))
    (args.out / "memory_check.md").write_text(table + "\n")
    print(json.dumps(record))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
