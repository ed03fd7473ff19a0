"""The runtime over a real tiny checkpoint: levels reach the model, memory, determinism."""

import dataclasses

import numpy as np
import pytest
import torch

from df_policy.checkpoint import LoadedCheckpoint
from df_policy.model.df_model import DiffusionForcingModel
from df_policy.model.tokens import ActionNormalizer
from df_policy.policy.camera_health import CameraHealth
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.runtime import DFPolicy
from tests.helpers import tiny_model

TINY = tiny_model()


def policy(model_config=TINY, **runtime):
    torch.manual_seed(0)
    model = DiffusionForcingModel(model_config).eval()
    normalizer = ActionNormalizer(8).fit(np.random.default_rng(0).uniform(-1, 1, (50, 8)))
    loaded = LoadedCheckpoint(model, normalizer, model_config, {}, None)
    return DFPolicy(loaded, RuntimeConfig(**runtime), seed=3)


def frames(value=100, size=40):
    return {cam: np.full((size, size, 3), value, np.uint8) for cam in ("front", "wrist")}


def test_step_outputs_and_determinism():
    p = policy()
    first = p.step(frames())
    assert first.actions.shape == (4, 8) and np.all(np.isfinite(first.actions))
    assert np.allclose(np.linalg.norm(first.actions[:, 3:7], axis=1), 1.0, atol=1e-5)
    assert first.forecast["front"].shape == (16, 16, 3)
    assert set(first.timings_ms) == {"prepare", "absorb", "predict", "total"}
    assert first.backend == "torch/cpu"
    second = p.step(frames(120))
    p.reset()
    again = [p.step(frames()), p.step(frames(120))]
    np.testing.assert_array_equal(first.actions, again[0].actions)
    np.testing.assert_array_equal(second.actions, again[1].actions)


def test_health_sets_levels_and_baseline_ignores_them():
    health = {"front": CameraHealth(age_s=0.0), "wrist": CameraHealth(age_s=5.0)}
    out = policy().step(frames(), health)
    assert out.levels == {"front": 0, "wrist": 999}
    missing = policy().step({"front": frames()["front"], "wrist": None})
    assert missing.levels["wrist"] == 999
    unaware = policy(noise_aware=False).step(frames(), health)
    assert unaware.levels == {"front": 0, "wrist": 0}


def test_memory_carries_information_and_memoryless_does_not():
    def second_step(memory, first_value):
        p = policy(memory=memory)
        p.step(frames(first_value))
        return p.step(frames(128), executed=np.zeros((4, 8), np.float32)).actions

    assert not np.allclose(second_step(True, 0), second_step(True, 255))
    np.testing.assert_allclose(second_step(False, 0), second_step(False, 255), atol=1e-6)


def test_the_executed_chunk_is_absorbed_at_the_model_s_history_level():
    """At the top history level the chunk executed since the last step is pure noise to the
    model: what was executed no longer changes the next chunk; at level 0 it does."""
    def second_step(history_level, executed_value):
        p = policy(dataclasses.replace(TINY, history_level=history_level))
        p.step(frames())
        return p.step(frames(), executed=np.full((4, 8), executed_value, np.float32)).actions

    assert not np.allclose(second_step(0, -0.5), second_step(0, 0.5), atol=1e-3)
    np.testing.assert_allclose(second_step(999, -0.5), second_step(999, 0.5), atol=1e-3)


def test_a_measured_gripper_opening_reaches_the_memory_and_an_unknown_one_does_not():
    """With ``gripper_state`` the opening is absorbed clean: a different opening changes the
    next chunk. Unknown (None or NaN) it is absorbed at the top level, where its value is
    noise: the chunk is the one any value would give. A model without the option ignores it."""
    with_gripper = dataclasses.replace(TINY, gripper_state=True)

    def next_chunk(opening, config=with_gripper):
        p = policy(config)
        if config.gripper_state:
            p.model.gripper_range.fit(np.array([[0.0], [0.08]]))
        return p.step(frames(), gripper=opening).actions

    assert not np.allclose(next_chunk(0.0), next_chunk(0.08), atol=1e-3)
    np.testing.assert_allclose(next_chunk(None), next_chunk(float("nan")), atol=1e-6)
    # far below the range (fingers shut on nothing): bounded, as any such opening
    np.testing.assert_allclose(next_chunk(-0.5), next_chunk(-5.0), atol=1e-6)
    cameras_clean = torch.zeros((1, 2), dtype=torch.long)
    levels = policy(with_gripper).model.observation_levels(cameras_clean, False)
    assert levels.tolist() == [[0, 0, TINY.num_levels - 1, 0]]
    np.testing.assert_allclose(next_chunk(0.0, TINY), next_chunk(0.08, TINY), atol=1e-6)


def test_bad_frame_and_executed_actions_are_rejected():
    p = policy()
    with pytest.raises(ValueError, match="uint8 RGB"):
        p.step({"front": np.zeros((8, 8), np.uint8), "wrist": None})
    with pytest.raises(ValueError, match="finite"):
        p.step(frames(), executed=np.full((4, 8), np.nan, np.float32))
