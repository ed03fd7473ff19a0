"""Configuration of the fruit-swap simulation."""

from __future__ import annotations

import dataclasses

from df_policy.config import require


@dataclasses.dataclass
class SimConfig:
    """The fruit-swap world."""

    image_size: int = 64
    """Side of the square RGB images rendered by each camera, in pixels."""
    cameras: tuple[str, ...] = ("front", "wrist")
    """Cameras rendered into the observation, in this order."""
    control_hz: float = 10.0
    """Control rate: one action per control step."""
    physics_dt: float = 0.004
    """MuJoCo time step in seconds."""
    max_steps: int = 400
    """Episode time limit in control steps."""
    slot_jitter: float = 0.02
    """Half-width of the uniform random offset of each fruit inside its slot, in metres."""
    render: bool = True
    """Render camera images; False gives state-only observations (fast)."""
    distractors: int = 0
    """Number of extra fruit-like objects placed on the table (perturbation)."""
    light_jitter: float = 0.0
    """Relative random change of light intensity at reset (perturbation)."""
    camera_jitter: float = 0.0
    """Random offset of the camera positions at reset, in metres (perturbation)."""
    occluder: bool = False
    """Add a flat card that sweeps between the front camera and the slots (perturbation)."""
    occluder_period: float = 6.0
    """Seconds for one sweep of the occluder across the front view."""
    occluder_height: float = 0.22
    """Height of the occluder card's centre above the table, in metres: at 0.22 m the card
    hides the row of slots from the front camera while it passes (at 0.15 m it passed below
    the camera's line of sight to the fruits; docs/decisions.md, "The occluder hides the
    fruits")."""

    def __post_init__(self) -> None:
        require(self.image_size >= 8, "image_size", "must be >= 8")
        require(len(self.cameras) > 0, "cameras", "must name at least one camera")
        require(self.control_hz > 0, "control_hz", "must be > 0")
        dt_ok = 0 < self.physics_dt < 1.0 / self.control_hz
        require(dt_ok, "physics_dt", "must be in (0, 1/control_hz)")
        require(self.max_steps > 0, "max_steps", "must be > 0")
        require(self.slot_jitter >= 0, "slot_jitter", "must be >= 0")
        require(self.distractors >= 0, "distractors", "must be >= 0")
        require(self.light_jitter >= 0, "light_jitter", "must be >= 0")
        require(self.camera_jitter >= 0, "camera_jitter", "must be >= 0")
        require(self.occluder_period > 0, "occluder_period", "must be > 0")
        require(self.occluder_height > 0, "occluder_height", "must be > 0")
        unknown = set(self.cameras) - {"front", "wrist"}
        require(not unknown, "cameras", f"has unknown {sorted(unknown)} (known: front, wrist)")

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, round(1.0 / (self.control_hz * self.physics_dt)))
