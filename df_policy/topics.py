"""The names of the ROS topics and services the nodes share, in one place.

The simulator (or a real arm's driver) publishes the cameras, the measured pose, the joint
states and the episode's status; the policy node publishes the commands, its diagnostics
and its forecasts; the recorder and the view node listen to both. The message types are
the nodes' own (``df_policy/ros/``); this module holds names only, so nothing here needs
rclpy.
"""

from __future__ import annotations

EE_POSE = "/ee_pose"
"""geometry_msgs/PoseStamped: the measured tool pose."""
EE_TARGET = "/ee_target"
"""geometry_msgs/PoseStamped: the commanded tool pose."""
EE_TWIST = "/ee_twist"
"""geometry_msgs/TwistStamped: a teleoperator's velocity command."""
GRIPPER_COMMAND = "/gripper_command"
"""std_msgs/Float64: the gripper command, 1 closed."""
JOINT_STATES = "/joint_states"
"""sensor_msgs/JointState: the arm's measured joints."""
JOINT_TRAJECTORY = "/arm_controller/joint_trajectory"
"""trajectory_msgs/JointTrajectory: the joint command (the policy node's default)."""
EPISODE_STATUS = "/episode_status"
"""std_msgs/String: the simulated episode's status, JSON, once a control step."""
DIAGNOSTICS = "/diagnostics"
"""diagnostic_msgs/DiagnosticArray: the policy node's health and latency."""
CLOCK = "/clock"
"""rosgraph_msgs/Clock: the simulated time."""
SIM_RESET = "/sim/reset"
"""std_srvs/Trigger: start the simulator's next episode."""
POLICY_NODE = "policy_node"
"""The policy node's name (its services and forecasts are under it)."""


def image_topic(camera: str) -> str:
    """sensor_msgs/Image: a camera's frames."""
    return f"/{camera}/image_raw"


def forecast_topic(camera: str) -> str:
    """sensor_msgs/Image: the policy node's forecast of a camera's frame."""
    return f"/{POLICY_NODE}/forecast/{camera}"


def policy_service(name: str) -> str:
    """A service of the policy node (``change_state``, ``reset_memory``, ``enable``)."""
    return f"/{POLICY_NODE}/{name}"
