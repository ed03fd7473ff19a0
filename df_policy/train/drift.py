"""Tracking drift of the executed chunk in training inputs: where the arm was told to go is
not quite where it went.

A token's action part is the chunk executed since the previous token, and the runtime gives
it back to the model as it commanded it. A policy that learns to continue that record (the
copycat of behaviour cloning from histories, docs/results.md "The recipe copies its own last
moves") aims where its first moves aimed, not where the cameras show the fruit. Arms do not
follow their commands exactly (impedance control lags, calibration offsets), so in training
the record's position is given with a drift like theirs, while every loss target stays the
recorded chunk: the cameras must say where the arm and the fruit are, and the record still
says the course and the gripper (the phase), exactly.

Per episode the drift is an Ornstein-Uhlenbeck process over the control steps, each axis of
the position on its own, with a correlation time of one chunk (so it bends a chunk's course,
not only its place) and a standard deviation drawn uniformly in ``[0, scale]`` metres (some
episodes nearly exact, as at run time)::

    e_0 ~ N(0, s^2),   e_k = r e_{k-1} + sqrt(1 - r^2) s n_k,   r = exp(-1 / chunk)
"""

from __future__ import annotations

import math

import torch

from df_policy.model import rng

POSITION = slice(0, 3)
"""The position (metres) within one control step's action (:data:`df_policy.keys.ACTION_DIM`)."""


def history_drift(action: torch.Tensor, scale: float, half_range: torch.Tensor, chunk: int,
                  generator: torch.Generator | None) -> torch.Tensor:
    """The executed chunks of a batch with a tracking drift on their position.

    Args:
        action: ``(B, T, chunk * action_dim)`` normalised executed chunks (token 0 is zeros:
            nothing was executed before it, and it stays so).
        scale: the largest per-episode standard deviation of the drift, metres.
        half_range: ``(3,)`` metres per normalised unit of the position's axes (the action
            normaliser's half-ranges).
        chunk: control steps per token.

    Returns:
        A new tensor like ``action``.
    """
    batch, horizon = action.shape[:2]
    device = action.device
    steps = action.view(batch, horizon, chunk, -1)
    sigma = rng.rand((batch, 1), generator, device) * scale
    shocks = rng.randn((batch, horizon * chunk, 3), generator, device)
    keep = math.exp(-1.0 / chunk)
    drift = torch.empty_like(shocks)
    drift[:, 0] = shocks[:, 0] * sigma
    for k in range(1, horizon * chunk):
        drift[:, k] = keep * drift[:, k - 1] + math.sqrt(1 - keep**2) * sigma * shocks[:, k]
    drift = (drift / half_range.to(device)).view(batch, horizon, chunk, 3)
    drifted = steps.clone()
    drifted[:, 1:, :, POSITION] += drift[:, 1:]
    return drifted.flatten(2)
