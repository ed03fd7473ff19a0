"""arm.launch.py checked without the launch stack: executables exist, parameters match,
policy_node is autostarted through lifecycle events, and every file it needs comes from the
package share."""

import importlib.util
import sys
import types
from pathlib import Path

import yaml
from lifecycle_msgs.msg import Transition

from df_policy.ros import policy_node, recorder_node, sim_node
from df_policy.ros.params import share_path

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
        "launch.events": types.ModuleType("launch.events"),
        "launch_ros.event_handlers": types.ModuleType("launch_ros.event_handlers"),
        "launch_ros.events": types.ModuleType("launch_ros.events"),
        "launch_ros.events.lifecycle": types.ModuleType("launch_ros.events.lifecycle"),
        "launch.substitutions": types.ModuleType("launch.substitutions"),
        "launch_ros": types.ModuleType("launch_ros"),
        "launch_ros.actions": types.ModuleType("launch_ros.actions"),
        "ament_index_python": types.ModuleType("ament_index_python"),
        "ament_index_python.packages": types.ModuleType("ament_index_python.packages"),
    }
    modules["launch"].LaunchDescription = lambda actions: actions
    for name in ("DeclareLaunchArgument", "SetEnvironmentVariable", "EmitEvent",
                 "RegisterEventHandler"):
        setattr(modules["launch.actions"], name, Recorder)
    modules["launch.events"].matches_action = lambda action: ("matches", action)
    modules["launch_ros.event_handlers"].OnStateTransition = Recorder
    modules["launch_ros.events.lifecycle"].ChangeState = Recorder
    modules["launch.conditions"].IfCondition = Recorder
    modules["launch.substitutions"].LaunchConfiguration = Recorder
    modules["launch_ros.actions"].Node = Recorder
    modules["launch_ros.actions"].LifecycleNode = Recorder
    modules["ament_index_python.packages"].get_package_share_directory = lambda pkg: share
    return modules


SHARE = Path(sys.prefix) / "share" / "df_policy"


def describe(monkeypatch):
    """Run generate_launch_description() against stand-ins; returns the actions it made."""
    for name, module in stand_in_modules(str(SHARE)).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("arm_launch", ROOT / "launch" / "arm.launch.py")
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    Recorder.created.clear()
    return launch.generate_launch_description()


def test_policy_node_is_autostarted_through_lifecycle_events(monkeypatch):
    actions = describe(monkeypatch)
    arguments = {r.args[0]: r.kwargs["default_value"] for r in Recorder.created
                 if "default_value" in r.kwargs}
    assert arguments["autostart"] == "true"
    policy = next(r for r in actions if r.kwargs.get("executable") == "policy_node")
    events = [r for r in actions if r.kwargs.get("event") is not None]
    handlers = [r for r in actions if r.args and isinstance(r.args[0], Recorder)]
    (configure,) = events
    assert configure.kwargs["event"].kwargs == {
        "lifecycle_node_matcher": ("matches", policy),
        "transition_id": Transition.TRANSITION_CONFIGURE}
    (handler,) = handlers
    assert handler.args[0].kwargs["goal_state"] == "inactive"
    assert handler.args[0].kwargs["target_lifecycle_node"] is policy
    (activate,) = handler.args[0].kwargs["entities"]
    assert activate.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_ACTIVATE
    for action in (configure, handler):  # autostart:=false -> neither: the node stays unconfigured
        condition = action.kwargs["condition"]
        assert condition.args[0].args == ("autostart",)


def test_every_default_file_comes_from_the_package_share(monkeypatch, tmp_path):
    describe(monkeypatch)
    arguments = {r.args[0]: r.kwargs["default_value"] for r in Recorder.created
                 if "default_value" in r.kwargs}
    checkpoint = Path(arguments["checkpoint"])
    assert checkpoint == SHARE / "checkpoints" / "df_fruit_swap"
    assert sorted(f.name for f in checkpoint.iterdir()) == [
        "calibration.json", "config.yaml", "model.safetensors", "normalizer.safetensors"]
    monkeypatch.chdir(tmp_path)  # the node's own defaults, from a folder that has no data/
    assert share_path("", policy_node.SHIPPED_CHECKPOINT) == checkpoint
    assert share_path("", "config/runtime.yaml").is_file()
    store = yaml.safe_load((SHARE / "config" / "arm.yaml").read_text())["recorder_node"]
    assert store["ros__parameters"]["store"].startswith("~/"), "not the current folder"


def test_launch_file_executables_and_parameters(monkeypatch):
    share = SHARE
    describe(monkeypatch)
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


def test_node_safety_defaults_are_the_evaluations():
    """The evaluation runs SafetyConfig's defaults (overruns aside); the node's parameters and
    config/arm.yaml must mean the same robot."""
    from df_policy.eval.episode import EVAL_SAFETY

    params = yaml.safe_load((ROOT / "config" / "arm.yaml").read_text())
    node = params["policy_node"]["ros__parameters"]
    for name in ("max_step_m", "hold_after_s"):
        assert node[name] == policy_node.PARAMETERS[name][0] == getattr(EVAL_SAFETY, name), name
