"""`df-policy demo --view`: the ROS graph with the shipped checkpoint streamed to a .rrd by the
view node over real DDS, read back with rerun's reader."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from df_policy.errors import DfPolicyError
from df_policy.ros.graph import ros_environment, stop_group
from df_policy.ros.view_node import start_view_process, wait_until_matched
from df_policy.viz.recording import read_recording


def test_a_view_with_no_graph_to_match_is_reported_not_waited_for_forever(tmp_path):
    log = tmp_path / "view_node.log"
    view = start_view_process(str(tmp_path / "view.rrd"), log)
    try:
        with pytest.raises(DfPolicyError, match="found no publisher .* within 2 s"):
            wait_until_matched(log, timeout=2.0)
    finally:
        stop_group(view)


def test_demo_view_records_every_step_of_the_episode(tmp_path):
    share = Path(sys.prefix) / "share" / "df_policy"
    params = yaml.safe_load((share / "config" / "arm.yaml").read_text())
    params["sim_node"]["ros__parameters"]["max_steps"] = 12
    params["policy_node"]["ros__parameters"]["device"] = "cpu"
    params_file = tmp_path / "arm.yaml"
    params_file.write_text(yaml.safe_dump(params))
    done = subprocess.run([str(Path(sys.prefix) / "bin" / "df-policy"), "demo", "--episodes", "1",
                           "--params", str(params_file), "--json", "demo.json",
                           "--view", "view.rrd"],
                          cwd=tmp_path, env=ros_environment(), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    outcome = json.loads((tmp_path / "demo.json").read_text())["outcomes"][0]
    series = read_recording(tmp_path / "view.rrd")
    # The demo starts its episode once the view has found every topic's publisher, and
    # stops the view once the episode's outcome is recorded: every step is in the recording
    # (before, DDS discovery could lag by most of a 12-step episode, and the view missed it).
    first = max(step for step, text in series["events"]
                if text.endswith(f": demo seed {outcome['seed']}"))
    last, success = series["outcome/success"][-1]
    assert success == float(outcome["success"])
    assert last - first == outcome["steps"] == 12
    for cam in ("front", "wrist"):
        steps = [at for at, _ in series[f"camera/{cam}"] if first <= at < last]
        assert steps == list(range(first, last)), "no step lost"
        assert [at for at, _ in series[f"forecast/{cam}"] if first <= at <= last]
        assert [at for at, _ in series[f"noise_level/{cam}"] if first <= at <= last]
    assert [at for at, _ in series["action/x"] if first <= at <= last]
