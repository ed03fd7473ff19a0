"""Configuration of demonstration collection."""

from __future__ import annotations

import dataclasses

from df_policy.config import require


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

    def __post_init__(self) -> None:
        require(self.episodes > 0, "episodes", "must be > 0")
        require(self.workers > 0, "workers", "must be > 0")
        require(self.videos >= 0, "videos", "must be >= 0")
        require(self.max_failures > 0, "max_failures", "must be > 0")
