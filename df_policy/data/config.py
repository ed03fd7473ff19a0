"""Configuration of demonstration collection and of bag import."""

from __future__ import annotations

import dataclasses

from df_policy import topics
from df_policy.config import require
from df_policy.data.messages import ARM_JOINTS, FINGER_JOINTS
from df_policy.keys import CAMERAS, JOINT_DIM
from df_policy.sim.operator import OperatorStyle


@dataclasses.dataclass
class CollectConfig:
    """Scripted demonstration collection."""

    episodes: int = 150
    """Number of episodes to write."""
    workers: int = 2
    """Parallel worker processes."""
    seed: int = 0
    """Seed of the first episode; episode i uses seed + i."""
    videos: int = 3
    """Number of episodes written as mp4 videos beside the store."""
    only_success: bool = True
    """Keep only successful demonstrations."""
    max_failures: int = 50
    """Give up (error) after this many failed seeds in one run: the expert or sim is broken."""
    fumble_prob: float = 0.0
    """Chance that a move's pick or place is fumbled on purpose (the executed command offset
    sideways, the recorded action not), so the episode shows the expert's recovery."""
    operator: OperatorStyle | None = None
    """Imitate a human operator (speed drift, pauses, off-centre approaches, regrasps); null:
    the plain expert. ``{}`` takes every default of :class:`OperatorStyle`."""

    def __post_init__(self) -> None:
        require(self.episodes > 0, "episodes", "must be > 0")
        require(0.0 <= self.fumble_prob <= 1.0, "fumble_prob", "must be in [0, 1]")
        require(self.workers > 0, "workers", "must be > 0")
        require(self.videos >= 0, "videos", "must be >= 0")
        require(self.max_failures > 0, "max_failures", "must be > 0")


@dataclasses.dataclass
class StreamConfig:
    """One recorded topic and how far its messages may be from a control tick."""

    topic: str
    tolerance_s: float = 0.05
    """A message counts for a tick only if its stamp is within this many seconds of it."""

    def __post_init__(self) -> None:
        require(self.topic.startswith("/"), "topic",
                f"must be an absolute name, got {self.topic!r}")
        require(self.tolerance_s > 0, "tolerance_s", "must be > 0")


def _default_cameras() -> dict[str, StreamConfig]:
    return {cam: StreamConfig(topics.image_topic(cam)) for cam in CAMERAS}


@dataclasses.dataclass
class BagImportConfig:
    """``df-policy convert bag2zarr``: which topics hold what, and how episodes are cut.

    The defaults are the topics of ``sim_node`` and ``policy_node``, so a bag recorded from the
    simulated arm converts as is; ``config/topics.yaml`` documents every key for a real robot.
    """

    control_hz: float = 10.0
    """Rate of the control clock every stream is aligned to (the store's control_hz)."""
    image_size: int = 64
    """Side of the stored square images (frames are squashed to it, never cropped)."""
    cameras: dict[str, StreamConfig] = dataclasses.field(default_factory=_default_cameras)
    """Store camera name -> its sensor_msgs/Image or CompressedImage topic."""
    joint_states: StreamConfig = dataclasses.field(
        default_factory=lambda: StreamConfig(topics.JOINT_STATES))
    arm_joints: tuple[str, ...] = ARM_JOINTS
    """The 7 arm joints in store order."""
    finger_joints: tuple[str, ...] = FINGER_JOINTS
    """Joints whose positions add up to the gripper opening (empty: opening recorded as 0)."""
    ee_pose: StreamConfig = dataclasses.field(default_factory=lambda: StreamConfig(topics.EE_POSE))
    """Measured end-effector pose (geometry_msgs/PoseStamped)."""
    ee_target: str = topics.EE_TARGET
    """Commanded end-effector pose (PoseStamped): the action's first 7 numbers."""
    gripper_command: str = topics.GRIPPER_COMMAND
    """Commanded gripper (std_msgs/Float64, 1 = closed): the action's last number."""
    split: str = "gap"
    """How episodes are cut: ``gap`` (joint_states silent for max_gap_s), ``topic``
    (episode_topic) or ``ranges`` (the given time ranges)."""
    max_gap_s: float = 1.0
    episode_topic: str = topics.EPISODE_STATUS
    """std_msgs/Bool (true while an episode runs) or std_msgs/String (one value per episode)."""
    episode_field: str = "seed"
    """When the String holds JSON, the field that names the episode (sim_node: ``seed``)."""
    ranges: tuple[tuple[float, float], ...] = ()
    """``split: ranges``: [start, end] seconds from the start of each bag."""
    stamps: str = "header"
    """Message times from ``header`` stamps (receive time when a stamp is zero) or ``receive``."""
    min_steps: int = 8
    """Shorter episodes are skipped (and reported)."""

    def __post_init__(self) -> None:
        require(self.control_hz > 0, "control_hz", "must be > 0")
        require(self.image_size > 0, "image_size", "must be > 0")
        require(len(self.cameras) > 0, "cameras", "must name at least one camera")
        require(len(self.arm_joints) == JOINT_DIM, "arm_joints", f"must list {JOINT_DIM} joints")
        require(self.split in ("gap", "topic", "ranges"), "split", "must be gap, topic or ranges")
        require(self.max_gap_s > 0, "max_gap_s", "must be > 0")
        require(self.split != "ranges" or len(self.ranges) > 0, "ranges",
                "must list [start, end] pairs when split is 'ranges'")
        require(all(start < end for start, end in self.ranges), "ranges", "need start < end")
        require(self.stamps in ("header", "receive"), "stamps", "must be header or receive")
        require(self.min_steps >= 1, "min_steps", "must be >= 1")
