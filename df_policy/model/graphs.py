"""The runtime's two model calls with flat, named tensors: what ``df-policy export --onnx`` traces.

Both are deterministic: every random draw is an input (drawn on the host from the policy's
seeded generator, in the order the torch model draws it), so an exported graph and the torch
model can be compared number for number. Batch 1, as the runtime runs them::

    absorb    z_prev, <camera>..., action, levels, noise_<camera>..., noise_action  -> z
    predict   z, noise_<camera>..., noise_action                 -> action, forecast_<camera>...

``levels`` is int64 (1, M) with one level per modality (cameras, then action); the predict
graph holds its DDIM steps and action samples fixed (its noise has ``samples`` rows).
"""

from __future__ import annotations

import torch
from torch import nn

from df_policy.model.df_model import ACTION_KEY, GRIPPER_KEY, DiffusionForcingModel
from df_policy.model.sampler import ddim_levels

Z, Z_PREV, LEVELS = "z", "z_prev", "levels"


def noise_name(modality: str) -> str:
    """Input name of a modality's noise."""
    return f"noise_{modality}"


def forecast_name(camera: str) -> str:
    """Output name of a camera's forecast."""
    return f"forecast_{camera}"


class AbsorbGraph(nn.Module):
    """:meth:`DiffusionForcingModel.absorb` with its noise as inputs."""

    def __init__(self, model: DiffusionForcingModel) -> None:
        super().__init__()
        self.model = model
        modalities = model.config.modalities
        self.input_names = [Z_PREV, *modalities, LEVELS, *map(noise_name, modalities)]
        self.output_names = [Z]

    def forward(self, z_prev: torch.Tensor, *tensors: torch.Tensor) -> torch.Tensor:
        """(z_prev, *token, levels, *noise) in :attr:`input_names` order -> z."""
        modalities = self.model.config.modalities
        count = len(modalities)
        token = dict(zip(modalities, tensors[:count], strict=True))
        noise = dict(zip(modalities, tensors[count + 1:], strict=True))
        return self.model.absorb(z_prev, token, tensors[count], noise=noise)

    def example_inputs(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Inputs of the runtime's shapes and dtypes (for tracing)."""
        cfg = self.model.config
        token = clean_token_shapes(self.model)
        images = {name: torch.rand(shape, generator=generator) * 2 - 1
                  for name, shape in token.items()}
        levels = torch.zeros((1, len(cfg.modalities)), dtype=torch.long)
        noise = self.model.draw_noise(images, generator)
        return (self.model.initial_latent(1).detach().clone(), *images.values(), levels,
                *noise.values())


class PredictGraph(nn.Module):
    """:meth:`DiffusionForcingModel.predict_next` with its noise as inputs, at fixed
    ``steps`` and ``samples``."""

    def __init__(self, model: DiffusionForcingModel, steps: int, samples: int) -> None:
        super().__init__()
        self.model, self.steps, self.samples = model, steps, samples
        cfg = model.config
        ddim_levels(cfg.num_levels, steps)  # cached as plain ints before any trace reads them
        self.input_names = [Z, *map(noise_name, cfg.modalities)]
        self.output_names = [ACTION_KEY, *map(forecast_name, cfg.cameras)]

    def forward(self, z: torch.Tensor, *noise: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(z, *noise) in :attr:`input_names` order -> (action, *forecasts)."""
        cfg = self.model.config
        drawn = dict(zip(cfg.modalities, noise, strict=True))
        prediction = self.model.predict_next(z, steps=self.steps, samples=self.samples,
                                             noise=drawn)
        return (prediction[ACTION_KEY], *(prediction[cam] for cam in cfg.cameras))

    def example_inputs(self, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Inputs of the runtime's shapes and dtypes (for tracing)."""
        noise = self.model.prediction_noise(1, self.samples, generator)
        return (self.model.initial_latent(1).detach().clone(), *noise.values())


def clean_token_shapes(model: DiffusionForcingModel) -> dict[str, tuple[int, ...]]:
    """Shape of each modality of one token, batch 1."""
    cfg = model.config
    shapes = {cam: (1, 3, cfg.image_size, cfg.image_size) for cam in cfg.cameras}
    if cfg.gripper_state:
        shapes[GRIPPER_KEY] = (1, 1)
    shapes[ACTION_KEY] = (1, cfg.action_size)
    return shapes

