"""The ROS-native build: `colcon build` of a copy of the checkout into install/, then, with
install/setup.bash sourced, the node executables of that prefix run the fruit swap over DDS, and
`colcon test` runs the package's tests from the workspace (a fast subset: the whole suite is
`make test`)."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from df_policy.ros.graph import ros_environment

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_FILES = ("df_policy", "launch", "config", "sim", "scripts", "resource", "tests",
                 "data/checkpoints/df_fruit_swap", "setup.py", "setup.cfg", "package.xml",
                 "pyproject.toml")
"""What the package is built and tested from (no caches, no data stores, no runs)."""
COLCON_TESTS = ("tests/test_config.py", "tests/ros/test_launch_static.py")
"""What `colcon test` runs here: configs and the launch file, against the built package."""


def copy_checkout(dest):
    for name in PACKAGE_FILES:
        source, target = ROOT / name, dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)


def test_colcon_build_and_the_installed_nodes_run_the_demo(tmp_path):
    workspace = tmp_path / "ws"
    copy_checkout(workspace / "src" / "df_policy")
    env = ros_environment()
    env["PATH"] = f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env['PATH']}"
    build = subprocess.run(["colcon", "build", "--base-paths", "src"], cwd=workspace, env=env,
                           capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    prefix = workspace / "install" / "df_policy"
    share = prefix / "share" / "df_policy"
    params = yaml.safe_load((share / "config" / "arm.yaml").read_text())
    params["sim_node"]["ros__parameters"]["max_steps"] = 10
    params["policy_node"]["ros__parameters"]["device"] = "cpu"
    (workspace / "demo.yaml").write_text(yaml.safe_dump(params))
    probe = ("from df_policy.ros.graph import executable; import df_policy; "
             "print(executable('policy_node')[0]); print(df_policy.__file__)")
    script = (f"source install/setup.bash && python -c \"{probe}\" && "
              f"{prefix}/lib/df_policy/df-policy demo --episodes 1 --params demo.yaml "
              "--json demo.json")
    run = subprocess.run(["bash", "-c", script], cwd=workspace, env=env, capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    node, package = run.stdout.splitlines()[:2]
    assert node == str(prefix / "lib" / "df_policy" / "policy_node")
    assert package.startswith(str(prefix)), "the package imported from install/"
    result = json.loads((workspace / "demo.json").read_text())
    assert result["episodes"] == 1 and result["outcomes"][0]["steps"] == 10
    log = (workspace / "results" / "demo_logs" / "policy_node.log").read_text()
    assert f"loaded {share / 'checkpoints' / 'df_fruit_swap'}" in log

    tested = subprocess.run(
        ["bash", "-c", "source install/setup.bash && colcon test --base-paths src "
         f"--pytest-args {' '.join(COLCON_TESTS)} && colcon test-result --verbose"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    summary = re.search(r"Summary: (\d+) tests, 0 errors, 0 failures", tested.stdout)
    assert summary and int(summary.group(1)) >= 10, tested.stdout[-3000:]
