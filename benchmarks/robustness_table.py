"""The robustness table of docs/results.md: closed-loop success per policy variant and fault.

    MUJOCO_GL=egl python benchmarks/robustness_table.py
        [--checkpoint data/checkpoints/df_fruit_swap] [--episodes 100] [--workers 2]
        [--dp-checkpoint runs/dp] [--only df,noise_unaware,memoryless,dp] [--out results/table]

Each cell runs ``df-policy eval``'s :func:`~df_policy.eval.runner.evaluate` on held-out seeds
(the same seeds for every cell) and keeps its ``results.json`` under ``--out``. Prints a
markdown table (success, 95% Wilson interval, median policy step) and a second one (success by
starting layout, the stage where failures stopped) and writes both with the command line to
``<out>/table.md`` and ``<out>/table.json``.
"""

import argparse
import json
import sys
from pathlib import Path

from df_policy.config import load_section
from df_policy.eval.runner import evaluate
from df_policy.policy.config import RuntimeConfig
from df_policy.sim.config import SimConfig

CELLS = (
    # (variant, suite, severity): the bars of issue 5
    ("df", "clean", 0.0),
    ("df", "occlusion", 4.0),
    ("df", "distractors", 3.0),
    ("df", "drops", 0.3),
    ("df", "freeze", 1.0),
    ("df", "wrist_dead", 1.0),
    ("df", "noise", 25.0),
    ("noise_unaware", "clean", 0.0),
    ("noise_unaware", "occlusion", 4.0),
    ("noise_unaware", "distractors", 3.0),
    ("noise_unaware", "drops", 0.3),
    ("noise_unaware", "freeze", 1.0),
    ("noise_unaware", "wrist_dead", 1.0),
    ("noise_unaware", "noise", 25.0),
    ("memoryless", "clean", 0.0),
    ("dp", "clean", 0.0),
    ("dp", "drops", 0.3),
)
VARIANTS = {"df": [], "noise_unaware": ["noise_aware=false"], "memoryless": ["memory=false"],
            "dp": []}
"""Variant -> runtime overrides; ``dp`` runs the DP-style checkpoint (``--dp-checkpoint``)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--dp-checkpoint", default="runs/dp",
                        help="the DP-style baseline (df-policy train --policy dp)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default=",".join(VARIANTS), help="variants to run")
    parser.add_argument("--suites", default="", help="comma-separated suites (default: all)")
    parser.add_argument("--out", type=Path, default=Path("results/table"))
    args = parser.parse_args()
    variants = args.only.split(",")
    suites = args.suites.split(",") if args.suites else None
    sim = load_section("config/sim.yaml", "sim", SimConfig)
    rows = []
    for variant, suite, severity in CELLS:
        if variant not in variants or (suites and suite not in suites):
            continue
        runtime = load_section("config/runtime.yaml", "runtime", RuntimeConfig,
                               VARIANTS[variant])
        out = args.out / f"{variant}_{suite}_{severity:g}"
        checkpoint = args.dp_checkpoint if variant == "dp" else args.checkpoint
        report = evaluate(checkpoint, suite, args.episodes, args.workers, runtime, sim,
                          out, (severity,), progress=False)
        cell = report["cells"][0]
        rows.append({"variant": variant, "suite": suite, "severity": severity,
                     "successes": cell["successes"], "episodes": cell["episodes"],
                     "success_rate": cell["success_rate"], "wilson95": cell["wilson95"],
                     "policy_ms_median": cell["policy_ms_median"],
                     "seconds": report["seconds"], "by_layout": cell["by_layout"],
                     "failed_at_stage": cell["failed_at_stage"]})
        print(json.dumps(rows[-1]), flush=True)
    command = " ".join(["python", *sys.argv])
    lines = [f"`{command}` (DF: `{args.checkpoint}`, DP-style: `{args.dp_checkpoint}`)", "",
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
    table = "\n".join(lines)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "table.json").write_text(json.dumps({"command": command, "rows": rows},
                                                    indent=2))
    print(table)


if __name__ == "__main__":
    main()
