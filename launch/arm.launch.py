"""Start the DF policy node, and the simulated arm unless use_sim:=false.

    ros2 launch df_policy arm.launch.py [use_sim:=false] [checkpoint:=PATH] [record:=true]

``record:=true`` adds recorder_node (services /recorder_node/start, stop, discard).

Run with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST set (DDS stays on this machine). On a pip-only
machine without the launch stack, `df-policy demo` starts the same executables with the same
parameter file.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from launch import LaunchDescription


def generate_launch_description():
    """Describe policy_node (lifecycle), sim_node and recorder_node with config/arm.yaml."""
    share = get_package_share_directory("df_policy")
    params = os.path.join(share, "config", "arm.yaml")
    fastdds = os.path.join(share, "config", "fastdds_shm.xml")
    return LaunchDescription([
        DeclareLaunchArgument("use_sim", default_value="true",
                              description="start the MuJoCo arm (false for a real arm)"),
        DeclareLaunchArgument("record", default_value="false",
                              description="start recorder_node to record episodes"),
        DeclareLaunchArgument("checkpoint", default_value="data/checkpoints/df_fruit_swap",
                              description="run or checkpoint folder for the policy"),
        SetEnvironmentVariable("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST"),
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", fastdds),
        Node(package="df_policy", executable="sim_node", name="sim_node", output="screen",
             parameters=[params], condition=IfCondition(LaunchConfiguration("use_sim"))),
        LifecycleNode(package="df_policy", executable="policy_node", name="policy_node",
                      namespace="", output="screen",
                      parameters=[params, {"checkpoint": LaunchConfiguration("checkpoint")}]),
        Node(package="df_policy", executable="recorder_node", name="recorder_node",
             output="screen", parameters=[params],
             condition=IfCondition(LaunchConfiguration("record"))),
    ])
