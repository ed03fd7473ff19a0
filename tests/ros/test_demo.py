"""`df-policy demo`: the README's main command, end to end over DDS with the tiny checkpoint."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from df_policy.ros.graph import ros_environment, run_demo


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


def test_demo_runs_from_a_folder_outside_the_checkout(tmp_path):
    """`df-policy demo` as a new user runs it: from another folder, with the installed share's
    parameter file and the shipped checkpoint resolved through the package share."""
    share = Path(sys.prefix) / "share" / "df_policy"
    params = yaml.safe_load((share / "config" / "arm.yaml").read_text())
    params["sim_node"]["ros__parameters"]["max_steps"] = 10
    params["policy_node"]["ros__parameters"]["device"] = "cpu"
    params_file = tmp_path / "arm.yaml"
    params_file.write_text(yaml.safe_dump(params))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([str(Path(sys.prefix) / "bin" / "df-policy"), "demo", "--episodes", "1",
                           "--params", str(params_file), "--json", "demo.json"],
                          cwd=elsewhere, env=ros_environment(), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((elsewhere / "demo.json").read_text())
    assert result["episodes"] == 1 and result["outcomes"][0]["steps"] == 10
    assert "loaded " + str(share / "checkpoints" / "df_fruit_swap") in (
        elsewhere / "results" / "demo_logs" / "policy_node.log").read_text()
