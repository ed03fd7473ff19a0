"""The test environment cleans up after itself: a pytest run leaves no ROS log folder behind."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent


def test_a_test_run_removes_its_ros_log_folder(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    env.pop("ROS_LOG_DIR", None)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(TESTS / "test_files.py")],
        env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert not list(tmp_path.glob("df_policy_roslog_*"))
