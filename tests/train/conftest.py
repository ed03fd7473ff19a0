"""A tiny real dataset made by the simulator and the scripted expert."""

import pytest

from df_policy.data.collect import run_expert_episode
from df_policy.data.store import EpisodeStore
from df_policy.model.config import ModelConfig
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.train.config import TrainConfig

TINY_MODEL = ModelConfig(image_size=16, chunk=8, latent_channels=8, latent_downsample=4,
                         channels=(16,), level_embedding=16, action_hidden=32, sampling_steps=3)


def tiny_train(**overrides) -> TrainConfig:
    values = dict(steps=6, batch_size=2, warmup_steps=2, log_every=1, checkpoint_every=3,
                  device="cpu", lr=3e-3, num_threads=1)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="session")
def sim_store(tmp_path_factory):
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
