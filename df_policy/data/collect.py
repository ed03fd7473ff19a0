"""``df-policy collect``: scripted demonstrations into an episode store, in parallel.

Worker processes (spawned, one MuJoCo/EGL context each) each run the expert for one seed at a
time and send the finished episode back; the main process is the store's only writer and
appends episodes in seed order. Episode i of a run uses seed ``cfg.seed + i``; with
``only_success`` a failed seed is skipped and later seeds fill its place. ``resume`` continues
an interrupted store after the last seed it holds (the run's ``seed`` is then ignored).
``operator`` makes the expert move like a human operator (:mod:`df_policy.sim.operator`).

The store records the resolved configs of every run that added episodes (its ``runs``
attribute, shown by ``df-policy dataset info``), so a store extended with other settings (e.g.
recovery demos) still says which episodes came from which. Files beside a store
``demos.zarr``: ``demos_config.yaml`` (resolved configs of the latest run) and
``demos_videos/episode_NNNN.mp4`` (the first ``videos`` episodes, cameras side by side).
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import itertools
import multiprocessing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from df_policy.config import save_resolved, to_dict
from df_policy.data.config import CollectConfig
from df_policy.data.store import EpisodeStore
from df_policy.data.video import write_episode_video
from df_policy.errors import DataError
from df_policy.sim.config import SimConfig
from df_policy.sim.operator import OperatorStyle

_worker_env = None
_worker_fumble_prob = 0.0
_worker_operator: OperatorStyle | None = None


def sibling(store_path: Path, suffix: str) -> Path:
    """A path beside the store: ``demos.zarr`` + ``_videos`` -> ``demos_videos``."""
    return store_path.with_name(store_path.name.removesuffix(".zarr") + suffix)


def run_expert_episode(env: Any, seed: int, fumble_prob: float = 0.0,
                       operator: OperatorStyle | None = None
                       ) -> tuple[dict[str, np.ndarray], bool]:
    """Roll out the scripted expert in ``env`` for ``seed``; returns (arrays, success).

    The arrays hold the expert's intended actions; the arm executes them, offset while the
    expert fumbles (``fumble_prob``, see :mod:`df_policy.sim.expert`). With ``operator`` the
    expert varies its speed, pauses, misses approaches and regrasps like a person.
    """
    from df_policy.sim.episode import EpisodeBuffer
    from df_policy.sim.expert import ScriptedExpert

    obs, info = env.reset(seed=seed)
    expert = ScriptedExpert(env, np.random.default_rng(seed), fumble_prob, operator)
    buffer = EpisodeBuffer(env.config.cameras)
    for _ in range(env.config.max_steps):
        action = expert.act(obs)
        buffer.add(obs, action)
        obs, _, terminated, truncated, info = env.step(expert.executed(action))
        if terminated or truncated:
            break
    return buffer.arrays(), bool(info["is_success"])


def _init_worker(sim: SimConfig, fumble_prob: float, operator: OperatorStyle | None) -> None:
    global _worker_env, _worker_fumble_prob, _worker_operator
    from df_policy.sim.env import FruitSwapEnv

    _worker_env = FruitSwapEnv(sim)
    _worker_fumble_prob = fumble_prob
    _worker_operator = operator


def _worker_episode(seed: int) -> tuple[int, dict[str, np.ndarray], bool]:
    arrays, success = run_expert_episode(_worker_env, seed, _worker_fumble_prob, _worker_operator)
    return seed, arrays, success


def _episodes(
    sim: SimConfig, first_seed: int, workers: int, fumble_prob: float,
    operator: OperatorStyle | None,
) -> Iterator[tuple[int, dict[str, np.ndarray], bool]]:
    """Endless stream of expert episodes for seeds first_seed, first_seed + 1, ... in order."""
    context = multiprocessing.get_context("spawn")
    initargs = (sim, fumble_prob, operator)
    with futures.ProcessPoolExecutor(workers, context, _init_worker, initargs) as pool:
        pending: dict[int, futures.Future] = {}
        next_seed = first_seed
        try:
            for seed in itertools.count(first_seed):
                while len(pending) < 2 * workers:  # keep every worker busy
                    pending[next_seed] = pool.submit(_worker_episode, next_seed)
                    next_seed += 1
                yield pending.pop(seed).result()
        finally:
            for future in pending.values():
                future.cancel()


def collect(
    out: str | Path,
    sim: SimConfig,
    cfg: CollectConfig,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Fill the store at ``out`` with ``cfg.episodes`` expert episodes; returns a summary.

    Also writes ``<store>_config.yaml`` (the resolved sim and collect configs) and mp4 videos
    of the first ``cfg.videos`` episodes into ``<store>_videos/``, both beside the store.

    Raises:
        DataError: if ``out`` exists and ``resume`` is False, if it holds a store made with
            other sim settings, or if ``cfg.max_failures`` seeds fail in one run.
    """
    out = Path(out)
    if out.exists() and not resume:
        raise DataError(f"{out} already exists; pass --resume to continue it")
    store = EpisodeStore.open_or_create(
        out, cameras=sim.cameras, image_size=sim.image_size, control_hz=sim.control_hz
    )
    save_resolved(sibling(out, "_config.yaml"), sim=sim, collect=cfg)
    if store.n_episodes < cfg.episodes:
        store.record_run({"sim": to_dict(sim), "collect": to_dict(cfg)})
    seeds = store.seeds()
    first_seed = int(seeds.max()) + 1 if len(seeds) else cfg.seed
    started = time.perf_counter()
    attempted = failures = 0
    videos: list[str] = []
    bar = tqdm(total=cfg.episodes, initial=store.n_episodes, disable=not progress,
               unit="episode", desc="collect")
    try:
        stream = _episodes(sim, first_seed, cfg.workers, cfg.fumble_prob, cfg.operator)
        with contextlib.closing(stream):
            while store.n_episodes < cfg.episodes:  # the pool starts on the first next()
                seed, arrays, success = next(stream)
                attempted += 1
                failures += not success
                if success or not cfg.only_success:
                    index = store.append_episode(arrays, success=success, seed=seed)
                    bar.update(1)
                    if index < cfg.videos:
                        path = sibling(out, "_videos") / f"episode_{index:04d}.mp4"
                        write_episode_video(path, arrays, sim.cameras, sim.control_hz)
                        videos.append(str(path))
                elif failures >= cfg.max_failures:
                    raise DataError(
                        f"the expert failed {failures} of {attempted} seeds from {first_seed}; "
                        f"stopped with {store.n_episodes} episodes in {out} (collect.max_failures)"
                    )
    finally:
        bar.close()
    return {
        "store": str(out),
        "episodes": store.n_episodes,
        "steps": store.n_steps,
        "stored_success_rate": float(store.successes().mean()) if store.n_episodes else None,
        "seeds_attempted": attempted,
        "seeds": [first_seed, first_seed + attempted - 1] if attempted else [],
        "expert_success_rate": (attempted - failures) / attempted if attempted else None,
        "videos": videos,
        "seconds": round(time.perf_counter() - started, 1),
    }
