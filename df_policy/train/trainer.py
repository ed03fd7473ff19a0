"""``df-policy train``: fit the Diffusion Forcing model to the demonstrations of a store.

Reads top to bottom like nanoGPT's loop: set up (data, model, optimiser, maybe resume), then
for each step sample a batch of whole episodes, compute the masked x0 loss, step, update the
EMA, log, and checkpoint. Under ``torchrun``, or in the ``train.processes`` that
:func:`train` starts on the CPU, every process builds its share of the step's batch and
DistributedDataParallel averages the gradients.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from df_policy import checkpoint as ckpt
from df_policy.config import to_dict
from df_policy.devices import pick_device
from df_policy.errors import CheckpointError, ConfigError
from df_policy.files import write_atomically
from df_policy.model.config import LongContextConfig, ModelConfig
from df_policy.model.df_model import ACTION_KEY
from df_policy.train.augment import augment_images, moving_shadows
from df_policy.train.config import TrainConfig
from df_policy.train.dataset import EpisodeDataset
from df_policy.train.drift import POSITION, history_drift
from df_policy.train.faults import sensor_faults

LOG_FIELDS = ("step", "stage", "loss", "loss/front", "loss/wrist", "loss/gripper", "loss/action",
              "loss/query", "loss/past", "lr", "grad_norm", "tokens_per_s", "wall_s")
LOSS_FIELDS = LOG_FIELDS[2:9]
"""The columns :func:`plot_losses` draws (those a run logs)."""


@dataclasses.dataclass
class Batch:
    """One training batch on the device (see :func:`build_batch`)."""

    tokens: dict[str, torch.Tensor]
    token_mask: torch.Tensor
    modality_mask: torch.Tensor
    level_floor: torch.Tensor | None
    """(B, T, M) lowest noise level per entry (sensor faults), or None."""
    burn_in: int
    """Leading tokens that only build the latent."""
    inputs: dict[str, torch.Tensor]
    """What the model is given where it differs from ``tokens``, the loss's targets: the
    cameras' faulty frames, the executed chunks with a tracking drift; empty: the tokens."""


def build_batch(dataset: EpisodeDataset, cfg: TrainConfig, normalizer: torch.nn.Module,
                generator: torch.Generator, device: torch.device,
                model_cfg: ModelConfig) -> Batch:
    """Sample a batch as ``cfg`` (one stage's resolved config) asks: whole episodes, an
    episode-start window or a window after a burn-in; then augmentation, sensor faults and
    the executed chunks' tracking drift."""
    burn_in = 0
    rows = cfg.window_batch_size or cfg.batch_size
    start_window = (cfg.start_window_prob > 0
                    and bool(torch.rand((), generator=generator) < cfg.start_window_prob))
    if start_window:
        tokens, token_mask, modality_mask = dataset.sample_batch(
            rows, normalizer, generator, max_tokens=cfg.start_window_tokens)
    elif cfg.window_tokens > 0:
        tokens, token_mask, modality_mask, burn_in = dataset.sample_window(
            rows, normalizer, generator, cfg.window_tokens)
    else:
        tokens, token_mask, modality_mask = dataset.sample_batch(cfg.batch_size, normalizer,
                                                                 generator)
    tokens = {k: v.to(device) for k, v in tokens.items()}
    for cam in model_cfg.cameras:  # on the device: the images are the batch's bulk
        images = augment_images(tokens[cam], cfg.augment_prob, cfg.augment_strength, generator)
        tokens[cam] = moving_shadows(images, cfg.shadow_prob, generator)
    inputs = {}  # faults and drift change what the model is given, never what it is asked
    images, floor = sensor_faults({cam: tokens[cam] for cam in model_cfg.cameras},
                                  cfg.fault_prob, model_cfg.num_levels - 1, generator)
    if floor is not None:  # the gripper and the action have no fault: floor 0
        inputs.update(images)
        others = len(model_cfg.modalities) - len(model_cfg.cameras)
        floor = torch.cat([floor, torch.zeros_like(floor[..., :1]).expand(-1, -1, others)], dim=2)
    if cfg.history_drift > 0:
        half_range = ((normalizer.high - normalizer.low) / 2)[POSITION]
        inputs[ACTION_KEY] = history_drift(tokens[ACTION_KEY], cfg.history_drift, half_range,
                                           model_cfg.chunk, generator)
    return Batch(tokens, token_mask.to(device), modality_mask.to(device), floor, burn_in,
                 inputs)


def place_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The model on ``device`` with its 4-D weights in channels-last memory format: the
    convolutions' activations follow their weights, and oneDNN runs them about a sixth
    faster on the CPU (docs/results.md, "Channels-last weights"). Only the layout changes,
    not the maths; checkpoints are saved contiguous."""
    return model.to(device, memory_format=torch.channels_last)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then one cosine decay to 10% of the peak over the whole run."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model."""
    for ema_param, param in zip(ema.parameters(), model.parameters(), strict=True):
        ema_param.lerp_(param, 1.0 - decay)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun or
    :func:`_train_in_processes`."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _train_in_processes(processes: int, *args: Any) -> dict[str, Any]:
    """:func:`train` (``args`` are its arguments) in ``processes`` processes on this machine,
    joined over the loopback only; returns process 0's figures. One process's failure stops
    the others and is raised here with its traceback."""
    with socket.socket() as probe:  # a free port on the loopback for the rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    figures = torch.multiprocessing.get_context("spawn").SimpleQueue()
    try:
        torch.multiprocessing.start_processes(_process, (processes, port, figures, args),
                                              nprocs=processes, start_method="spawn")
    except torch.multiprocessing.ProcessRaisedException:
        if not figures.empty():  # the first error raised, as its own type (ConfigError...)
            raise figures.get() from None
        raise
    return figures.get()


def _process(rank: int, world: int, port: int, figures: Any, args: tuple[Any, ...]) -> None:
    """One of :func:`_train_in_processes`' processes: puts process 0's figures, or its
    error, on ``figures``."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      GLOO_SOCKET_IFNAME=os.environ.get("GLOO_SOCKET_IFNAME", "lo"))
    try:
        result = train(*args)
    except Exception as error:
        figures.put(error)
        raise
    if rank == 0:
        figures.put(result)


def _gathered(value: Any, world: int) -> list[Any]:
    """``value`` of every process, in rank order."""
    if world == 1:
        return [value]
    values: list[Any] = [None] * world
    dist.all_gather_object(values, value)
    return values


def train(
    data: str | Path,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    progress: bool = True,
    kind: str = "df",
    on_checkpoint: Callable[[Path, int], dict[str, float]] | None = None,
    context_cfg: LongContextConfig | None = None,
) -> dict[str, Any]:
    """Train into run folder ``out`` (or continue it with ``resume``); returns final figures.

    ``kind`` is ``df`` (the Diffusion Forcing model), ``dp`` (the DP-style baseline), or one of
    the long-context rivals ``dp_long`` and ``ptp``, configured by ``context_cfg`` (default:
    :class:`LongContextConfig`'s defaults; it is saved as the checkpoint's ``long_context``).
    ``on_checkpoint(folder, step)``, if given, runs after every checkpoint (e.g. a few
    simulated episodes); its figures are appended to ``<out>/checkpoint_eval.csv``.
    """
    out = Path(out)
    device = pick_device(train_cfg.device)
    start = train_cfg.processes > 1 and device.type == "cpu" and "WORLD_SIZE" not in os.environ
    world = train_cfg.processes if start else int(os.environ.get("WORLD_SIZE", "1"))
    for stage_cfg in (train_cfg.at(row["steps"][0]) for row in train_cfg.schedule()):
        stage_cfg.per_process(world)  # every stage's batches split over the processes
        weights = stage_cfg.camera_dropout_weights
        if weights is not None and len(weights) != len(model_cfg.cameras):
            raise ConfigError(f"train.camera_dropout_weights has {len(weights)} entries for "
                              f"{len(model_cfg.cameras)} cameras {model_cfg.cameras}")
    ckpt.check_kind(kind, context_cfg)
    if start:
        if on_checkpoint is not None:
            raise ConfigError("checkpoint evaluation (--eval-episodes) runs in one process: "
                              "set train.processes=1")
        return _train_in_processes(world, data, model_cfg, train_cfg, out, resume, progress,
                                   kind, None, context_cfg)
    rank, world = _distributed()
    torch.set_num_threads(train_cfg.num_threads)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", rank % torch.cuda.device_count())
    if kind != "df":  # the rivals' losses read the recorded chunks; the drift is DF's input
        train_cfg = dataclasses.replace(train_cfg, history_drift=0.0)
    if kind in ckpt.LONG_CONTEXT_KINDS:
        context_cfg = context_cfg or LongContextConfig()
    # Reads every episode: after the cheap checks.
    dataset = EpisodeDataset(data, model_cfg, drop_idle=train_cfg.drop_idle_steps)
    sections = {"policy": {"kind": kind}, "model": to_dict(model_cfg),
                **({"long_context": to_dict(context_cfg)} if context_cfg else {}),
                "train": to_dict(train_cfg), "schedule": train_cfg.schedule(),
                "data": {"store": str(data), "episodes": len(dataset),
                         "idle_steps_dropped": dataset.idle_steps_dropped}}

    # -- model, EMA, optimiser, RNG (fresh or resumed) ---------------------------------------
    torch.manual_seed(train_cfg.seed)  # the same initial weights on every rank and run
    # On the device before the optimiser exists: resumed optimiser moments follow the weights.
    model = place_model(ckpt.make_model(kind, model_cfg, context_cfg), device)
    normalizer = dataset.fit_normalizer()  # stays on the CPU, where batches are built
    if dataset.gripper_range is not None:  # before the EMA copy: both save it
        model.gripper_range.load_state_dict(dataset.gripper_range.state_dict())
    generator = torch.Generator().manual_seed(train_cfg.seed + rank)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, betas=train_cfg.betas,
                                  weight_decay=train_cfg.weight_decay)
    step, wall_before = 0, 0.0
    ema = copy.deepcopy(model).eval()
    if resume:
        step, wall_before = _resume(out, model, ema, normalizer, optimizer, generator, sections,
                                    rank, world)
    elif (out / ckpt.LATEST).exists():
        raise CheckpointError(f"{out} already holds a run; pass --resume to continue it")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, train_cfg),
                                                  last_epoch=step - 1)
    # A batch may leave parameters out (no image decoded in a short window, z0 behind a
    # burn-in), and the processes' batch kinds differ: DDP must look for them.
    trained = (torch.nn.parallel.DistributedDataParallel(model, find_unused_parameters=True)
               if world > 1 else model)
    autocast = device.type == "cuda" and train_cfg.mixed_precision

    # -- the loop ---------------------------------------------------------------------------
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "log.csv"
    writer = None
    if rank == 0:
        new_log = not log_file.exists() or not resume
        # A resumed log keeps its own columns, and drops the rows this run logs again.
        fields = LOG_FIELDS if new_log else _resumed_log_fields(log_file, step)
        handle = log_file.open("w" if new_log else "a", newline="")
        writer = csv.DictWriter(handle, fields, extrasaction="ignore")
        if new_log:
            writer.writeheader()
    bar = tqdm(total=train_cfg.steps, initial=step, disable=not progress or rank != 0,
               unit="step", desc="train")
    tokens_seen, clock = 0, time.perf_counter()
    started = clock
    final_loss = None  # stays None when a resumed run has already reached train_cfg.steps
    stage_cfg = {}  # stage index -> its resolved config
    while step < train_cfg.steps:
        index = train_cfg.stage_index(step)
        cfg = stage_cfg.setdefault(index, train_cfg.at(step).per_process(world))
        batch = build_batch(dataset, cfg, normalizer, generator, device, model_cfg)
        token_mask = batch.token_mask
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            if kind == "df":
                loss, info = trained(batch.tokens, token_mask, batch.modality_mask, generator,
                                     cfg.level_sampling(), cfg.action_weight, batch.level_floor,
                                     batch.burn_in, cfg.image_loss_share, cfg.query_weight,
                                     batch.inputs)
            elif kind == "dp":  # the rivals read images only as inputs: the faulty frames
                loss, info = trained({**batch.tokens, **batch.inputs}, token_mask,
                                     batch.modality_mask, generator)
            else:  # the rivals: camera dropout as black frames; window samples after burn-in
                loss, info = trained({**batch.tokens, **batch.inputs}, token_mask,
                                     batch.modality_mask, generator, cfg.level_sampling(),
                                     batch.burn_in)
        if not torch.isfinite(loss):
            raise CheckpointError(
                f"loss became {loss.item()} at step {step}; the last good checkpoint is kept "
                f"in {out} (try a lower lr or a larger grad_clip)"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        update_ema(ema, model, train_cfg.ema_decay if step >= train_cfg.warmup_steps else 0.0)
        step += 1
        final_loss = loss.detach()
        tokens_seen += int(token_mask[:, batch.burn_in:].sum())
        bar.update(1)
        last = step == train_cfg.steps
        if step % train_cfg.log_every == 0 or last:
            rate = sum(_gathered(tokens_seen, world)) / (time.perf_counter() - clock)
            if rank == 0:
                row = {"step": step, "stage": index, "loss": loss.item(), **info,
                       "lr": scheduler.get_last_lr()[0],
                       "grad_norm": float(grad_norm), "tokens_per_s": round(rate, 1),
                       "wall_s": round(wall_before + time.perf_counter() - started, 1)}
                writer.writerow(row)
                handle.flush()
                bar.set_postfix(loss=f"{loss.item():.4f}", tok_s=f"{rate:.0f}")
            tokens_seen, clock = 0, time.perf_counter()
        if step % train_cfg.checkpoint_every == 0 or last:
            generators = _gathered(generator.get_state(), world)  # every process's stream
            if rank == 0:
                state = {"step": step, "optimizer": optimizer.state_dict(),
                         "scheduler": scheduler.state_dict(), "generators": generators,
                         "wall_s": wall_before + time.perf_counter() - started}
                folder = ckpt.save_checkpoint(out, step, model, ema, normalizer, sections,
                                              state)
                if on_checkpoint is not None:
                    figures = {"step": step, **on_checkpoint(folder, step)}
                    _append_csv(out / "checkpoint_eval.csv", figures)
                    bar.write(" ".join(f"{k}={v}" for k, v in figures.items()))
    bar.close()
    if rank == 0:
        handle.close()
        plot_losses(log_file, out / "loss.png")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {"run": str(out), "step": step, "episodes": len(dataset),
            "wall_s": round(wall_before + time.perf_counter() - started, 1),
            "final_loss": None if final_loss is None else final_loss.item(),
            "parameters": sum(p.numel() for p in model.parameters())}


def _resume(
    out: Path,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    normalizer: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    sections: dict[str, Any],
    rank: int,
    world: int,
) -> tuple[int, float]:
    """Restore a run's last checkpoint into the given objects (``generator``: process
    ``rank``'s of ``world``); returns its step and the run's training wall time so far
    (seconds)."""
    folder = ckpt.checkpoint_dir(out)
    saved = ckpt.read_sections(folder)
    if ckpt.policy_kind(saved) != ckpt.policy_kind(sections):
        raise CheckpointError(f"cannot resume {out}: it trains a {ckpt.policy_kind(saved)!r} "
                              f"policy, not {ckpt.policy_kind(sections)!r}")
    for section in ("model", "long_context"):
        changed = ckpt.diff_configs(saved.get(section) or {}, sections.get(section) or {})
        if changed:
            raise CheckpointError(f"cannot resume {out}: {section} config differs "
                                  f"({'; '.join(changed)})")
    ckpt.load_weights(model, folder / "model.safetensors")
    ckpt.load_weights(ema, folder / "ema.safetensors")
    ckpt.load_weights(normalizer, folder / "normalizer.safetensors")
    state = ckpt.load_train_state(folder)
    hyperparameters = [{key: group[key] for key in ("lr", "betas", "weight_decay")}
                       for group in optimizer.param_groups]
    optimizer.load_state_dict(state["optimizer"])
    for group, given in zip(optimizer.param_groups, hyperparameters, strict=True):
        # The moments resume; the schedule follows the config given now, not the saved one.
        group.update(given, initial_lr=given["lr"])
    generators = state["generators"] if "generators" in state else [state["generator"]]
    if len(generators) != world:
        raise CheckpointError(f"cannot resume {out}: it was trained by {len(generators)} "
                              f"process(es), not {world} (set train.processes="
                              f"{len(generators)})")
    generator.set_state(generators[rank])
    return int(state["step"]), float(state.get("wall_s", 0.0))


def _resumed_log_fields(file: Path, step: int) -> list[str]:
    """The column names of a run's CSV log, after rewriting it (atomically) without its rows
    of steps after ``step``: a run killed after its last checkpoint logged steps that the
    resumed run logs again."""
    with file.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    column = header.index("step")
    kept = [row for row in rows if row and int(row[column]) <= step]
    if len(kept) < len(rows):
        text = io.StringIO(newline="")
        csv.writer(text).writerows([header, *kept])
        write_atomically(file, text.getvalue())
    return header


def _append_csv(file: Path, row: dict[str, Any]) -> None:
    """Append one row to a CSV file, writing the header when the file is new."""
    new = not file.exists()
    with file.open("a", newline="") as handle:
        writer = csv.DictWriter(handle, list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def plot_losses(log_file: Path, png: Path) -> None:
    """Loss per modality against step, from the CSV log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with log_file.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in LOSS_FIELDS:
        values = [float(r[key]) for r in rows if r.get(key)]
        if len(values) == len(steps):
            ax.plot(steps, values, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("x0 MSE")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)

