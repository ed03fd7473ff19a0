"""A tiny real dataset made by the simulator and the scripted expert."""

from df_policy.train.config import TrainConfig
from tests.helpers import tiny_model

TINY_MODEL = tiny_model(chunk=8, sampling_steps=3)


def tiny_train(**overrides) -> TrainConfig:
    values = dict(steps=6, batch_size=2, warmup_steps=2, log_every=1, checkpoint_every=3,
                  device="cpu", lr=3e-3, num_threads=1)
    values.update(overrides)
    return TrainConfig(**values)
