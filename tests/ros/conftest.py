"""Real node processes over real DDS (LOCALHOST discovery, this run's private domain id)."""

import time

import pytest
import rclpy
import yaml

from df_policy.data.collect import run_expert_episode
from df_policy.data.store import EpisodeStore
from df_policy.model.config import ModelConfig
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.train.config import TrainConfig
from df_policy.train.trainer import train

TINY = ModelConfig(image_size=16, chunk=4, latent_channels=8, latent_downsample=4,
                   channels=(16,), level_embedding=16, action_hidden=32, sampling_steps=2)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A real, tiny DF checkpoint trained for a few steps on simulated demos."""
    root = tmp_path_factory.mktemp("ckpt")
    sim = SimConfig(image_size=16)
    env = FruitSwapEnv(sim)
    store = EpisodeStore.create(root / "demos.zarr", cameras=sim.cameras, image_size=16,
                                control_hz=sim.control_hz)
    arrays, success = run_expert_episode(env, 0)
    store.append_episode(arrays, success=success, seed=0)
    env.close()
    train(root / "demos.zarr", TINY, TrainConfig(steps=2, batch_size=1, warmup_steps=1,
                                                 device="cpu", num_threads=1), root / "run",
          progress=False)
    return root / "run"


@pytest.fixture
def params_file(tmp_path, tiny_checkpoint):
    """config/arm.yaml with the tiny checkpoint and small images."""
    params = yaml.safe_load(open("config/arm.yaml"))
    params["sim_node"]["ros__parameters"]["image_size"] = 24
    params["policy_node"]["ros__parameters"]["checkpoint"] = str(tiny_checkpoint)
    params["policy_node"]["ros__parameters"]["device"] = "cpu"
    path = tmp_path / "arm.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture
def ros_node():
    """An rclpy node in the test process."""
    rclpy.init()
    node = rclpy.create_node(f"test_probe_{int(time.monotonic() * 1000) % 100000}")
    yield node
    node.destroy_node()
    rclpy.shutdown()


def spin_until(node, condition, timeout):
    """Spin ``node`` until ``condition()`` or timeout; returns whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
        if condition():
            return True
    return False
