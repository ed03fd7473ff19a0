"""Scene perturbations change what the cameras see; frame faults are seeded and exact."""

import mujoco
import numpy as np
import pytest

from df_policy.keys import FRONT
from df_policy.sim import scene
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.perturbations import FrameDrops, Freeze, PixelNoise


def front_image(**overrides):
    env = FruitSwapEnv(SimConfig(image_size=48, **overrides))
    obs, _ = env.reset(seed=4)
    for _ in range(3):
        obs, *_ = env.step(np.concatenate([env.tcp_pose()[:3], env.down_quat, [0.0]]))
    env.close()
    return obs[FRONT].astype(int)


def test_scene_perturbations_change_the_front_view_and_are_seeded():
    clean = front_image()
    for options in ({"distractors": 3}, {"light_jitter": 0.5}, {"camera_jitter": 0.03},
                    {"occluder": True, "occluder_period": 1.0}):
        perturbed = front_image(**options)
        assert np.abs(perturbed - clean).mean() > 0.5, options
        np.testing.assert_array_equal(perturbed, front_image(**options))


def test_pixel_noise_is_seeded():
    frame = np.full((8, 8, 3), 100, np.uint8)
    a = PixelNoise(10, np.random.default_rng(0))(frame)
    b = PixelNoise(10, np.random.default_rng(0))(frame)
    np.testing.assert_array_equal(a, b)
    assert 5 < np.abs(a.astype(int) - 100).mean() < 15


def test_frame_drops_rate():
    drops = FrameDrops(0.3, np.random.default_rng(1))
    frame = np.zeros((2, 2, 3), np.uint8)
    missing = sum(drops(frame) is None for _ in range(2000))
    assert 500 < missing < 700


def test_freeze_repeats_one_frame_for_its_duration():
    freeze = Freeze(4, np.random.default_rng(0), start_min=2, start_max=3)
    frames = [np.full((1, 1, 3), i, np.uint8) for i in range(10)]
    seen = [int(freeze(f)[0, 0, 0]) for f in frames]
    assert seen == [0, 1, 1, 1, 1, 1, 6, 7, 8, 9]


@pytest.mark.parametrize("make", [lambda: PixelNoise(-1, None), lambda: FrameDrops(1.5, None)])
def test_bad_severity_is_rejected(make):
    with pytest.raises(ValueError):
        make()


def fruits_hidden_by_the_occluder(height: float) -> set[str]:
    """Fruits that the occluder card hides from the front camera at some step of one sweep
    (a ray from the camera to the fruit's centre hits the card first)."""
    env = FruitSwapEnv(SimConfig(render=False, occluder=True, occluder_period=2.0,
                                 occluder_height=height))
    env.reset(seed=4)
    card = env.model.body(scene.OCCLUDER).id
    camera = env.model.camera(scene.CAMERA_NAMES[FRONT]).id
    hidden = set()
    geom = np.zeros(1, np.int32)
    for _ in range(int(2.0 * env.config.control_hz) + 1):
        env.step(np.concatenate([env.tcp_pose()[:3], env.down_quat, [0.0]]))
        eye = env.data.cam_xpos[camera]
        for fruit in scene.FRUITS:
            mujoco.mj_ray(env.model, env.data, eye, env.data.body(fruit).xpos - eye, None, 1, -1,
                          geom)
            if geom[0] >= 0 and env.model.geom_bodyid[geom[0]] == card:
                hidden.add(fruit)
    env.close()
    return hidden


def test_the_occluder_hides_each_fruit_from_the_front_camera_during_a_sweep():
    assert fruits_hidden_by_the_occluder(SimConfig().occluder_height) == {"apple", "orange"}
    # the card's first height passed below the camera's line of sight to the fruits
    assert fruits_hidden_by_the_occluder(0.15) == set()
