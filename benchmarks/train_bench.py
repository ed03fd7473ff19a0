"""Training throughput (tokens/s) of a model config on a store, after warm-up.

    python benchmarks/train_bench.py --data data/demos/fruit_swap.zarr \
        [--config config/model_cpu.yaml] [--threads 2] [--steps 10] [--batch 8] [--device cpu]
"""

import argparse
import json
import statistics
import sys
import time

import torch

from df_policy.config import load_section
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.train.dataset import EpisodeDataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="config/model_cpu.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_section(args.config, "model", ModelConfig)
    dataset = EpisodeDataset(args.data, config)
    normalizer = dataset.fit_normalizer()
    model = DiffusionForcingModel(config).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    mixed_precision = args.device == "cuda"  # as the trainer does (bfloat16 autocast)
    rates = []
    for step in range(args.steps + 2):
        tokens, token_mask, modality_mask = dataset.sample_batch(args.batch, normalizer, generator)
        tokens = {k: v.to(args.device) for k, v in tokens.items()}
        started = time.perf_counter()
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=mixed_precision):
            loss, _ = model.loss(tokens, token_mask.to(args.device),
                                 modality_mask.to(args.device), generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if args.device == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            rates.append(int(token_mask.sum()) / (time.perf_counter() - started))
    print(json.dumps({
        "command": " ".join(["python", *sys.argv]),
        "config": args.config, "threads": args.threads, "mixed_precision": mixed_precision,
        "device": args.device if args.device != "cuda" else torch.cuda.get_device_name(),
        "batch_episodes": args.batch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_per_s_median": round(statistics.median(rates), 1),
    }, indent=2))


if __name__ == "__main__":
    main()
