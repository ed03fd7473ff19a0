"""The ``df-policy`` command line: thin subcommands over library functions.

Every subcommand parses its arguments, builds the typed configs, and calls one library
function. User errors (bad arguments, bad config, bad data) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from df_policy.config import load_section
from df_policy.errors import ConfigError, DfPolicyError
from df_policy.paths import data_dir
from df_policy.seeds import EVAL_SEED_OFFSET, VALIDATION_SEED_OFFSET

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (no usage dump) and exit with code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _config_args(parser: argparse.ArgumentParser, default: Path | None) -> None:
    parser.add_argument(
        "--config", type=Path, default=default, help=f"YAML config file (default: {default})"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key of this command's section (repeatable)",
    )


# --------------------------------------------------------------------------------------------
# Subcommands


def _cmd_collect(args: argparse.Namespace) -> int:
    from df_policy.data.config import CollectConfig
    from df_policy.sim.config import SimConfig

    sim = load_section(args.config, "sim", SimConfig, args.sim_overrides)
    overrides = list(args.overrides)
    for key in ("episodes", "workers", "seed", "videos"):
        if getattr(args, key) is not None:
            overrides.append(f"{key}={getattr(args, key)}")
    cfg = load_section(args.config, "collect", CollectConfig, overrides)
    from df_policy.data.collect import collect

    summary = collect(args.out, sim, cfg, resume=args.resume, progress=not args.quiet)
    print(json.dumps(summary, indent=2))
    return 0


def _cmd_teleop(args: argparse.Namespace) -> int:
    os.environ["MUJOCO_GL"] = "glfw"  # the viewer and the cameras share one GLFW display
    from df_policy.data.store import EpisodeStore
    from df_policy.sim.config import SimConfig
    from df_policy.sim.teleop import run_teleop

    sim = load_section(args.config, "sim", SimConfig, args.overrides)
    store = EpisodeStore.open_or_create(
        args.out, cameras=sim.cameras, image_size=sim.image_size, control_hz=sim.control_hz
    )

    def save(arrays: dict, success: bool, seed: int) -> None:
        index = store.append_episode(arrays, success=success, seed=seed)
        print(f"saved episode {index} ({len(arrays['action'])} steps, success={success})")

    saved = run_teleop(sim, save, device=args.device, seed=args.seed,
                       max_episodes=args.episodes, view_target=args.view)
    print(f"{saved} episodes saved to {args.out}")
    return 0


def _cmd_dataset_info(args: argparse.Namespace) -> int:
    from df_policy.data.store import describe

    info = describe(args.path)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if key == "runs":
                value = f"{len(value)} recorded (--json shows their settings)"
            print(f"{key:<{width}}  {value}")
    return 0


def _cmd_convert_bag2zarr(args: argparse.Namespace) -> int:
    from df_policy.data.bag_import import convert_bags
    from df_policy.data.config import BagImportConfig

    cfg = load_section(args.topics, "bag2zarr", BagImportConfig, args.overrides)
    print(json.dumps(convert_bags(args.bags, cfg, args.out), indent=2))
    return 0


def _cmd_convert_zarr2lerobot(args: argparse.Namespace) -> int:
    from df_policy.data.lerobot.export import export_lerobot

    print(json.dumps(export_lerobot(args.store, args.out, progress=not args.quiet), indent=2))
    return 0


def _cmd_convert_lerobot2zarr(args: argparse.Namespace) -> int:
    from df_policy.data.lerobot.load import import_lerobot

    print(json.dumps(import_lerobot(args.folder, args.out, progress=not args.quiet), indent=2))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from df_policy.checkpoint import LONG_CONTEXT_KINDS
    from df_policy.model.config import LongContextConfig, ModelConfig
    from df_policy.train.config import TrainConfig

    sections = ("model.", "train.", "long_context.")
    overrides = {section: [o.removeprefix(section) for o in args.overrides
                           if o.startswith(section)] for section in sections}
    unknown = [o for o in args.overrides if not o.startswith(sections)]
    if unknown:
        raise ConfigError(f"train overrides must start with {', '.join(sections)}: {unknown}")
    if args.steps is not None:
        overrides["train."].append(f"steps={args.steps}")
    if args.device is not None:
        overrides["train."].append(f"device={args.device}")
    model_cfg = load_section(args.config, "model", ModelConfig, overrides["model."])
    train_cfg = load_section(args.config, "train", TrainConfig, overrides["train."])
    context_cfg = None
    if args.policy in LONG_CONTEXT_KINDS:
        context_file = args.long_context or data_dir("config") / "long_context.yaml"
        context_cfg = load_section(context_file, "long_context", LongContextConfig,
                                   overrides["long_context."])
    elif args.long_context is not None or overrides["long_context."]:
        raise ConfigError(f"--long-context and long_context.* settings apply to --policy "
                          f"{' or '.join(LONG_CONTEXT_KINDS)} only, not to {args.policy}")
    from df_policy.train.trainer import train

    out = args.resume or args.out
    if out is None:
        raise ConfigError("give --out RUN_DIR (or --resume RUN_DIR)")
    hook = None
    if args.eval_episodes:
        from df_policy.eval.runner import checkpoint_evaluator
        from df_policy.policy.config import RuntimeConfig
        from df_policy.sim.config import SimConfig

        hook = checkpoint_evaluator(
            args.eval_episodes, load_section(data_dir("config") / "runtime.yaml", "runtime",
                                             RuntimeConfig),
            load_section(data_dir("config") / "sim.yaml", "sim", SimConfig),
            Path(out) / "checkpoint_eval")
    result = train(args.data, model_cfg, train_cfg, out, resume=args.resume is not None,
                   progress=not args.quiet, kind=args.policy, on_checkpoint=hook,
                   context_cfg=context_cfg)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from df_policy.eval.executors import make_executor
    from df_policy.eval.rivals import policy_runtime
    from df_policy.eval.runner import evaluate
    from df_policy.eval.suites import check_severity, default_severities
    from df_policy.sim.config import SimConfig

    default_severities(args.suite)  # a bad suite is the first error, before the checkpoint
    for severity in args.severity or ():
        check_severity(args.suite, severity)
    runtime = policy_runtime(args.checkpoint, args.baseline, args.config, args.overrides)
    sim = load_section(data_dir("config") / "sim.yaml", "sim", SimConfig, args.sim_overrides)
    severities = tuple(args.severity) if args.severity else None
    if args.view:
        from df_policy.viz.eval_view import view_episodes

        view_episodes(args.checkpoint, args.suite, severities, args.view_episodes,
                      args.first_seed, runtime, sim, args.view, not args.quiet)
    executor = make_executor(args.workers, args.ray)
    try:
        report = evaluate(args.checkpoint, args.suite, args.episodes, args.workers, runtime,
                          sim, args.out, severities, args.first_seed, not args.quiet,
                          args.videos, executor)
    finally:
        executor.close()
    for cell in report["cells"]:
        low, high = cell["wilson95"]
        print(f"{report['suite']} severity {cell['severity']:g}: success "
              f"{cell['successes']}/{cell['episodes']} = {cell['success_rate']:.2f} "
              f"[{low:.2f}, {high:.2f}]  policy step {cell['policy_ms_median']:.1f} ms")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    from df_policy.ros.graph import run_demo, stop_group

    view = None
    view_log = Path("results/demo_logs/view_node.log")
    if args.view:
        from df_policy.ros.view_node import start_view_process, wait_until_matched
        from df_policy.viz.live_view import check_target

        view = start_view_process(check_target(args.view), view_log)
    try:
        result = run_demo(args.episodes, args.params, args.checkpoint, args.json, args.video,
                          before_episodes=(lambda: wait_until_matched(view_log)) if view else None)
        if view is not None:
            from df_policy.ros.view_node import wait_for_episodes

            wait_for_episodes(view_log, [o["seed"] for o in result["outcomes"]])
    finally:
        if view is not None:
            stop_group(view)  # SIGINT: the view node finishes the recording
    p50 = result["policy_step_ms"]["p50"]
    print(f"success {result['success_rate']:.2f} over {result['episodes']} episodes; policy "
          f"step p50 {p50:.1f} ms" if p50 is not None else "no latency samples")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from df_policy.policy.config import RuntimeConfig
    from df_policy.policy.export import export_checkpoint, recalibrate_checkpoint

    runtime = load_section(args.config, "runtime", RuntimeConfig, args.overrides)
    if args.run is not None and args.data is not None and args.out is not None:
        result = export_checkpoint(args.run, args.data, args.out, args.calibration_episodes,
                                   runtime)
        folder = args.out
    elif args.run is None and args.checkpoint is not None and (args.onnx or args.data):
        result, folder = {}, args.checkpoint
        if args.data is not None:
            result = recalibrate_checkpoint(folder, args.data, args.calibration_episodes,
                                            runtime)
    else:
        raise ConfigError("give --run RUN --data STORE --out FOLDER [--onnx], or "
                          "--checkpoint FOLDER with --data STORE (calibrate its gating anew) "
                          "and/or --onnx")
    if args.onnx:
        from df_policy.policy.onnx_export import export_onnx

        result["onnx"] = export_onnx(folder, runtime)
    print(json.dumps(result, indent=2))
    return 0


def _cmd_sim_bench(args: argparse.Namespace) -> int:
    from df_policy.sim.bench import run_sim_bench

    result = run_sim_bench(steps=args.steps, repeats=args.repeats, demos=args.demos)
    print(json.dumps(result, indent=2))
    return 0


# --------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    """The full ``df-policy`` argument parser."""
    parser = _Parser(prog="df-policy", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sim_yaml = data_dir("config") / "sim.yaml"

    p = sub.add_parser("collect", help="collect scripted demonstrations into a zarr store")
    p.add_argument("--out", type=Path, required=True, help="zarr store to create or extend")
    p.add_argument("--episodes", type=int, help="number of episodes in the finished store")
    p.add_argument("--workers", type=int, help="parallel worker processes")
    p.add_argument("--seed", type=int, help="seed of the first episode")
    p.add_argument("--videos", type=int, help="how many episodes to save as mp4")
    p.add_argument("--resume", action="store_true", help="continue an interrupted collection")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--sim", dest="sim_overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one simulator config key (repeatable)",
    )
    _config_args(p, sim_yaml)
    p.set_defaults(func=_cmd_collect)

    p = sub.add_parser("teleop", help="drive the arm from the keyboard or a 3Dconnexion "
                       "SpaceMouse and record episodes")
    p.add_argument("--out", type=Path, required=True, help="zarr store to append to")
    p.add_argument("--device", choices=["keyboard", "spacemouse"], default="keyboard")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    p.add_argument("--episodes", type=int, default=None, help="stop after this many episodes")
    p.add_argument("--view", metavar="FILE.rrd|spawn|URL",
                   help="also stream the cameras, commands and outcomes to rerun")
    _config_args(p, sim_yaml)
    p.set_defaults(func=_cmd_teleop)

    p = sub.add_parser("dataset", help="inspect an episode store")
    dsub = p.add_subparsers(dest="dataset_command", required=True, parser_class=_Parser)
    q = dsub.add_parser("info", help="episodes, steps, success rate, size")
    q.add_argument("path", type=Path, help="zarr episode store")
    q.add_argument("--json", action="store_true", help="machine-readable output")
    q.set_defaults(func=_cmd_dataset_info)

    p = sub.add_parser("convert", help="import recordings into an episode store, or export one")
    csub = p.add_subparsers(dest="convert_command", required=True, parser_class=_Parser)
    q = csub.add_parser("bag2zarr", help="rosbag2 (MCAP or sqlite3) bags -> zarr episodes")
    q.add_argument("bags", type=Path, nargs="+", metavar="BAG", help="bag folders or files")
    q.add_argument("--topics", type=Path, default=data_dir("config") / "topics.yaml",
                   help="topic mapping and episode splitting (section 'bag2zarr')")
    q.add_argument("--out", type=Path, required=True, help="zarr store to create or append to")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one key of the topics file (repeatable)")
    q.set_defaults(func=_cmd_convert_bag2zarr)
    q = csub.add_parser("zarr2lerobot", help="episode store -> LeRobotDataset v3.0 folder "
                        "(parquet + one mp4 per camera)")
    q.add_argument("store", type=Path, metavar="STORE", help="zarr episode store")
    q.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_convert_zarr2lerobot)
    q = csub.add_parser("lerobot2zarr", help="LeRobotDataset v3.0 folder (as zarr2lerobot "
                        "writes it) -> new episode store")
    q.add_argument("folder", type=Path, metavar="DIR", help="LeRobot dataset folder")
    q.add_argument("--out", type=Path, required=True, help="zarr store to create")
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.set_defaults(func=_cmd_convert_lerobot2zarr)

    p = sub.add_parser("train", help="train the Diffusion Forcing model on a store")
    p.add_argument("--data", type=Path, required=True, help="zarr episode store")
    p.add_argument("--out", type=Path, help="run folder to create")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue this run folder")
    p.add_argument("--steps", type=int, help="total optimiser steps (overrides train.steps)")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], help="overrides train.device")
    p.add_argument("--policy", choices=["df", "dp", "dp_long", "ptp"], default="df",
                   help="df: Diffusion Forcing (default); dp: the DP-style baseline (2-frame "
                        "window); dp_long: Diffusion Policy on the last H tokens' images and "
                        "actions; ptp: the same on images, with past-token prediction")
    p.add_argument("--eval-episodes", type=int, default=0, metavar="N",
                   help="after each checkpoint, run N clean simulated episodes and log the "
                        "success rate (checkpoint_eval.csv); 0 = off")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--config", type=Path, default=data_dir("config") / "model_cpu.yaml",
                   help="YAML with model: and train: sections (default: config/model_cpu.yaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="SECTION.KEY=VALUE",
                   help="override model.X, train.X or long_context.X (repeatable)")
    p.add_argument("--long-context", type=Path, metavar="FILE",
                   help="YAML with the long_context: section of --policy dp_long or ptp "
                        "(default: config/long_context.yaml)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="closed-loop success of a checkpoint under a suite")
    p.add_argument("--checkpoint", type=Path, required=True, help="run or checkpoint folder")
    p.add_argument("--suite", required=True,
                   help="a suite (clean, noise, drops, freeze, occlusion, distractors, "
                        "wrist_dead, latency, ...) or a corruption of the benchmark "
                        "(docs/corruptions.md; a+b: two at once)")
    p.add_argument("--severity", type=float, action="append",
                   help="severity to run (repeatable; a corruption's is its level 1, 2 or 3; "
                        "default: all of the suite's)")
    p.add_argument("--episodes", type=int, default=100, help="episodes per severity")
    p.add_argument("--first-seed", type=int, default=EVAL_SEED_OFFSET,
                   help="seed of the first episode (default: the held-out test seeds; "
                        f"tune settings on others, e.g. {VALIDATION_SEED_OFFSET})")
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run the episodes on a Ray cluster instead: auto, local or HOST:PORT")
    p.add_argument("--baseline", choices=["memoryless", "noise_unaware"],
                   help="run a baseline variant of the same DF checkpoint")
    p.add_argument("--out", type=Path, required=True, help="folder for results.json and plots")
    p.add_argument("--videos", type=int, default=2,
                   help="episodes per severity written as camera-vs-forecast mp4s")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--sim", dest="sim_overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override one simulator config key (repeatable)")
    p.add_argument("--view", metavar="FILE.rrd|spawn|URL",
                   help="first stream --view-episodes episodes of each severity to rerun: a "
                        ".rrd file, a viewer it starts (spawn) or a rerun+http:// address")
    p.add_argument("--view-episodes", type=int, default=1, metavar="N",
                   help="episodes per severity shown with --view (default 1)")
    _config_args(p, data_dir("config") / "runtime.yaml")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("demo", help="closed-loop fruit swapping through the ROS 2 nodes")
    p.add_argument("--episodes", type=int, default=2, help="episodes to run")
    p.add_argument("--params", type=Path, default=data_dir("config") / "arm.yaml",
                   help="node parameter file (default: config/arm.yaml)")
    p.add_argument("--checkpoint", help="override policy_node's checkpoint parameter")
    p.add_argument("--json", type=Path, help="write success and latency figures here")
    p.add_argument("--video", type=Path, default=Path("results/demo_front.mp4"),
                   help="mp4 of the front camera during the first episode")
    p.add_argument("--view", metavar="FILE.rrd|spawn|URL",
                   help="also stream cameras, forecasts, levels, surprise, commands and "
                        "outcomes to rerun (a node in its own process)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("export", help="make a deployable checkpoint (EMA + calibration, "
                                      "ONNX graphs with --onnx)")
    p.add_argument("--run", type=Path, help="training run folder")
    p.add_argument("--data", type=Path,
                   help="store of clean demonstrations to calibrate innovation gating on")
    p.add_argument("--out", type=Path, help="checkpoint folder to write")
    p.add_argument("--calibration-episodes", type=int, default=10,
                   help="last N episodes of the store used for calibration")
    p.add_argument("--onnx", action="store_true",
                   help="also write absorb.onnx and predict.onnx beside the weights (the "
                        "onnxruntime backend), for the runtime config's sampling")
    p.add_argument("--checkpoint", type=Path,
                   help="instead of --run: an exported checkpoint folder to calibrate anew "
                        "on --data, or to add the graphs to with --onnx")
    _config_args(p, data_dir("config") / "runtime.yaml")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("sim-bench", help="measure simulator speed")
    p.add_argument("--steps", type=int, default=500, help="control steps per timing run")
    p.add_argument("--repeats", type=int, default=5, help="timing runs (median reported)")
    p.add_argument("--demos", type=int, default=0, help="also time collecting this many demos")
    p.set_defaults(func=_cmd_sim_bench)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``df-policy``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (DfPolicyError, FileNotFoundError) as err:
        print(f"df-policy: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("df-policy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
