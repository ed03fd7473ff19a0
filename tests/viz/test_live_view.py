"""The rerun live view: a short real closed-loop episode written to .rrd and read back with
rerun's own reader."""

from pathlib import Path

import numpy as np
import pytest

from df_policy.cli import main
from df_policy.errors import ConfigError
from df_policy.eval.episode import run_episode
from df_policy.policy.runtime import load_policy
from df_policy.sim.config import SimConfig
from df_policy.viz.live_view import LiveView
from df_policy.viz.recording import read_recording, render_step

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "checkpoints" / "df_fruit_swap"


def test_episode_to_rrd_and_back(tmp_path):
    policy = load_policy(SHIPPED, device="cpu")
    sim = SimConfig(image_size=policy.image_size, max_steps=10)
    path = tmp_path / "view.rrd"
    view = LiveView(path, sim.cameras)
    observe = view.eval_observer()
    outputs, actions = [], []

    def observer(env, action, tick):
        observe(env, action, tick)
        actions.append(action)
        if tick.new_chunk:
            outputs.append(tick.output)

    view.start_episode("clean seed 3")
    outcome = run_episode(policy, sim, "clean", 0.0, 3, observer=observer)
    view.end_episode(outcome["success"])
    view.close()

    series = read_recording(path)
    steps = outcome["steps"]
    assert outputs, "the policy ran"
    for cam in sim.cameras:
        frames = [image for _, image in series[f"camera/{cam}"]]
        assert len(frames) == steps and frames[0].shape == (sim.image_size, sim.image_size, 3)
        assert np.std(frames[-1]) > 5, "rendered scene, not blank"
        forecasts = [image for _, image in series[f"forecast/{cam}"]]
        assert len(forecasts) == len(outputs)
        np.testing.assert_array_equal(forecasts[-1], outputs[-1].forecast[cam])
        assert [v for _, v in series[f"noise_level/{cam}"]] == [o.levels[cam] for o in outputs]
        np.testing.assert_allclose([v for _, v in series[f"surprise/{cam}"]],
                                   [o.surprise[cam] for o in outputs])
    np.testing.assert_allclose([v for _, v in series["action/x"]], [a[0] for a in actions],
                               rtol=1e-6)
    chunk = series["action/chunk"][-1][1]
    np.testing.assert_allclose(chunk.reshape(-1, 3), outputs[-1].actions[:, :3], rtol=1e-6)
    assert series["outcome/success"] == [(steps, float(outcome["success"]))]
    assert series["events"][0][1] == "episode 0: clean seed 3"
    png = render_step(path, steps - 1, tmp_path / "step.png")
    assert png.stat().st_size > 1000


def test_bad_view_target_or_checkpoint_writes_no_recording(tmp_path, capsys):
    with pytest.raises(ConfigError, match="--view wants FILE.rrd"):
        LiveView("somewhere.txt", ("front",))
    rrd = tmp_path / "view.rrd"
    code = main(["eval", "--checkpoint", str(tmp_path / "missing"), "--suite", "clean",
                 "--episodes", "1", "--out", str(tmp_path / "eval"), "--view", str(rrd)])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1
    assert not rrd.exists()


def test_events_of_one_step_read_back_in_the_order_they_were_logged():
    """A recording of that test (below) whose file stores the step-0 hold chunk before the
    chunk of the episode's start, logged first: read back in log order."""
    recording = Path(__file__).resolve().parents[1] / "fixtures" / "chunks_out_of_log_order.rrd"
    assert [text for _, text in read_recording(recording)["events"]] == [
        "episode 0: wrist_dead severity 1 seed 1000000",
        "hold: waiting for the first frame of wrist",
        "hold: waiting for the first frame of wrist",
        "episode 0: failure (stage 0)"]


def test_eval_view_streams_the_first_episode(tmp_path):
    rrd = tmp_path / "eval.rrd"
    code = main(["eval", "--checkpoint", str(SHIPPED), "--suite", "wrist_dead", "--severity",
                 "1", "--episodes", "1", "--workers", "1", "--videos", "0", "--quiet",
                 "--out", str(tmp_path / "eval"), "--sim", "max_steps=6", "--view", str(rrd)])
    assert code == 0
    series = read_recording(rrd)
    assert len(series["camera/wrist"]) == 6
    assert series["events"][0][1].startswith("episode 0: wrist_dead severity 1 seed")
    assert len(series["outcome/success"]) == 1
