"""Configuration of training."""

from __future__ import annotations

import dataclasses

from df_policy.config import require


@dataclasses.dataclass
class TrainConfig:
    """Optimiser, schedule, batching, logging and checkpointing."""

    steps: int = 20000
    """Optimiser steps in total."""
    batch_size: int = 16
    """Whole episodes per batch (padded to the longest)."""
    lr: float = 5e-4
    """Peak learning rate of AdamW."""
    warmup_steps: int = 500
    """Linear warm-up steps; then cosine decay to 10% of lr."""
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 1e-4
    grad_clip: float = 10.0
    """Gradient norm clip."""
    ema_decay: float = 0.999
    """Decay of the exponential moving average of the weights (the deployed weights)."""
    whole_token_prob: float = 0.25
    """Chance that all modalities of a token share one noise level (the paper's case)."""
    first_clean_prob: float = 0.5
    """Chance (per batch) that the first token is given clean, as at deployment."""
    policy_query_prob: float = 0.5
    """Chance per token that the cameras are held at the top level, as when the policy asks
    for its next action chunk (see ``DiffusionForcingModel.loss``)."""
    action_weight: float = 1.0
    """Weight of the action's loss against each camera's (the cameras weigh 1 each)."""
    camera_dropout_prob: float = 0.0
    """Chance per episode that one camera (drawn by ``camera_dropout_weights``) is dead (top
    level) all episode, as when a camera fails for good at run time (the ``wrist_dead``
    suite)."""
    camera_dropout_weights: tuple[float, ...] | None = None
    """Relative chance of each camera (in ``model.cameras`` order) to be the dead one; None:
    uniform. ``[0.2, 0.8]`` with cameras ``[front, wrist]`` kills the wrist four times as
    often as the front."""
    shadow_prob: float = 0.0
    """Chance per episode and camera of a moving shadow over its images (a band darkened to
    30-70 % brightness sliding across the view; :mod:`df_policy.train.augment`), as an object
    passing a light casts one."""
    start_window_prob: float = 0.0
    """Chance per batch that every episode is cut to its first ``start_window_tokens`` tokens:
    more gradient on the episode's start, where the context that memory must carry is seen
    (on the fruit swap, the fruit layout), at a fraction of a whole episode's cost."""
    start_window_tokens: int = 4
    """Tokens kept by a start-window batch (see ``start_window_prob``)."""
    seed: int = 0
    device: str = "auto"
    """cpu, cuda, or auto (cuda when available)."""
    num_threads: int = 2
    """CPU threads for torch (measure: 2 is right on a 2-core machine)."""
    mixed_precision: bool = True
    """bfloat16 autocast on CUDA; ignored on CPU."""
    log_every: int = 50
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        require(self.steps > 0, "steps", "must be > 0")
        require(self.batch_size > 0, "batch_size", "must be > 0")
        require(self.lr > 0, "lr", "must be > 0")
        require(self.warmup_steps >= 0, "warmup_steps", "must be >= 0")
        require(0 <= self.ema_decay < 1, "ema_decay", "must be in [0, 1)")
        require(self.device in ("cpu", "cuda", "auto"), "device", "must be cpu, cuda or auto")
        require(0 <= self.whole_token_prob <= 1, "whole_token_prob", "must be in [0, 1]")
        require(0 <= self.first_clean_prob <= 1, "first_clean_prob", "must be in [0, 1]")
        require(0 <= self.policy_query_prob <= 1, "policy_query_prob", "must be in [0, 1]")
        require(self.action_weight > 0, "action_weight", "must be > 0")
        require(0 <= self.camera_dropout_prob <= 1, "camera_dropout_prob", "must be in [0, 1]")
        if self.camera_dropout_weights is not None:
            self.camera_dropout_weights = tuple(float(w) for w in self.camera_dropout_weights)
            require(all(w >= 0 for w in self.camera_dropout_weights)
                    and sum(self.camera_dropout_weights) > 0, "camera_dropout_weights",
                    "must be >= 0 with a positive sum")
        require(0 <= self.shadow_prob <= 1, "shadow_prob", "must be in [0, 1]")
        require(0 <= self.start_window_prob <= 1, "start_window_prob", "must be in [0, 1]")
        require(self.start_window_tokens >= 2, "start_window_tokens", "must be >= 2")
        require(self.log_every > 0 and self.checkpoint_every > 0, "log_every",
                "and checkpoint_every must be > 0")
