"""The fruit-swap env: gymnasium contract, determinism, randomisation, physics sanity."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from df_policy.keys import EE_POSE, FRONT, WRIST
from df_policy.sim import ENV_ID
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv


@pytest.fixture(scope="module")
def blind_env():
    env = FruitSwapEnv(SimConfig(render=False))
    yield env
    env.close()


def hold_action(env):
    return np.concatenate([env.tcp_pose()[:3], env.down_quat, [0.0]]).astype(np.float32)


def test_registered_env_passes_gymnasium_checker():
    env = gym.make(ENV_ID, config=SimConfig(image_size=32))
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs[FRONT].shape == (32, 32, 3) and obs[FRONT].dtype == np.uint8
    assert obs[FRONT].std() > 5, "the front camera renders a real image"
    env.close()


def test_same_seed_same_episode_in_two_instances():
    cfg = SimConfig(image_size=32)
    runs = []
    for _ in range(2):
        env = FruitSwapEnv(cfg)
        obs, _ = env.reset(seed=7)
        frames = [obs[WRIST]]
        for step in range(5):
            target = obs[EE_POSE][:3] + np.array([0.01, 0.0, -0.01]) * step
            obs, *_ = env.step(np.concatenate([target, env.down_quat, [0.0]]))
            frames.append(obs[WRIST])
        runs.append((env.data.qpos.copy(), np.stack(frames)))
        env.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_reset_randomises_start_slots_and_positions(blind_env):
    starts, apples = set(), []
    for seed in range(16):
        _, info = blind_env.reset(seed=seed)
        starts.add(info["orange_start"])
        apple_slot = "B" if info["orange_start"] == "A" else "A"
        assert blind_env.slot_of("apple") == apple_slot
        assert blind_env.slot_of("orange") == info["orange_start"]
        assert blind_env.slot_of("apple") != "C" and info["stage"] == 0
        apples.append(blind_env.fruit_positions()["apple"][:2])
    assert starts == {"A", "B"}
    assert np.ptp(np.array(apples)[:, 0]) > 0.01, "positions inside the slot vary"


def test_ik_tracks_target_pose(blind_env):
    blind_env.reset(seed=1)
    target = np.array([0.05, 0.1, 0.12])
    for _ in range(25):
        obs, *_ = blind_env.step(np.concatenate([target, blind_env.down_quat, [0.0]]))
    assert np.linalg.norm(obs[EE_POSE][:3] - target) < 0.005
    assert abs(abs(np.dot(obs[EE_POSE][3:], blind_env.down_quat)) - 1) < 1e-3


def test_fruit_stays_in_its_slot_when_untouched(blind_env):
    blind_env.reset(seed=2)
    before = blind_env.fruit_positions()
    for _ in range(30):
        blind_env.step(hold_action(blind_env))
    after = blind_env.fruit_positions()
    for fruit in before:
        assert np.linalg.norm(after[fruit] - before[fruit]) < 0.003


def test_gripper_command_closes_fingers(blind_env):
    obs, _ = blind_env.reset(seed=3)
    assert obs["gripper"][0] > 0.07
    action = hold_action(blind_env)
    action[7] = 1.0
    for _ in range(10):
        obs, *_ = blind_env.step(action)
    assert obs["gripper"][0] < 0.01


@pytest.mark.parametrize("bad", [np.full(8, np.nan), np.zeros(7)])
def test_bad_action_is_rejected(blind_env, bad):
    blind_env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        blind_env.step(bad)


def test_episode_truncates_at_time_limit():
    env = FruitSwapEnv(SimConfig(render=False, max_steps=5))
    env.reset(seed=0)
    flags = [env.step(hold_action(env))[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]
