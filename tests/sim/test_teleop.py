"""Teleoperation: key presses move the real simulated arm; end to end under Xvfb."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyspacemouse
import pytest

from df_policy.data.store import EpisodeStore
from df_policy.errors import DfPolicyError
from df_policy.keys import ACTION, EE_POSE
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.teleop import (
    KEY_DOWN,
    KEY_ENTER,
    KEY_LEFT,
    KEY_PAGE_UP,
    KEY_SPACE,
    MAX_LINEAR,
    KeyboardTeleop,
    SpaceMouse,
    integrate_twist,
    spacemouse_twist,
)
from df_policy.viz.recording import read_recording

ROOT = Path(__file__).resolve().parents[2]


def test_keys_move_the_arm_in_real_physics():
    env = FruitSwapEnv(SimConfig(render=False))
    obs, _ = env.reset(seed=0)
    teleop = KeyboardTeleop(env.tcp_pose()[:3], env.down_quat)
    start = obs[EE_POSE][:3].copy()
    for key in (KEY_DOWN, KEY_DOWN, KEY_LEFT, KEY_PAGE_UP):
        assert teleop.press(key) is None
    for _ in range(15):
        obs, *_ = env.step(teleop.action())
    np.testing.assert_allclose(obs[EE_POSE][:3] - start, [0.02, -0.01, 0.01], atol=0.003)
    teleop.press(KEY_SPACE)
    for _ in range(10):
        obs, *_ = env.step(teleop.action())
    assert obs["gripper"][0] < 0.01, "space closes the gripper"
    assert teleop.press(KEY_ENTER) == "save"


def test_spacemouse_state_maps_to_a_world_twist():
    # pyspacemouse's own state type, HID_Z_UP: x right, y away from the user, z up
    state = pyspacemouse.SpaceMouseState(x=0.5, y=1.0, z=-0.2, roll=0.0, pitch=0.0, yaw=0.5)
    linear, angular = spacemouse_twist(state)
    np.testing.assert_allclose(linear, np.array([-1.0, 0.5, -0.2]) * MAX_LINEAR)
    assert angular[2] > 0 and angular[0] == angular[1] == 0
    np.testing.assert_allclose(spacemouse_twist(pyspacemouse.SpaceMouseState())[0], 0)


def test_no_spacemouse_is_one_clear_error():
    # no device (or no hidapi) on this machine: pyspacemouse.open() fails, we say so once
    with pytest.raises(DfPolicyError, match="cannot open a 3Dconnexion SpaceMouse"):
        SpaceMouse()


def test_twist_integration_caps_speed_keeps_workspace_and_turns():
    quat = np.array([0.0, 1.0, 0.0, 0.0])
    position, same = integrate_twist([0.0, 0.0, 0.2], quat, [10.0, 0, 0], [0, 0, 0], 0.1)
    np.testing.assert_allclose(position, [MAX_LINEAR * 0.1, 0.0, 0.2])
    np.testing.assert_allclose(same, quat)
    position, _ = integrate_twist([0.0, 0.0, 0.01], quat, [0, 0, -0.2], [0, 0, 0], 1.0)
    assert position[2] == 0.0, "clipped to the workspace floor"
    _, turned = integrate_twist([0.0, 0.0, 0.2], [1.0, 0, 0, 0], [0, 0, 0], [0, 0, 0.5], 1.0)
    np.testing.assert_allclose(turned, [np.cos(0.25), 0, 0, np.sin(0.25)], atol=1e-12)


def free_display() -> int:
    for number in range(90, 140):
        if not Path(f"/tmp/.X{number}-lock").exists():
            return number
    raise RuntimeError("no free X display number")


needs_xvfb = pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")),
    reason="needs Debian's xvfb and xdotool (make sysdeps installs them)")


@contextlib.contextmanager
def xvfb_display() -> Iterator[dict[str, str]]:
    """A private Xvfb server for the block; yields the environment that points at it."""
    display = f":{free_display()}"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        yield {**os.environ, "DISPLAY": display}
    finally:
        xvfb.terminate()
        xvfb.wait()


# In a child process: an X client still running when the server goes away ends its process.
NO_THREAD_LEFT = """
import threading
from df_policy.sim.config import SimConfig
from df_policy.sim.teleop import run_teleop
before = set(threading.enumerate())
run_teleop(SimConfig(image_size=24), lambda *args: None, max_episodes=0)
print("left:", [t.name for t in threading.enumerate() if t not in before])
"""


@needs_xvfb
def test_teleop_leaves_no_viewer_thread_running():
    # the viewer renders on a daemon thread that close() only asks to stop; an interpreter
    # exiting under it segfaulted once at the end of a saved teleop session
    with xvfb_display() as env:
        run = subprocess.run([sys.executable, "-c", NO_THREAD_LEFT], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "left: []" in run.stdout, run.stdout


def wait_for_steps(recording: Path, deadline: float) -> None:
    """Wait until teleop's loop runs (its --view recording grows), then a second more: keys
    sent while a loaded machine still starts the viewer are lost."""
    sizes = [0]
    while time.monotonic() < deadline:
        sizes.append(recording.stat().st_size if recording.exists() else 0)
        if sizes[-1] > sizes[-2] > 0:
            break
        time.sleep(0.5)
    time.sleep(1.0)


def save_with_return(teleop: subprocess.Popen, window: str, env: dict[str, str]) -> str:
    """Press Enter until teleop saves and exits (on a loaded machine an X key event sent
    while the viewer is busy can be lost); returns its output."""
    for _ in range(5):
        subprocess.run(["xdotool", "key", "--window", window, "Return"], env=env, check=False)
        try:
            return teleop.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            continue
    teleop.kill()
    return "teleop never exited: " + teleop.communicate()[0]


@needs_xvfb
def test_teleop_end_to_end_under_xvfb(tmp_path):
    out = tmp_path / "teleop.zarr"
    with xvfb_display() as env:
        teleop = subprocess.Popen(
            [sys.executable, "-m", "df_policy.cli", "teleop", "--out", str(out),
             "--episodes", "1", "--set", "image_size=24", "--view", str(tmp_path / "view.rrd")],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        window = ""
        deadline = time.monotonic() + 60
        while not window and time.monotonic() < deadline:
            time.sleep(0.5)
            found = subprocess.run(["xdotool", "search", "--name", "MuJoCo"], env=env,
                                   capture_output=True, text=True)
            window = found.stdout.split()[0] if found.stdout.split() else ""
        assert window, "the viewer window appeared"
        wait_for_steps(tmp_path / "view.rrd", deadline)
        for key in ["Down"] * 4 + ["Prior"] * 2:
            subprocess.run(["xdotool", "key", "--window", window, key], env=env, check=True)
            time.sleep(0.15)
        time.sleep(1.5)
        output = save_with_return(teleop, window, env)
        assert teleop.returncode == 0, output
    store = EpisodeStore.open(out)
    episode = store.episode(0)
    moved = episode[EE_POSE][-1, :3] - episode[EE_POSE][0, :3]
    np.testing.assert_allclose(moved, [0.04, 0.0, 0.02], atol=0.006)
    # the target starts at the measured tool centre and moves 1 cm per key press
    np.testing.assert_allclose(episode[ACTION][-1, :3] - episode[EE_POSE][0, :3],
                               [0.04, 0.0, 0.02], atol=1e-4)
    # --view streamed the same session to rerun: every step's cameras and commands
    series = read_recording(tmp_path / "view.rrd")
    steps = len(episode[ACTION])
    assert len(series["camera/front"]) == steps and len(series["action/x"]) == steps
    np.testing.assert_allclose([x for _, x in series["action/x"]], episode[ACTION][:, 0])
    assert series["events"][-1][1].endswith("(save)")
