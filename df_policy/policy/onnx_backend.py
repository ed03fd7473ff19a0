"""The ``onnxruntime`` backend: the exported absorb and predict graphs in ONNX Runtime.

Each graph is checked against the checkpoint it is loaded with (config hash, weights hash,
export format, DDIM steps and action samples; :func:`~df_policy.policy.onnx_export.check_graph`)
before it runs. Sessions use every ONNX Runtime graph optimisation (``ORT_ENABLE_ALL``) and as
many intra-op threads as torch had (``torch.get_num_threads()``), so both backends get the
same cores; their threads spin between the operators of a run, never between runs. Torch then
keeps one thread for the host-side tensors (noise, frames): a second pool spinning beside
ONNX Runtime's would cost its runs (docs/decisions.md, "ONNX Runtime's threads"). On
``cuda`` the TensorRT execution provider is preferred, then CUDA (both need the
``onnxruntime-gpu`` package); the CPU provider takes any node they do not.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch

from df_policy.checkpoint import LoadedCheckpoint
from df_policy.errors import CheckpointError, ConfigError
from df_policy.model.df_model import ACTION_KEY
from df_policy.model.graphs import LEVELS, Z_PREV, Z, forecast_name, noise_name
from df_policy.model.sampler import Token
from df_policy.policy.onnx_export import GRAPH_FILES, check_graph, graph_record

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def providers_for(device: torch.device) -> list[str]:
    """ONNX Runtime execution providers for a torch device, preferred first."""
    if device.type == "cpu":
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    gpu = [name for name in GPU_PROVIDERS if name in available]
    if not gpu:
        raise ConfigError(f"backend onnxruntime on {device.type} needs onnxruntime-gpu; this "
                          f"onnxruntime offers {', '.join(available)}")
    return [*gpu, "CPUExecutionProvider"]


def session_options(
    threads: int, level: ort.GraphOptimizationLevel = ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    spin: bool = True,
) -> ort.SessionOptions:
    """Graph optimisations up to ``level`` (default: all), ``threads`` intra-op threads,
    sequential execution. ``spin``: the pool's threads spin between the operators of a run
    and stop when the run returns; otherwise they sleep between operators too."""
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # never spin between runs: that would steal the cores the rest of the process (and the
    # robot's other nodes) need between steps
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return options


def array(tensor: torch.Tensor) -> np.ndarray:
    """A CPU tensor as the C-contiguous array ONNX Runtime reads."""
    return np.ascontiguousarray(tensor.detach().numpy())


class OnnxBackend:
    """The checkpoint's exported graphs in ONNX Runtime sessions. Tensors stay on the CPU."""

    def __init__(self, loaded: LoadedCheckpoint, steps: int, samples: int,
                 device: torch.device | None = None,
                 options: ort.SessionOptions | None = None) -> None:
        """``options``: default :func:`session_options` with torch's thread count. Sets torch
        to one intra-op thread for the rest of the process (see the module docstring)."""
        self.device = torch.device("cpu")
        if next(loaded.model.parameters()).device != self.device:
            raise ConfigError("backend onnxruntime reads a checkpoint loaded on the CPU "
                              "(the device it runs on is given separately)")
        if loaded.path is None:
            raise CheckpointError("backend onnxruntime needs a checkpoint folder with graphs")
        self.modalities = loaded.config.modalities
        self.cameras = loaded.config.cameras
        providers = providers_for(device or self.device)
        options = options or session_options(torch.get_num_threads())
        self.sessions: dict[str, ort.InferenceSession] = {}
        for graph, file in GRAPH_FILES.items():
            path = loaded.path / file
            if not path.is_file():
                raise CheckpointError(f"no ONNX graph {path}: run df-policy export --onnx "
                                      f"--checkpoint {loaded.path}")
            try:
                session = ort.InferenceSession(str(path), options, providers=providers)
            except Exception as err:  # ONNX Runtime raises its own types for unreadable files
                raise CheckpointError(f"cannot read {path}: {err}") from None
            check_graph(path, session.get_modelmeta().custom_metadata_map,
                        graph_record(loaded, graph, steps, samples))
            self.sessions[graph] = session
        self.name = f"onnxruntime/{self.sessions['predict'].get_providers()[0]}"
        torch.set_num_threads(1)

    def absorb(self, z_prev: torch.Tensor, token: Token, levels: torch.Tensor,
               noise: Token) -> torch.Tensor:
        """See :meth:`~df_policy.policy.backends.Backend.absorb`."""
        feed = {Z_PREV: array(z_prev), LEVELS: array(levels)}
        for name in self.modalities:
            feed[name] = array(token[name])
            feed[noise_name(name)] = array(noise[name])
        (z,) = self.sessions["absorb"].run([Z], feed)
        return torch.from_numpy(z)

    def predict(self, z: torch.Tensor, noise: Token) -> Token:
        """See :meth:`~df_policy.policy.backends.Backend.predict`."""
        feed = {Z: array(z), **{noise_name(name): array(noise[name]) for name in self.modalities}}
        names = [ACTION_KEY, *map(forecast_name, self.cameras)]
        outputs = self.sessions["predict"].run(names, feed)
        return dict(zip((ACTION_KEY, *self.cameras), map(torch.from_numpy, outputs), strict=True))
