"""What runs the model's two calls for :class:`~df_policy.policy.runtime.DFPolicy`.

A backend computes ``absorb`` (the filter update) and ``predict`` (the next token) with every
random draw given (the policy draws it from its seeded generator), so backends are
interchangeable number for number: ``torch`` runs the model itself, ``onnxruntime`` runs the
graphs ``df-policy export --onnx`` wrote beside the weights
(:mod:`df_policy.policy.onnx_backend`).
"""

from __future__ import annotations

from typing import Protocol

import torch

from df_policy.checkpoint import LoadedCheckpoint
from df_policy.model.sampler import Token
from df_policy.policy.config import RuntimeConfig


class Backend(Protocol):
    """The model's run-time calls, batch 1; tensors live on :attr:`device`."""

    device: torch.device
    """Where the policy keeps the tensors it passes in and gets back."""
    name: str
    """``<backend>/<where it runs>``, e.g. ``torch/cpu``, ``onnxruntime/CPUExecutionProvider``."""

    def absorb(self, z_prev: torch.Tensor, token: Token, levels: torch.Tensor,
               noise: Token) -> torch.Tensor:
        """The new latent from the observed ``token`` noised to ``levels`` with ``noise``."""

    def predict(self, z: torch.Tensor, noise: Token) -> Token:
        """The next token from latent ``z``: mean action chunk and camera forecasts."""


class TorchBackend:
    """The model itself, in eager PyTorch."""

    def __init__(self, loaded: LoadedCheckpoint, steps: int, samples: int) -> None:
        self.model, self.steps, self.samples = loaded.model, steps, samples
        self.device = next(self.model.parameters()).device
        self.name = f"torch/{self.device.type}"

    def absorb(self, z_prev: torch.Tensor, token: Token, levels: torch.Tensor,
               noise: Token) -> torch.Tensor:
        """See :meth:`Backend.absorb`."""
        return self.model.absorb(z_prev, token, levels, noise=noise)

    def predict(self, z: torch.Tensor, noise: Token) -> Token:
        """See :meth:`Backend.predict`."""
        return self.model.predict_next(z, steps=self.steps, samples=self.samples, noise=noise)


def make_backend(loaded: LoadedCheckpoint, runtime: RuntimeConfig,
                 device: torch.device | None = None) -> Backend:
    """The backend ``runtime.backend`` names (RuntimeConfig checks it) for a DF checkpoint,
    running on ``device`` (default: where the checkpoint's model is). The torch backend runs
    where the model is."""
    steps = runtime.ddim_steps(loaded.config.sampling_steps)
    if runtime.backend == "torch":
        return TorchBackend(loaded, steps, runtime.action_samples)
    from df_policy.policy.onnx_backend import OnnxBackend

    return OnnxBackend(loaded, steps, runtime.action_samples, device)
