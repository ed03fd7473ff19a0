"""Human teleoperation of the simulated arm, recorded episode by episode.

The MuJoCo viewer shows the scene with both camera images overlaid; keys move the tool-centre
target (directions as seen in the front camera, which looks at the robot from the far side of
the table):

    Up / Down          away from / towards the front camera   (-x / +x)
    Left / Right       left / right in the front image        (-y / +y)
    Page Up / Down     up / down                              (+z / -z)
    Space              close / open the gripper
    Enter              save the episode and start the next one
    Delete             discard the episode and start again
    Escape             stop (or close the window)

With ``device="spacemouse"`` a 3Dconnexion SpaceMouse (read through pyspacemouse) moves and
turns the target at a speed proportional to its deflection (:func:`spacemouse_twist`); its
first button toggles the gripper. The viewer needs a display: run under ``xvfb-run -a``
on a headless machine.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from df_policy.errors import DfPolicyError
from df_policy.sim.config import SimConfig

KEY_SPACE, KEY_ESCAPE, KEY_ENTER, KEY_DELETE = 32, 256, 257, 261
KEY_RIGHT, KEY_LEFT, KEY_DOWN, KEY_UP, KEY_PAGE_UP, KEY_PAGE_DOWN = 262, 263, 264, 265, 266, 267
"""GLFW key codes, as the MuJoCo viewer's key callback receives them."""

STEP = 0.01
"""Target move per key press, metres."""
KEY_MOVES = {
    KEY_UP: (-STEP, 0.0, 0.0),
    KEY_DOWN: (STEP, 0.0, 0.0),
    KEY_LEFT: (0.0, -STEP, 0.0),
    KEY_RIGHT: (0.0, STEP, 0.0),
    KEY_PAGE_UP: (0.0, 0.0, STEP),
    KEY_PAGE_DOWN: (0.0, 0.0, -STEP),
}

OnEpisode = Callable[[dict[str, np.ndarray], bool, int], None]
"""Called with (arrays, success, seed) for every saved episode."""


class KeyboardTeleop:
    """Turns key presses into the arm's absolute target: ``[x, y, z, qw, qx, qy, qz, grip]``."""

    def __init__(self, start_position: np.ndarray, orientation: np.ndarray) -> None:
        self.target = np.asarray(start_position, dtype=np.float64).copy()
        self.orientation = np.asarray(orientation, dtype=np.float64)
        self.grip = 0.0

    def press(self, key: int) -> str | None:
        """Apply one key; returns 'save', 'discard' or 'quit' for the episode keys, else None."""
        if key in KEY_MOVES:
            self.target = self.target + np.array(KEY_MOVES[key])
        elif key == KEY_SPACE:
            self.grip = 0.0 if self.grip > 0.5 else 1.0
        elif key == KEY_ENTER:
            return "save"
        elif key == KEY_DELETE:
            return "discard"
        elif key == KEY_ESCAPE:
            return "quit"
        return None

    def apply_twist(self, linear: np.ndarray, angular: np.ndarray, dt: float) -> None:
        """Move the target by a velocity command held for ``dt`` seconds (SpaceMouse input)."""
        self.target, self.orientation = integrate_twist(self.target, self.orientation, linear,
                                                        angular, dt)

    def action(self) -> np.ndarray:
        """The current command (8,) float32."""
        return np.concatenate([self.target, self.orientation, [self.grip]]).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Velocity commands: a SpaceMouse here, any ROS teleop driver through sim_node's /ee_twist

MAX_LINEAR = 0.25
"""Fastest commanded tool speed, m/s (a faster twist is scaled down to it)."""
MAX_ANGULAR = 1.0
"""Fastest commanded tool rotation, rad/s."""


def _clip_norm(vector: np.ndarray, limit: float) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    norm = float(np.linalg.norm(vector))
    return vector * (limit / norm) if norm > limit else vector


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of w-first quaternions."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw])


def integrate_twist(position: np.ndarray, quat: np.ndarray, linear: np.ndarray,
                    angular: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Move a tool target by a world-frame twist held for ``dt`` seconds.

    Speeds are capped at :data:`MAX_LINEAR` / :data:`MAX_ANGULAR`; the position stays in the
    arm's workspace box, so holding a direction against a limit does not wind the target up
    beyond it. Returns the new ``(position (3,), quaternion (4,) w-first)``.
    """
    from df_policy.sim.env import WORKSPACE_HIGH, WORKSPACE_LOW

    velocity = _clip_norm(linear, MAX_LINEAR)
    position = np.clip(np.asarray(position, np.float64) + velocity * dt, WORKSPACE_LOW,
                       WORKSPACE_HIGH)
    omega = _clip_norm(angular, MAX_ANGULAR)
    angle = float(np.linalg.norm(omega)) * dt
    quat = np.asarray(quat, np.float64)
    if angle > 0:
        axis = omega / np.linalg.norm(omega)
        turn = np.concatenate([[np.cos(angle / 2)], axis * np.sin(angle / 2)])
        quat = _quat_mul(turn, quat)
        quat /= np.linalg.norm(quat)
    return position, quat


def spacemouse_twist(state: Any) -> tuple[np.ndarray, np.ndarray]:
    """World-frame ``(linear m/s, angular rad/s)`` from a ``pyspacemouse.SpaceMouseState``.

    The state must be read in pyspacemouse's ``HID_Z_UP`` convention (x right, y away from the
    user, z up, each -1..1). The user faces the front camera's image, as with the keys: right
    in the image is world +y, away from the user (towards the far side of the table, where
    the front camera stands) is world -x, up is +z. Full deflection commands the top speed.
    """
    linear = np.array([-state.y, state.x, state.z]) * MAX_LINEAR
    angular = np.array([-state.pitch, state.roll, state.yaw]) * MAX_ANGULAR
    return linear, angular


class SpaceMouse:
    """A 3Dconnexion device read through pyspacemouse (hidapi): twists and button 0 presses."""

    def __init__(self) -> None:
        """Open the first connected device.

        Raises:
            DfPolicyError: when none can be opened (no device, no hidapi, no permission).
        """
        try:
            import pyspacemouse

            self.device = pyspacemouse.open(
                axis_convention=pyspacemouse.AxisConvention.HID_Z_UP)
        except (RuntimeError, ValueError, OSError, ImportError) as err:
            raise DfPolicyError(
                f"cannot open a 3Dconnexion SpaceMouse through pyspacemouse: {err}"
            ) from None
        self.pressed_before = False

    def poll(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """Latest ``(linear, angular)`` twist and whether button 0 was just pressed."""
        state = self.device.read()
        linear, angular = spacemouse_twist(state)
        down = bool(state.buttons and state.buttons[0])
        pressed = down and not self.pressed_before
        self.pressed_before = down
        return linear, angular, pressed

    def close(self) -> None:
        """Release the device."""
        self.device.close()


# --------------------------------------------------------------------------------------------
# The viewer loop


def run_teleop(
    config: SimConfig,
    on_episode: OnEpisode,
    device: str = "keyboard",
    seed: int = 0,
    max_episodes: int | None = None,
    view_target: str | None = None,
) -> int:
    """Teleoperate in the viewer until Escape, the window closes, or ``max_episodes`` are saved.

    With ``view_target`` (see :class:`~df_policy.viz.live_view.LiveView`) every step's
    cameras and command and each episode's outcome also stream to rerun. Returns the number
    of saved episodes.
    """
    if not os.environ.get("DISPLAY"):
        raise DfPolicyError("teleop needs a display; on a headless machine use `xvfb-run -a`")
    if view_target is not None:
        from df_policy.viz.live_view import LiveView, check_target

        check_target(view_target)
    spacemouse = SpaceMouse() if device == "spacemouse" else None
    import mujoco
    import mujoco.viewer

    from df_policy.sim.env import FruitSwapEnv
    from df_policy.sim.episode import EpisodeBuffer

    env = FruitSwapEnv(config)
    keys: queue.Queue[int] = queue.Queue()
    saved = 0
    period = 1.0 / config.control_hz
    before = set(threading.enumerate())
    view = LiveView(view_target, config.cameras) if view_target is not None else None
    viewer = mujoco.viewer.launch_passive(env.model, env.data, key_callback=keys.put)
    viewer_threads = set(threading.enumerate()) - before
    try:
        while viewer.is_running() and (max_episodes is None or saved < max_episodes):
            obs, _ = env.reset(seed=seed)
            teleop = KeyboardTeleop(env.tcp_pose()[:3], env.down_quat)
            buffer = EpisodeBuffer(config.cameras)
            info = {"is_success": False}
            outcome = None
            if view is not None:
                view.start_episode(f"teleop seed {seed}")
            while outcome is None and viewer.is_running():
                tick = time.monotonic()
                while not keys.empty() and outcome is None:
                    outcome = teleop.press(keys.get())
                if spacemouse is not None:
                    linear, angular, pressed = spacemouse.poll()
                    teleop.apply_twist(linear, angular, period)
                    if pressed:
                        teleop.press(KEY_SPACE)
                if outcome is not None:
                    break
                action = teleop.action()
                buffer.add(obs, action)
                with viewer.lock():
                    obs, _, _, _, info = env.step(action)
                if view is not None:
                    view.log_step({cam: obs[cam] for cam in config.cameras}, action,
                                  obs["ee_pose"])
                _show_cameras(viewer, obs, config.cameras)
                viewer.sync()
                time.sleep(max(0.0, period - (time.monotonic() - tick)))
            if view is not None:
                view.end_episode(bool(info["is_success"]), f"({outcome or 'window closed'})")
            if outcome == "save" and len(buffer):
                on_episode(buffer.arrays(), bool(info["is_success"]), seed)
                saved += 1
            if outcome == "quit":
                break
            seed += 1
    finally:
        viewer.close()  # before leaving: exiting without close() segfaults (environment.md)
        for thread in viewer_threads:  # close() only asks the render thread to stop; an
            thread.join(timeout=10)  # interpreter exiting under it can segfault
        env.close()
        if spacemouse is not None:
            spacemouse.close()
        if view is not None:
            view.close()
    return saved


def _show_cameras(viewer: object, obs: dict[str, np.ndarray], cameras: tuple[str, ...]) -> None:
    """Overlay each camera image, upscaled, along the bottom-left of the viewer."""
    import mujoco

    images = []
    for index, camera in enumerate(cameras):
        image = obs[camera].repeat(3, axis=0).repeat(3, axis=1)
        rect = mujoco.MjrRect(index * image.shape[1], 0, image.shape[1], image.shape[0])
        images.append((rect, image))
    viewer.set_images(images)
