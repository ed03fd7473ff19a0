"""Test-wide environment, set before anything imports rclpy or mujoco.

Network rule: DDS discovery stays on this machine (LOCALHOST). Each test run gets its own
ROS domain id so parallel runs do not cross-talk, and a private ROS log directory.
"""

import os
import tempfile

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ["ROS_LOG_DIR"] = tempfile.mkdtemp(prefix="df_policy_roslog_")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
# Tiny models: one thread each avoids OpenMP spin-wait contention between test processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")
