"""Small real episodes for store tests."""

import numpy as np

from df_policy.keys import ACTION, EE_POSE, GRIPPER, JOINT_POS

CAMERAS = ("front", "wrist")


def make_episode(length: int, size: int = 8, marker: int = 0) -> dict[str, np.ndarray]:
    """An episode whose every value encodes (marker, step) so mix-ups are visible."""
    steps = np.arange(length, dtype=np.float32)
    frames = np.zeros((length, size, size, 3), np.uint8)
    frames[..., 0] = marker
    frames[..., 1] = (np.arange(length) % 256)[:, None, None]
    return {
        "front": frames,
        "wrist": frames[..., ::-1].copy(),
        ACTION: np.stack([steps + marker] * 8, axis=1),
        EE_POSE: np.stack([steps] * 7, axis=1),
        GRIPPER: steps[:, None] / 100,
        JOINT_POS: np.stack([-steps] * 7, axis=1),
    }
