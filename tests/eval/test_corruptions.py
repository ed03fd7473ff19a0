"""The corruption benchmark's faults: every type builds at every level, acts on real rendered
frames or the scene, is deterministic per seed, and bad names or levels are clear errors."""

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from df_policy.errors import ConfigError
from df_policy.eval.corruptions import CORRUPTIONS, LEVELS, corruption_table
from df_policy.eval.suites import make_setup
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv

CAMERAS = ("front", "wrist")
FRAME_CATEGORIES = ("photometric", "sensor")


@pytest.fixture(scope="module")
def rendered():
    """Twelve consecutive real frames of each camera while the arm moves (a scripted reach)."""
    env = FruitSwapEnv(SimConfig())
    obs, _ = env.reset(seed=7)
    frames = []
    for step in range(12):
        target = np.concatenate([obs["ee_pose"], [0.0]])
        target[0] += 0.01 * step
        frames.append({cam: obs[cam] for cam in CAMERAS})
        obs, *_ = env.step(target)
    env.close()
    return frames


def _run_faults(name, level, frames, seed=3):
    setup = make_setup(name, level, CAMERAS, 10.0, np.random.default_rng(seed))
    delivered = []
    for frame in frames:
        delivered.append({cam: setup.faults[cam](frame[cam]) if cam in setup.faults
                          else frame[cam] for cam in CAMERAS})
    return setup, delivered


def test_at_least_sixteen_types_with_three_levels_all_documented():
    assert len(CORRUPTIONS) >= 16
    table = corruption_table()
    for name, corruption in CORRUPTIONS.items():
        assert len(corruption.severities) == len(LEVELS) == 3
        assert f"| {name} |" in table
    assert {c.category for c in CORRUPTIONS.values()} == {
        "photometric", "geometric", "sensor", "scene", "timing"}


@pytest.mark.parametrize("name", [n for n, c in CORRUPTIONS.items()
                                  if c.category in FRAME_CATEGORIES or n == "zoom"])
def test_frame_faults_are_deterministic_and_keep_the_frame_format(name, rendered):
    for level in LEVELS:
        _, first = _run_faults(name, level, rendered)
        _, again = _run_faults(name, level, rendered)
        for a, b in zip(first, again, strict=False):
            for cam in CAMERAS:
                assert a[cam].dtype == np.uint8 and a[cam].shape == rendered[0][cam].shape
                np.testing.assert_array_equal(a[cam], b[cam])


@pytest.mark.parametrize("name", [n for n, c in CORRUPTIONS.items()
                                  if c.category == "photometric"] + ["zoom", "missing_blocks"])
def test_every_frame_fault_changes_every_frame_and_more_with_severity(name, rendered):
    errors = []
    for level in LEVELS:
        _, delivered = _run_faults(name, level, rendered)
        error = np.mean([np.abs(d[cam].astype(float) - r[cam]).mean()
                         for d, r in zip(delivered, rendered, strict=False) for cam in CAMERAS])
        assert all((d[cam] != r[cam]).any() for d, r in zip(delivered, rendered, strict=False)
                   for cam in CAMERAS), (name, level)
        errors.append(error)
    assert errors[0] < errors[2], (name, errors)


def test_late_content_repeats_old_frames_under_fresh_stamps(rendered):
    _, delivered = _run_faults("late_content", 1, rendered)  # 2 control steps late
    for step in range(2, len(rendered)):
        np.testing.assert_array_equal(delivered[step]["front"], rendered[step - 2]["front"])


def test_torn_frames_keep_the_previous_frame_below_the_tear(rendered):
    _, delivered = _run_faults("torn_frames", 3, rendered)
    torn = 0
    for step in range(1, len(rendered)):
        frame, now, before = delivered[step]["wrist"], rendered[step]["wrist"], \
            rendered[step - 1]["wrist"]
        rows_now = (frame == now).all(axis=(1, 2))
        rows_before = (frame == before).all(axis=(1, 2))
        assert (rows_now | rows_before).all()
        torn += not rows_now.all()
    assert torn >= 3  # 60 % of 11 frames


@pytest.mark.parametrize("name,value", [("black_frames", 0), ("white_frames", 255)])
def test_contentless_frames_cover_one_camera_for_their_duration(name, value):
    frame = np.full((8, 8, 3), 90, np.uint8)
    setup = make_setup(name, 1, CAMERAS, 10.0, np.random.default_rng(1))
    (camera, fault), = setup.faults.items()
    flat = sum(bool((fault(frame) == value).all()) for _ in range(200))
    assert flat == 10  # 1 s at 10 Hz


@pytest.mark.parametrize("name,key", [("light_dim", "light_scale"),
                                      ("light_direction", "light_tilt_deg"),
                                      ("table_colour", "table_tint"),
                                      ("fruit_shade", "fruit_shade"),
                                      ("camera_shift", "camera_shift"),
                                      ("camera_tilt", "camera_tilt_deg")])
def test_scene_corruptions_change_the_rendered_scene(name, key):
    setup = make_setup(name, 3, CAMERAS, 10.0, np.random.default_rng(0))
    assert set(setup.sim_overrides) == {key} and not setup.faults
    views = []
    for overrides in ({}, setup.sim_overrides):
        env = FruitSwapEnv(dataclasses.replace(SimConfig(), **overrides))
        obs, info = env.reset(seed=11)
        views.append((obs["front"].astype(float), info["orange_start"]))
        env.close()
    (clean, start), (corrupted, start_corrupted) = views
    assert start == start_corrupted  # the same episode, only the lab differs
    assert (np.abs(clean - corrupted).max(axis=2) > 10).sum() > 20, name  # pixels changed
    if name == "light_dim":
        assert corrupted.mean() < 0.7 * clean.mean()


def test_camera_shift_moves_the_front_camera_only():
    clean = FruitSwapEnv(SimConfig())
    bumped = FruitSwapEnv(SimConfig(camera_shift=0.02))
    clean.reset(seed=4)
    bumped.reset(seed=4)
    moved = np.linalg.norm(bumped.model.cam_pos - clean.model.cam_pos, axis=1)
    fixed = clean.model.cam_bodyid == 0
    np.testing.assert_allclose(moved[fixed], 0.02, atol=1e-9)
    np.testing.assert_allclose(moved[~fixed], 0.0, atol=1e-12)
    clean.close()
    bumped.close()


def test_control_jitter_misses_periods_at_its_rate():
    setup = make_setup("control_jitter", 2, CAMERAS, 10.0, np.random.default_rng(0))
    misses = np.mean([setup.command_late() for _ in range(4000)])
    assert misses == pytest.approx(CORRUPTIONS["control_jitter"].severities[1], abs=0.03)


def test_two_corruptions_at_once_chain_on_the_frame(rendered):
    _, dark = _run_faults("exposure_dark", 3, rendered[:1])
    _, both = _run_faults("exposure_dark+light_dim", 3, rendered[:1])
    setup = make_setup("exposure_dark+light_dim", 3, CAMERAS, 10.0, np.random.default_rng(3))
    assert setup.sim_overrides == {"light_scale": 0.35}
    np.testing.assert_array_equal(both[0]["front"], dark[0]["front"])


def test_bad_names_and_levels_are_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="exposure_dark"):
        make_setup("exposure_darker", 1, CAMERAS, 10.0, rng)
    with pytest.raises(ConfigError, match="valid levels: 1, 2, 3"):
        make_setup("jpeg", 4, CAMERAS, 10.0, rng)
    with pytest.raises(ConfigError, match="repeated"):
        make_setup("jpeg+jpeg", 1, CAMERAS, 10.0, rng)


def test_cli_rejects_an_unknown_corruption_with_exit_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "df_policy.cli", "eval", "--checkpoint", str(tmp_path),
         "--suite", "fog", "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "fog" in result.stderr and "exposure_dark" in result.stderr
    assert not (tmp_path / "out").exists()
