"""Does the runtime's latent carry where the orange lies in its slot? A linear probe.

    python benchmarks/latent_probe.py --checkpoint CKPT [--first-seed 2000000] [--episodes 150]
        [--untrained]

Runs clean closed-loop episodes up to the last step in ``--at`` (the runtime and the shared
controller, as ``df-policy eval`` does), keeps the policy's latent z after each of the
steps in ``--at`` (step 1: the first observation absorbed), and fits a ridge regression from z
to the orange's offset from its slot's centre (mm, taken from the simulator at the first step).
Prints the out-of-fold R² (5 folds) per step and ridge strength, then a JSON line.

Read it beside ``grasp_failures.py``'s placement slope: a latent that carries the placement
(R² near 1) under a policy whose grasps do not follow it (slope near 0) means the action head
does not use what the latent holds. A high R² does not say the model learned the feature:
``--untrained`` runs the same probe with the checkpoint's layers re-initialised (the control:
what random features of the images already carry).
"""

import argparse
import dataclasses
import json
import sys
from typing import Any

import numpy as np
import torch

from df_policy.eval.episode import run_episode
from df_policy.eval.grasps import placements_mm
from df_policy.policy.runtime import load_policy
from df_policy.sim.config import SimConfig

FOLDS = 5
ALPHAS = (10.0, 100.0, 1000.0)


class LatentRecorder:
    """Observer: the orange's placement (mm) at the first step and the latent after chosen
    steps."""

    def __init__(self, policy: Any, at: tuple[int, ...]) -> None:
        self.policy, self.at = policy, at
        self.placement: np.ndarray | None = None
        self.latents: dict[int, np.ndarray] = {}
        self._step = 0

    def __call__(self, env: Any, action: np.ndarray, tick: Any = None) -> None:
        if self._step == 0:
            self.placement = placements_mm(env)["orange"]
        if self._step in self.at:
            self.latents[self._step] = self.policy.z.detach().flatten().cpu().numpy().copy()
        self._step += 1


def ridge_r2(features: np.ndarray, targets: np.ndarray, alpha: float) -> np.ndarray:
    """Out-of-fold R² per target column of a ridge regression on standardised features."""
    index = np.arange(len(targets))
    predicted = np.zeros_like(targets)
    for fold in range(FOLDS):
        test = index[fold::FOLDS]
        train = np.setdiff1d(index, test)
        mean, std = features[train].mean(0), features[train].std(0) + 1e-6
        x_train, x_test = (features[train] - mean) / std, (features[test] - mean) / std
        offset = targets[train].mean(0)
        gram = x_train.T @ x_train + alpha * np.eye(x_train.shape[1])
        weights = np.linalg.solve(gram, x_train.T @ (targets[train] - offset))
        predicted[test] = x_test @ weights + offset
    residual = ((predicted - targets) ** 2).sum(0)
    return 1.0 - residual / ((targets - targets.mean(0)) ** 2).sum(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--first-seed", type=int, default=2_000_000)
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--at", type=int, nargs="+", default=[1, 9, 17],
                        help="control steps after which the latent is kept")
    parser.add_argument("--untrained", action="store_true",
                        help="re-initialise the checkpoint's layers first (the control)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = load_policy(args.checkpoint, device="cpu")
    if args.untrained:
        torch.manual_seed(0)
        for module in policy.model.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    at = tuple(sorted(args.at))
    sim = dataclasses.replace(SimConfig(), max_steps=at[-1] + 1)
    placements, latents = [], {step: [] for step in at}
    for seed in range(args.first_seed, args.first_seed + args.episodes):
        recorder = LatentRecorder(policy, at)
        run_episode(policy, sim, "clean", 0.0, seed, observer=recorder)
        placements.append(recorder.placement)
        for step in at:
            latents[step].append(recorder.latents[step])
    targets = np.array(placements)
    result = {"command": " ".join(sys.argv), "checkpoint": args.checkpoint,
              "untrained": args.untrained, "episodes": args.episodes,
              "placement_std_mm": targets.std(0).round(1).tolist(), "r2": {}}
    print("| step | ridge | R² dx | R² dy |")
    print("|---|---|---|---|")
    for step in at:
        features = np.array(latents[step])
        for alpha in ALPHAS:
            r2 = ridge_r2(features, targets, alpha)
            result["r2"][f"{step}/{alpha:g}"] = r2.round(3).tolist()
            print(f"| {step} | {alpha:g} | {r2[0]:.2f} | {r2[1]:.2f} |")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
