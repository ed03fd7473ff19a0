"""Random draws from a seeded generator that may live on another device than the model.

Training and the runtime keep one CPU ``torch.Generator`` (seeded, and saved in training
checkpoints), so a seed gives the same numbers on CPU and GPU. torch refuses a CPU generator
for a CUDA tensor, so each draw is made on the generator's device and then moved.
"""

from __future__ import annotations

import torch


def _source(generator: torch.Generator | None, device: torch.device | str) -> torch.device:
    return generator.device if generator is not None else torch.device(device)


def randn(shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None,
          device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard Gaussian samples of ``shape`` on ``device``."""
    sample = torch.randn(shape, generator=generator, device=_source(generator, device),
                         dtype=dtype)
    return sample.to(device)


def rand(shape: tuple[int, ...], generator: torch.Generator | None,
         device: torch.device | str) -> torch.Tensor:
    """Uniform [0, 1) samples of ``shape`` on ``device``."""
    return torch.rand(shape, generator=generator, device=_source(generator, device)).to(device)


def randint(high: int, shape: tuple[int, ...], generator: torch.Generator | None,
            device: torch.device | str) -> torch.Tensor:
    """Integers in [0, high) of ``shape`` on ``device``."""
    sample = torch.randint(0, high, shape, generator=generator, device=_source(generator, device))
    return sample.to(device)
