"""Automatic per-camera noise levels from camera health and innovation (surprise).

    staleness <= fresh_s                -> level 0        (absorb as observed)
    fresh_s < staleness < stale_s       -> linear ramp    (trust it partly)
    staleness >= stale_s, missing frame -> K - 1          (unknown: the prior)
    surprise z >= gate_low              -> at least a ramp up to K - 1 at gate_high

Surprise is the mean squared difference between the model's forecast of a camera and the frame
that arrives, as a z-score against statistics measured on clean validation episodes
(:mod:`df_policy.policy.calibration`): the Kalman filter's innovation gate.
"""

from __future__ import annotations

from df_policy.policy.camera_health import CameraHealth
from df_policy.policy.config import RuntimeConfig


def _ramp(value: float, low: float, high: float, top: int) -> int:
    if value <= low:
        return 0
    if value >= high:
        return top
    return int(round(top * (value - low) / (high - low)))


def level_from_health(health: CameraHealth, config: RuntimeConfig, top: int) -> int:
    """Noise level (0..top) of a camera from what is known about its stream."""
    staleness = health.staleness_s
    if staleness is None:
        return top
    return _ramp(staleness, config.fresh_s, config.stale_s, top)


def level_from_surprise(z_score: float, config: RuntimeConfig, top: int) -> int:
    """Noise level implied by a forecast/frame disagreement of ``z_score`` clean std-devs."""
    return _ramp(z_score, config.gate_low, config.gate_high, top)
