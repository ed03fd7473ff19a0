"""A tiny real dataset made by the simulator and the scripted expert."""

from df_policy.model.config import ModelConfig
from df_policy.train.config import TrainConfig

TINY_MODEL = ModelConfig(image_size=16, chunk=8, latent_channels=8, latent_downsample=4,
                         channels=(16,), level_embedding=16, action_hidden=32, sampling_steps=3)


def tiny_train(**overrides) -> TrainConfig:
    values = dict(steps=6, batch_size=2, warmup_steps=2, log_every=1, checkpoint_every=3,
                  device="cpu", lr=3e-3, num_threads=1)
    values.update(overrides)
    return TrainConfig(**values)
