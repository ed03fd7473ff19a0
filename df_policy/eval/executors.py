"""Where evaluation episodes run: a local process pool (the default) or a Ray cluster.

An :class:`EpisodeTask` names everything one episode needs; :func:`run_task` runs it in
whatever process it lands in, loading each (checkpoint, runtime) policy once per process.
Episodes are seeded by their task alone, so the same tasks give the same outcomes on either
executor and in any order.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from df_policy.errors import ConfigError
from df_policy.eval.episode import run_episode
from df_policy.policy.config import RuntimeConfig
from df_policy.sim.config import SimConfig


@dataclasses.dataclass(frozen=True)
class EpisodeTask:
    """One closed-loop episode: which policy, which world, which fault, which seed."""

    checkpoint: str
    runtime: RuntimeConfig
    sim: SimConfig
    suite: str
    severity: float
    seed: int
    video_dir: str = ""
    """When set, the episode is also written there as a camera-vs-forecast mp4."""


LOOPBACK = ("127.0.0.1", "localhost")
"""Ray addresses that mean a head on this machine."""

_policies: dict[tuple[str, str], Any] = {}
"""Policies loaded in this process, by (checkpoint, runtime)."""


def run_task(task: EpisodeTask) -> dict[str, Any]:
    """Run one episode in this process (one torch thread; policies cached per process)."""
    import torch

    from df_policy.policy.runtime import load_policy

    torch.set_num_threads(1)
    key = (task.checkpoint, repr(task.runtime))
    if key not in _policies:
        _policies[key] = load_policy(task.checkpoint, device="cpu", config=task.runtime)
    policy = _policies[key]
    record = bool(task.video_dir)
    outcome = run_episode(policy, task.sim, task.suite, task.severity, task.seed, record,
                          task.runtime.start_wait_s)
    if record:
        from df_policy.eval.video import save_episode_video

        fps = 2 * task.sim.control_hz / policy.chunk  # twice real time
        outcome["video"] = save_episode_video(Path(task.video_dir), outcome, task.suite,
                                              task.severity, task.sim.cameras,
                                              policy.image_size, policy.top, fps)
    return outcome


class Executor(Protocol):
    """Runs episode tasks; yields their outcomes in the order of the tasks."""

    def map(self, tasks: Iterable[EpisodeTask]) -> Iterator[dict[str, Any]]:
        """Outcomes of ``tasks``, in order."""

    def close(self) -> None:
        """Release the workers."""


class LocalExecutor:
    """A pool of ``workers`` spawned processes on this machine, kept for every call."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ConfigError(f"workers must be >= 1, got {workers}")
        self.pool = futures.ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"))

    def map(self, tasks: Iterable[EpisodeTask]) -> Iterator[dict[str, Any]]:
        """Outcomes of ``tasks``, in order."""
        return self.pool.map(run_task, tasks)

    def close(self) -> None:
        """Stop the worker processes."""
        self.pool.shutdown()


class RayExecutor:
    """Episodes as Ray tasks (one CPU each) on the cluster at ``address``: ``auto`` for the
    cluster this machine belongs to, ``local`` to start one inside this process, or a head's
    ``host:port``. A local head or one on a loopback address is kept on the loopback
    interface: no Ray traffic leaves the machine."""

    def __init__(self, address: str) -> None:
        if address == "local" or address.split(":")[0] in LOOPBACK:
            # Ray otherwise advertises the machine's network address even for a local head;
            # this keeps every Ray socket on the loopback interface (read when ray is imported).
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        import ray

        self.ray = ray
        self.owned = not ray.is_initialized()
        if self.owned:
            ray.init(address=None if address == "local" else address,
                     include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        self.remote = ray.remote(num_cpus=1)(run_task)

    def map(self, tasks: Iterable[EpisodeTask]) -> Iterator[dict[str, Any]]:
        """Outcomes of ``tasks``, in order (all submitted at once)."""
        refs = [self.remote.remote(task) for task in tasks]
        for ref in refs:
            yield self.ray.get(ref)

    def close(self) -> None:
        """Disconnect from the cluster (it stops when this process started it)."""
        if self.owned:
            self.ray.shutdown()


def make_executor(workers: int, ray_address: str | None = None) -> Executor:
    """A :class:`RayExecutor` when ``ray_address`` is given, else a :class:`LocalExecutor`."""
    return RayExecutor(ray_address) if ray_address else LocalExecutor(workers)
