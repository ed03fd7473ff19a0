"""Evaluation suites: seeded perturbations of the world or of the delivered camera frames.

Each suite maps a severity to (simulator overrides, per-camera frame faults, action delay).
Perturbations act where a real fault would — in the scene or on the frames a camera
delivers — never inside the policy.

    suite        severity means                         acts on
    clean        (ignored)                              -
    noise        pixel noise sigma (0..255 units)       both cameras' frames
    drops        probability a frame is lost            both cameras' frames
    freeze       seconds the front camera repeats       front camera frames
    occlusion    sweep period of the occluder, s        the scene
    distractors  number of extra fruit-like objects     the scene
    wrist_dead   (ignored) wrist never delivers         wrist camera
    latency      control steps actions arrive late      the arm
    stall        seconds every camera delivers nothing  all cameras (mid-episode, then back)

The corruption benchmark's faults (:mod:`df_policy.eval.corruptions`: photometric, geometric,
sensor, scene and timing faults, ``+`` for two at once) are run by the same name; their
severity is a level 1, 2 or 3.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable

import numpy as np

from df_policy.errors import ConfigError
from df_policy.eval.corruptions import CORRUPTIONS, LEVELS, corruption_names, corruption_setup
from df_policy.sim.perturbations import Fault, FrameDrops, Freeze, PixelNoise, Window


@dataclasses.dataclass
class SuiteSetup:
    """How one episode of a suite at one severity is perturbed."""

    sim_overrides: dict
    faults: dict[str, Fault]
    action_delay: int = 0
    """Control steps every command arrives late (a constant actuation latency)."""
    command_late: Callable[[], bool] | None = None
    """Asked once per control step: True when this step's command misses its period (control
    jitter), so the arm repeats the previous command and this one arrives a period later."""


def _never(frame: np.ndarray) -> None:
    return None


def _silent_in(window: Window) -> Fault:
    """A camera that delivers nothing inside ``window``."""
    return lambda frame: None if window.tick() else frame


def make_setup(suite: str, severity: float, cameras: tuple[str, ...], control_hz: float,
               rng: np.random.Generator) -> SuiteSetup:
    """The perturbations of ``suite`` at ``severity`` for one episode (seeded by ``rng``)."""
    if suite == "clean":
        return SuiteSetup({}, {})
    if suite == "noise":
        return SuiteSetup({}, {cam: PixelNoise(severity, rng) for cam in cameras})
    if suite == "drops":
        return SuiteSetup({}, {cam: FrameDrops(severity, rng) for cam in cameras})
    if suite == "freeze":
        steps = int(round(severity * control_hz))
        return SuiteSetup({}, {"front": Freeze(steps, rng, start_min=10, start_max=120)})
    if suite == "occlusion":
        return SuiteSetup({"occluder": True, "occluder_period": float(severity)}, {})
    if suite == "distractors":
        return SuiteSetup({"distractors": int(severity)}, {})
    if suite == "wrist_dead":
        return SuiteSetup({}, {"wrist": _never})
    if suite == "latency":
        return SuiteSetup({}, {}, action_delay=int(severity))
    if suite == "stall":
        window = Window(int(round(severity * control_hz)), rng, start_min=30, start_max=100)
        return SuiteSetup({}, {cam: _silent_in(copy.copy(window)) for cam in cameras})
    check_severity(suite, severity)
    return SuiteSetup(**corruption_setup(suite, int(severity), cameras, control_hz, rng))


def default_severities(name: str) -> tuple[float, ...]:
    """The severities a suite or corruption runs at by default; ConfigError naming the known
    names when ``name`` is neither."""
    if name in SUITES:
        return SUITES[name]
    if "+" not in name and name not in CORRUPTIONS:
        raise ConfigError(f"unknown suite or corruption '{name}' (suites: {', '.join(SUITES)};"
                          f" corruptions: {', '.join(CORRUPTIONS)})")
    corruption_names(name)
    return tuple(float(level) for level in LEVELS)


def check_severity(name: str, severity: float) -> None:
    """ConfigError unless ``severity`` is valid for ``name``: any number >= 0 for a suite, a
    level 1, 2 or 3 for a corruption."""
    default_severities(name)
    if name in SUITES:
        if severity < 0:
            raise ConfigError(f"severity of suite '{name}' must be >= 0, got {severity:g}")
    elif severity not in LEVELS:
        raise ConfigError(f"severity {severity:g} of corruption '{name}' is out of range "
                          f"(valid levels: {', '.join(map(str, LEVELS))})")


SUITES = {
    "clean": (0.0,),
    "noise": (10.0, 25.0, 50.0),
    "drops": (0.1, 0.3, 0.5),
    "freeze": (0.5, 1.0, 2.0),
    "occlusion": (8.0, 4.0),
    "distractors": (1.0, 3.0),
    "wrist_dead": (1.0,),
    "latency": (1.0, 3.0),
    "stall": (1.0,),
}
"""Default severities of each suite."""
