"""One control step of the DF policy (absorb + DDIM), batch 1: per-stage median timings.

    python benchmarks/policy_step_bench.py [--checkpoint data/checkpoints/df_fruit_swap]
        [--config config/model_paper.yaml] [--threads 2] [--steps 50] [--device cpu]
        [--action-samples 4] [--sampling-steps 5]

The runtime defaults (config/runtime.yaml) are timed unless --action-samples /
--sampling-steps say otherwise (--sampling-steps 0: the checkpoint's own setting).

With --config, an untrained model of that config is timed (for sizes with no checkpoint).
Bar (issue 5): <= 50 ms median on 2 CPU cores with the shipped model.
"""

import argparse
import json
import statistics
import sys

import numpy as np
import torch

from df_policy.checkpoint import LoadedCheckpoint
from df_policy.config import load_section
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.model.tokens import ActionNormalizer
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.runtime import DFPolicy


def build(args) -> DFPolicy:
    runtime = RuntimeConfig(action_samples=args.action_samples,
                            sampling_steps=args.sampling_steps)
    if args.config:
        config = load_section(args.config, "model", ModelConfig)
        model = DiffusionForcingModel(config).to(args.device).eval()
        normalizer = ActionNormalizer(config.action_dim).to(args.device)
        return DFPolicy(LoadedCheckpoint(model, normalizer, config, {}, None), runtime)
    return DFPolicy.from_checkpoint(args.checkpoint, device=args.device, config=runtime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--config", help="time an untrained model of this YAML's model section")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--action-samples", type=int, default=RuntimeConfig.action_samples)
    parser.add_argument("--sampling-steps", type=int, default=RuntimeConfig.sampling_steps)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    policy = build(args)
    rng = np.random.default_rng(0)
    stages: dict[str, list[float]] = {}
    for step in range(args.steps + 5):
        frames = {cam: rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for cam in policy.cameras}
        output = policy.step(frames)
        if step >= 5:  # warm-up excluded
            for stage, ms in output.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.config or args.checkpoint,
        "device": args.device if args.device != "cuda" else torch.cuda.get_device_name(),
        "threads": args.threads,
        "action_samples": policy.config.action_samples,
        "sampling_steps": policy.config.ddim_steps(policy.model_config.sampling_steps),
        "parameters": sum(p.numel() for p in policy.model.parameters()),
        "median_ms": {stage: round(statistics.median(v), 2) for stage, v in stages.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
