"""The corruption benchmark: every policy over every fault at every severity.

The policies are named *variants*: a checkpoint of any kind with the runtime it runs with (the
default grid runs DF and its baselines, :data:`VARIANTS`, of one checkpoint; the rivals' table
names its own). A *cell* is (variant, fault, severity); every cell runs the same seeds, so two
variants are compared episode by episode (McNemar's exact test on the discordant pairs). Each
finished episode is appended to ``episodes.jsonl`` at once: an interrupted run loses nothing
and, run again with the same arguments, continues where it stopped. At the end the grid is
written as ``results.json`` (every episode's outcome by cell), ``table.md`` (success with 95 %
Wilson intervals, the paired comparison, the headline) and ``heatmap.png`` (fault x severity,
one panel per variant).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from df_policy.errors import ConfigError
from df_policy.eval.corruptions import CORRUPTIONS, LEVELS, corruption_names
from df_policy.eval.executors import EpisodeTask, Executor
from df_policy.eval.runner import summarize_cell
from df_policy.eval.stats import mcnemar_exact, wilson_interval
from df_policy.eval.suites import check_severity, default_severities
from df_policy.policy.config import RuntimeConfig
from df_policy.sim.config import SimConfig

VARIANTS = {"df": {}, "noise_unaware": {"noise_aware": False}, "memoryless": {"memory": False}}
"""Policy variant -> RuntimeConfig overrides (the same checkpoint)."""
REFERENCE = "noise_unaware"
"""The variant every other one is compared with, episode by episode."""
MIDDLE = 2
"""The middle severity level: the headline reports its worst cell."""


@dataclasses.dataclass(frozen=True)
class GridPolicy:
    """One panel of the grid: a checkpoint of any policy kind and the runtime it runs with."""

    checkpoint: str
    runtime: RuntimeConfig


@dataclasses.dataclass(frozen=True)
class Cell:
    """One fault at one severity (a corruption's severity is its level 1..3)."""

    fault: str
    severity: float

    @property
    def key(self) -> str:
        """``fault@severity``, the cell's name in the files."""
        return f"{self.fault}@{self.severity:g}"

    @property
    def level(self) -> int | None:
        """Column of the cell in the heat map: the corruption level, or the suite severity's
        rank among its defaults (1-based); None for a suite severity off its defaults."""
        if self.fault in CORRUPTIONS or "+" in self.fault:
            return int(self.severity)
        defaults = default_severities(self.fault)
        return defaults.index(self.severity) + 1 if self.severity in defaults else None


def grid(corruptions: Sequence[str], levels: Sequence[int], suites: Sequence[str]
         ) -> list[Cell]:
    """The cells: each corruption (or ``a+b`` pair) at each level, each suite at each of its
    default severities. ConfigError naming the valid values for a bad name or level."""
    cells = []
    for name in corruptions:
        corruption_names(name)
        for level in levels:
            check_severity(name, level)
            cells.append(Cell(name, float(level)))
    for suite in suites:
        cells += [Cell(suite, severity) for severity in default_severities(suite)]
    return cells


def run_grid(variants: dict[str, GridPolicy], cells: Sequence[Cell], sim: SimConfig,
             episodes: int, first_seed: int, executor: Executor, out: Path,
             progress: bool = True) -> dict[str, Any]:
    """Run every (variant, cell) on seeds ``first_seed ..``, skipping episodes already in
    ``out/episodes.jsonl``; returns and writes the report. ConfigError, before any episode
    runs, when that log holds a variant of the same name from another checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    log = out / "episodes.jsonl"
    done = _read_log(log, variants)
    seeds = range(first_seed, first_seed + episodes)
    todo = [(variant, cell, seed) for variant in variants for cell in cells for seed in seeds
            if (variant, cell.key, seed) not in done]
    started = time.perf_counter()
    tasks = [EpisodeTask(variants[v].checkpoint, variants[v].runtime, sim, cell.fault,
                         cell.severity, seed) for v, cell, seed in todo]
    if log.exists() and not log.read_bytes().endswith(b"\n"):
        with log.open("a") as sink:
            sink.write("\n")  # close a line torn by a kill, so the next record starts clean
    with log.open("a") as sink, tqdm(total=len(todo), disable=not progress,
                                     unit="episode", desc="corruption benchmark") as bar:
        for (variant, cell, seed), outcome in zip(todo, executor.map(tasks), strict=True):
            record = {"variant": variant, "checkpoint": variants[variant].checkpoint,
                      "cell": cell.key, **outcome}
            sink.write(json.dumps(record) + "\n")
            sink.flush()
            done[(variant, cell.key, seed)] = record
            bar.update(1)
    report = {
        "episodes": episodes, "first_seed": first_seed,
        "sim": dataclasses.asdict(sim), "seconds_this_run": round(time.perf_counter() - started),
        "variants": {name: {"checkpoint": policy.checkpoint,
                            "runtime": dataclasses.asdict(policy.runtime)}
                     for name, policy in variants.items()},
        "cells": [{"variant": variant, "fault": cell.fault, "severity": cell.severity,
                   "level": cell.level,
                   **summarize_cell(cell.severity, [done[(variant, cell.key, seed)]
                                                    for seed in seeds])}
                  for variant in variants for cell in cells],
    }
    (out / "results.json").write_text(json.dumps(report, indent=1))
    (out / "table.md").write_text(markdown_report(report) + "\n")
    plot_heatmap(report, out / "heatmap.png")
    return report


def _read_log(log: Path, variants: dict[str, GridPolicy]
              ) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Episodes already run, by (variant, cell, seed); a torn last line (a run killed while
    writing it) is ignored and that episode runs again. ConfigError for a record of one of
    ``variants`` made with another checkpoint (records older than the checkpoint field are
    taken as they are)."""
    done = {}
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            variant, checkpoint = record["variant"], record.get("checkpoint")
            if variant in variants and checkpoint not in (None, variants[variant].checkpoint):
                raise ConfigError(f"{log} holds variant {variant!r} of checkpoint {checkpoint}, "
                                  f"not {variants[variant].checkpoint}: give another --out or "
                                  f"another name")
            done[(variant, record["cell"], record["seed"])] = record
    return done


def _by_cell(report: dict[str, Any]) -> dict[tuple[str, float], dict[str, dict[str, Any]]]:
    table: dict[tuple[str, float], dict[str, dict[str, Any]]] = {}
    for cell in report["cells"]:
        table.setdefault((cell["fault"], cell["severity"]), {})[cell["variant"]] = cell
    return table


def headline(report: dict[str, Any], variant: str) -> dict[str, Any]:
    """Mean success over the corruption cells, the worst middle-severity cell, and the
    corruptions whose middle severity falls below 70 %."""
    cells = [c for c in report["cells"] if c["variant"] == variant
             and (c["fault"] in CORRUPTIONS or "+" in c["fault"])]
    if not cells:
        return {}
    middle = [c for c in cells if c["level"] == MIDDLE]
    worst = min(middle, key=lambda c: c["success_rate"]) if middle else None
    return {"mean_success": float(np.mean([c["success_rate"] for c in cells])),
            "cells": len(cells),
            "worst_middle": (worst["fault"], worst["success_rate"]) if worst else None,
            "broken_at_middle": [c["fault"] for c in middle if c["success_rate"] < 0.7]}


def markdown_report(report: dict[str, Any]) -> str:
    """The headline per variant, then one row per cell: success and Wilson interval of each
    variant, and each variant's paired difference against the reference with McNemar's p."""
    variants = list(report["variants"])
    policies = ", ".join(f"{name}: `{variant['checkpoint']}`"
                         for name, variant in report["variants"].items())
    lines = [f"Policies {policies}; {report['episodes']} episodes per cell, "
             f"seeds {report['first_seed']}+ (the same for every cell).", "",
             "| variant | mean success over corruption cells | worst cell at middle severity "
             "| corruptions below 70 % at middle severity |", "|---|---|---|---|"]
    for variant in variants:
        head = headline(report, variant)
        if head:
            worst = head["worst_middle"]
            worst_text = f"{worst[0]} {worst[1]:.0%}" if worst else "(middle not run)"
            lines.append(f"| {variant} | {head['mean_success']:.1%} ({head['cells']} cells) | "
                         f"{worst_text} | {', '.join(head['broken_at_middle']) or 'none'} |")
    compared = [v for v in variants if v != REFERENCE] if REFERENCE in variants else []
    header = ["fault", "severity"] + variants + [f"{v} − {REFERENCE} (McNemar p)"
                                                 for v in compared]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (fault, severity), by_variant in _by_cell(report).items():
        row = [fault, _severity_label(fault, severity)]
        for variant in variants:
            cell = by_variant[variant]
            low, high = wilson_interval(cell["successes"], cell["episodes"])
            row.append(f"{cell['success_rate']:.0%} [{low:.0%}, {high:.0%}]")
        for variant in compared:
            row.append(_paired(by_variant[variant], by_variant[REFERENCE]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _severity_label(fault: str, severity: float) -> str:
    if fault in CORRUPTIONS:
        value = CORRUPTIONS[fault].severities[int(severity) - 1]
        return f"{int(severity)} ({value:g} {CORRUPTIONS[fault].unit})"
    return f"{severity:g}"


def _paired(cell: dict[str, Any], reference: dict[str, Any]) -> str:
    """Difference in success points and McNemar's exact p over the shared seeds."""
    ours = {o["seed"]: o["success"] for o in cell["outcomes"]}
    theirs = {o["seed"]: o["success"] for o in reference["outcomes"]}
    shared = sorted(set(ours) & set(theirs))
    only_ours = sum(ours[s] and not theirs[s] for s in shared)
    only_theirs = sum(theirs[s] and not ours[s] for s in shared)
    points = 100 * (only_ours - only_theirs) / max(1, len(shared))
    return f"{points:+.0f} (p={mcnemar_exact(only_ours, only_theirs):.2g})"


def plot_heatmap(report: dict[str, Any], png: Path) -> None:
    """Fault x severity level, success with a colour scale, one panel per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(report["variants"])
    faults = list(dict.fromkeys(c["fault"] for c in report["cells"]))
    fig, axes = plt.subplots(1, len(variants), figsize=(2.3 * len(variants) + 1.6,
                                                          0.26 * len(faults) + 1.2),
                             squeeze=False, sharey=True)
    for ax, variant in zip(axes[0], variants, strict=True):
        grid_values = np.full((len(faults), len(LEVELS)), np.nan)
        for cell in report["cells"]:
            if cell["variant"] == variant and cell["level"] in LEVELS:
                grid_values[faults.index(cell["fault"]), cell["level"] - 1] = cell["success_rate"]
        image = ax.imshow(grid_values, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
        for (row, col), value in np.ndenumerate(grid_values):
            if not np.isnan(value):
                ax.text(col, row, f"{100 * value:.0f}", ha="center", va="center", fontsize=6)
        ax.set_title(variant, fontsize=9)
        ax.set_xticks(range(len(LEVELS)), [str(level) for level in LEVELS], fontsize=7)
        ax.set_xlabel("severity", fontsize=8)
        ax.set_yticks(range(len(faults)), faults, fontsize=7)
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.03, label="success rate")
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
