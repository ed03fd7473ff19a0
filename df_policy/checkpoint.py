"""Self-describing checkpoints: safetensors weights + the resolved config + training state.

A run folder holds ``checkpoints/step_<N>/`` folders and a ``LATEST`` file naming the newest.
One checkpoint folder::

    model.safetensors       raw weights
    ema.safetensors         EMA weights (what the policy deploys)
    normalizer.safetensors  action ranges fitted on the training data
    config.yaml             resolved model / train / data sections
    train_state.pt          optimiser, LR schedule, RNG state, step (torch.load weights_only)

A checkpoint is written to a fresh folder, then ``LATEST`` is replaced atomically (write a temp
file, rename), so an interrupted run always keeps its last complete checkpoint. Nothing is ever
unpickled: weights are safetensors and the training state loads with ``weights_only=True``.
A shipped checkpoint (``data/checkpoints/...``) is one such folder without ``train_state.pt``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save_file

from df_policy.config import from_dict, save_resolved, to_dict
from df_policy.errors import CheckpointError, ConfigError
from df_policy.files import write_atomically
from df_policy.model.config import LongContextConfig, ModelConfig
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.model.dp_long import LongContextModel
from df_policy.model.dp_model import DiffusionPolicyModel
from df_policy.model.tokens import ActionNormalizer

LATEST = "LATEST"
KEEP = 2
"""Checkpoint folders kept in a run (the newest ones)."""
LONG_CONTEXT_KINDS = ("dp_long", "ptp")
"""The long-context rivals (:mod:`df_policy.model.dp_long`), configured by a ``long_context``
section beside ``model``."""
POLICY_KINDS = ("df", "dp", *LONG_CONTEXT_KINDS)
"""``policy.kind`` of config.yaml: the DF model, the DP-style baseline, the rivals."""


@dataclasses.dataclass
class LoadedCheckpoint:
    """A model ready for inference, with what it needs to be used correctly."""

    model: torch.nn.Module
    """The model :func:`make_model` builds for ``kind``."""
    normalizer: ActionNormalizer
    config: ModelConfig
    sections: dict[str, Any]
    """Every section of config.yaml (model, train, data, ...) as plain data."""
    path: Path

    @property
    def kind(self) -> str:
        """One of :data:`POLICY_KINDS` (the ``policy.kind`` of config.yaml)."""
        return policy_kind(self.sections)

    def config_hash(self) -> str:
        """sha256 of the policy kind and the resolved model config: what an exported graph
        must have been made from (see :func:`config_record`)."""
        return hashlib.sha256(config_record(self).encode()).hexdigest()

    def weights_hash(self) -> str:
        """sha256 over the model's tensors (names, shapes and bytes, in name order)."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.state_dict().items()):
            digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


def config_record(loaded: LoadedCheckpoint) -> str:
    """The policy kind and resolved model config as canonical JSON."""
    return json.dumps({"kind": loaded.kind, "model": to_dict(loaded.config)}, sort_keys=True)


def policy_kind(sections: dict[str, Any]) -> str:
    """The policy kind a checkpoint's config sections name (``df`` when unnamed)."""
    return str((sections.get("policy") or {}).get("kind", "df"))


def check_kind(kind: str, context: LongContextConfig | None = None) -> None:
    """Raise ConfigError unless ``kind`` is one of :data:`POLICY_KINDS` and ``context`` is
    None for the kinds it does not configure."""
    if kind not in POLICY_KINDS:
        raise ConfigError(f"unknown policy kind {kind!r} (known: {', '.join(POLICY_KINDS)})")
    if context is not None and kind not in LONG_CONTEXT_KINDS:
        raise ConfigError(f"long_context settings apply to the {' and '.join(LONG_CONTEXT_KINDS)} "
                          f"policies only, not to {kind!r}")


def make_model(kind: str, config: ModelConfig,
               context: LongContextConfig | None = None) -> torch.nn.Module:
    """The untrained model of policy ``kind``; ``context`` configures the long-context rivals
    (default: :class:`LongContextConfig`'s defaults) and must be None for the others."""
    check_kind(kind, context)
    if kind in LONG_CONTEXT_KINDS:
        return LongContextModel(config, context or LongContextConfig(), kind == "ptp")
    return DiffusionForcingModel(config) if kind == "df" else DiffusionPolicyModel(config)


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.detach().contiguous().cpu() for key, value in state.items()}


def save_checkpoint(
    run_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    normalizer: ActionNormalizer,
    sections: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``step`` into ``run_dir`` and point LATEST at it; returns its folder."""
    root = Path(run_dir) / "checkpoints"
    folder = root / f"step_{step:08d}"
    tmp = root / f".tmp_step_{step:08d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_contiguous(model.state_dict()), tmp / "model.safetensors")
    save_file(_contiguous(ema.state_dict()), tmp / "ema.safetensors")
    save_file(_contiguous(normalizer.state_dict()), tmp / "normalizer.safetensors")
    save_resolved(tmp / "config.yaml", **sections)
    if train_state is not None:
        torch.save(train_state, tmp / "train_state.pt")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    write_atomically(Path(run_dir) / LATEST, folder.name + "\n")
    for old in sorted(root.glob("step_*"))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def checkpoint_dir(path: str | Path) -> Path:
    """The checkpoint folder for ``path``: a run folder (via LATEST) or a checkpoint folder."""
    path = Path(path)
    if (path / LATEST).is_file():
        path = path / "checkpoints" / (path / LATEST).read_text().strip()
    if not (path / "config.yaml").is_file():
        raise CheckpointError(f"no checkpoint at {path} (expected config.yaml and weights)")
    return path


def checkpoint_kind(path: str | Path) -> str:
    """The policy kind of a run or checkpoint folder, without loading its weights."""
    return policy_kind(read_sections(checkpoint_dir(path)))


def read_sections(folder: Path) -> dict[str, Any]:
    """config.yaml of a checkpoint folder as plain data."""
    try:
        sections = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    except yaml.YAMLError as err:
        raise CheckpointError(f"{folder}/config.yaml is not valid YAML: {err}") from None
    if "model" not in sections:
        raise CheckpointError(f"{folder}/config.yaml has no 'model' section")
    return sections


def model_config_of(sections: dict[str, Any], folder: Path) -> ModelConfig:
    """The ModelConfig a checkpoint was trained with."""
    try:
        return from_dict(ModelConfig, sections["model"], "model")
    except ConfigError as err:
        raise CheckpointError(f"{folder}: {err}") from None


def context_config_of(sections: dict[str, Any], folder: Path) -> LongContextConfig | None:
    """The LongContextConfig a rival's checkpoint was trained with; None for DF and DP."""
    kind = policy_kind(sections)
    if kind not in LONG_CONTEXT_KINDS:
        return None
    if "long_context" not in sections:
        raise CheckpointError(f"{folder}/config.yaml holds a {kind!r} policy but no "
                              "'long_context' section")
    try:
        return from_dict(LongContextConfig, sections["long_context"], "long_context")
    except ConfigError as err:
        raise CheckpointError(f"{folder}: {err}") from None


def load_weights(module: torch.nn.Module, file: Path) -> None:
    """Load safetensors weights strictly; a mismatch names the offending tensors."""
    if not file.is_file():
        raise CheckpointError(f"missing weights file {file}")
    try:
        state = load_file(file)
    except Exception as err:  # safetensors raises its own error types for corrupt files
        raise CheckpointError(f"cannot read {file}: {err}") from None
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{key} {tuple(state[key].shape)} vs {tuple(own[key].shape)}"
        for key in set(own) & set(state)
        if state[key].shape != own[key].shape
    ]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{file} does not match the model config: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, shape mismatches {shapes[:3]}"
        )
    module.load_state_dict(state)


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Load the EMA weights of a run or checkpoint folder for inference."""
    folder = checkpoint_dir(path)
    sections = read_sections(folder)
    config = model_config_of(sections, folder)
    kind = policy_kind(sections)
    if kind not in POLICY_KINDS:
        raise CheckpointError(f"{folder}: unknown policy kind {kind!r} "
                              f"(known: {', '.join(POLICY_KINDS)})")
    model = make_model(kind, config, context_config_of(sections, folder))
    weights = folder / "ema.safetensors"
    load_weights(model, weights if weights.is_file() else folder / "model.safetensors")
    normalizer = ActionNormalizer(config.action_dim)
    load_weights(normalizer, folder / "normalizer.safetensors")
    model.to(device).eval()
    return LoadedCheckpoint(model, normalizer.to(device), config, sections, folder)


def load_train_state(folder: Path) -> dict[str, Any]:
    """The optimiser/scheduler/RNG state of a checkpoint (no arbitrary unpickling)."""
    file = folder / "train_state.pt"
    if not file.is_file():
        raise CheckpointError(f"{folder} has no train_state.pt: it cannot be resumed")
    return torch.load(file, weights_only=True)


def diff_configs(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Keys whose values differ between two config sections (for clear mismatch errors)."""
    keys = sorted(set(saved) | set(current))
    return [f"{k}: {saved.get(k)!r} != {current.get(k)!r}" for k in keys
            if saved.get(k) != current.get(k)]
