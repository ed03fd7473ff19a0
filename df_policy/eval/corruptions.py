"""The corruption benchmark's faults: what each one is, where it acts, what its severities mean.

Every corruption acts where a real fault acts — on the frames a camera delivers, in the scene,
or in the timing of commands — never inside the policy. Each has three severities (1 mild,
2 middle, 3 severe), each a physical value in the corruption's unit. Frame faults act on both
cameras unless said otherwise; a fault that a real camera would fix for a while (a blur's
direction, a colour cast, a bumped camera's new pose) is drawn once per episode from its seed.

    name             category     severities             unit / what it means
    exposure_dark    photometric  0.8 0.65 0.5           gain on every pixel (lights down)
    exposure_bright  photometric  1.25 1.5 1.75          gain on every pixel, clipped at 255
    white_balance    photometric  0.15 0.3 0.45          red/blue gains 1 ± shift (warm or cool)
    contrast         photometric  0.7 0.5 0.3            pixels pulled to the mean by this factor
    gamma            photometric  1.3 1.6 2.0            exponent g or 1/g on [0, 1] intensities
    motion_blur      photometric  3 5 9                  blur length, px of the 64 px frame
    defocus_blur     photometric  1 2 3                  disk radius, px
    jpeg             photometric  40 20 8                JPEG quality (lower is worse)
    impulse_noise    photometric  0.01 0.03 0.08         fraction of pixels turned black/white
    camera_shift     geometric    0.01 0.02 0.04         front camera moved, metres
    camera_tilt      geometric    1 2 4                  front camera turned, degrees
    zoom             geometric    0.9 0.8 0.7            side of the centre crop scaled back up
    black_frames     sensor       1 3 8                  s of black frames on one camera
    white_frames     sensor       1 3 8                  s of saturated (white) frames, one camera
    uniform_frames   sensor       1 3 8                  s of flat grey frames, one camera
    torn_frames      sensor       0.1 0.3 0.6            chance a frame is torn (lower part old)
    missing_blocks   sensor       0.05 0.15 0.3          fraction of 8x8 tiles lost per frame
    late_content     sensor       2 5 10                 control steps the content lags its stamp
    light_dim        scene        0.7 0.5 0.35           all lights times this factor
    light_direction  scene        20 40 60               key light turned, degrees
    table_colour     scene        0.3 0.6 1.0            table mixed towards a random colour
    fruit_shade      scene        0.2 0.35 0.5           fruit colours darkened by this fraction
    control_jitter   timing       0.1 0.25 0.5           chance a command misses its period

The sensor faults that take one camera pick it per episode (front or wrist, 50/50); their
windows start between 1 and 12 s into the episode. The evaluation suites of
:mod:`df_policy.eval.suites` (clean, noise, drops, freeze, occlusion, distractors, wrist_dead,
latency, ...) keep their own severities and are part of the benchmark's grid too. Two
corruptions act at once when their names are joined with ``+`` (``exposure_dark+jpeg``), each at
the same severity level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from df_policy.errors import ConfigError
from df_policy.sim import image_corruptions as images
from df_policy.sim import perturbations as faults

LEVELS = (1, 2, 3)
"""Severity levels of every corruption: mild, middle, severe."""


@dataclasses.dataclass(frozen=True)
class Corruption:
    """One fault type of the benchmark."""

    category: str
    severities: tuple[float, float, float]
    unit: str
    build: Callable[..., dict]
    """``build(value, cameras, control_hz, rng)`` -> keyword arguments of a ``SuiteSetup``."""


def _frames(make: Callable[[float, np.random.Generator], faults.Fault]
            ) -> Callable[..., dict]:
    """A fault on both cameras' frames, each camera with its own draws."""

    def build(value: float, cameras: tuple[str, ...], control_hz: float,
              rng: np.random.Generator) -> dict:
        return {"faults": {cam: make(value, rng) for cam in cameras}}

    return build


def _one_camera(value_of_frame: int) -> Callable[..., dict]:
    """Contentless frames (``value_of_frame``) on one camera drawn per episode, for ``value``
    seconds starting 1..12 s in."""

    def build(value: float, cameras: tuple[str, ...], control_hz: float,
              rng: np.random.Generator) -> dict:
        camera = cameras[int(rng.integers(len(cameras)))]
        level = int(rng.integers(40, 216)) if value_of_frame < 0 else value_of_frame
        window = faults.Window(int(round(value * control_hz)), rng,
                               start_min=int(control_hz), start_max=int(12 * control_hz))
        return {"faults": {camera: faults.ContentlessFrames(level, window)}}

    return build


def _scene(key: str) -> Callable[..., dict]:
    def build(value: float, cameras: tuple[str, ...], control_hz: float,
              rng: np.random.Generator) -> dict:
        return {"sim_overrides": {key: value}}

    return build


def _jitter(value: float, cameras: tuple[str, ...], control_hz: float,
            rng: np.random.Generator) -> dict:
    return {"command_late": lambda: bool(rng.random() < value)}


CORRUPTIONS: dict[str, Corruption] = {
    "exposure_dark": Corruption("photometric", (0.8, 0.65, 0.5), "gain",
                                _frames(lambda v, rng: images.Gain(v))),
    "exposure_bright": Corruption("photometric", (1.25, 1.5, 1.75), "gain",
                                  _frames(lambda v, rng: images.Gain(v))),
    "white_balance": Corruption("photometric", (0.15, 0.3, 0.45), "red/blue gain shift",
                                _frames(images.WhiteBalance)),
    "contrast": Corruption("photometric", (0.7, 0.5, 0.3), "contrast factor",
                           _frames(lambda v, rng: images.Contrast(v))),
    "gamma": Corruption("photometric", (1.3, 1.6, 2.0), "gamma exponent",
                        _frames(images.Gamma)),
    "motion_blur": Corruption("photometric", (3, 5, 9), "px",
                              _frames(lambda v, rng: images.MotionBlur(int(v), rng))),
    "defocus_blur": Corruption("photometric", (1, 2, 3), "px radius",
                               _frames(lambda v, rng: images.DefocusBlur(int(v)))),
    "jpeg": Corruption("photometric", (40, 20, 8), "JPEG quality",
                       _frames(lambda v, rng: images.JpegCompression(int(v)))),
    "impulse_noise": Corruption("photometric", (0.01, 0.03, 0.08), "pixel fraction",
                                _frames(images.ImpulseNoise)),
    "camera_shift": Corruption("geometric", (0.01, 0.02, 0.04), "m",
                               _scene("camera_shift")),
    "camera_tilt": Corruption("geometric", (1, 2, 4), "degrees",
                              _scene("camera_tilt_deg")),
    "zoom": Corruption("geometric", (0.9, 0.8, 0.7), "crop side", _frames(images.Zoom)),
    "black_frames": Corruption("sensor", (1, 3, 8), "s on one camera", _one_camera(0)),
    "white_frames": Corruption("sensor", (1, 3, 8), "s on one camera", _one_camera(255)),
    "uniform_frames": Corruption("sensor", (1, 3, 8), "s on one camera", _one_camera(-1)),
    "torn_frames": Corruption("sensor", (0.1, 0.3, 0.6), "tear probability",
                              _frames(faults.TornFrames)),
    "missing_blocks": Corruption("sensor", (0.05, 0.15, 0.3), "tile fraction",
                                 _frames(faults.MissingBlocks)),
    "late_content": Corruption("sensor", (2, 5, 10), "control steps",
                               _frames(lambda v, rng: faults.LateContent(int(v)))),
    "light_dim": Corruption("scene", (0.7, 0.5, 0.35), "light factor",
                            _scene("light_scale")),
    "light_direction": Corruption("scene", (20, 40, 60), "degrees",
                                  _scene("light_tilt_deg")),
    "table_colour": Corruption("scene", (0.3, 0.6, 1.0), "tint", _scene("table_tint")),
    "fruit_shade": Corruption("scene", (0.2, 0.35, 0.5), "darkening", _scene("fruit_shade")),
    "control_jitter": Corruption("timing", (0.1, 0.25, 0.5), "miss probability", _jitter),
}
"""Every corruption type of the benchmark, by name."""


def corruption_names(name: str) -> list[str]:
    """The corruptions of a (possibly ``+``-combined) name; ConfigError naming the valid ones."""
    parts = name.split("+")
    unknown = [part for part in parts if part not in CORRUPTIONS]
    if unknown or len(set(parts)) != len(parts):
        raise ConfigError(f"unknown or repeated corruption {unknown or parts} in '{name}' "
                          f"(known: {', '.join(CORRUPTIONS)}; join two with '+')")
    return parts


def severity_value(name: str, level: int) -> float:
    """The physical value of severity ``level`` (1..3) of corruption ``name``."""
    if level not in LEVELS:
        raise ConfigError(f"severity level {level} of '{name}' is out of range "
                          f"(valid: {', '.join(map(str, LEVELS))})")
    return float(CORRUPTIONS[name].severities[level - 1])


def corruption_setup(name: str, level: int, cameras: tuple[str, ...], control_hz: float,
                     rng: np.random.Generator) -> dict:
    """Keyword arguments of the ``SuiteSetup`` of corruption ``name`` (``a+b`` combines two)
    at severity ``level`` for one episode: frame faults chained per camera, scene overrides
    merged."""
    setup: dict = {"sim_overrides": {}, "faults": {}}
    for part in corruption_names(name):
        built = CORRUPTIONS[part].build(severity_value(part, level), cameras, control_hz, rng)
        setup["sim_overrides"].update(built.get("sim_overrides", {}))
        for cam, fault in built.get("faults", {}).items():
            setup["faults"][cam] = _chain(setup["faults"].get(cam), fault)
        if "command_late" in built:
            setup["command_late"] = built["command_late"]
    return setup


def _chain(first: faults.Fault | None, second: faults.Fault) -> faults.Fault:
    """``second`` applied to what ``first`` delivers (a lost frame stays lost)."""
    if first is None:
        return second

    def both(frame: np.ndarray) -> np.ndarray | None:
        passed = first(frame)
        return None if passed is None else second(passed)

    return both


def corruption_table() -> str:
    """The markdown table of every corruption: category, unit and the three severities."""
    lines = ["| corruption | category | unit | severity 1 / 2 / 3 |", "|---|---|---|---|"]
    for name, corruption in CORRUPTIONS.items():
        values = " / ".join(f"{v:g}" for v in corruption.severities)
        lines.append(f"| {name} | {corruption.category} | {corruption.unit} | {values} |")
    return "\n".join(lines)
