"""One control step of the DF policy as the runtime runs it (batch 1), per backend, in one run.

    python benchmarks/policy_step_bench.py [--checkpoint data/checkpoints/df_fruit_swap]
        [--config config/model_paper.yaml] [--threads 2] [--steps 50] [--device cpu]
        [--action-samples 4] [--sampling-steps 1] [--variants torch,onnxruntime,...]
        [--peak-gflops 190]

Each variant runs in a process of its own, as a robot runs one backend: two thread pools in
one process (torch's OpenMP and ONNX Runtime's) fight over 2 cores and distort both. The
processes take turns, ``--rounds`` rounds of ``--steps / --rounds`` steps each, on the same
frames, so a busy machine slows them alike and their ratio stays fair. Every process keeps
the OpenMP wait policy of the environment (unset: the library's default). Variants (the
ideas of issue 23, each measured):

    torch               eager PyTorch, the runtime's default backend
    torch_channels_last eager PyTorch with the model in channels-last memory format
    onnxruntime         the exported graphs as the runtime runs them: every ONNX Runtime graph
                        optimisation, the pool's threads spinning between the operators of a
                        run (never between runs), torch at one thread for the host-side
                        tensors (on cuda: the TensorRT execution provider, else CUDA;
                        onnxruntime-gpu)
    onnxruntime_basic   the same graphs with only the basic optimisations (no fusions)
    onnxruntime_1thread the same graphs as onnxruntime with one intra-op thread
    onnxruntime_nospin  the same with the pool's threads sleeping between operators (the
                        runtime until 2026-12-05)
    torch_cuda_graph    (cuda only) eager PyTorch replayed from CUDA graphs captured once

The graphs come from the checkpoint folder when it has current ones, else they are exported
into a temporary copy (with --config: an untrained model of that config, saved to a
temporary folder). The FLOP-count limit is the step's FLOPs (torch's FlopCounterMode on
``DFPolicy.step``) at --peak-gflops (2 AVX-512 cores: about 190 GFLOP/s fp32). Per variant:
p50 and p99 of the step's wall time, and the p50 of its stages and of the process CPU time
it used (``cpu``: with one thread, about what the step takes on a core of its own), and
``idle_cpu_ms``: the process CPU time used in the 50 ms after a step (threads spinning between
steps would show here; the robot's other nodes need those cores).
Bars (issue 23): onnxruntime step <= 5 ms p50 on 2 CPU cores and <= 0.4x the torch step.
"""

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from safetensors.torch import save_file
from torch.utils.flop_counter import FlopCounterMode

from df_policy.checkpoint import LoadedCheckpoint, load_checkpoint
from df_policy.config import load_section, save_resolved
from df_policy.errors import CheckpointError
from df_policy.model.config import ModelConfig
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.model.tokens import ActionNormalizer
from df_policy.policy.backends import TorchBackend
from df_policy.policy.calibration import load_calibration
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.onnx_backend import OnnxBackend, session_options
from df_policy.policy.onnx_export import export_onnx
from df_policy.policy.runtime import DFPolicy

VARIANTS = ("torch", "torch_channels_last", "onnxruntime", "onnxruntime_basic",
            "onnxruntime_1thread", "onnxruntime_nospin")
"""Default variants; ``torch_cuda_graph`` is added with --device cuda."""


class CudaGraphBackend:
    """The torch backend replayed from CUDA graphs: each call is captured once (the shapes are
    static) into a graph with its own input buffers; later calls copy their inputs in, replay
    and clone the outputs, so the launch-bound chain of small kernels costs one launch."""

    def __init__(self, inner: TorchBackend) -> None:
        self.inner, self.device, self.name = inner, inner.device, "torch/cuda+graphs"
        self.graphs: dict[str, tuple[torch.cuda.CUDAGraph, list[torch.Tensor], object]] = {}

    def _run(self, key: str, call, tensors: list[torch.Tensor]):
        if key not in self.graphs:
            static = [t.clone() for t in tensors]
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm-up outside the capture, as torch.cuda.graph asks
                    call(static)
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = call(static)
            self.graphs[key] = (graph, static, out)
        graph, static, out = self.graphs[key]
        for buffer, tensor in zip(static, tensors, strict=True):
            buffer.copy_(tensor)
        graph.replay()
        return out

    def absorb(self, z_prev, token, levels, noise):
        names = list(token)

        def call(t):
            count = len(names)
            return self.inner.absorb(t[0], dict(zip(names, t[1:1 + count], strict=True)),
                                     t[1 + count], dict(zip(names, t[2 + count:], strict=True)))

        flat = [z_prev, *token.values(), levels, *(noise[n] for n in names)]
        return self._run("absorb", call, flat).clone()

    def predict(self, z, noise):
        names = list(noise)

        def call(t):
            return self.inner.predict(t[0], dict(zip(names, t[1:], strict=True)))

        out = self._run("predict", call, [z, *noise.values()])
        return {name: value.clone() for name, value in out.items()}


def untrained_folder(config_file: str, folder: Path) -> Path:
    """A checkpoint folder holding an untrained model of ``config_file``'s model section."""
    config = load_section(config_file, "model", ModelConfig)
    torch.manual_seed(0)
    model = DiffusionForcingModel(config)
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              folder / "model.safetensors")
    save_file(ActionNormalizer(config.action_dim).state_dict(), folder / "normalizer.safetensors")
    save_resolved(folder / "config.yaml", model=config)
    return folder


def with_graphs(folder: Path, runtime: RuntimeConfig, scratch: Path) -> Path:
    """``folder`` if its graphs are current for ``runtime``, else a scratch copy with them."""
    try:
        make_policy(load_checkpoint(folder), runtime, "onnxruntime", torch.device("cpu"))
        return folder
    except CheckpointError:
        copy_dir = scratch / "with_graphs"
        shutil.copytree(folder, copy_dir)
        export_onnx(copy_dir, runtime)
        return copy_dir


def make_policy(loaded: LoadedCheckpoint, runtime: RuntimeConfig, variant: str,
                device: torch.device) -> DFPolicy:
    """The runtime's policy with the backend of ``variant`` (torch: where ``loaded`` is;
    onnxruntime: ``loaded`` on the CPU, the graphs run on ``device``)."""
    policy = DFPolicy(loaded, runtime, calibration=load_calibration(loaded.path))
    steps = runtime.ddim_steps(loaded.config.sampling_steps)
    if variant == "torch_channels_last":
        model = copy.deepcopy(loaded.model).to(device, memory_format=torch.channels_last)
        policy.backend = TorchBackend(LoadedCheckpoint(model, loaded.normalizer, loaded.config,
                                                       loaded.sections, loaded.path),
                                      steps, runtime.action_samples)
    elif variant == "torch_cuda_graph":
        policy.backend = CudaGraphBackend(TorchBackend(loaded, steps, runtime.action_samples))
    elif variant.startswith("onnxruntime"):
        level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if variant.endswith("basic")
                 else ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        threads = 1 if variant.endswith("1thread") else torch.get_num_threads()
        policy.backend = OnnxBackend(loaded, steps, runtime.action_samples, device,
                                     session_options(threads, level,
                                                     spin=not variant.endswith("nospin")))
    return policy


def step_gflop(policy: DFPolicy, frames: dict[str, np.ndarray]) -> float:
    """FLOPs of one torch step (FlopCounterMode), in GFLOP."""
    with FlopCounterMode(display=False) as counter:
        policy.step(frames)
    policy.reset()
    return counter.get_total_flops() / 1e9


def idle_cpu_ms(policy: DFPolicy, frames: dict[str, np.ndarray], rounds: int = 10,
                idle_s: float = 0.05) -> float:
    """Median process CPU time (ms) used in the ``idle_s`` after a step."""
    used = []
    for _ in range(rounds):
        policy.step(frames)
        start = time.process_time()
        time.sleep(idle_s)
        used.append(1000 * (time.process_time() - start))
    return round(statistics.median(used), 2)


def frames_at(step: int, cameras: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The camera frames of step ``step``: the same in every variant's process."""
    rng = np.random.default_rng(step)
    return {cam: rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for cam in cameras}


def setup(args: argparse.Namespace) -> tuple[torch.device, RuntimeConfig]:
    """Set torch's threads; the device and the runtime the arguments ask for (the parent and
    each variant's process alike)."""
    torch.set_num_threads(args.threads)
    return torch.device(args.device), RuntimeConfig(action_samples=args.action_samples,
                                                    sampling_steps=args.sampling_steps)


def serve(args: argparse.Namespace) -> None:
    """One variant in this process (``--child``): after 5 warm-up steps it says it is ready,
    then answers the parent's commands on stdin, one JSON line each: ``steps N`` (the timings
    of the next N steps) and ``idle`` (:func:`idle_cpu_ms`)."""
    device, runtime = setup(args)
    on_device = args.child.startswith("torch") and device.type != "cpu"
    loaded = load_checkpoint(args.checkpoint, device if on_device else "cpu")
    policy = make_policy(loaded, runtime, args.child, device)
    cameras = loaded.config.cameras
    for step in range(5):
        policy.step(frames_at(step, cameras))
    print(json.dumps({"ready": policy.backend.name}), flush=True)
    step = 0
    for line in sys.stdin:
        command, *count = line.split()
        if command == "idle":
            print(json.dumps(idle_cpu_ms(policy, frames_at(0, cameras))), flush=True)
            continue
        timings = []
        for _ in range(int(count[0])):
            cpu = time.process_time()
            output = policy.step(frames_at(step, cameras))
            timings.append({**output.timings_ms, "cpu": 1000 * (time.process_time() - cpu)})
            step += 1
        print(json.dumps(timings), flush=True)


class Child:
    """A variant's process, driven line by line."""

    def __init__(self, variant: str, folder: Path, args: argparse.Namespace) -> None:
        command = [sys.executable, __file__, "--child", variant, "--checkpoint", str(folder),
                   "--threads", str(args.threads), "--device", args.device,
                   "--action-samples", str(args.action_samples),
                   "--sampling-steps", str(args.sampling_steps)]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        self.backend = ""

    def reply(self) -> Any:
        """The next JSON line the variant writes."""
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a variant's process ended (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, command: str) -> Any:
        """Send one command, return its answer."""
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.reply()

    def close(self) -> None:
        """End the process (EOF on its stdin)."""
        self.process.stdin.close()
        self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="data/checkpoints/df_fruit_swap")
    parser.add_argument("--config", help="time an untrained model of this YAML's model section")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5,
                        help="turns each variant's process takes (steps are split among them)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--action-samples", type=int, default=RuntimeConfig.action_samples)
    parser.add_argument("--sampling-steps", type=int, default=RuntimeConfig.sampling_steps)
    parser.add_argument("--variants", help=f"comma-separated, of {', '.join(VARIANTS)} and "
                                           "torch_cuda_graph (default: all that fit --device)")
    parser.add_argument("--peak-gflops", type=float, default=190.0,
                        help="fp32 peak of the cores timed (FLOP-count limit)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one variant's process
    args = parser.parse_args()
    if args.child:
        serve(args)
        return
    device, runtime = setup(args)
    variants = (args.variants.split(",") if args.variants else
                [*VARIANTS, *(["torch_cuda_graph"] if device.type == "cuda" else [])])
    per_round = -(-args.steps // args.rounds)
    with tempfile.TemporaryDirectory() as scratch:
        folder = (untrained_folder(args.config, Path(scratch) / "untrained") if args.config
                  else Path(args.checkpoint))
        if any(v.startswith("onnxruntime") for v in variants):
            folder = with_graphs(folder, runtime, Path(scratch))
        cpu_loaded = load_checkpoint(folder)
        gflop = step_gflop(make_policy(cpu_loaded, runtime, "torch", torch.device("cpu")),
                           frames_at(0, cpu_loaded.config.cameras))
        children = {variant: Child(variant, folder, args) for variant in variants}
        try:
            for child in children.values():  # all loaded and warm before any is timed
                child.backend = child.reply()["ready"]
            timed = {variant: [] for variant in variants}
            for _ in range(args.rounds):
                for variant, child in children.items():
                    timed[variant] += child.ask(f"steps {per_round}")
            idle = {variant: child.ask("idle") for variant, child in children.items()}
        finally:
            for child in children.values():
                child.close()
    limit_ms = 1000 * gflop / args.peak_gflops
    rows = {}
    for variant, steps in timed.items():
        stages = {stage: [t[stage] for t in steps] for stage in steps[0]}
        p50 = statistics.median(stages["total"])
        rows[variant] = {"backend": children[variant].backend, "p50_ms": round(p50, 2),
                         "p99_ms": round(float(np.percentile(stages["total"], 99)), 2),
                         "x_flop_limit": round(p50 / limit_ms, 2),
                         "stages_p50_ms": {stage: round(statistics.median(v), 2)
                                           for stage, v in stages.items() if stage != "total"},
                         "idle_cpu_ms": idle[variant]}
    if "torch" in rows:
        for row in rows.values():
            row["x_torch"] = round(row["p50_ms"] / rows["torch"]["p50_ms"], 3)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "model": args.config or args.checkpoint,
        "device": args.device if args.device != "cuda" else torch.cuda.get_device_name(),
        "threads": args.threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
        "action_samples": runtime.action_samples,
        "sampling_steps": runtime.ddim_steps(cpu_loaded.config.sampling_steps),
        "parameters": sum(p.numel() for p in cpu_loaded.model.parameters()),
        "gflop_per_step": round(gflop, 3),
        "flop_limit_ms": round(limit_ms, 2),
        "steps": per_round * args.rounds,
        "rounds": args.rounds,
        "variants": rows,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
