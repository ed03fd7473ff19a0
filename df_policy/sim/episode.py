"""Stack one episode's per-step observations and actions into store-ready arrays."""

from __future__ import annotations

import numpy as np

from df_policy.keys import ACTION, EE_POSE, GRIPPER, JOINT_POS


class EpisodeBuffer:
    """Collects ``(observation, action)`` pairs; row i of every array belongs to step i.

    The action in row i is the command sent after observing row i's observation.
    """

    def __init__(self, cameras: tuple[str, ...]) -> None:
        self.cameras = tuple(cameras)
        self._rows: dict[str, list[np.ndarray]] = {
            key: [] for key in (*self.cameras, EE_POSE, GRIPPER, JOINT_POS, ACTION)
        }

    def __len__(self) -> int:
        return len(self._rows[ACTION])

    def add(self, observation: dict[str, np.ndarray], action: np.ndarray) -> None:
        """Append one step."""
        for key in (*self.cameras, EE_POSE, GRIPPER, JOINT_POS):
            self._rows[key].append(np.asarray(observation[key]))
        self._rows[ACTION].append(np.asarray(action, dtype=np.float32))

    def arrays(self) -> dict[str, np.ndarray]:
        """The episode as arrays keyed by :mod:`df_policy.keys` names.

        Cameras ``(T, S, S, 3) uint8``; ``action (T, 8)``, ``ee_pose (T, 7)``,
        ``gripper (T, 1)``, ``joint_pos (T, 7)`` float32.
        """
        out = {}
        for key, rows in self._rows.items():
            dtype = np.uint8 if key in self.cameras else np.float32
            out[key] = np.stack(rows).astype(dtype, copy=False)
        return out
