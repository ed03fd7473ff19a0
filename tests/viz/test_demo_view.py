"""`df-policy demo --view`: the ROS graph with the shipped checkpoint streamed to a .rrd by the
view node over real DDS, read back with rerun's reader."""

import json
import subprocess
import sys
from pathlib import Path

import yaml

from df_policy.ros.graph import ros_environment
from df_policy.viz.recording import read_recording


def test_demo_view_records_the_episode(tmp_path):
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
    # the view shows the graph as it ran: the simulator holding seed 0 while policy_node
    # configured, then the demo's episode after its reset
    first = max(step for step, text in series["events"]
                if text.endswith(f": demo seed {outcome['seed']}"))
    last = series["outcome/success"][-1][0]
    assert last - first == 12, "every control step of the episode"
    assert series["outcome/success"][-1][1] == float(outcome["success"])
    for cam in ("front", "wrist"):
        steps = [at for at, _ in series[f"camera/{cam}"] if first <= at < last]
        assert len(steps) == 12
        assert [at for at, _ in series[f"forecast/{cam}"] if first <= at < last]
        assert [at for at, _ in series[f"noise_level/{cam}"] if first <= at < last]
    assert len([at for at, _ in series["action/x"] if first <= at < last]) >= 8
