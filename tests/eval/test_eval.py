"""Evaluation: suites perturb what they should, statistics, a real closed-loop episode."""

import numpy as np
import pytest

from df_policy.errors import ConfigError
from df_policy.eval.episode import run_episode
from df_policy.eval.stats import wilson_interval
from df_policy.eval.suites import SUITES, make_setup
from df_policy.sim.config import SimConfig
from tests.helpers import tiny_model
from tests.policy.test_runtime import policy


def test_wilson_interval():
    low, high = wilson_interval(95, 100)
    assert low == pytest.approx(0.888, abs=1e-3) and high == pytest.approx(0.978, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 0.0)


def test_wilson_interval_contains_all_or_none():
    # 100/100 came out as [0.963, 0.9999999999999999]; the plot's error bar was then negative
    # and the evaluation crashed after the cell's episodes had run.
    for trials in range(1, 201):
        for successes in (0, trials):
            low, high = wilson_interval(successes, trials)
            assert low <= successes / trials <= high, (successes, trials)


def test_every_suite_builds_and_unknown_is_an_error():
    rng = np.random.default_rng(0)
    for suite, severities in SUITES.items():
        setup = make_setup(suite, severities[-1], ("front", "wrist"), 10.0, rng)
        assert isinstance(setup.sim_overrides, dict)
    assert make_setup("wrist_dead", 1, ("front", "wrist"), 10, rng).faults["wrist"](
        np.zeros((2, 2, 3), np.uint8)) is None
    assert make_setup("latency", 3, ("front",), 10, rng).action_delay == 3
    with pytest.raises(ConfigError, match="unknown suite"):
        make_setup("fog", 1, ("front",), 10, rng)


def test_closed_loop_episode_reports_outcome_and_levels():
    sim = SimConfig(image_size=16, max_steps=12)
    seen = []
    result = run_episode(policy(), sim, "wrist_dead", 1.0, seed=5,
                         observer=lambda env, action, tick: seen.append((env.stage(),
                                                                        action.shape)))
    assert result["steps"] == 12 and result["success"] is False
    assert seen == [(0, (8,))] * 12, "the observer sees the world after every control step"
    assert result["mean_levels"]["wrist"] == 999 and result["mean_levels"]["front"] < 999
    assert result["policy_ms_median"] > 0


def test_episode_start_waits_for_every_camera_then_goes_without_a_dead_one():
    """The arm holds until each camera's first frame, at most start_wait_s (10 Hz control)."""
    sim = SimConfig(image_size=16, max_steps=12)
    dead = run_episode(policy(), sim, "wrist_dead", 1.0, seed=5, start_wait_s=0.5)
    assert dead["start_wait_steps"] == 5
    assert run_episode(policy(), sim, "wrist_dead", 1.0, seed=5)["start_wait_steps"] == 2
    assert run_episode(policy(), sim, "wrist_dead", 1.0, 5, start_wait_s=0)["start_wait_steps"] == 0
    assert run_episode(policy(), sim, "clean", 0.0, seed=5)["start_wait_steps"] == 0


def test_outcome_breakdown_counts_layouts_and_failure_stages():
    from df_policy.eval.runner import outcome_breakdown

    outcomes = [{"success": True, "stage": 3, "orange_start": "A"},
                {"success": False, "stage": 0, "orange_start": "A"},
                {"success": False, "stage": 2, "orange_start": "B"},
                {"success": False, "stage": 2, "orange_start": "B"},
                {"success": True, "stage": 3, "orange_start": "B"}]
    assert outcome_breakdown(outcomes) == {"by_layout": {"A": [1, 2], "B": [1, 3]},
                                           "failed_at_stage": [1, 0, 2]}


def test_evaluate_writes_results_plot_and_forecast_videos(tmp_path, tiny_checkpoint):
    import json

    import imageio.v2 as imageio

    from df_policy.eval.runner import evaluate
    from df_policy.policy.config import RuntimeConfig

    sim = SimConfig(image_size=16, max_steps=12)
    report = evaluate(tiny_checkpoint, "wrist_dead", episodes=2, workers=1,
                      runtime=RuntimeConfig(), sim=sim, out=tmp_path, progress=False, videos=1)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["cells"][0]["episodes"] == 2 == report["cells"][0]["episodes"]
    layouts = saved["cells"][0]["by_layout"]
    assert layouts["A"][1] + layouts["B"][1] == 2
    assert (tmp_path / "wrist_dead.png").is_file()
    outcomes = saved["cells"][0]["outcomes"]
    assert outcomes[0]["video"] == "wrist_dead_1_seed1000000.mp4" and "video" not in outcomes[1]
    frames = imageio.mimread(tmp_path / "videos" / outcomes[0]["video"])
    assert len(frames) == 3, "one frame per policy step (12 steps / chunk 4)"
    height, width, _ = frames[0].shape
    assert width == 2 * 16 * 4 and height == 2 * (16 * 4 + 12)
    wrist_bar = frames[0][-6, :, 0].astype(int)
    assert wrist_bar[-10:].mean() > 150, "dead wrist camera: level bar full (top level)"


def test_periodic_sim_evaluation_during_training(tmp_path, sim_store):
    import csv

    from df_policy.eval.runner import checkpoint_evaluator
    from df_policy.policy.config import RuntimeConfig
    from df_policy.train.config import TrainConfig
    from df_policy.train.trainer import train

    model = tiny_model()
    hook = checkpoint_evaluator(1, RuntimeConfig(), SimConfig(image_size=16, max_steps=8),
                                tmp_path / "evals")
    train(sim_store, model, TrainConfig(steps=4, batch_size=1, warmup_steps=1, device="cpu",
                                        num_threads=1, checkpoint_every=2),
          tmp_path / "run", progress=False, on_checkpoint=hook)
    rows = list(csv.DictReader((tmp_path / "run" / "checkpoint_eval.csv").open()))
    assert [r["step"] for r in rows] == ["2", "4"]
    assert all(0.0 <= float(r["success_rate"]) <= 1.0 for r in rows)
    assert (tmp_path / "evals" / "step_00000004" / "results.json").is_file()
