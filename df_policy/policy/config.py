"""Configuration of the policy runtime: automatic noise levels, gating, start, variants."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from df_policy.config import require
from df_policy.errors import ConfigError

BACKENDS = ("torch", "onnxruntime")
"""What may run the model (:mod:`df_policy.policy.backends`)."""
DF_ONLY = ("fresh_s", "stale_s", "gate", "gate_low", "gate_high", "memory", "noise_aware",
           "sampling_steps", "action_samples")
"""Runtime keys only the DF policy reads (noise levels, gating, its baselines, its sampling);
the DP-style baseline and the long-context rivals ignore them."""


@dataclasses.dataclass
class RuntimeConfig:
    """How camera health and surprise become per-camera noise levels.

    A camera's *staleness* is the larger of its frame age and how long its content has been
    frozen. Up to ``fresh_s`` the frame is absorbed clean (level 0); from there the level rises
    linearly to the top level at ``stale_s``. A missing frame or a failed decode is absorbed
    at the top level (the prior: "this camera is unknown").
    """

    fresh_s: float = 0.25
    """Staleness up to which a frame counts as clean."""
    stale_s: float = 1.0
    """Staleness at which a frame counts as unknown (top level)."""
    gate: bool = True
    """Innovation gating: raise a camera's level when its frame disagrees with the forecast."""
    gate_low: float = 3.0
    """Surprise (z-score against clean calibration) where gating starts."""
    gate_high: float = 8.0
    """Surprise at which gating reaches the top level."""
    memory: bool = True
    """False gives the memoryless baseline: the latent is reset to z0 before every token."""
    noise_aware: bool = True
    """False gives the noise-unaware baseline: every frame absorbed at level 0."""
    start_wait_s: float = 0.2
    """At the start of an episode the arm holds until every camera has delivered a frame, or
    this long (then a silent camera is absorbed as missing); 0 starts at once. Keep it below
    ``fresh_s``: a still scene renders identical frames in simulation, which the frozen-stream
    check counts as frozen from the first frame on."""
    sampling_steps: int = 1
    """DDIM steps per prediction; 0 uses the checkpoint's setting. One step returns the
    model's x0 estimate from pure noise, its expected next token; more steps commit each sample
    to one draw, which scatters the grasp where the view is poor (docs/decisions.md, "Action
    samples")."""
    action_samples: int = 4
    """Action chunks sampled per step from the same latent (one batch); the policy executes
    their mean, and forecasts the next frames given that mean."""
    backend: str = "torch"
    """What runs the model: ``torch``, or ``onnxruntime`` (the graphs ``df-policy export
    --onnx`` wrote beside the weights, made for these ``sampling_steps`` and
    ``action_samples``). Either runs on the device the policy is loaded on (cpu or cuda)."""

    def __post_init__(self) -> None:
        require(0 <= self.fresh_s < self.stale_s, "fresh_s", "must be >= 0 and < stale_s")
        require(0 < self.gate_low < self.gate_high, "gate_low", "must be > 0 and < gate_high")
        require(self.start_wait_s >= 0, "start_wait_s", "must be >= 0")
        require(self.sampling_steps >= 0, "sampling_steps", "must be >= 0")
        require(self.action_samples >= 1, "action_samples", "must be >= 1")
        require(self.backend in BACKENDS, "backend", f"must be one of {', '.join(BACKENDS)}")

    def ddim_steps(self, checkpoint_steps: int) -> int:
        """DDIM steps per prediction for a checkpoint whose config asks for
        ``checkpoint_steps``: ``sampling_steps``, or the checkpoint's when that is 0."""
        return self.sampling_steps or checkpoint_steps


def check_runtime_keys(kind: str, keys: Iterable[str]) -> None:
    """Raise ConfigError naming the :data:`DF_ONLY` keys among ``keys`` (what a user set) when
    the checkpoint's policy ``kind`` is not ``df``: they would be silently ignored."""
    ignored = [key for key in keys if key in DF_ONLY]
    if kind != "df" and ignored:
        raise ConfigError(f"runtime keys {ignored} apply to DF checkpoints only; this one holds "
                          f"a {kind!r} policy, which ignores them")
