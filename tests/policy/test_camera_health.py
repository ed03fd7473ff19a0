"""Camera health knows a frame with no content: black, saturated or flat frames stamped fresh
count as missing for the noise level, while every real rendered frame carries content."""

import dataclasses

import numpy as np
import pytest

from df_policy.eval.corruptions import CORRUPTIONS
from df_policy.policy.camera_health import CameraMonitor, content_problem
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.noise_levels import level_from_health
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.perturbations import ContentlessFrames, Window
from tests.policy.test_runtime import policy

TOP = 999


def _frames(sim: SimConfig, steps: int = 15) -> list[dict[str, np.ndarray]]:
    """Real frames of both cameras while the arm moves down towards the table."""
    env = FruitSwapEnv(sim)
    obs, _ = env.reset(seed=21)
    frames = []
    for _ in range(steps):
        frames.append({cam: obs[cam] for cam in sim.cameras})
        target = np.concatenate([obs["ee_pose"], [0.0]])
        target[2] -= 0.02
        obs, *_ = env.step(target)
    env.close()
    return frames


@pytest.mark.parametrize("light", [1.0, CORRUPTIONS["light_dim"].severities[-1]])
def test_real_frames_carry_content_even_in_dim_light(light):
    for frame in _frames(dataclasses.replace(SimConfig(), light_scale=light)):
        assert content_problem(frame["front"]) == "" and content_problem(frame["wrist"]) == ""


@pytest.mark.parametrize("value,why", [(0, "black"), (255, "white"), (128, "uniform")])
def test_a_contentless_stream_reaches_the_top_level_at_its_first_frame(value, why):
    config = RuntimeConfig()
    frames = _frames(SimConfig(), steps=10)
    fault = ContentlessFrames(value, Window(100, np.random.default_rng(0), 5, 6))  # from step 5
    monitor = CameraMonitor()
    for step, frame in enumerate(frames):
        now = 0.1 * step
        monitor.frame(fault(frame["wrist"]), now)  # the wrist view changes every step
        health = monitor.health(now)  # the same instant the frame arrived: age 0 < fresh_s
        if step < 5:
            assert level_from_health(health, config, TOP) == 0 and health.no_content == ""
        else:
            assert health.no_content == why
            assert level_from_health(health, config, TOP) == TOP
            assert health.problem == f"no content ({why} frames)"


def test_content_returns_and_the_camera_is_trusted_again():
    frames = _frames(SimConfig(), steps=3)
    monitor = CameraMonitor()
    monitor.frame(np.zeros_like(frames[0]["wrist"]), 0.0)
    assert monitor.health(0.0).staleness_s is None
    monitor.frame(frames[1]["wrist"], 0.1)
    assert monitor.health(0.1).staleness_s == 0.0


def test_the_runtime_absorbs_a_black_camera_at_the_top_level():
    runtime = policy()
    frames = _frames(SimConfig(), steps=2)
    monitors = {cam: CameraMonitor() for cam in ("front", "wrist")}
    monitors["front"].frame(frames[1]["front"], 0.1)
    monitors["wrist"].frame(np.zeros_like(frames[1]["wrist"]), 0.1)
    health = {cam: monitor.health(0.1) for cam, monitor in monitors.items()}
    images = {"front": frames[1]["front"], "wrist": np.zeros_like(frames[1]["wrist"])}
    output = runtime.step(images, health)
    assert output.levels["wrist"] == runtime.top and output.levels["front"] == 0
