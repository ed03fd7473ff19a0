"""The robustness table of docs/results.md: closed-loop success per policy and fault.

    MUJOCO_GL=egl python benchmarks/robustness_table.py
        [--checkpoint data/checkpoints/df_fruit_swap] [--episodes 100] [--workers 2]
        [--dp-checkpoint runs/dp] [--only df,noise_unaware,memoryless,dp] [--suites clean,...]
        [--sim KEY=VALUE ...] [--out results/table]
    MUJOCO_GL=egl python benchmarks/robustness_table.py --rows
        df=CKPT,noise_unaware=CKPT,memoryless=CKPT,dp=runs/dp,dp_long=runs/dp_long,ptp=runs/ptp
        [--episodes 100] [--suites clean,...] [--out results/rivals]

A row is a policy: a checkpoint of any kind and, for a DF checkpoint, an optional baseline
(``name=CHECKPOINT[:BASELINE]``; a row named ``memoryless`` or ``noise_unaware`` runs that
baseline: :func:`df_policy.eval.rivals.parse_rows`). With ``--rows`` every row runs every
suite of :data:`SUITE_CELLS`; without, the rows are ``--only``'s variants of ``--checkpoint``
(``dp``: ``--dp-checkpoint``) on the cells of :data:`DEFAULT_CELLS`.

Each cell runs ``df-policy eval``'s :func:`~df_policy.eval.runner.evaluate` on held-out seeds
(the same seeds for every cell) and keeps its ``results.json`` under ``--out``. Prints a
markdown table (success, 95% Wilson interval, median policy step), a second one (success by
starting layout, the stage where failures stopped) and, for the clean cells, the memory check
at both ambiguous scenes (:func:`df_policy.eval.rivals.memory_check`), and writes them with the
command line to ``<out>/table.md`` and ``<out>/table.json``.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from df_policy.config import load_section
from df_policy.errors import ConfigError, DfPolicyError
from df_policy.eval.rivals import (
    Row,
    memory_checks,
    memory_table,
    named_rows,
    parse_rows,
    policy_runtime,
)
from df_policy.eval.runner import evaluate
from df_policy.paths import data_dir
from df_policy.policy.config import RuntimeConfig
from df_policy.sim.config import SimConfig

SUITE_CELLS = (("clean", 0.0), ("occlusion", 4.0), ("distractors", 3.0), ("drops", 0.3),
               ("freeze", 1.0), ("wrist_dead", 1.0), ("noise", 25.0), ("stall", 1.0))
"""Every suite of the README's table at the severity of its bar (issue 5; stall since the
watchdog)."""
DEFAULT_CELLS = {"df": SUITE_CELLS, "noise_unaware": SUITE_CELLS,
                 "memoryless": SUITE_CELLS[:1], "dp": (("clean", 0.0), ("drops", 0.3))}
"""The cells each variant of the table without ``--rows`` runs."""

Cell = tuple[Row, str, float]
"""A row on one suite at one severity."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", help="name=CHECKPOINT[:BASELINE],... (every suite each)")
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--dp-checkpoint", default="runs/dp",
                        help="the DP-style baseline (df-policy train --policy dp)")
    parser.add_argument("--only", default=",".join(DEFAULT_CELLS),
                        help="without --rows: the variants to run")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--suites", default="", help="comma-separated suites (default: all)")
    parser.add_argument("--sim", dest="sim_overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override one simulator config key")
    parser.add_argument("--runtime-config", default=str(data_dir("config") / "runtime.yaml"))
    parser.add_argument("--out", type=Path, default=Path("results/table"))
    return parser.parse_args()


def table_cells(args: argparse.Namespace) -> list[Cell]:
    """The cells to run: every row on every suite (``--rows``), else the default table's
    cells of the ``--only`` variants; kept to ``--suites`` when given.

    Raises:
        ConfigError: ``--suites`` names a suite the table does not have (it was dropped
            silently, leaving an empty table).
    """
    if args.rows:
        cells = [(row, *cell) for row in parse_rows(args.rows) for cell in SUITE_CELLS]
    else:
        rows = named_rows(args.only, DEFAULT_CELLS, lambda name: (
            args.dp_checkpoint if name == "dp" else args.checkpoint))
        cells = [(row, *cell) for row in rows for cell in DEFAULT_CELLS[row.name]]
    if not args.suites:
        return cells
    suites = args.suites.split(",")
    known = [suite for suite, _ in SUITE_CELLS]
    unknown = [suite for suite in suites if suite not in known]
    if unknown:
        raise ConfigError(f"--suites: {', '.join(unknown)} not in the table (its suites: "
                          f"{', '.join(known)}); any other suite or severity runs with "
                          "`df-policy eval --suite NAME --severity S`")
    return [cell for cell in cells if cell[1] in suites]


def run_cell(args: argparse.Namespace, cell: Cell, runtime: RuntimeConfig, sim: SimConfig
             ) -> dict[str, Any]:
    """Evaluate one cell with the row's ``runtime`` into ``<out>/<row>_<suite>_<severity>``;
    its line of the table (with the memory check on the clean suite)."""
    row, suite, severity = cell
    report = evaluate(row.checkpoint, suite, args.episodes, args.workers, runtime, sim,
                      args.out / f"{row.name}_{suite}_{severity:g}", (severity,),
                      progress=False)
    result = report["cells"][0]
    line = {"variant": row.name, "checkpoint": row.checkpoint, "baseline": row.baseline,
            "suite": suite, "severity": severity,
            **{key: result[key] for key in ("successes", "episodes", "success_rate",
                                            "wilson95", "policy_ms_median", "by_layout",
                                            "failed_at_stage")},
            "seconds": report["seconds"]}
    if suite == "clean":
        line["memory"] = memory_checks(result["outcomes"], row.name)
    return line


def markdown(command: str, rows: list[dict[str, Any]]) -> str:
    """The tables of ``rows`` (lines of :func:`run_cell`), after the command and the policies."""
    policies = dict.fromkeys((row["variant"], row["checkpoint"], row["baseline"])
                             for row in rows)
    lines = [f"`{command}`", "", "Policies: " + "; ".join(
        f"{name}: `{checkpoint}`" + (f" ({baseline})" if baseline else "")
        for name, checkpoint, baseline in policies), "",
        "| policy | suite | severity | success | 95% interval | policy step ms |",
        "|---|---|---|---|---|---|"]
    for row in rows:
        low, high = row["wilson95"]
        lines.append(f"| {row['variant']} | {row['suite']} | {row['severity']:g} | "
                     f"{row['successes']}/{row['episodes']} = {row['success_rate']:.2f} | "
                     f"[{low:.2f}, {high:.2f}] | {row['policy_ms_median']:.1f} |")
    lines += ["", "| policy | suite | orange in A | orange in B | failures at stage 0 / 1 / 2 |",
              "|---|---|---|---|---|"]
    for row in rows:
        (a_won, a_all), (b_won, b_all) = row["by_layout"]["A"], row["by_layout"]["B"]
        lines.append(f"| {row['variant']} | {row['suite']} | {a_won}/{a_all} | {b_won}/{b_all} "
                     f"| {' / '.join(map(str, row['failed_at_stage']))} |")
    checks = {name: check for row in rows for name, check in row.get("memory", {}).items()}
    if checks:
        lines += ["", "Memory check (clean suite):", "", memory_table(checks)]
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    rows = []
    try:
        sim = load_section(data_dir("config") / "sim.yaml", "sim", SimConfig, args.sim_overrides)
        cells = table_cells(args)
        # Every row's checkpoint and baseline are checked before the first episode runs.
        runtimes = {row: policy_runtime(row.checkpoint, row.baseline, args.runtime_config)
                    for row, _, _ in cells}
        for cell in cells:
            rows.append(run_cell(args, cell, runtimes[cell[0]], sim))
            print(json.dumps(rows[-1]), flush=True)
    except DfPolicyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    command = " ".join(["python", *sys.argv])
    table = markdown(command, rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "table.json").write_text(json.dumps({"command": command, "rows": rows},
                                                    indent=2))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
