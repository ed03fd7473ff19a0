"""Idle steps: an arm standing still by choice is found, tremor or not; a grip settling, an
arm catching up with its target or moving fingers are not."""

import numpy as np
import pytest

from df_policy.checkpoint import checkpoint_dir, read_sections
from df_policy.data.store import EpisodeStore
from df_policy.errors import DataError
from df_policy.train.dataset import EpisodeDataset
from df_policy.train.idle import GRIP_SETTLE_S, idle_steps
from df_policy.train.trainer import train

from .conftest import TINY_MODEL, tiny_train


def moving_episode(steps=30, speed=0.01):
    """Targets and measured poses moving 1 cm a step along x, gripper open throughout."""
    action = np.zeros((steps, 8), np.float32)
    action[:, 0] = speed * np.arange(steps)
    action[:, 3] = 1.0
    ee_pose = action[:, :7].copy()
    return action, ee_pose, np.full((steps, 1), 0.08, np.float32)


def hold(arrays, at, steps):
    """The episode with step ``at`` repeated ``steps`` more times (a stop)."""
    return [np.concatenate([a[:at + 1], np.repeat(a[at:at + 1], steps, 0), a[at + 1:]])
            for a in arrays]


HZ = 10.0


def test_a_stop_is_idle_and_nothing_else_is():
    idle = idle_steps(*hold(moving_episode(), at=10, steps=6), HZ)
    assert np.flatnonzero(idle).tolist() == list(range(11, 16))


def test_a_hand_s_tremor_on_the_target_does_not_hide_a_stop():
    action, ee_pose, opening = hold(moving_episode(), at=10, steps=6)
    action[11:17, :3] += np.random.default_rng(0).normal(0.0, 0.0015, (6, 3))
    assert np.flatnonzero(idle_steps(action, ee_pose, opening, HZ)).tolist() == list(range(11, 16))


def test_an_arm_catching_up_with_a_still_target_is_not_idle():
    action, ee_pose, opening = hold(moving_episode(), at=10, steps=6)
    ee_pose[10:14, 0] -= [0.009, 0.007, 0.006, 0.003]  # lags behind, arrives at step 14
    idle = idle_steps(action, ee_pose, opening, HZ)
    assert np.flatnonzero(idle).tolist() == [15]


def test_the_wait_after_a_gripper_command_is_kept_while_the_grip_settles():
    action, ee_pose, opening = hold(moving_episode(), at=10, steps=12)
    action[11:, 7] = 1.0  # close at step 11, then hold still
    idle = idle_steps(action, ee_pose, opening, HZ)
    settled = 11 + round(GRIP_SETTLE_S * HZ)
    assert np.flatnonzero(idle).tolist() == list(range(settled, 22))


def test_moving_fingers_are_not_idle():
    action, ee_pose, opening = hold(moving_episode(), at=10, steps=6)
    opening[11:17, 0] = 0.08 - 0.002 * np.arange(1, 7)
    assert not idle_steps(action, ee_pose, opening, HZ).any()


def test_a_run_that_drops_idle_steps_trains_on_the_rest_and_records_how_many(sim_store, tmp_path):
    store = EpisodeStore.open(sim_store)
    episodes = [store.episode(i) for i in range(store.n_episodes)]
    idle = [idle_steps(e["action"], e["ee_pose"], e["gripper"], store.control_hz)
            for e in episodes]
    assert sum(i.sum() for i in idle) > 0, "the tiny store's expert stops somewhere"
    dataset = EpisodeDataset(sim_store, TINY_MODEL, drop_idle=True)
    for episode, dropped, actions in zip(episodes, idle, dataset.actions, strict=True):
        np.testing.assert_array_equal(actions, episode["action"][~dropped])
    train(sim_store, TINY_MODEL, tiny_train(steps=1, drop_idle_steps=True), tmp_path / "run",
          progress=False)
    recorded = read_sections(checkpoint_dir(tmp_path / "run"))
    assert recorded["data"]["idle_steps_dropped"] == sum(int(i.sum()) for i in idle)
    assert recorded["train"]["drop_idle_steps"] is True


def test_an_episode_in_which_the_arm_never_moved_is_refused_by_name(sim_store, tmp_path):
    source = EpisodeStore.open(sim_store)
    path = tmp_path / "with_a_still_episode.zarr"
    store = EpisodeStore.create(path, cameras=source.cameras, image_size=source.image_size,
                                control_hz=source.control_hz)
    moving = source.episode(0)
    store.append_episode(moving, success=True, seed=0)
    still = {key: np.repeat(value[:1], 40, axis=0) for key, value in moving.items()}
    store.append_episode(still, success=False, seed=1)
    assert len(EpisodeDataset(path, TINY_MODEL)) == 2, "kept whole without drop_idle"
    with pytest.raises(DataError, match="episode 1 of .* has 2 steps in which the arm moved"):
        EpisodeDataset(path, TINY_MODEL, drop_idle=True)
