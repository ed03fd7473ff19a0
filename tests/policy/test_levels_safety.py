"""Camera health, automatic noise levels and safety checks (plain Python, no ROS)."""

import numpy as np
import pytest

from df_policy.policy.camera_health import CameraHealth, CameraMonitor
from df_policy.policy.config import RuntimeConfig
from df_policy.policy.noise_levels import level_from_health, level_from_surprise
from df_policy.policy.safety import SafetyConfig, StartGate, Watchdog, clamp_action, pose_problem

TOP = 999


def test_monitor_reports_age_and_frozen_content():
    monitor = CameraMonitor()
    assert monitor.health(0.0).age_s is None
    rng = np.random.default_rng(0)  # textured frames: a flat one is a frame without content
    a, b = (rng.integers(0, 256, (4, 4, 3), dtype=np.uint8) for _ in range(2))
    monitor.frame(a, 0.0)
    monitor.frame(b, 0.1)
    assert monitor.health(0.15).age_s == pytest.approx(0.05)
    assert monitor.health(0.15).frozen_s == pytest.approx(0.0)
    for t in (0.2, 0.3, 0.4):  # new stamps, same content: a frozen stream
        monitor.frame(b, t)
    health = monitor.health(0.4)
    assert health.age_s == pytest.approx(0.0) and health.frozen_s == pytest.approx(0.3)
    assert health.staleness_s == pytest.approx(0.3)
    monitor.failed()
    assert monitor.health(0.4).staleness_s is None


@pytest.mark.parametrize(
    "health, level",
    [
        (CameraHealth(age_s=0.1), 0),
        (CameraHealth(age_s=0.625), 500),
        (CameraHealth(age_s=0.2, frozen_s=2.0), TOP),
        (CameraHealth(age_s=None), TOP),
        (CameraHealth(age_s=0.0, decode_failed=True), TOP),
    ],
)
def test_levels_from_health(health, level):
    assert level_from_health(health, RuntimeConfig(fresh_s=0.25, stale_s=1.0), TOP) == level


def test_surprise_gate_ramps_to_top():
    config = RuntimeConfig(gate_low=3.0, gate_high=8.0)
    assert level_from_surprise(1.0, config, TOP) == 0
    assert 0 < level_from_surprise(5.0, config, TOP) < TOP
    assert level_from_surprise(20.0, config, TOP) == TOP


def test_clamp_action_limits_and_rejects_non_finite():
    config = SafetyConfig(max_step_m=0.05)
    previous = np.array([0, 0, 0.2, 1, 0, 0, 0, 0.0])
    far = np.array([1.0, 0, 0.2, 2, 0, 0, 0, 3.0])
    safe = clamp_action(far, previous, config)
    assert np.linalg.norm(safe[:3] - previous[:3]) == pytest.approx(0.05)
    assert np.linalg.norm(safe[3:7]) == pytest.approx(1.0) and safe[7] == 1.0
    assert clamp_action(np.full(8, np.nan), previous, config) is None
    low = clamp_action(np.array([0, 0, -1.0, 1, 0, 0, 0, 0]), None, config)
    assert low[2] == config.workspace_low[2]


def test_watchdog_holds_when_all_cameras_stale_or_inference_overruns():
    dog = Watchdog(SafetyConfig(hold_after_s=0.25, max_inference_s=0.5))
    assert not dog.must_hold({"front": 0.1, "wrist": 1.0}, 0.05)
    assert dog.must_hold({"front": 0.3, "wrist": None}, 0.05) and "stale" in dog.reason
    assert dog.must_hold({"front": 0.0}, 0.8) and "overrun" in dog.reason
    assert not dog.must_hold({"front": 0.0}, 0.1) and dog.reason == ""


def test_start_gate_waits_for_every_first_frame_at_most_wait_s():
    gate = StartGate(wait_s=1.0)
    assert gate.waiting_for({"front": 0.0, "wrist": None}, now=5.0) == ["wrist"]
    assert gate.waiting_for({"front": 0.1, "wrist": None}, now=5.9) == ["wrist"]
    assert gate.waiting_for({"front": 0.1, "wrist": None}, now=6.0) == [], "a dead camera"
    assert gate.waiting_for({"front": None, "wrist": None}, now=6.1) == [], "stays open"
    gate.reset()
    assert gate.waiting_for({"front": None, "wrist": None}, now=9.0) == ["front", "wrist"]
    assert gate.waiting_for({"front": 0.0, "wrist": 0.05}, now=9.1) == []


def test_pose_problem_names_what_is_wrong():
    config = SafetyConfig()
    assert pose_problem(np.array([0.0, 0, 0.2, 1, 0, 0, 0]), config) == ""
    assert "not finite" in pose_problem(np.array([0.0, np.inf, 0.2, 1, 0, 0, 0]), config)
    assert "outside the workspace" in pose_problem(np.array([0.0, 0, -0.5, 1, 0, 0, 0]), config)
    assert "unit quaternion" in pose_problem(np.array([0.0, 0, 0.2, 0, 0, 0, 0]), config)
    assert "shape" in pose_problem(np.zeros(3), config)
