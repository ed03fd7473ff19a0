"""arm.launch.py checked without the launch stack: executables exist, parameters match."""

import importlib.util
import sys
import types
from pathlib import Path

import yaml

from df_policy.ros import policy_node, recorder_node, sim_node

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    created = []

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        Recorder.created.append(self)


def stand_in_modules(share):
    modules = {
        "launch": types.ModuleType("launch"),
        "launch.actions": types.ModuleType("launch.actions"),
        "launch.conditions": types.ModuleType("launch.conditions"),
        "launch.substitutions": types.ModuleType("launch.substitutions"),
        "launch_ros": types.ModuleType("launch_ros"),
        "launch_ros.actions": types.ModuleType("launch_ros.actions"),
        "ament_index_python": types.ModuleType("ament_index_python"),
        "ament_index_python.packages": types.ModuleType("ament_index_python.packages"),
    }
    modules["launch"].LaunchDescription = lambda actions: actions
    for name in ("DeclareLaunchArgument", "SetEnvironmentVariable"):
        setattr(modules["launch.actions"], name, Recorder)
    modules["launch.conditions"].IfCondition = Recorder
    modules["launch.substitutions"].LaunchConfiguration = Recorder
    modules["launch_ros.actions"].Node = Recorder
    modules["launch_ros.actions"].LifecycleNode = Recorder
    modules["ament_index_python.packages"].get_package_share_directory = lambda pkg: share
    return modules


def test_launch_file_executables_and_parameters(monkeypatch):
    share = Path(sys.prefix) / "share" / "df_policy"
    for name, module in stand_in_modules(str(share)).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("arm_launch", ROOT / "launch" / "arm.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    Recorder.created.clear()
    launch.generate_launch_description()
    nodes = [r for r in Recorder.created if "executable" in r.kwargs]
    assert {n.kwargs["executable"] for n in nodes} == {"sim_node", "policy_node",
                                                       "recorder_node"}
    params = yaml.safe_load((share / "config" / "arm.yaml").read_text())
    declared = {"sim_node": sim_node.PARAMETERS, "policy_node": policy_node.PARAMETERS,
                "recorder_node": recorder_node.PARAMETERS}
    for node in nodes:
        exe = Path(sys.prefix) / "lib" / "df_policy" / node.kwargs["executable"]
        assert exe.is_file() and exe.stat().st_mode & 0o111, f"{exe} is installed, executable"
        name = node.kwargs["name"]
        assert set(params[name]["ros__parameters"]) == set(declared[name]), name
    assert (share / "config" / "fastdds_shm.xml").is_file()
    assert (Path(sys.prefix) / "share" / "ament_index" / "resource_index" / "packages"
            / "df_policy").is_file()
