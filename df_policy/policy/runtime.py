"""The Diffusion Forcing policy at run time: absorb the newest token, predict the next one.

One :meth:`DFPolicy.step` (one token = ``chunk`` control steps)::

    1. levels   per camera from its health (age, frozen, decode) and from the surprise of the
                arriving frame against the previous forecast (innovation gating)
    2. absorb   token [images, the gripper's measured opening if the model takes it, the chunk
                just executed] forward-noised to those levels (fresh noise; the opening clean,
                or at the top level when unknown) -> new latent z. Only this step updates
                memory.
    3. predict  DDIM-sample ``action_samples`` action chunks of the next token from z in one
                batch: their mean is returned, and the images forecast given that mean are
                kept for the next step's gating. The sampling latents are discarded.

Baselines are switches of :class:`~df_policy.policy.config.RuntimeConfig`: ``memory=False``
(latent reset to z0 every token) and ``noise_aware=False`` (every frame absorbed at level 0).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from df_policy.checkpoint import LoadedCheckpoint, load_checkpoint
from df_policy.devices import pick_device
from df_policy.errors import CheckpointError, ConfigError
from df_policy.images import resize_images
from df_policy.model.df_model import ACTION_KEY, GRIPPER_KEY
from df_policy.model.tokens import images_to_tensor, tensor_to_images
from df_policy.policy.backends import make_backend
from df_policy.policy.base import (
    CheckpointPolicy,
    PolicyOutput,
    normalized_chunk,
    postprocess_actions,
)
from df_policy.policy.calibration import forecast_error, load_calibration
from df_policy.policy.camera_health import CameraHealth
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.dp_long_policy import DPLongPolicy
from df_policy.policy.dp_policy import DPPolicy
from df_policy.policy.noise_levels import level_from_health, level_from_surprise


class DFPolicy(CheckpointPolicy):
    """A trained DF model as a controller. Not thread-safe; one instance per robot."""

    def __init__(
        self,
        loaded: LoadedCheckpoint,
        config: RuntimeConfig | None = None,
        seed: int = 0,
        calibration: dict | None = None,
        device: torch.device | None = None,
    ) -> None:
        """``device``: where the backend runs (default: where ``loaded``'s model is)."""
        self.loaded = loaded
        self.model = loaded.model
        self.model_config = loaded.config
        self.config = config or RuntimeConfig()
        self.seed = seed
        self.calibration = calibration
        self.backend = make_backend(loaded, self.config, device)
        self.device = self.backend.device
        self.top = self.model_config.num_levels - 1
        self.reset()

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str = "auto", seed: int = 0,
        config: RuntimeConfig | None = None,
    ) -> DFPolicy:
        """Load a run or checkpoint folder (EMA weights, normaliser, calibration if any)."""
        policy = load_policy(path, device, seed, config)
        if not isinstance(policy, DFPolicy):
            raise CheckpointError(f"{path} holds a {policy.loaded.kind!r} policy; "
                                  "use load_policy()")
        return policy

    def reset(self) -> None:
        """Start a new episode: memory back to the learned z0, same seed as before."""
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.z0 = self.model.initial_latent(1).detach().to(self.device)
        self.z = self.z0
        self.executed: np.ndarray | None = None
        self.forecast: dict[str, torch.Tensor] | None = None

    @torch.no_grad()
    def step(
        self,
        images: dict[str, np.ndarray | None],
        health: dict[str, CameraHealth] | None = None,
        executed: np.ndarray | None = None,
        gripper: float | None = None,
    ) -> PolicyOutput:
        """Absorb the newest frames and return the next action chunk.

        Args:
            images: per camera an ``(H, W, 3) uint8`` RGB frame of any size, or None if none.
            health: per camera stream health (missing: a fresh frame is assumed).
            executed: the ``(chunk, 8)`` actions really executed since the last step; by
                default the chunk this policy returned last time.
            gripper: the measured finger opening in metres, None if unknown (used by a model
                trained with ``gripper_state``, ignored otherwise).
        """
        started = time.perf_counter()
        cfg = self.model_config
        token, levels, surprise = {}, {}, {}
        for cam in cfg.cameras:
            frame = images.get(cam)
            level = self.top if frame is None else 0
            if frame is not None:
                if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
                    raise ValueError(f"camera '{cam}' frame must be (H, W, 3) uint8 RGB, "
                                     f"got {frame.shape} {frame.dtype}")
                token[cam] = images_to_tensor(resize_images(frame, cfg.image_size))[None]
                if health and cam in health:
                    level = max(level, level_from_health(health[cam], self.config, self.top))
                surprise[cam] = self._surprise(cam, token[cam])
                if self.config.gate and self.calibration is not None:
                    level = max(level, level_from_surprise(surprise[cam], self.config, self.top))
            else:
                token[cam] = torch.zeros((1, 3, cfg.image_size, cfg.image_size))
            levels[cam] = level if self.config.noise_aware else 0
        measured = False  # the opening (``gripper_state``): unknown unless measured
        if cfg.gripper_state:
            measured = gripper is not None and bool(np.isfinite(gripper))
            opening = torch.tensor([[float(gripper) if measured else 0.0]], device=self.device)
            token[GRIPPER_KEY] = self.model.opening_token(opening)
        token[ACTION_KEY] = self._action_part(executed)
        token = {k: v.to(self.device) for k, v in token.items()}
        level_tensor = self.model.observation_levels(
            torch.tensor([[levels[c] for c in cfg.cameras]], device=self.device), measured)
        prepared = time.perf_counter()

        z_prev = self.z if self.config.memory else self.z0
        self.z = self.backend.absorb(z_prev, token, level_tensor,
                                     self.model.draw_noise(token, self.generator))
        absorbed = self._clock()
        noise = self.model.prediction_noise(1, self.config.action_samples, self.generator,
                                            self.device)
        prediction = self.backend.predict(self.z, noise)
        predicted = self._clock()

        actions = postprocess_actions(self.loaded.normalizer, prediction[ACTION_KEY], cfg)
        self.executed = actions
        self.forecast = {cam: prediction[cam].cpu() for cam in cfg.cameras}
        return PolicyOutput(
            actions=actions,
            levels=levels,
            surprise=surprise,
            forecast={cam: tensor_to_images(self.forecast[cam][0]) for cam in cfg.cameras},
            timings_ms={
                "prepare": 1000 * (prepared - started),
                "absorb": 1000 * (absorbed - prepared),
                "predict": 1000 * (predicted - absorbed),
                "total": 1000 * (time.perf_counter() - started),
            },
            backend=self.backend.name,
        )

    def _clock(self) -> float:
        """perf_counter once the GPU's queued work is done (per-stage timings stay true)."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def _action_part(self, executed: np.ndarray | None) -> torch.Tensor:
        """The normalised chunk executed since the last token (zeros before the first)."""
        chunk = executed if executed is not None else self.executed
        return normalized_chunk(chunk, self.loaded.normalizer, self.model_config, self.device)

    def _surprise(self, cam: str, observed: torch.Tensor) -> float:
        """Forecast error of the arriving frame (z-score when calibrated); 0 on the first step."""
        if self.forecast is None:
            return 0.0
        error = forecast_error(self.forecast[cam], observed)
        if self.calibration is None:
            return error
        stats = self.calibration["cameras"][cam]
        return (error - stats["mean"]) / stats["std"]


def load_policy(path: str | Path, device: str = "auto", seed: int = 0,
                config: RuntimeConfig | None = None) -> CheckpointPolicy:
    """The controller for a checkpoint: a :class:`DFPolicy` whose model runs on ``config``'s
    backend on ``device``; a ``DPPolicy`` for the DP-style baseline, a ``DPLongPolicy`` for the
    long-context rivals (torch only; they ignore the rest of ``config``)."""
    runtime = config or RuntimeConfig()
    target = pick_device(device)
    # the onnxruntime backend keeps the policy's own tensors on the CPU whatever it runs on
    loaded = load_checkpoint(path, target if runtime.backend == "torch" else "cpu")
    if loaded.kind == "df":
        return DFPolicy(loaded, runtime, seed, load_calibration(loaded.path), target)
    if runtime.backend != "torch":
        raise ConfigError(f"{path} holds a {loaded.kind!r} policy, which runs on the torch "
                          f"backend only (runtime.backend is {runtime.backend!r})")
    return DPPolicy(loaded, seed) if loaded.kind == "dp" else DPLongPolicy(loaded, seed)


def check_policy_matches(policy: CheckpointPolicy, cameras: tuple[str, ...],
                         chunk: int | None) -> None:
    """Raise CheckpointError when a checkpoint does not fit what the caller was configured for."""
    if tuple(cameras) != policy.cameras:
        raise CheckpointError(f"checkpoint cameras {list(policy.cameras)} != configured "
                              f"cameras {list(cameras)}")
    if chunk is not None and chunk != policy.chunk:
        raise CheckpointError(f"checkpoint chunk {policy.chunk} != configured chunk {chunk}")
