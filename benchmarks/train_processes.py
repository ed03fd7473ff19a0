"""The recipe's training throughput in one process or several sharing each step, against the
loss before issue 21, in turns within one run.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/train_processes.py --data data/demos/fruit_swap.zarr \
        [--config config/model_cpu.yaml] [--steps 60] [--rounds 2] [--settings 1x2,2x1]

Each setting ``PxT`` (P processes of T threads, ``train.processes`` and ``train.num_threads``)
runs the real one-command trainer, ``df-policy train --steps STEPS``: the whole recipe scaled
to STEPS steps, so its stages (whole episodes, start windows, dead cameras, augmentation) come
in their proportions. Tokens/s is every process's trained tokens over the wall time of the
log's windows after the first (the warm-up), read from the run's ``log.csv``. ``legacy`` is
``benchmarks/train_bench.py --modes legacy`` (the loss before issue 21, one process, 2
threads, batch 8): the reference of the issue's 2x bar. One round runs every entry once, in
order; the figures are medians over the rounds, and the ratios are taken within each round.
"""

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def recipe_rate(data: str, config: str, steps: int, processes: int, threads: int,
                log_every: int) -> dict[str, float]:
    """Tokens/s and seconds per step of the trainer in one setting, after its first window."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        subprocess.run(
            [sys.executable, "-m", "df_policy.cli", "train", "--data", data, "--config", config,
             "--steps", str(steps), "--out", str(run), "--quiet",
             "--set", f"train.processes={processes}", "--set", f"train.num_threads={threads}",
             "--set", f"train.log_every={log_every}", "--set", f"train.checkpoint_every={steps}"],
            check=True, stdout=subprocess.DEVNULL)
        with (run / "log.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    walls = [float(row["wall_s"]) for row in rows]
    tokens = sum(float(row["tokens_per_s"]) * (wall - before)
                 for row, before, wall in zip(rows[1:], walls[:-1], walls[1:], strict=True))
    seconds = walls[-1] - walls[0]
    trained_steps = int(rows[-1]["step"]) - int(rows[0]["step"])
    return {"tokens_per_s": tokens / seconds, "s_per_step": seconds / trained_steps}


def legacy_rate(data: str, config: str, steps: int) -> float:
    """Tokens/s of the loss before issue 21 (``train_bench.py --modes legacy``)."""
    result = subprocess.run(
        [sys.executable, str(HERE / "train_bench.py"), "--data", data, "--config", config,
         "--modes", "legacy", "--steps", str(steps)],
        check=True, capture_output=True, text=True)
    return json.loads(result.stdout)["tokens_per_s"]["legacy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="config/model_cpu.yaml")
    parser.add_argument("--steps", type=int, default=60, help="the recipe scaled to this many")
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--legacy-steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--settings", default="1x2,2x1",
                        help="comma-separated PxT: P processes of T threads each")
    args = parser.parse_args()
    settings = [tuple(int(n) for n in item.split("x")) for item in args.settings.split(",")]
    names = [f"{p}x{t}" for p, t in settings]
    rounds = []
    for _ in range(args.rounds):
        figures = {"legacy": {"tokens_per_s": legacy_rate(args.data, args.config,
                                                          args.legacy_steps)}}
        for name, (processes, threads) in zip(names, settings, strict=True):
            figures[name] = recipe_rate(args.data, args.config, args.steps, processes, threads,
                                        args.log_every)
        rounds.append(figures)

    def median(entry: str, key: str) -> float:
        return round(statistics.median(r[entry][key] for r in rounds), 3)

    def median_ratio(entry: str, reference: str) -> float:
        return round(statistics.median(r[entry]["tokens_per_s"] / r[reference]["tokens_per_s"]
                                       for r in rounds), 2)

    report = {
        "command": " ".join(["python", *sys.argv]),
        "rounds": args.rounds, "recipe_steps": args.steps,
        "tokens_per_s": {entry: median(entry, "tokens_per_s") for entry in ["legacy", *names]},
        "s_per_step": {name: median(name, "s_per_step") for name in names},
        "ratio_to_legacy": {name: median_ratio(name, "legacy") for name in names},
        f"ratio_to_{names[0]}": {name: median_ratio(name, names[0]) for name in names[1:]},
        "per_round": rounds,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
