"""The shipped checkpoint loads, matches the simulator, and drives a short real episode."""

from pathlib import Path

import numpy as np

from df_policy.eval.episode import run_episode
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.runtime import DFPolicy
from df_policy.seeds import EVAL_SEED_OFFSET
from df_policy.sim.config import SimConfig

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "df_fruit_swap"


def test_shipped_checkpoint_runs_a_short_episode():
    policy = DFPolicy.from_checkpoint(SHIPPED, device="cpu")
    assert policy.cameras == ("front", "wrist")
    assert policy.calibration is not None, "shipped with its gating calibration"
    result = run_episode(policy, SimConfig(max_steps=3 * policy.chunk), "clean", 0.0,
                         seed=EVAL_SEED_OFFSET)
    assert result["steps"] == 3 * policy.chunk
    assert result["mean_levels"]["front"] < 999
    output = policy.step({cam: np.zeros((64, 64, 3), np.uint8) for cam in policy.cameras})
    assert np.all(np.isfinite(output.actions))


def test_shipped_calibration_was_made_with_the_runtime_sampling():
    # surprise z-scores are only meaningful against forecasts made the way the runtime makes
    # them; a change of the runtime's sampling must re-make the shipped calibration
    policy = DFPolicy.from_checkpoint(SHIPPED, device="cpu")
    runtime = RuntimeConfig()
    assert (policy.calibration["sampling_steps"], policy.calibration["action_samples"]) == (
        runtime.ddim_steps(policy.model_config.sampling_steps), runtime.action_samples)
