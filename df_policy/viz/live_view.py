"""A live view of episodes in rerun: cameras, forecasts, noise levels, surprise, actions, outcome.

Entities (timelines ``step``, counting control steps over the whole recording, and
``episode``)::

    camera/<cam>          rr.Image   what the camera sees this step
    forecast/<cam>        rr.Image   the model's forecast of that camera for the next token
    noise_level/<cam>     rr.Scalars level the camera's frame was absorbed at (0 = trusted)
    surprise/<cam>        rr.Scalars forecast/frame disagreement (z-score when calibrated)
    action/<x|y|z|grip>   rr.Scalars the command the arm executed
    action/chunk          rr.LineStrips3D + rr.Points3D   the tool path of the current chunk
    tool                  rr.Points3D the measured tool centre
    events                rr.TextLog holds, new episodes, outcomes
    outcome/success       rr.Scalars 1 or 0 at an episode's last step

The target is a file (``*.rrd``: open it later with ``rerun FILE.rrd``), ``spawn`` (start a
local viewer and stream to it) or a ``rerun+http://`` address of a running viewer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import rerun as rr

from df_policy.errors import ConfigError

APPLICATION_ID = "df_policy"
ACTION_AXES = {"x": 0, "y": 1, "z": 2, "grip": 7}
"""Scalar series of the executed action, by index into the (8,) action."""


def check_target(target: str | Path) -> str:
    """``target`` as a string if it names a place to stream to.

    Raises:
        ConfigError: when ``target`` is neither a ``.rrd`` path, ``spawn`` nor an address.
    """
    target = str(target)
    if not (target.endswith(".rrd") or target == "spawn" or target.startswith("rerun+http://")):
        raise ConfigError(f"--view wants FILE.rrd, 'spawn' or a rerun+http:// address, "
                          f"got {target!r}")
    return target


class LiveView:
    """One rerun recording that episodes are streamed into."""

    def __init__(self, target: str | Path, cameras: tuple[str, ...]) -> None:
        """Open the recording at ``target`` (see the module docstring).

        Raises:
            ConfigError: when ``target`` is neither a ``.rrd`` path, ``spawn`` nor an address.
        """
        target = check_target(target)
        self.cameras = cameras
        self.recording = rr.RecordingStream(APPLICATION_ID)
        if target.endswith(".rrd"):
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            self.recording.save(target)
        elif target == "spawn":
            self.recording.spawn()
        else:
            self.recording.connect_grpc(target)
        self.step = 0
        self.episode = -1
        self.renderers: dict[str, Any] = {}

    def start_episode(self, label: str) -> None:
        """Begin a new episode (``label``: e.g. its suite and seed)."""
        self.episode += 1
        self._time()
        self.recording.log("events", rr.TextLog(f"episode {self.episode}: {label}"))

    def log_step(self, frames: Mapping[str, np.ndarray], action: np.ndarray | None,
                 tool: np.ndarray | None = None, output: Any = None,
                 hold_reason: str = "") -> None:
        """One control step: camera ``frames``, the executed ``action`` (8,), the measured
        ``tool`` position (3,), and the policy's latest ``output`` (a
        :class:`~df_policy.policy.runtime.PolicyOutput`) on the steps it is new."""
        self._time()
        log = self.recording.log
        for cam, frame in frames.items():
            log(f"camera/{cam}", rr.Image(frame))
        if action is not None:
            for name, index in ACTION_AXES.items():
                log(f"action/{name}", rr.Scalars(float(action[index])))
        if tool is not None:
            log("tool", rr.Points3D([tool[:3]], radii=0.01))
        if output is not None:
            self.log_policy(output.forecast, output.levels, output.surprise, output.actions)
        if hold_reason:
            log("events", rr.TextLog(f"hold: {hold_reason}", level=rr.TextLogLevel.WARN))
        self.step += 1

    def log_policy(self, forecast: Mapping[str, np.ndarray], levels: Mapping[str, float],
                   surprise: Mapping[str, float], chunk: np.ndarray | None = None) -> None:
        """A new policy output at the current step: forecasts, levels and surprise by camera
        (a camera may be missing from any of them), and the action chunk (n, 8) if known."""
        self._time()
        log = self.recording.log
        for cam, image in forecast.items():
            log(f"forecast/{cam}", rr.Image(image))
        for cam, level in levels.items():
            log(f"noise_level/{cam}", rr.Scalars(float(level)))
        for cam, value in surprise.items():  # none for a camera with no frame
            log(f"surprise/{cam}", rr.Scalars(float(value)))
        if chunk is not None:
            path = np.asarray(chunk)[:, :3]
            log("action/chunk", rr.LineStrips3D([path]), rr.Points3D(path, radii=0.005))

    def end_episode(self, success: bool, detail: str = "") -> None:
        """The episode's outcome."""
        self._time()
        self.recording.log("outcome/success", rr.Scalars(float(success)))
        text = f"episode {self.episode}: {'success' if success else 'failure'} {detail}".strip()
        level = rr.TextLogLevel.INFO if success else rr.TextLogLevel.ERROR
        self.recording.log("events", rr.TextLog(text, level=level))

    def eval_observer(self) -> Callable[[Any, np.ndarray, Any], None]:
        """An ``observer(env, action, tick)`` for :func:`df_policy.eval.episode.run_episode`.

        The camera panels are rendered from the world after the step with the view's own
        renderers: they show the scene (occluders, distractors, light) but not faults that act
        on delivered frames (noise, drops, freezes); those show in noise level and surprise.
        """
        def observe(env: Any, action: np.ndarray, tick: Any) -> None:
            output = tick.output if tick.new_chunk else None
            self.log_step(self._render(env), action, env.tcp_pose(), output, tick.hold_reason)

        return observe

    def close(self) -> None:
        """Flush everything and finish the file or stream."""
        self.recording.flush()
        self.recording.disconnect()
        for renderer in self.renderers.values():
            renderer.close()
        self.renderers.clear()

    def _time(self) -> None:
        self.recording.set_time("step", sequence=self.step)
        self.recording.set_time("episode", sequence=max(self.episode, 0))

    def _render(self, env: Any) -> dict[str, np.ndarray]:
        """Each camera's image of ``env``'s world now, as the simulator renders it (sites
        hidden), at its image size."""
        import mujoco

        from df_policy.sim.scene import CAMERA_NAMES

        option = mujoco.MjvOption()
        option.sitegroup[:] = 0
        size = env.config.image_size
        frames = {}
        for cam in self.cameras:
            if cam not in self.renderers:
                self.renderers[cam] = mujoco.Renderer(env.model, size, size)
            self.renderers[cam].update_scene(env.data, camera=CAMERA_NAMES[cam],
                                             scene_option=option)
            frames[cam] = self.renderers[cam].render()
        return frames
