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
    light_scale: float = 1.0
    """All lights (head light and key light) times this factor (lab lights dimmed or raised)."""
    light_tilt_deg: float = 0.0
    """The key light's direction turned by this angle, towards an azimuth drawn at reset."""
    table_tint: float = 0.0
    """The table top's colour mixed this far (0..1) towards a colour drawn at reset."""
    fruit_shade: float = 0.0
    """Both fruits' colours darkened by this fraction (0..1): riper, duller fruit."""
    camera_shift: float = 0.0
    """Every camera on a fixed mount (the front camera; not the wrist camera, which rides on
    the hand) moved by this distance in a direction drawn at reset, in metres: a bumped
    tripod. Unlike ``camera_jitter`` the distance is exact."""
    camera_tilt_deg: float = 0.0
    """Every camera on a fixed mount rotated by this angle about an axis drawn at reset."""
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
        require(self.light_scale > 0, "light_scale", "must be > 0")
        require(0 <= self.light_tilt_deg <= 90, "light_tilt_deg", "must be in [0, 90]")
        require(0 <= self.table_tint <= 1, "table_tint", "must be in [0, 1]")
        require(0 <= self.fruit_shade < 1, "fruit_shade", "must be in [0, 1)")
        require(self.camera_shift >= 0, "camera_shift", "must be >= 0")
        require(0 <= self.camera_tilt_deg <= 45, "camera_tilt_deg", "must be in [0, 45]")
        require(self.occluder_period > 0, "occluder_period", "must be > 0")
        require(self.occluder_height > 0, "occluder_height", "must be > 0")
        unknown = set(self.cameras) - {"front", "wrist"}
        require(not unknown, "cameras", f"has unknown {sorted(unknown)} (known: front, wrist)")

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return max(1, round(1.0 / (self.control_hz * self.physics_dt)))
