"""Configuration of training: the base values and a schedule of stages over the run.

The recipe is data. ``stages`` is a list of ``{until, overrides}``: stage i applies its
``overrides`` to the base values from the end of stage i-1 until ``until`` (a fraction of
``steps``, so ``--steps`` scales the whole recipe); after the last stage the base values hold.
:meth:`TrainConfig.at` resolves the config of any step; the run records the resolved schedule
in every checkpoint, and a resumed run continues it exactly (the step picks the stage).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from df_policy.config import from_dict, require, to_dict
from df_policy.errors import ConfigError
from df_policy.model.df_model import LevelSampling

SCHEDULED = frozenset({
    "batch_size", "whole_token_prob", "first_clean_prob", "policy_query_prob", "clean_token_prob",
    "camera_dropout_prob", "camera_dropout_weights", "action_weight", "window_tokens",
    "window_batch_size",
    "start_window_prob", "start_window_tokens", "image_loss_share", "augment_prob",
    "augment_strength", "shadow_prob", "fault_prob",
})
"""Keys a stage may override: what a curriculum changes. The optimiser, the learning-rate
schedule (one warm-up and one cosine over the whole run), seed and device are fixed."""


@dataclasses.dataclass
class Stage:
    """One stage of the schedule."""

    until: float
    """End of the stage as a fraction of ``steps``, in (0, 1]; stages follow each other."""
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Training keys (of :data:`SCHEDULED`) and their values during the stage."""


@dataclasses.dataclass
class TrainConfig:
    """Optimiser, schedule, batching, noise levels, augmentation, logging, checkpointing."""

    steps: int = 20000
    """Optimiser steps in total."""
    batch_size: int = 16
    """Sequences per optimiser step (whole episodes, or windows; see ``window_tokens``),
    split evenly over the processes that share the step (``processes``, or torchrun's)."""
    lr: float = 5e-4
    """Peak learning rate of AdamW."""
    warmup_steps: int = 500
    """Linear warm-up steps; then one cosine decay to 10% of lr over the rest of the run."""
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
    clean_token_prob: float = 0.0
    """Chance per token that every modality is absorbed clean (level 0), as the runtime
    absorbs a healthy observation; it overrides the policy query, not a dead camera or a
    fault."""
    action_weight: float = 1.0
    """Weight of the action's loss against each camera's (the cameras weigh 1 each)."""
    query_weight: float = 0.0
    """Weight of the runtime's query asked beside the recurrence at every token from the
    latent before it (``DiffusionForcingModel.loss``); 0: the query is only what
    ``policy_query_prob`` makes of the recurrence's own tokens."""
    camera_dropout_prob: float = 0.0
    """Chance per episode that one camera (drawn by ``camera_dropout_weights``) is dead (top
    level) all episode, as when a camera fails for good at run time."""
    camera_dropout_weights: tuple[float, ...] | None = None
    """Relative chance of each camera (in ``model.cameras`` order) to be the dead one; None:
    uniform. ``[0.2, 0.8]`` with cameras ``[front, wrist]`` kills the wrist four times as
    often as the front."""
    window_tokens: int = 0
    """0: whole episodes (back-propagation through the whole episode). N > 0: each batch
    trains N consecutive tokens of every sequence, from one start drawn per batch; the tokens
    before it are a burn-in that builds the latent from the episode's start without gradient
    (the context is kept; the back-propagation is truncated to the window)."""
    window_batch_size: int = 0
    """Sequences per step of windows and start windows (0: ``batch_size``), split as
    ``batch_size`` is: a short sequence runs many rows at once for the cost of a few, so a
    window batch can hold about as many tokens as a whole-episode one."""
    start_window_prob: float = 0.0
    """Chance per batch that every episode is cut to its first ``start_window_tokens`` tokens:
    more gradient on the episode's start, where the context that memory must carry is seen
    (on the fruit swap, the fruit layout), at a fraction of a whole episode's cost."""
    start_window_tokens: int = 4
    """Tokens kept by a start-window batch (see ``start_window_prob``)."""
    image_loss_share: float = 1.0
    """Share of the trained tokens whose camera images are decoded and in the loss (one draw
    per token index and batch); the action is always in the loss."""
    augment_prob: float = 0.0
    """Chance per episode, camera and kind of augmentation (exposure, white balance,
    contrast, gamma, blur, noise, compression, shift/rotation/zoom) that it is applied
    (:mod:`df_policy.train.augment`)."""
    augment_strength: float = 1.0
    """Scale of the augmentation ranges: 1 is the full documented range, 0 none."""
    shadow_prob: float = 0.0
    """Chance per episode and camera of a moving shadow over its images (a band darkened to
    30-70 % brightness sliding across the view), as an object passing a light casts one."""
    fault_prob: float = 0.0
    """Chance per episode and camera of a sensor fault of 1-4 tokens: a blank (black) frame,
    absorbed at the top level, or a frozen one (the last good frame repeated), at a level
    rising with its age (:mod:`df_policy.train.faults`)."""
    history_drift: float = 0.0
    """Largest per-episode standard deviation (metres) of a tracking drift on the position of
    the executed chunks the model is given (never on its targets): the cameras, not the
    record of its own last moves, must say where to go (:mod:`df_policy.train.drift`)."""
    drop_idle_steps: bool = False
    """Train on each episode without its idle steps, those in which the arm stood still by
    choice (an operator's stops; :mod:`df_policy.train.idle`): a policy should not imitate
    hesitation, and a still arm hides the motion the task's look-alike moments need."""
    stages: tuple[Stage, ...] = ()
    """The schedule (see the module docstring); empty: the base values all run."""
    seed: int = 0
    device: str = "auto"
    """cpu, cuda, or auto (cuda when available)."""
    num_threads: int = 2
    """CPU threads for torch in each process."""
    processes: int = 1
    """Processes on this machine's CPU that share each step (data parallel: each builds its
    share of the batch from its own random stream, and the gradients are averaged over the
    loopback). The recurrence's small convolutions leave a second thread mostly idle, so on
    2 cores two processes of one thread train faster than one of two (docs/results.md,
    "Two processes"). Ignored on CUDA, where torchrun starts one process per GPU."""
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
        for key in ("whole_token_prob", "first_clean_prob", "policy_query_prob", "clean_token_prob",
                    "camera_dropout_prob", "start_window_prob", "augment_prob", "shadow_prob",
                    "fault_prob"):
            require(0 <= getattr(self, key) <= 1, key, "must be in [0, 1]")
        require(0 < self.image_loss_share <= 1, "image_loss_share", "must be in (0, 1]")
        require(0 <= self.augment_strength <= 1, "augment_strength", "must be in [0, 1]")
        require(self.action_weight > 0, "action_weight", "must be > 0")
        require(self.query_weight >= 0, "query_weight", "must be >= 0")
        require(self.history_drift >= 0, "history_drift", "must be >= 0 (metres)")
        if self.camera_dropout_weights is not None:
            self.camera_dropout_weights = tuple(float(w) for w in self.camera_dropout_weights)
            require(all(w >= 0 for w in self.camera_dropout_weights)
                    and sum(self.camera_dropout_weights) > 0, "camera_dropout_weights",
                    "must be >= 0 with a positive sum")
        require(self.window_batch_size >= 0, "window_batch_size", "must be >= 0")
        require(self.processes > 0, "processes", "must be > 0")
        require(self.window_tokens >= 0, "window_tokens", "must be >= 0 (0: whole episodes)")
        require(self.start_window_tokens >= 2, "start_window_tokens", "must be >= 2")
        require(self.log_every > 0 and self.checkpoint_every > 0, "log_every",
                "and checkpoint_every must be > 0")
        self._check_stages()

    def _check_stages(self) -> None:
        ends = [stage.until for stage in self.stages]
        require(all(0 < end <= 1 for end in ends) and ends == sorted(set(ends)), "stages",
                "must end at increasing fractions of steps in (0, 1]")
        for index, stage in enumerate(self.stages):
            unknown = sorted(set(stage.overrides) - SCHEDULED)
            require(not unknown, f"stages[{index}].overrides",
                    f"cannot set {unknown} (a stage may set: {', '.join(sorted(SCHEDULED))})")
        if self.stages:
            for index in range(len(self.stages)):  # every stage's values are valid
                self._resolve(index)

    def stage_index(self, step: int) -> int:
        """The stage that runs optimiser step ``step`` (0-based); ``len(stages)`` after the
        last one (the base values)."""
        for index, stage in enumerate(self.stages):
            if step < stage.until * self.steps:
                return index
        return len(self.stages)

    def at(self, step: int) -> TrainConfig:
        """The resolved config of optimiser step ``step`` (without stages)."""
        return self._resolve(self.stage_index(step))

    def _resolve(self, index: int) -> TrainConfig:
        base = {k: v for k, v in to_dict(self).items() if k != "stages"}
        overrides = self.stages[index].overrides if index < len(self.stages) else {}
        try:
            return from_dict(TrainConfig, {**base, **overrides}, "train")
        except ConfigError as err:
            raise ConfigError(f"stages[{index}]: {err}") from None

    def schedule(self) -> list[dict[str, Any]]:
        """The resolved schedule: per stage its first and last+1 step and its overrides."""
        rows, start = [], 0
        for stage in self.stages:
            end = int(-(-stage.until * self.steps // 1))  # first step of the next stage
            rows.append({"steps": [start, end], **to_dict(stage.overrides)})
            start = end
        if start < self.steps:
            rows.append({"steps": [start, self.steps]})
        return rows

    def per_process(self, processes: int) -> TrainConfig:
        """This resolved config as each of ``processes`` processes sharing a step runs it:
        its share of the step's sequences."""
        for key in ("batch_size", "window_batch_size"):
            require(getattr(self, key) % processes == 0, key,
                    f"must split evenly over {processes} processes")
        return dataclasses.replace(self, batch_size=self.batch_size // processes,
                                   window_batch_size=self.window_batch_size // processes)

    def level_sampling(self) -> LevelSampling:
        """The noise-level sampling knobs, as the model takes them."""
        return LevelSampling(self.whole_token_prob, self.first_clean_prob,
                             self.policy_query_prob, self.camera_dropout_prob,
                             self.camera_dropout_weights, self.clean_token_prob)
