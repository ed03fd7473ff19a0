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

A 3Dconnexion SpaceMouse, when one is plugged in, moves the target proportionally instead
(its left button toggles the gripper). The viewer needs a display: run under ``xvfb-run -a``
on a headless machine.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

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

    def move(self, delta: np.ndarray) -> None:
        """Move the target by ``delta`` metres (SpaceMouse input)."""
        self.target = self.target + np.asarray(delta, dtype=np.float64)

    def action(self) -> np.ndarray:
        """The current command (8,) float32."""
        return np.concatenate([self.target, self.orientation, [self.grip]]).astype(np.float32)


# --------------------------------------------------------------------------------------------
# SpaceMouse (3Dconnexion) over Linux hidraw

SPACEMOUSE_VENDORS = {"0000046D", "0000256F"}
"""USB vendor ids of 3Dconnexion devices (Logitech-era and current)."""


def find_spacemouse(sys_root: str = "/sys/class/hidraw") -> Path | None:
    """The ``/dev/hidrawN`` of a connected 3Dconnexion device, or None."""
    root = Path(sys_root)
    if not root.is_dir():
        return None
    for entry in sorted(root.iterdir()):
        uevent = entry / "device" / "uevent"
        if not uevent.is_file():
            continue
        for line in uevent.read_text().splitlines():
            if line.startswith("HID_ID="):
                vendor = line.split(":")[1] if line.count(":") >= 2 else ""
                if vendor.upper() in SPACEMOUSE_VENDORS:
                    return Path("/dev") / entry.name
    return None


def parse_spacemouse_report(report: bytes) -> tuple[np.ndarray | None, int | None]:
    """Decode one HID report: ``(translation (3,) in -1..1, None)`` or ``(None, buttons)``.

    Report 1 holds x, y, z as little-endian int16 (range about ±350); report 3 the buttons.
    """
    if len(report) >= 7 and report[0] == 1:
        raw = np.frombuffer(report[1:7], dtype="<i2").astype(np.float64)
        return np.clip(raw / 350.0, -1.0, 1.0), None
    if len(report) >= 2 and report[0] == 3:
        return None, report[1]
    return None, None


class SpaceMouse:
    """Non-blocking reader of a SpaceMouse's translation and buttons."""

    def __init__(self, device: Path) -> None:
        self.fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK)
        self.buttons = 0

    def poll(self) -> tuple[np.ndarray, bool]:
        """Latest translation (3,) and whether the left button was just pressed."""
        translation = np.zeros(3)
        pressed = False
        while True:
            try:
                report = os.read(self.fd, 16)
            except BlockingIOError:
                break
            moved, buttons = parse_spacemouse_report(report)
            if moved is not None:
                translation = moved
            if buttons is not None:
                pressed = pressed or bool(buttons & 1 and not self.buttons & 1)
                self.buttons = buttons
        # The device's y and z axes point the other way from the world's.
        return translation * np.array([1.0, -1.0, -1.0]), pressed

    def close(self) -> None:
        """Release the device."""
        os.close(self.fd)


# --------------------------------------------------------------------------------------------
# The viewer loop


def run_teleop(
    config: SimConfig,
    on_episode: OnEpisode,
    device: str = "keyboard",
    seed: int = 0,
    max_episodes: int | None = None,
) -> int:
    """Teleoperate in the viewer until Escape, the window closes, or ``max_episodes`` are saved.

    Returns the number of saved episodes.
    """
    if not os.environ.get("DISPLAY"):
        raise DfPolicyError("teleop needs a display; on a headless machine use `xvfb-run -a`")
    spacemouse = None
    if device == "spacemouse":
        path = find_spacemouse()
        if path is None:
            raise DfPolicyError("no 3Dconnexion SpaceMouse found under /sys/class/hidraw")
        spacemouse = SpaceMouse(path)
    import mujoco
    import mujoco.viewer

    from df_policy.sim.env import FruitSwapEnv
    from df_policy.sim.episode import EpisodeBuffer

    env = FruitSwapEnv(config)
    keys: queue.Queue[int] = queue.Queue()
    saved = 0
    period = 1.0 / config.control_hz
    before = set(threading.enumerate())
    viewer = mujoco.viewer.launch_passive(env.model, env.data, key_callback=keys.put)
    viewer_threads = set(threading.enumerate()) - before
    try:
        while viewer.is_running() and (max_episodes is None or saved < max_episodes):
            obs, _ = env.reset(seed=seed)
            teleop = KeyboardTeleop(env.tcp_pose()[:3], env.down_quat)
            buffer = EpisodeBuffer(config.cameras)
            info = {"is_success": False}
            outcome = None
            while outcome is None and viewer.is_running():
                tick = time.monotonic()
                while not keys.empty() and outcome is None:
                    outcome = teleop.press(keys.get())
                if spacemouse is not None:
                    translation, pressed = spacemouse.poll()
                    teleop.move(translation * STEP)
                    if pressed:
                        teleop.press(KEY_SPACE)
                if outcome is not None:
                    break
                action = teleop.action()
                buffer.add(obs, action)
                with viewer.lock():
                    obs, _, _, _, info = env.step(action)
                _show_cameras(viewer, obs, config.cameras)
                viewer.sync()
                time.sleep(max(0.0, period - (time.monotonic() - tick)))
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
