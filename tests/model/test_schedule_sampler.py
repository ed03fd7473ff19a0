"""Noise schedule values and the deterministic DDIM sampler."""

import pytest
import torch

from df_policy.model.sampler import ddim_levels, ddim_sample, pure_noise
from df_policy.model.schedule import NoiseSchedule


@pytest.mark.parametrize(
    "level, signal, sigma",
    [(0, 1.0, 0.0064), (99, 0.9859, 0.1671), (499, 0.7027, 0.7114), (899, 0.1552, 0.9879)],
)
def test_cosine_schedule_matches_reference_table(level, signal, sigma):
    schedule = NoiseSchedule(1000)
    a, s = schedule.coefficients(torch.tensor([level]), 1)
    assert a.item() == pytest.approx(signal, abs=2e-4)
    assert s.item() == pytest.approx(sigma, abs=2e-4)


def test_alpha_bar_decreases_and_noising_interpolates():
    schedule = NoiseSchedule(1000)
    assert torch.all(schedule.alpha_bar[1:] < schedule.alpha_bar[:-1])
    x0, noise = torch.ones(2, 4), -torch.ones(2, 4)
    clean = schedule.add_noise(x0, noise, torch.tensor([0, 0]))
    pure = schedule.add_noise(x0, noise, torch.tensor([999, 999]))
    assert torch.allclose(clean, x0, atol=0.01) and torch.allclose(pure, noise, atol=1e-3)
    per_sample = schedule.add_noise(x0, noise, torch.tensor([0, 999]))
    assert per_sample[0, 0] > 0.99 and per_sample[1, 0] < -0.99


def test_noise_is_clamped():
    schedule = NoiseSchedule(10, clip_noise=0.5)
    noise = schedule.sample_noise(torch.empty(1000), torch.Generator().manual_seed(0))
    assert noise.abs().max() <= 0.5


def test_ddim_levels_reference_spacing():
    levels = ddim_levels(1000, 25)
    assert levels[:3] == (999, 959, 919) and levels[-2:] == (39, -1)


def test_ddim_is_deterministic_and_returns_the_denoiser_x0():
    schedule = NoiseSchedule(1000)
    target = torch.full((1, 3), 0.25)
    calls = []

    def denoise(noisy, levels):
        calls.append(levels[0, 0].item())
        return {"a": target.expand_as(noisy["a"])}

    def noise():
        return pure_noise(schedule, {"a": (1, 3)}, torch.Generator().manual_seed(1))

    a, b = ddim_sample(denoise, schedule, noise(), 5), ddim_sample(denoise, schedule, noise(), 5)
    assert torch.equal(a["a"], b["a"]) and torch.allclose(a["a"], target)
    assert calls[:5] == [999, 799, 599, 399, 199]
