"""The rival table's pieces (issue 24): its rows, and the memory check.

A *row* is one policy to evaluate: a checkpoint of any kind (``df``, ``dp``, ``dp_long``,
``ptp``) and, for a DF checkpoint, an optional baseline variant of it (``memoryless``,
``noise_unaware``: :data:`df_policy.eval.benchmark.VARIANTS`).

The *memory check* scores the decisions of the task that need the episode's history. Both
layouts pass through two scenes, :data:`df_policy.sim.env.AMBIGUOUS_SCENES`: the ``first`` (A
empty, apple in B, orange in C) needs the apple next when the orange started in A and the
orange next when it started in B; the ``second`` (B empty, apple in A, orange in C) the
orange next when it started in A and the apple when it started in B. The evaluation's
outcomes record when each scene was first reached and which fruit left its slot next
(``ambiguous_step``, ``ambiguous_move``; ``second_ambiguous_step``, ``second_ambiguous_move``);
the check of a scene counts, among the episodes that reached it, those whose next move took
the right fruit.

Chance is 50 %: a policy blind to the history takes the apple with one probability in both
layouts, so its two layout shares sum to at most 1 and their mean (``balanced``) is at most
50 %. The pooled share is not bounded so (more episodes of one layout reach the scene), which
is why both are reported. One cue survives in the present frame: where the arm is when the
scene appears (it has just let go of the orange above C in one layout, of the apple in its
new slot in the other), so a policy without memory that reads the arm's place can beat chance
without remembering the layout.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from df_policy.checkpoint import checkpoint_kind
from df_policy.config import load_section, parse_overrides
from df_policy.errors import ConfigError, DataError
from df_policy.eval.benchmark import VARIANTS
from df_policy.eval.stats import wilson_interval
from df_policy.policy.config import RuntimeConfig, check_runtime_keys
from df_policy.sim.env import AMBIGUOUS_SCENES, ambiguous_answer, ambiguous_keys

BASELINES = tuple(name for name in VARIANTS if name != "df")
"""Baseline variants of a DF checkpoint a row may run."""
CHANCE = 0.5
"""Share of right moves at an ambiguous scene of a policy that cannot tell the layouts apart."""
LAYOUTS = ("A", "B")
"""Where the orange started (``orange_start``)."""


@dataclasses.dataclass(frozen=True)
class Row:
    """One policy of the table: a checkpoint, and a baseline variant of it or None."""

    name: str
    checkpoint: str
    baseline: str | None = None


def parse_rows(spec: str) -> list[Row]:
    """Rows from ``name=CHECKPOINT[:BASELINE],...``. A row named after a baseline runs that
    baseline unless it names another, so ``memoryless=CKPT`` is never plain DF under a
    baseline's name. ConfigError for a malformed entry, a repeated name or an unknown
    baseline."""
    rows: list[Row] = []
    for entry in filter(None, spec.split(",")):
        name, sep, target = entry.partition("=")
        if not sep or not name or not target:
            raise ConfigError(f"a row is name=CHECKPOINT[:BASELINE], got {entry!r}")
        checkpoint, _, baseline = target.partition(":")
        baseline = baseline or (name if name in BASELINES else "")
        if baseline and baseline not in BASELINES:
            raise ConfigError(f"row {name!r}: unknown baseline {baseline!r} "
                              f"(valid: {', '.join(BASELINES)})")
        if name in (row.name for row in rows):
            raise ConfigError(f"row {name!r} is given twice")
        rows.append(Row(name, checkpoint, baseline or None))
    if not rows:
        raise ConfigError("give at least one row, name=CHECKPOINT[:BASELINE]")
    return rows


def named_rows(names: str, valid: Iterable[str], checkpoint_of: Callable[[str], str]
               ) -> list[Row]:
    """The rows of the comma-separated variant ``names``, each ``name=checkpoint_of(name)``
    (a baseline's name runs that baseline, as in :func:`parse_rows`). ConfigError naming the
    valid names for an unknown one."""
    wanted, valid = names.split(","), list(valid)
    unknown = sorted(set(wanted) - set(valid))
    if unknown:
        raise ConfigError(f"unknown variant(s) {unknown} (valid: {', '.join(valid)})")
    return parse_rows(",".join(f"{name}={checkpoint_of(name)}" for name in wanted))


def policy_runtime(checkpoint: str, baseline: str | None = None,
                   config: str | Path | None = None, overrides: Sequence[str] = ()
                   ) -> RuntimeConfig:
    """The runtime section of ``config`` with the user's ``overrides``, then ``baseline``'s,
    applied: how evaluation, the benchmarks and the memory check run ``checkpoint``.
    CheckpointError when the checkpoint is missing; ConfigError for a baseline of a checkpoint
    that is not DF, or an override of a DF-only key for one (its runtime would ignore either
    silently)."""
    kind = checkpoint_kind(checkpoint)
    if baseline is not None and kind != "df":
        raise ConfigError(f"baseline {baseline} is a variant of a DF checkpoint; "
                          f"{checkpoint} holds a {kind!r} policy")
    check_runtime_keys(kind, parse_overrides(overrides))
    return load_section(config, "runtime", RuntimeConfig,
                        [*overrides, *baseline_overrides(baseline)])


def baseline_overrides(baseline: str | None) -> list[str]:
    """The runtime ``KEY=VALUE`` overrides that make a DF checkpoint run ``baseline`` (none
    for plain DF)."""
    return [f"{key}={str(value).lower()}" for key, value in VARIANTS[baseline or "df"].items()]


def _share(correct: int, reached: int) -> dict[str, Any]:
    """``correct`` of ``reached`` as counts, share (None for none reached) and Wilson 95 %."""
    return {"correct": correct, "reached": reached,
            "share": correct / reached if reached else None,
            "wilson95": list(wilson_interval(correct, reached))}


def memory_check(outcomes: Iterable[dict[str, Any]], scene: str = "first") -> dict[str, Any]:
    """The memory check of episode outcomes at ambiguous scene ``scene`` (see the module
    docstring): per layout and pooled, the right next moves among the episodes that reached
    it (an episode that moved no fruit after it counts as not right); ``wrong`` and
    ``no_move`` split the rest; ``balanced`` is the mean of the two layout shares (None unless
    both layouts reached it)."""
    outcomes = list(outcomes)
    step_key, move_key = ambiguous_keys(scene)
    if any(step_key not in o for o in outcomes):
        raise DataError(f"these outcomes do not record the {scene} ambiguous scene (made "
                        "before its memory check was): run the evaluation again")
    reached = [o for o in outcomes if o[step_key] is not None]
    right = [o[move_key] == ambiguous_answer(o["orange_start"], scene) for o in reached]
    by_layout = {layout: _share(sum(r for o, r in zip(reached, right, strict=True)
                                    if o["orange_start"] == layout),
                                sum(o["orange_start"] == layout for o in reached))
                 for layout in LAYOUTS}
    shares = [cell["share"] for cell in by_layout.values()]
    no_move = sum(o[move_key] is None for o in reached)
    return {**_share(sum(right), len(reached)), "chance": CHANCE,
            "wrong": len(reached) - sum(right) - no_move, "no_move": no_move,
            "by_layout": by_layout,
            "balanced": None if None in shares else sum(shares) / len(shares)}


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.0f} %"


def memory_checks(outcomes: Iterable[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """:func:`memory_check` at every ambiguous scene, by row name ``"<name>, <scene> scene"``."""
    outcomes = list(outcomes)
    return {f"{name}, {scene} scene": memory_check(outcomes, scene) for scene in AMBIGUOUS_SCENES}


def memory_table(checks: dict[str, dict[str, Any]]) -> str:
    """A markdown table of :func:`memory_check` results by row name, chance marked."""
    lines = [f"| policy | right next move at the ambiguous scene (chance {_percent(CHANCE)}) "
             "| 95 % interval | orange from A: right | orange from B: right "
             "| wrong / no move | balanced (chance ≤ 50 %) |",
             "|---|---|---|---|---|---|---|"]
    for name, check in checks.items():
        low, high = check["wilson95"]
        interval = f"[{low:.2f}, {high:.2f}]" if check["reached"] else "–"
        a, b = (check["by_layout"][layout] for layout in LAYOUTS)
        lines.append(f"| {name} | {check['correct']}/{check['reached']} = "
                     f"{_percent(check['share'])} | {interval} "
                     f"| {a['correct']}/{a['reached']} | {b['correct']}/{b['reached']} "
                     f"| {check['wrong']} / {check['no_move']} "
                     f"| {_percent(check['balanced'])} |")
    return "\n".join(lines)
