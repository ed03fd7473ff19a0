"""Training throughput (tokens/s) of a model config on a store: the recipe against the old path.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/train_bench.py --data data/demos/fruit_swap.zarr \
        [--config config/model_cpu.yaml] [--threads 2] [--steps 10] [--batch 8] [--device cpu] \
        [--set train.KEY=VALUE ...]

Modes, timed in turns within one run (so a busy machine slows each alike; the ratios are the
figures to quote):

    legacy   the loss before issue 21: whole padded episodes, one token at a time through
             encoders, transition and heads, the model's weights contiguous (kept here,
             verbatim in effect, as the reference)
    whole    today's loss, on the model as the trainer places it (channels-last), on the same
             whole-episode batches (rows packed by length, all tokens encoded in one batch),
             full back-propagation, the config's query
    recipe   the batches the config's recipe asks for at ``--at`` of its steps (start windows,
             windows after a burn-in, image-loss share, augmentation, faults, the executed
             chunks' drift) as ``build_batch`` makes them, and the loss with its query
             (``query_weight``)

A token counts when it is trained (burn-in tokens do not); tokens/s is all trained tokens over
all loss+backward+step time of a mode after one warm-up round (the recipe mixes batch kinds).
``augment_and_faults_ms_per_batch_median`` is the cost of the recipe's image augmentation and
sensor faults per batch, timed apart.
"""

import argparse
import copy
import json
import os
import statistics
import sys
import time

import torch

from df_policy.config import load_section
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import DiffusionForcingModel, LevelSampling
from df_policy.train.config import TrainConfig
from df_policy.train.dataset import EpisodeDataset
from df_policy.train.trainer import build_batch, place_model


def legacy_loss(model: DiffusionForcingModel, tokens, token_mask, modality_mask, generator,
                sampling: LevelSampling, action_weight: float) -> torch.Tensor:
    """The per-token loop of the loss before issue 21 (the throughput reference)."""
    names = model.config.modalities
    batch, horizon = token_mask.shape
    levels = model.draw_levels(modality_mask, generator, sampling)
    valid = modality_mask & token_mask[:, :, None]
    z = model.initial_latent(batch)
    errors = {name: [] for name in names}
    for t in range(horizon):
        token = {name: tokens[name][:, t] for name in names}
        z, x0_hat = model.step(z, model.noise_token(token, levels[:, t], generator), levels[:, t])
        for name in names:
            errors[name].append(((x0_hat[name] - token[name]) ** 2).flatten(1).mean(dim=1))
    total = torch.zeros(())
    for m, name in enumerate(names):
        weight = valid[:, :, m].float()
        value = (torch.stack(errors[name], dim=1) * weight).sum() / weight.sum().clamp(min=1.0)
        total = total + (action_weight if name == "action" else 1.0) * value
    return total / (len(names) - 1 + action_weight)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--config", default="config/model_cpu.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8, help="episodes per legacy/whole batch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", default="legacy,whole,recipe")
    parser.add_argument("--at", type=float, default=0.6,
                        help="the recipe's stage at this fraction of its steps")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="train.KEY=VALUE", help="override a train key (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    config = load_section(args.config, "model", ModelConfig)
    overrides = [o.removeprefix("train.") for o in args.overrides]
    schedule = load_section(args.config, "train", TrainConfig, overrides)
    recipe = schedule.at(int(args.at * schedule.steps))
    whole = TrainConfig(**{**recipe.__dict__, "batch_size": args.batch, "window_tokens": 0,
                           "start_window_prob": 0.0, "image_loss_share": 1.0,
                           "augment_prob": 0.0, "shadow_prob": 0.0, "fault_prob": 0.0,
                           "history_drift": 0.0})
    dataset = EpisodeDataset(args.data, config)
    normalizer = dataset.fit_normalizer()
    legacy_model = DiffusionForcingModel(config).to(device)
    models = {"legacy": legacy_model, "new": place_model(copy.deepcopy(legacy_model), device)}
    optimizers = {key: torch.optim.AdamW(m.parameters(), lr=1e-4) for key, m in models.items()}
    generator = torch.Generator().manual_seed(0)
    mixed_precision = args.device == "cuda"  # as the trainer does (bfloat16 autocast)
    modes = args.modes.split(",")
    tokens: dict[str, int] = {mode: 0 for mode in modes}
    seconds: dict[str, float] = {mode: 0.0 for mode in modes}
    augment_ms = []
    for step in range(args.steps + 1):
        for mode in modes:
            cfg = recipe if mode == "recipe" else whole
            started = time.perf_counter()
            batch = build_batch(dataset, cfg, normalizer, generator, device, config)
            if mode == "recipe" and step > 0:
                augment_ms.append(_augment_ms(dataset, cfg, normalizer, device, config))
            key = "legacy" if mode == "legacy" else "new"
            model, optimizer = models[key], optimizers[key]
            started = time.perf_counter()
            with torch.autocast(args.device, dtype=torch.bfloat16, enabled=mixed_precision):
                if mode == "legacy":
                    loss = legacy_loss(model, batch.tokens, batch.token_mask,
                                       batch.modality_mask, generator, cfg.level_sampling(),
                                       cfg.action_weight)
                else:
                    loss, _ = model.loss(batch.tokens, batch.token_mask, batch.modality_mask,
                                         generator, cfg.level_sampling(), cfg.action_weight,
                                         batch.level_floor, batch.burn_in, cfg.image_loss_share,
                                         cfg.query_weight, batch.inputs)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if args.device == "cuda":
                torch.cuda.synchronize()
            if step > 0:  # the first round warms up
                tokens[mode] += int(batch.token_mask[:, batch.burn_in:].sum())
                seconds[mode] += time.perf_counter() - started
    rates = {mode: round(tokens[mode] / seconds[mode], 1) for mode in modes}
    report = {
        "command": " ".join(["python", *sys.argv]),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
        "config": args.config, "threads": args.threads, "mixed_precision": mixed_precision,
        "device": args.device if args.device != "cuda" else torch.cuda.get_device_name(),
        "whole_batch_episodes": args.batch,
        "recipe_at": {"fraction": args.at, **{key: getattr(recipe, key) for key in (
            "batch_size", "window_batch_size", "window_tokens", "start_window_prob",
            "image_loss_share", "query_weight", "clean_token_prob",
            "augment_prob", "shadow_prob", "fault_prob", "history_drift")}},
        "parameters": sum(p.numel() for p in legacy_model.parameters()),
        "tokens_per_s": rates,
    }
    if "legacy" in rates:
        report["ratio_to_legacy"] = {mode: round(rate / rates["legacy"], 2)
                                     for mode, rate in rates.items() if mode != "legacy"}
    if augment_ms:
        report["augment_and_faults_ms_per_batch_median"] = round(statistics.median(augment_ms), 1)
    print(json.dumps(report, indent=2))


def _augment_ms(dataset, cfg, normalizer, device, config) -> float:
    """Milliseconds of one recipe batch's augmentation and faults (a batch built twice, with
    and without them, from the same random state)."""
    plain = TrainConfig(**{**cfg.__dict__, "augment_prob": 0.0, "shadow_prob": 0.0,
                           "fault_prob": 0.0})
    times = []
    for each in (cfg, plain):
        generator = torch.Generator().manual_seed(1)
        started = time.perf_counter()
        build_batch(dataset, each, normalizer, generator, device, config)
        times.append(time.perf_counter() - started)
    return 1000 * (times[0] - times[1])


if __name__ == "__main__":
    main()
