"""Does the policy read the fruit layout from the first frame? The task's only visual decision.

    python benchmarks/first_decision_probe.py [--checkpoint data/checkpoints/df_fruit_swap]
        [--data data/demos/fruit_swap.zarr] [--every 5]

For every ``--every``-th demonstration, absorb its first token (both cameras, clean), ask the
model for the first action chunk exactly as the runtime does (cameras at the top level), and
record where the chunk ends sideways (y). The demonstrator goes to the orange first, so the true
y is positive for one layout and negative for the other. Prints the mean predicted and true
end y per layout: a policy that reads the layout predicts opposite signs; one that does not
predicts the same y for both (then the first move is chosen by the sampling noise alone).
"""

import argparse
import json
import sys

import numpy as np
import torch

from df_policy.checkpoint import load_checkpoint
from df_policy.train.dataset import EpisodeDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--data", default="data/demos/fruit_swap.zarr")
    parser.add_argument("--every", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.checkpoint)
    model, cfg = loaded.model, loaded.config
    dataset = EpisodeDataset(args.data, cfg)
    levels = model.observation_levels()
    by_layout: dict[str, dict[str, list[float]]] = {}
    for index in range(0, len(dataset), args.every):
        tokens, _ = dataset.episode_tokens(index, 0, loaded.normalizer)
        first = {name: value[:1] for name, value in tokens.items()}
        true_y = float(dataset.actions[index][cfg.chunk - 1, 1])
        with torch.no_grad():
            z = model.absorb(model.initial_latent(1), first, levels,
                             torch.Generator().manual_seed(0))
            chunk = model.predict_next(z, torch.Generator().manual_seed(index))["action"]
        predicted_y = float(loaded.normalizer.denormalize(chunk.view(cfg.chunk, -1))[-1, 1])
        layout = "orange_at_+y" if true_y > 0 else "orange_at_-y"
        cell = by_layout.setdefault(layout, {"true": [], "predicted": []})
        cell["true"].append(true_y)
        cell["predicted"].append(predicted_y)
    figures = {
        "command": " ".join(["python", *sys.argv]),
        "checkpoint": args.checkpoint,
        "first_chunk_end_y": {
            layout: {"episodes": len(cell["true"]),
                     "true_mean": round(float(np.mean(cell["true"])), 3),
                     "predicted_mean": round(float(np.mean(cell["predicted"])), 3),
                     "predicted_sign_right": float(np.mean(
                         np.sign(cell["predicted"]) == np.sign(cell["true"])))}
            for layout, cell in sorted(by_layout.items())},
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
