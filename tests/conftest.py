"""Test-wide environment, set before anything imports rclpy or mujoco.

Network rule: DDS discovery stays on this machine (LOCALHOST). Each test run gets its own
ROS domain id so parallel runs do not cross-talk, and a private ROS log directory, removed
when the run ends.
"""

import atexit
import os
import shutil
import tempfile

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="df_policy_roslog_")
# Removed when the test process exits: every run would otherwise leave one behind in /tmp.
atexit.register(shutil.rmtree, os.environ["ROS_LOG_DIR"], ignore_errors=True)
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# Tiny models: one thread each avoids OpenMP spin-wait contention between test processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")


import pytest  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def sim_store(tmp_path_factory):
    """A tiny real dataset: 3 scripted-expert episodes rendered at 16 px."""
    from df_policy.data.collect import run_expert_episode
    from df_policy.data.store import EpisodeStore
    from df_policy.sim.config import SimConfig
    from df_policy.sim.env import FruitSwapEnv

    path = tmp_path_factory.mktemp("data") / "tiny.zarr"
    sim = SimConfig(image_size=16)
    env = FruitSwapEnv(sim)
    store = EpisodeStore.create(path, cameras=sim.cameras, image_size=16,
                                control_hz=sim.control_hz)
    for seed in range(3):
        arrays, success = run_expert_episode(env, seed)
        store.append_episode(arrays, success=success, seed=seed)
    env.close()
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, sim_store):
    """A real, tiny DF run trained for a few steps on simulated demos."""
    from df_policy.train.config import TrainConfig
    from df_policy.train.trainer import train
    from tests.helpers import tiny_model

    model = tiny_model()
    run = tmp_path_factory.mktemp("ckpt") / "run"
    train(sim_store, model, TrainConfig(steps=2, batch_size=1, warmup_steps=1, device="cpu",
                                        num_threads=1), run, progress=False)
    return run
