"""`df-policy demo`: the README's main command, end to end over DDS with the tiny checkpoint."""

import json

import yaml

from df_policy.ros.graph import run_demo


def test_demo_runs_consecutive_episodes_and_reports(tmp_path, params_file):
    params = yaml.safe_load(params_file.read_text())
    params["sim_node"]["ros__parameters"]["max_steps"] = 20
    params_file.write_text(yaml.safe_dump(params))
    result = run_demo(2, params_file, None, tmp_path / "demo.json", tmp_path / "front.mp4",
                      log_dir=tmp_path / "logs", episode_timeout=30)
    assert json.loads((tmp_path / "demo.json").read_text()) == result
    assert [o["seed"] for o in result["outcomes"]] == [1, 2]
    assert all(o["steps"] == 20 and o["orange_start"] in "AB" for o in result["outcomes"])
    assert result["policy_step_ms"]["samples"] > 0
    assert (tmp_path / "front.mp4").stat().st_size > 0
