"""The torch device a command or node asked for."""

from __future__ import annotations

import torch

from df_policy.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
"""Device names every command and node accepts (auto: cuda when available)."""


def pick_device(name: str) -> torch.device:
    """cpu, cuda, or auto (cuda when available)."""
    if name not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is available")
    return torch.device(name)
