"""Operator variability: the expert drifts its speed, pauses, misses approaches and regrasps
like a person, deterministically, and without an operator moves exactly as before."""

import itertools

import numpy as np
import pytest

from df_policy.config import load_section
from df_policy.data.collect import run_expert_episode
from df_policy.data.config import CollectConfig
from df_policy.errors import ConfigError
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.expert import PHASES, ScriptedExpert
from df_policy.sim.operator import Operator, OperatorStyle

ONLY_SPEED = OperatorStyle(pause_prob=0.0, approach_offset_m=(0.0, 0.0), regrasp_prob=0.0)
NOTHING = OperatorStyle(speed_variation=0.0, pause_prob=0.0, approach_offset_m=(0.0, 0.0),
                        regrasp_prob=0.0)


@pytest.fixture(scope="module")
def env():
    env = FruitSwapEnv(SimConfig(render=False))
    yield env
    env.close()


def roll(env, seed, operator):
    """One episode; returns (expert, success, actions, commanded positions, measured tool
    centres, the phase at each step: 'pause' while holding still)."""
    obs, info = env.reset(seed=seed)
    expert = ScriptedExpert(env, np.random.default_rng(seed), operator=operator)
    actions, targets, tcp, phases = [], [expert.target.copy()], [env.tcp_pose()[:3]], []
    for _ in range(env.config.max_steps):
        phases.append("pause" if expert.pause else PHASES[expert.phase_index])
        action = expert.act(obs)
        actions.append(action)
        targets.append(expert.target.copy())
        obs, _, terminated, truncated, info = env.step(expert.executed(action))
        tcp.append(env.tcp_pose()[:3])
        if terminated or truncated:
            break
    return (expert, bool(info["is_success"]), np.array(actions), np.array(targets),
            np.array(tcp), phases)


def segment_speed_ratio(positions, phases):
    """Fastest over slowest transit segment (each run of above_pick or carry steps, at least 4
    long), a segment's speed being the median of its per-step moves."""
    moves = np.linalg.norm(np.diff(positions, axis=0), axis=1)
    speeds = []
    for phase, steps in itertools.groupby(range(len(phases)), key=lambda i: phases[i]):
        steps = list(steps)
        if phase in ("above_pick", "carry") and len(steps) >= 4:
            speeds.append(np.median(moves[steps]))
    return max(speeds) / min(speeds)


def longest_hold(targets):
    """Most consecutive steps in which the commanded position did not change."""
    held = np.linalg.norm(np.diff(targets, axis=0), axis=1) == 0
    return max((len(list(run)) for still, run in itertools.groupby(held) if still), default=0)


def test_speed_drifts_smoothly_within_an_episode(env):
    *_, plain_tcp, plain_phases = roll(env, 4, None)
    expert, success, _, _, tcp, phases = roll(env, 4, ONLY_SPEED)
    assert success
    assert segment_speed_ratio(plain_tcp, plain_phases) < 1.2, "the plain expert keeps its pace"
    assert segment_speed_ratio(tcp, phases) > 1.4, "the arm really moves faster and slower"
    factors = np.array([expert.operator.speed_factor(t) for t in range(len(tcp))])
    assert factors.min() >= 0.7 and factors.max() <= 1.3
    assert factors.max() / factors.min() > 1.4
    assert np.abs(np.diff(factors)).max() < 0.07, "smooth, not per-step noise"


def test_every_move_pauses_when_pause_prob_is_one(env):
    style = OperatorStyle(speed_variation=0.0, pause_prob=1.0, approach_offset_m=(0.0, 0.0),
                          regrasp_prob=0.0)
    expert, success, _, targets, _, phases = roll(env, 3, style)
    assert success
    lengths = [plan.pause_steps for plan in expert.plans]
    assert all(plan.pause_after is not None for plan in expert.plans)
    assert all(3 <= n <= 15 for n in lengths), "0.3-1.5 s at 10 Hz"
    *_, plain_targets, _, _ = roll(env, 3, None)
    assert longest_hold(targets) >= max(lengths) > longest_hold(plain_targets)
    assert phases.count("pause") >= sum(lengths[:2])


def test_approaches_come_in_off_centre_and_are_corrected(env):
    style = OperatorStyle(speed_variation=0.0, pause_prob=0.0, approach_offset_m=(0.02, 0.02),
                          regrasp_prob=0.0)
    env.reset(seed=5)
    orange = env.fruit_positions()["orange"][:2].copy()
    expert, success, _, targets, tcp, phases = roll(env, 5, style)
    assert success
    missed = orange + expert.plans[0].approach["above_pick"][:2]
    before_descent = slice(0, phases.index("descend") + 1)
    commanded = np.linalg.norm(targets[before_descent, :2] - missed, axis=1)
    measured = np.linalg.norm(tcp[before_descent, :2] - missed, axis=1)
    assert commanded.min() < 1e-4 and measured.min() < 0.012, "the arm hovered 2 cm off"
    assert np.linalg.norm(targets[phases.index("descend"), :2] - orange) < 1e-4, "then centred"


def test_regrasp_grasps_twice_and_the_swap_still_succeeds(env):
    style = OperatorStyle(speed_variation=0.0, pause_prob=0.0, approach_offset_m=(0.0, 0.0),
                          regrasp_prob=1.0)
    _, success, actions, *_ = roll(env, 2, style)
    _, plain_success, plain_actions, *_ = roll(env, 2, None)

    def closings(grip):
        return int(np.sum((grip[1:] == 1.0) & (grip[:-1] == 0.0)))

    assert plain_success and closings(plain_actions[:, 7]) == 3
    assert success and closings(actions[:, 7]) == 6, "each of the three picks grasped twice"


def test_same_seed_same_actions(env):
    _, success, first, *_ = roll(env, 6, OperatorStyle(pause_prob=1.0, regrasp_prob=0.5))
    _, _, again, *_ = roll(env, 6, OperatorStyle(pause_prob=1.0, regrasp_prob=0.5))
    assert success
    np.testing.assert_array_equal(first, again)


def test_off_by_default_and_without_variability_the_plain_expert(env):
    assert CollectConfig().operator is None
    plain, plain_success = run_expert_episode(env, 1)
    idle, _ = run_expert_episode(env, 1, operator=NOTHING)
    varied, _ = run_expert_episode(env, 1, operator=OperatorStyle())
    assert plain_success
    np.testing.assert_array_equal(idle["action"], plain["action"])
    assert len(varied["action"]) != len(plain["action"]) or not np.allclose(
        varied["action"], plain["action"], atol=0.005)


def test_operator_speed_drift_stays_in_its_band():
    operator = Operator(OperatorStyle(speed_variation=0.5), np.random.default_rng(0), 10.0)
    operator.new_episode(400)
    factors = [operator.speed_factor(t) for t in range(400)]
    assert 0.5 <= min(factors) and max(factors) <= 1.5


@pytest.mark.parametrize("value, key", [
    ("{speed_variation: 1.0}", "speed_variation"),
    ("{speed_variation: -0.1}", "speed_variation"),
    ("{pause_prob: -0.1}", "pause_prob"),
    ("{regrasp_prob: 1.5}", "regrasp_prob"),
    ("{pause_s: [1.0, 0.5]}", "pause_s"),
    ("{approach_offset_m: [-0.01, 0.02]}", "approach_offset_m"),
    ("{speed: 2}", "collect.operator.speed"),
])
def test_bad_operator_values_name_the_key(value, key):
    with pytest.raises(ConfigError, match=key):
        load_section(None, "collect", CollectConfig, [f"operator={value}"])


def test_operator_section_loads_with_defaults():
    cfg = load_section(None, "collect", CollectConfig, ["operator={regrasp_prob: 0.2}"])
    assert cfg.operator == OperatorStyle(regrasp_prob=0.2)
