"""Does a policy read its cameras, or continue its own last moves? The copycat check.

    python benchmarks/history_reliance.py --checkpoint CKPT --data STORE [--episodes 75]
        [--tokens 3]

Teacher-forced over recorded demonstrations (any store: the training demos, or demos
collected on other seeds, ``df-policy collect --seed 2000000 ...``): each episode's recorded
tokens are absorbed as the runtime absorbs healthy observations (the cameras clean, the
executed chunk at the model's ``history_level``), and at tokens
1..``--tokens`` the runtime's prediction (``predict_next`` with the runtime defaults' DDIM
steps and action samples, as the policy asks it) is compared with the recorded chunk. It is
asked twice from the same images: with the chunk executed since the last token given as at
run time, and with it at the top level (unknown). Prints, per axis, the
error of the chunk's end position (mm) and how far it follows the recording (the
least-squares slope of predicted on recorded end point, each token index centred on its own
mean: 1 follows the demonstration, 0 aims at a fixed spot), both ways, then a JSON line.

A policy that reads the cameras answers the same both ways. One whose aim collapses with
the history hidden (slope near 0) got it from its own last moves: in closed loop its first
chunk, which has no history, decides where every later one aims.
"""

import argparse
import json
import sys

import numpy as np
import torch

from df_policy import checkpoint as ckpt
from df_policy.policy.config import RuntimeConfig
from df_policy.train.dataset import EpisodeDataset

AXES = ("x", "y", "z")


def end_positions(loaded: ckpt.LoadedCheckpoint, dataset: EpisodeDataset, episodes: list[int],
                  tokens: int, hide_history: bool, seed: int = 0,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, recorded) end positions (episodes, tokens, 3) in metres."""
    model, normalizer, cfg = loaded.model, loaded.normalizer, loaded.config
    runtime = RuntimeConfig()
    steps = runtime.ddim_steps(cfg.sampling_steps)
    generator = torch.Generator().manual_seed(seed)
    given = model.observation_levels()
    hidden = given.clone()
    hidden[0, -1] = cfg.num_levels - 1
    predicted, recorded = [], []
    for index in episodes:
        episode, _ = dataset.episode_tokens(index, 0, normalizer, max_tokens=tokens + 1)
        z = model.initial_latent(1)
        for t in range(tokens + 1):
            if t >= 1:
                query = model.predict_next(z, generator, steps, runtime.action_samples)[
                    "action"][0]
                for target, chunk in ((predicted, query), (recorded, episode["action"][t])):
                    raw = normalizer.denormalize(chunk.view(cfg.chunk, cfg.action_dim))
                    target.append(raw[-1, :3].numpy())
            levels = hidden if hide_history and t >= 1 else given
            z = model.absorb(z, {k: v[t : t + 1] for k, v in episode.items()}, levels,
                             generator)
    shape = (len(episodes), tokens, 3)
    return np.reshape(predicted, shape), np.reshape(recorded, shape)


def follow_slope(predicted: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """Per axis: slope of predicted on recorded, each token index centred on its mean."""
    p = predicted - predicted.mean(axis=0)
    r = recorded - recorded.mean(axis=0)
    return (p * r).sum(axis=(0, 1)) / np.maximum((r * r).sum(axis=(0, 1)), 1e-12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="a zarr store of demonstrations")
    parser.add_argument("--episodes", type=int, default=75)
    parser.add_argument("--tokens", type=int, default=3,
                        help="query tokens 1..N of each episode (the first decisions)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = ckpt.load_checkpoint(args.checkpoint)
    dataset = EpisodeDataset(args.data, loaded.config)
    episodes = list(range(min(args.episodes, len(dataset))))
    rows = {}
    with torch.no_grad():
        for name, hide in (("history given", False), ("history hidden", True)):
            predicted, recorded = end_positions(loaded, dataset, episodes, args.tokens, hide)
            error_mm = 1000 * np.sqrt(((predicted - recorded) ** 2).mean(axis=(0, 1)))
            rows[name] = {"rmse_mm": error_mm.round(1).tolist(),
                          "slope": follow_slope(predicted, recorded).round(2).tolist()}
    spread = 1000 * (recorded - recorded.mean(axis=0)).std(axis=(0, 1))
    spreads = ", ".join(f"{axis} {mm:.1f}" for axis, mm in zip(AXES, spread, strict=True))
    print(f"{len(episodes)} episodes of {args.data}, tokens 1-{args.tokens}; recorded end "
          f"points spread (per token index) {spreads} mm")
    print("| chunk end point | " + " | ".join(f"{a}: mm / slope" for a in AXES) + " |")
    print("|---|" + "---|" * len(AXES))
    for name, row in rows.items():
        cells = [f"{e:.1f} / {s:.2f}" for e, s in zip(row["rmse_mm"], row["slope"], strict=True)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(json.dumps({"command": " ".join(["benchmarks/history_reliance.py", *sys.argv[1:]]),
                      "checkpoint": args.checkpoint, "data": args.data,
                      "episodes": len(episodes), "tokens": args.tokens,
                      "spread_mm": spread.round(1).tolist(), **rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
