"""Simulator speed benchmark: prints JSON figures and the command that made them.

    python benchmarks/sim_bench.py [--steps 500] [--repeats 5] [--demos 10]

Bars (issue 3): >= 1000 env steps/s without rendering, >= 150 steps/s with both cameras at the
default size (64x64), 150 scripted demos in <= 5 minutes on 2 cores (`df-policy collect`).
"""

import argparse
import json
import os
import sys

os.environ.setdefault("MUJOCO_GL", "egl")

from df_policy.sim.bench import run_sim_bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--demos", type=int, default=10)
    args = parser.parse_args()
    result = run_sim_bench(args.steps, args.repeats, args.demos)
    result["command"] = " ".join(["python", *sys.argv])
    result["cpu_count"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
