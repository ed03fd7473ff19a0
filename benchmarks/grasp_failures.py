"""Why episodes fail: every grasp of each episode, its offset from the fruit, lifted or missed.

    python benchmarks/grasp_failures.py --suite wrist_dead \\
        --results results/table_v12/df_wrist_dead_1/results.json [--checkpoint CKPT]
    python benchmarks/grasp_failures.py --suite wrist_dead --seeds 1000003 1000004
    python benchmarks/grasp_failures.py --suite wrist_dead --first-seed 1000000 --episodes 100

Replays episodes of ``df-policy eval`` (the same seeds give the same episodes) with a
:class:`df_policy.eval.grasps.GraspLog` watching, and prints one row per episode: where it
stopped and each grasp as ``fruit FROM>TO (dx, dy) mm lifted|missed|empty`` (FROM: the slot
nearest the fruit when it was grasped, TO: nearest where a lifted fruit was let go; dx: away
from the front camera; empty: no fruit within NEAR_MM, the gripper closed where no fruit was).
With
``--results`` it replays that evaluation's failed episodes. Ends with the median offsets of
lifted and of missed grasps, the mean and spread of each fruit's grasp offsets (a policy that
cannot see where a fruit lies aims at a fixed spot: its offsets spread as widely as the fruit's
placement, ±20 mm), how far each episode's first grasp follows where that fruit was placed in its
slot (the slope of the grasp's aim on the placement: 1 reads the fruit's position, 0 aims at the
slot's centre), how many failed episodes lifted their first three fruits (lost after good
grasps: a fruit set down off its slot, or the phase), where the last move's orange (lifted
from C once the apple is in its goal) was let go: its goal, back at C (the first move's
destination: the move mistaken for the first, which the frames alone cannot tell apart while
the orange is carried) or elsewhere, and a JSON line with every grasp.
"""

import argparse
import dataclasses
import json
import statistics
import sys
from typing import Any

import numpy as np
import torch

from df_policy.eval.episode import run_episode
from df_policy.eval.grasps import CARRY_ENDS, Grasp, GraspLog, last_carry_end, placements_mm
from df_policy.policy.runtime import load_policy
from df_policy.sim.config import SimConfig

NEAR_MM = 60.0
"""A grasp farther than this from every fruit closed on nothing (an empty slot, the table)."""


def failed_seeds(results_path: str) -> tuple[list[int], float]:
    """Seeds of the failed episodes in a ``df-policy eval`` results.json, and its severity."""
    with open(results_path) as f:
        cell = json.load(f)["cells"][0]
    return [o["seed"] for o in cell["outcomes"] if not o["success"]], float(cell["severity"])


def kind(grasp: Grasp) -> str:
    """lifted, missed (a fruit within NEAR_MM, not lifted) or empty."""
    if grasp.lifted:
        return "lifted"
    return "missed" if grasp.distance_mm <= NEAR_MM else "empty"


def median_offset(grasps: list[Grasp]) -> str:
    if not grasps:
        return "none"
    dx = statistics.median(abs(g.offset_mm[0]) for g in grasps)
    dy = statistics.median(abs(g.offset_mm[1]) for g in grasps)
    return f"{len(grasps)} grasps, median |dx| {dx:.0f} mm, |dy| {dy:.0f} mm"


class Placements:
    """Observer wrapping a :class:`GraspLog`: each fruit's offset (mm) from the centre of the
    slot it was placed in, taken at the first step, before anything moved it."""

    def __init__(self, log: GraspLog) -> None:
        self.log = log
        self.mm: dict[str, tuple[float, float]] = {}

    def __call__(self, env: Any, action: np.ndarray, tick: Any = None) -> None:
        if not self.mm:
            self.mm = {fruit: tuple(offset.round(1).tolist())
                       for fruit, offset in placements_mm(env).items()}
        self.log(env, action, tick)


def placement_slopes(episodes: list[dict]) -> np.ndarray | None:
    """Least-squares slope, per axis, of each episode's first grasp's aim (tool centre minus
    slot centre) on where its fruit lay in the slot; None with fewer than 3 episodes."""
    pairs = [(ep["placement_mm"][ep["grasps"][0]["fruit"]], ep["grasps"][0]["offset_mm"])
             for ep in episodes if ep["grasps"]]
    if len(pairs) < 3:
        return None
    placed = np.array([p for p, _ in pairs])
    aim = placed + np.array([o for _, o in pairs])
    placed, aim = placed - placed.mean(0), aim - aim.mean(0)
    return (placed * aim).sum(0) / (placed ** 2).sum(0)


def lost_after_lifting(episodes: list[dict]) -> str:
    """Failed episodes whose first three grasps all lifted their fruit: the grasps were good,
    so a move was lost after them (a fruit set down beside its slot, or the swap's phase)."""
    failed = [ep for ep in episodes if not ep["success"]]
    lost = [ep for ep in failed
            if len(ep["grasps"]) >= 3 and all(g["lifted"] for g in ep["grasps"][:3])]
    stages = ", ".join(f"{stage}: {sum(ep['stage'] == stage for ep in lost)}"
                       for stage in sorted({ep["stage"] for ep in lost}))
    return f"{len(lost)} of {len(failed)}" + (f" (by stage reached: {stages})" if lost else "")


def last_carries(episodes: list[dict]) -> str:
    """How many episodes let the last move's orange go where
    (:func:`df_policy.eval.grasps.last_carry_end`), over those that lifted it."""
    ends = [ep["last_carry"] for ep in episodes if ep["last_carry"] is not None]
    return ", ".join(f"{where} {ends.count(where)}" for where in CARRY_ENDS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--suite", default="wrist_dead")
    parser.add_argument("--severity", type=float, default=1.0)
    parser.add_argument("--seeds", type=int, nargs="*", default=[])
    parser.add_argument("--first-seed", type=int, help="with --episodes: a range of seeds")
    parser.add_argument("--episodes", type=int, default=0)
    parser.add_argument("--results", help="replay the failed episodes of this results.json")
    args = parser.parse_args()
    seeds, severity = list(args.seeds), args.severity
    if args.first_seed is not None:
        seeds += range(args.first_seed, args.first_seed + args.episodes)
    if args.results:
        seeds, severity = failed_seeds(args.results)
    torch.set_num_threads(1)
    policy = load_policy(args.checkpoint, device="cpu")
    episodes, every = [], []
    print("| seed | orange start | success | stage | grasps: fruit (dx, dy) mm |")
    print("|---|---|---|---|---|")
    for seed in seeds:
        log = GraspLog()
        placements = Placements(log)
        outcome = run_episode(policy, SimConfig(), args.suite, severity, seed,
                              observer=placements)
        every += log.grasps
        episodes.append({"seed": seed, "success": outcome["success"], "stage": outcome["stage"],
                         "placement_mm": placements.mm,
                         "last_carry": last_carry_end(log.grasps, outcome["orange_start"]),
                         "grasps": [dataclasses.asdict(g) for g in log.grasps]})
        listed = "; ".join(f"{g.fruit} {g.picked_from}>{g.put_down_near or '-'} "
                           f"({g.offset_mm[0]:+.0f}, {g.offset_mm[1]:+.0f}) {kind(g)}"
                           for g in log.grasps)
        print(f"| {seed} | {outcome['orange_start']} | {outcome['success']} | "
              f"{outcome['stage']} | {listed} |", flush=True)
    for name in ("lifted", "missed", "empty"):
        print(f"{name}: {median_offset([g for g in every if kind(g) == name])}")
    for fruit in ("orange", "apple"):
        near = np.array([g.offset_mm for g in every
                         if g.fruit == fruit and kind(g) != "empty"]).reshape(-1, 2)
        if len(near):
            mean, spread = near.mean(0), near.std(0)
            print(f"{fruit} grasps at the fruit: {len(near)}, dx {mean[0]:+.0f} ± {spread[0]:.0f} "
                  f"mm, dy {mean[1]:+.0f} ± {spread[1]:.0f} mm (mean ± std)")
    slopes = placement_slopes(episodes)
    if slopes is not None:
        print(f"first grasps follow the fruit's placement in its slot: dx {slopes[0]:.2f}, "
              f"dy {slopes[1]:.2f} (1: where the fruit lies, 0: the slot's centre)")
    print(f"failed with the first three grasps lifted: {lost_after_lifting(episodes)}")
    print(f"the last move's orange let go nearest: {last_carries(episodes)}")
    print(json.dumps({"command": " ".join(sys.argv), "checkpoint": args.checkpoint,
                      "suite": args.suite, "severity": severity, "episodes": episodes}))


if __name__ == "__main__":
    main()
