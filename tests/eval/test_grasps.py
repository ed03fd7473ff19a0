"""GraspLog tells a missed grasp from a held one, with the grasp's offset from the fruit."""

import numpy as np
import pytest

from df_policy.eval.grasps import Grasp, GraspLog, last_carry_end, placements_mm
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.expert import ScriptedExpert


@pytest.fixture(scope="module")
def env():
    env = FruitSwapEnv(SimConfig(render=False))
    yield env
    env.close()


def logged_expert_episode(env, seed, fumble=None):
    obs, info = env.reset(seed=seed)
    expert = ScriptedExpert(env, np.random.default_rng(seed))
    expert.fumble = fumble
    log = GraspLog()
    for _ in range(env.config.max_steps):
        action = expert.executed(expert.act(obs))
        obs, _, terminated, truncated, info = env.step(action)
        log(env, action)
        if terminated or truncated:
            break
    assert info["is_success"]
    return log.grasps


def test_clean_swap_is_three_held_grasps_close_to_the_fruit(env):
    grasps = logged_expert_episode(env, 3)
    assert [g.fruit for g in grasps] == ["orange", "apple", "orange"]
    assert all(g.lifted for g in grasps)
    assert max(g.distance_mm for g in grasps) < 12


@pytest.mark.parametrize("seed", [3, 4])
def test_each_carry_is_logged_from_the_slot_it_left_to_the_slot_it_was_put_down_by(env, seed):
    grasps = logged_expert_episode(env, seed)
    orange, apple = env.orange_start, "B" if env.orange_start == "A" else "A"
    assert [(g.picked_from, g.put_down_near) for g in grasps] == [
        (orange, "C"), (apple, orange), ("C", apple)]
    assert last_carry_end(grasps, orange) == "goal"


def test_the_last_move_s_orange_taken_back_to_c_or_still_held_is_told_apart():
    def grasp(fruit, picked_from, put_down_near):
        return Grasp(0, fruit, (0.0, 0.0), picked_from, True, put_down_near)

    first_two = [grasp("orange", "A", "C"), grasp("apple", "B", "A")]
    assert last_carry_end(first_two + [grasp("orange", "C", "C")], "A") == "C"
    assert last_carry_end(first_two + [grasp("orange", "C", None)], "A") == "held"
    assert last_carry_end(first_two + [grasp("orange", "C", "A")], "A") == "other"
    assert last_carry_end(first_two, "A") is None, "the last move never began"
    assert last_carry_end([grasp("orange", "A", "C"), grasp("apple", "B", "C")], "A") is None


def test_a_grasp_beside_the_fruit_is_logged_as_missed_with_its_offset(env):
    grasps = logged_expert_episode(env, 3, ("pick", np.array([0.04, 0.0, 0.0])))
    missed, *rest = grasps
    assert missed.fruit == "orange" and not missed.lifted
    assert missed.offset_mm[0] == pytest.approx(40, abs=8)
    assert abs(missed.offset_mm[1]) < 8
    assert [g.fruit for g in rest] == ["orange", "apple", "orange"]
    assert all(g.lifted for g in rest) and rest[0].step > missed.step


def test_placements_are_each_fruit_s_offset_within_its_slot(env):
    jitter_mm = 1000 * env.config.slot_jitter
    oranges = []
    for seed in (0, 1):
        env.reset(seed=seed)
        placed = placements_mm(env)
        assert sorted(placed) == ["apple", "orange"]
        assert all(np.abs(offset).max() <= jitter_mm + 1.0 for offset in placed.values())
        oranges.append(placed["orange"])
    assert not np.allclose(oranges[0], oranges[1], atol=0.5), "the placement is random per seed"
