"""Configuration of the Diffusion Forcing model."""

from __future__ import annotations

import dataclasses

from df_policy.config import require


@dataclasses.dataclass
class ModelConfig:
    """Sizes of the token, the latent and the networks, and the diffusion settings."""

    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras in a token, in order; the store must have them."""
    image_size: int = 32
    """Side of the square images inside a token (store images are resized to it)."""
    chunk: int = 8
    """Control steps per token: the actions executed between two tokens."""
    action_dim: int = 8
    """Size of one action vector: position (3), quaternion (4), gripper (1)."""
    latent_channels: int = 32
    """Channels of the recurrent latent map z."""
    latent_downsample: int = 4
    """z is image_size / latent_downsample pixels on a side."""
    channels: tuple[int, ...] = (48, 96)
    """U-Net widths, one per resolution level (each level halves the resolution)."""
    level_embedding: int = 64
    """Width of the sinusoidal embedding of each modality's noise level."""
    action_hidden: int = 256
    """Width of the action encoder and head MLPs."""
    num_levels: int = 1000
    """K: noise levels of the cosine schedule (0 = clean, K-1 = pure noise)."""
    sampling_steps: int = 10
    """DDIM steps to predict one token at run time."""
    clip_noise: float = 6.0
    """Gaussian noise is clamped to +-clip_noise (as in the reference code)."""
    history_level: int = 0
    """Level at which a healthy token's action part, the chunk executed since the last token,
    is absorbed: at run time and in training's clean tokens alike. Above 0 the noise hides the
    chunk's fine course (millimetres) and keeps its coarse one (where the arm is going, the
    gripper), so the model cannot aim by continuing its own last moves and must read the
    cameras. Measured at 600 (docs/results.md, "The executed chunk absorbed at a middle noise
    level"): far better transfer to new demonstrations, worse with the wrist camera dead; at
    400 worse clean. The recipe keeps 0 (docs/decisions.md, "Transfer joins the rule")."""
    gripper_state: bool = False
    """Whether a token holds the measured finger opening (the store's ``gripper``) as a
    modality of its own, absorbed clean whenever it is measured (at the top level when not):
    any robot knows it, and it tells the phase of a task (each grasp and release). Measured
    beside ``history_level`` 600 (docs/results.md, "The gripper's opening as an
    observation"): the later moves held, but a missed grasp, which no demonstration shows,
    was taken for a made one; on demonstrations with fumbled picks and places it retried
    missed grasps but did not aim the retries. The recipe keeps it off (docs/decisions.md)."""

    def __post_init__(self) -> None:
        require(len(self.cameras) > 0, "cameras", "must name at least one camera")
        require(self.chunk > 0, "chunk", "must be > 0")
        require(self.action_dim > 0, "action_dim", "must be > 0")
        require(self.latent_downsample in (1, 2, 4), "latent_downsample", "must be 1, 2 or 4")
        latent = self.image_size // self.latent_downsample
        levels = len(self.channels)
        require(levels >= 1, "channels", "must list at least one width")
        require(
            self.image_size % self.latent_downsample == 0 and latent % 2 ** (levels - 1) == 0,
            "image_size",
            f"/ latent_downsample must be divisible by 2**{levels - 1} (one halving per level)",
        )
        require(self.num_levels >= 2, "num_levels", "must be >= 2")
        require(0 < self.sampling_steps <= self.num_levels, "sampling_steps", "must be in 1..K")
        require(0 <= self.history_level < self.num_levels, "history_level", "must be in 0..K-1")

    @property
    def latent_size(self) -> int:
        """Side of the latent map."""
        return self.image_size // self.latent_downsample

    @property
    def modalities(self) -> tuple[str, ...]:
        """Parts of a token with their own noise level: the cameras, the gripper's opening
        (with ``gripper_state``), then the action chunk (always last)."""
        return (*self.cameras, *(("gripper",) if self.gripper_state else ()), "action")

    @property
    def action_size(self) -> int:
        """Length of a token's flattened action part."""
        return self.chunk * self.action_dim


@dataclasses.dataclass
class LongContextConfig:
    """The long-context rivals' own knobs (``dp_long`` and ``ptp``, :mod:`df_policy.model.dp_long`).

    Image size, cameras, chunk, action space and diffusion settings are the ``model`` section's
    (:class:`ModelConfig`), shared with DF; this section is saved beside it in every checkpoint.
    """

    history_tokens: int = 32
    """H: tokens of context, the current one included. 32 tokens of 8 control steps are 25.6 s
    at 10 Hz: more than the longest demonstration (211 steps, 27 tokens), so in training every
    context reaches back to the episode start."""
    width: int = 128
    """Width of the transformer (context encoder and denoiser)."""
    depth: int = 2
    """Layers of the context encoder, and again of the denoiser."""
    heads: int = 4
    """Attention heads per layer; must divide ``width``."""
    ptp_weight: float = 1.0
    """``ptp`` only: weight of the past-action loss against the future chunk's (weight 1)."""

    def __post_init__(self) -> None:
        require(self.history_tokens >= 2, "history_tokens", "must be >= 2")
        require(self.width > 0 and self.heads > 0 and self.width % self.heads == 0, "heads",
                "must be > 0 and divide width")
        require(self.depth >= 1, "depth", "must be >= 1")
        require(self.ptp_weight >= 0, "ptp_weight", "must be >= 0")
