"""Moving-shadow augmentation: what it darkens, that it moves, and that runs stay resumable."""

import torch

from df_policy.train.augment import moving_shadows
from df_policy.train.trainer import train

from .conftest import TINY_MODEL, tiny_train
from .test_train import weights


def test_a_shadow_is_a_darkened_band_that_moves():
    images = torch.full((16, 6, 3, 32, 32), 0.2)
    shadowed = moving_shadows(images, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(images, torch.full_like(images, 0.2)), "the input is not changed"
    brightness = (shadowed + 1) / (images + 1)
    assert torch.all(brightness <= 1 + 1e-6) and torch.all(brightness >= 0.3 - 1e-6)
    dark = brightness < 1 - 1e-6
    assert torch.all(dark.any(dim=(2, 3, 4)).sum(dim=1) > 0), "every episode gets a shadow"
    assert torch.all(dark[:, :, 0] == dark[:, :, 2]), "the same band on every colour channel"
    moved = (dark[:, 0] != dark[:, -1]).any(dim=(1, 2, 3))
    assert moved.float().mean() > 0.5, "the band slides between the first and last token"


def test_no_shadows_leave_images_and_random_stream_untouched():
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    images = torch.rand(2, 3, 3, 8, 8)
    assert moving_shadows(images, 0.0, generator) is images
    assert torch.equal(generator.get_state(), state)


def test_some_episodes_only_at_lower_probability():
    images = torch.zeros(200, 2, 3, 8, 8)
    dark = moving_shadows(images, 0.3, torch.Generator().manual_seed(1)) < -1e-6
    share = dark.any(dim=(1, 2, 3, 4)).float().mean().item()
    assert 0.15 < share < 0.45


def test_training_with_shadows_resumes_exactly(sim_store, tmp_path):
    config = {"shadow_prob": 0.5}
    train(sim_store, TINY_MODEL, tiny_train(steps=6, **config), tmp_path / "straight",
          progress=False)
    train(sim_store, TINY_MODEL, tiny_train(steps=3, **config), tmp_path / "split",
          progress=False)
    train(sim_store, TINY_MODEL, tiny_train(steps=6, **config), tmp_path / "split",
          resume=True, progress=False)
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    train(sim_store, TINY_MODEL, tiny_train(steps=6), tmp_path / "plain", progress=False)
    unshadowed = weights(tmp_path / "plain")
    assert any(not torch.equal(a[k], unshadowed[k]) for k in a), "shadows were used"
