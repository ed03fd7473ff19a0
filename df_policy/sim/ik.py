"""Damped-least-squares inverse kinematics for the arm's tool-centre site.

Turns an absolute end-effector target pose into joint targets for the position servos, the
way an impedance-controlled arm turns a pose command into motion. Works on a scratch
``MjData`` so the simulation state is never touched; warm-started from the previous solution.
"""

from __future__ import annotations

import mujoco
import numpy as np


def quat_error(target_wxyz: np.ndarray, current_wxyz: np.ndarray) -> np.ndarray:
    """Rotation vector (3,) that turns ``current`` into ``target`` (world frame)."""
    inverse = np.empty(4)
    mujoco.mju_negQuat(inverse, current_wxyz)
    delta = np.empty(4)
    mujoco.mju_mulQuat(delta, target_wxyz, inverse)
    if delta[0] < 0:  # take the short way round
        delta = -delta
    velocity = np.empty(3)
    mujoco.mju_quat2Vel(velocity, delta, 1.0)
    return velocity


class DampedLeastSquaresIK:
    """Solve joint positions that put ``site`` at a target pose.

    Args:
        model: the compiled model.
        site: name of the tool-centre site.
        joints: names of the arm joints to solve for (others are held).
        home: joint configuration pulled towards in the null space.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        site: str,
        joints: tuple[str, ...],
        home: np.ndarray,
        iterations: int = 10,
        damping: float = 1e-3,
        null_gain: float = 0.05,
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.site_id = model.site(site).id
        self.qpos_ids = np.array([model.joint(j).qposadr[0] for j in joints])
        self.dof_ids = np.array([model.joint(j).dofadr[0] for j in joints])
        self.lower = model.jnt_range[[model.joint(j).id for j in joints], 0]
        self.upper = model.jnt_range[[model.joint(j).id for j in joints], 1]
        self.home = np.asarray(home, dtype=float)
        self.iterations = iterations
        self.damping = damping
        self.null_gain = null_gain
        self._jac_pos = np.zeros((3, model.nv))
        self._jac_rot = np.zeros((3, model.nv))
        self._solution = self.home.copy()

    def reset(self, qpos: np.ndarray | None = None) -> None:
        """Forget the warm start (start from ``qpos`` or the home configuration)."""
        self._solution = self.home.copy() if qpos is None else np.asarray(qpos, float).copy()

    def solve(self, qpos_full: np.ndarray, pos: np.ndarray, quat_wxyz: np.ndarray) -> np.ndarray:
        """Joint targets (len(joints),) reaching ``pos``/``quat_wxyz`` from the current state."""
        data = self.data
        data.qpos[:] = qpos_full
        q = self._solution.copy()
        n = len(q)
        eye = np.eye(n)
        for _ in range(self.iterations):
            data.qpos[self.qpos_ids] = q
            mujoco.mj_kinematics(self.model, data)
            mujoco.mj_comPos(self.model, data)
            err_pos = pos - data.site_xpos[self.site_id]
            current = np.empty(4)
            mujoco.mju_mat2Quat(current, data.site_xmat[self.site_id])
            err_rot = quat_error(quat_wxyz, current)
            error = np.concatenate([err_pos, 0.5 * err_rot])
            if np.linalg.norm(err_pos) < 3e-4 and np.linalg.norm(err_rot) < 3e-3:
                break
            mujoco.mj_jacSite(self.model, data, self._jac_pos, self._jac_rot, self.site_id)
            jac = np.vstack([self._jac_pos[:, self.dof_ids], 0.5 * self._jac_rot[:, self.dof_ids]])
            # dq = J^T (J J^T + lambda I)^-1 e, plus a pull towards home in J's null space.
            jjt = jac @ jac.T + self.damping * np.eye(6)
            pinv = np.linalg.solve(jjt, jac).T
            dq = pinv @ error + (eye - pinv @ jac) @ (self.null_gain * (self.home - q))
            q = np.clip(q + dq, self.lower, self.upper)
        self._solution = q
        return q.copy()
