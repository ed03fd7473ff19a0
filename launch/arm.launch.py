"""Start the DF policy node, and the simulated arm unless use_sim:=false.

    ros2 launch df_policy arm.launch.py [use_sim:=false] [autostart:=false] [checkpoint:=PATH]
                                        [record:=true]

Works from any folder: the parameter file, the runtime configuration and the default checkpoint
are the ones installed in the package share. ``autostart`` (default true) configures and then
activates ``policy_node`` through lifecycle events, so the arm moves as soon as the checkpoint
is loaded; ``autostart:=false`` leaves it unconfigured, to be driven with
``ros2 lifecycle set /policy_node configure`` / ``activate``. ``record:=true`` adds
recorder_node (services /recorder_node/start, stop, discard; store under
~/.local/share/df_policy).

Run with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST set (DDS stays on this machine). On a pip-only
machine without the launch stack, `df-policy demo` starts the same executables with the same
parameter file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    RegisterEventHandler,
    SetEnvironmentVariable,
)
from launch.conditions import IfCondition
from launch.events import matches_action
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.event_handlers import OnStateTransition
from launch_ros.events.lifecycle import ChangeState
from lifecycle_msgs.msg import Transition

from launch import LaunchDescription


def generate_launch_description():
    """Describe policy_node (lifecycle, autostarted), sim_node and recorder_node."""
    share = get_package_share_directory("df_policy")
    params = os.path.join(share, "config", "arm.yaml")
    fastdds = os.path.join(share, "config", "fastdds_shm.xml")
    autostart = IfCondition(LaunchConfiguration("autostart"))
    policy = LifecycleNode(
        package="df_policy", executable="policy_node", name="policy_node", namespace="",
        output="screen",
        parameters=[params, {"checkpoint": LaunchConfiguration("checkpoint"),
                             "runtime_config": os.path.join(share, "config", "runtime.yaml")}])

    def transition(transition_id, **kwargs):
        return EmitEvent(event=ChangeState(lifecycle_node_matcher=matches_action(policy),
                                           transition_id=transition_id), **kwargs)

    return LaunchDescription([
        DeclareLaunchArgument("use_sim", default_value="true",
                              description="start the MuJoCo arm (false for a real arm)"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="configure and activate policy_node at launch"),
        DeclareLaunchArgument("record", default_value="false",
                              description="start recorder_node to record episodes"),
        DeclareLaunchArgument("checkpoint",
                              default_value=os.path.join(share, "checkpoints", "df_fruit_swap"),
                              description="run or checkpoint folder for the policy"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", fastdds),
        Node(package="df_policy", executable="sim_node", name="sim_node", output="screen",
             parameters=[params], condition=IfCondition(LaunchConfiguration("use_sim"))),
        policy,
        RegisterEventHandler(OnStateTransition(
            target_lifecycle_node=policy, start_state="configuring", goal_state="inactive",
            entities=[transition(Transition.TRANSITION_ACTIVATE)]), condition=autostart),
        transition(Transition.TRANSITION_CONFIGURE, condition=autostart),
        Node(package="df_policy", executable="recorder_node", name="recorder_node",
             output="screen", parameters=[params],
             condition=IfCondition(LaunchConfiguration("record"))),
    ])
