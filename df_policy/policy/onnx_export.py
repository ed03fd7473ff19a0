"""``df-policy export --onnx``: the absorb and predict graphs beside a checkpoint's weights.

Two files, ``absorb.onnx`` and ``predict.onnx`` (:mod:`df_policy.model.graphs` names their
inputs and outputs), traced with ``torch.onnx.export`` (the torch.export-based exporter).
Each carries in its ``metadata_props`` what it was made from: the export format, the
checkpoint's config hash and model config, the hash of its weights, and (predict) the DDIM
steps and action samples baked into it. :func:`check_graph` refuses a graph whose record
differs from the checkpoint it is loaded with, naming what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from df_policy.checkpoint import LoadedCheckpoint, config_record, diff_configs, load_checkpoint
from df_policy.errors import CheckpointError
from df_policy.files import write_atomically
from df_policy.model.graphs import AbsorbGraph, PredictGraph
from df_policy.policy.config import RuntimeConfig

EXPORT_FORMAT = "1"
"""Bumped whenever the graphs' inputs, outputs or meaning change: older files are refused."""
GRAPH_FILES = {"absorb": "absorb.onnx", "predict": "predict.onnx"}
OPSET = 18
PREFIX = "df_policy."
FORMAT, GRAPH, CONFIG_HASH, CONFIG, WEIGHTS_HASH, STEPS, SAMPLES = (
    PREFIX + key for key in ("export_format", "graph", "config_sha256", "config",
                             "weights_sha256", "sampling_steps", "action_samples"))


def graph_record(loaded: LoadedCheckpoint, graph: str, steps: int, samples: int
                 ) -> dict[str, str]:
    """The metadata a ``graph`` (absorb or predict) made from ``loaded`` carries."""
    record = {FORMAT: EXPORT_FORMAT, GRAPH: graph, CONFIG_HASH: loaded.config_hash(),
              CONFIG: config_record(loaded), WEIGHTS_HASH: loaded.weights_hash()}
    if graph == "predict":
        record.update({STEPS: str(steps), SAMPLES: str(samples)})
    return record


def check_graph(path: Path, found: dict[str, str], expected: dict[str, str]) -> None:
    """Raise CheckpointError naming what differs between a graph's record and the
    checkpoint's (``expected``, from :func:`graph_record`)."""
    again = f"re-run df-policy export --onnx --checkpoint {path.parent}"
    if found.get(FORMAT) != EXPORT_FORMAT:
        raise CheckpointError(f"{path} is an older export (format {found.get(FORMAT, 'none')}, "
                              f"this runtime reads {EXPORT_FORMAT}): {again}")
    if found.get(GRAPH) != expected[GRAPH]:
        raise CheckpointError(f"{path} holds the {found.get(GRAPH)!r} graph, not "
                              f"{expected[GRAPH]!r}")
    if found.get(CONFIG_HASH) != expected[CONFIG_HASH]:
        saved, current = json.loads(found.get(CONFIG, "{}")), json.loads(expected[CONFIG])
        changed = diff_configs(saved.get("model", {}), current["model"])
        if saved.get("kind") != current["kind"]:
            changed.insert(0, f"kind: {saved.get('kind')!r} != {current['kind']!r}")
        raise CheckpointError(f"{path} was exported from another config (graph != checkpoint: "
                              f"{'; '.join(changed) or 'config hash differs'}): {again}")
    if found.get(WEIGHTS_HASH) != expected[WEIGHTS_HASH]:
        raise CheckpointError(f"{path} was exported from other weights (sha256 "
                              f"{found.get(WEIGHTS_HASH, 'none')[:12]} != "
                              f"{expected[WEIGHTS_HASH][:12]} of the checkpoint): {again}")
    for key in (STEPS, SAMPLES):
        if key in expected and found.get(key) != expected[key]:
            name = key.removeprefix(PREFIX)
            raise CheckpointError(f"{path} was exported for {name} {found.get(key)}, the runtime "
                                  f"asks for {expected[key]}: {again} (--set {name}=...)")


def export_onnx(folder: str | Path, runtime: RuntimeConfig | None = None) -> dict[str, Any]:
    """Write absorb.onnx and predict.onnx into checkpoint ``folder`` for ``runtime``'s DDIM
    steps and action samples (default: the runtime defaults); returns what was written.
    Both graphs are traced before either is written, and each is written whole or not at all."""
    loaded = load_checkpoint(folder)
    if loaded.kind != "df":
        raise CheckpointError(f"{folder} holds a {loaded.kind!r} policy; only the DF policy "
                              "exports to ONNX")
    runtime = runtime or RuntimeConfig()
    steps = runtime.ddim_steps(loaded.config.sampling_steps)
    graphs = {"absorb": AbsorbGraph(loaded.model),
              "predict": PredictGraph(loaded.model, steps, runtime.action_samples)}
    serialized: dict[str, bytes] = {}
    for name, graph in graphs.items():
        proto = trace(graph)
        for key, value in graph_record(loaded, name, steps, runtime.action_samples).items():
            proto.metadata_props.add(key=key, value=value)
        serialized[name] = proto.SerializeToString()
    for name, content in serialized.items():
        write_atomically(loaded.path / GRAPH_FILES[name], content)
    result = {name: {"file": str(loaded.path / file),
                     "size_bytes": (loaded.path / file).stat().st_size}
              for name, file in GRAPH_FILES.items()}
    return {"checkpoint": str(loaded.path), "sampling_steps": steps,
            "action_samples": runtime.action_samples, "graphs": result}


def trace(graph: AbsorbGraph | PredictGraph) -> Any:
    """The ONNX ModelProto of a graph module, traced at the runtime's shapes."""
    inputs = graph.example_inputs(torch.Generator().manual_seed(0))
    graph.eval()
    program = torch.onnx.export(graph, inputs, input_names=graph.input_names,
                                output_names=graph.output_names, opset_version=OPSET,
                                dynamo=True, optimize=True, verbose=False)
    return program.model_proto
