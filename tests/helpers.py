"""What tests across the folders share: the tiny real model they train and run."""

from df_policy.model.config import ModelConfig


def tiny_model(**overrides) -> ModelConfig:
    """A real model small enough to train in a test: 16 px images, one 16-channel stage, an
    8-channel latent, chunks of 4 steps, two sampling steps; ``overrides`` change fields."""
    values = dict(image_size=16, chunk=4, latent_channels=8, latent_downsample=4,
                  channels=(16,), level_embedding=16, action_hidden=32, sampling_steps=2)
    return ModelConfig(**{**values, **overrides})
