"""Tool pose -> arm joint targets on the Panda model, for joint-trajectory controllers.

``policy_node`` with ``output: joint_trajectory`` turns each end-effector target into the 7 joint
positions that reach it from the arm's measured joints, with the same damped-least-squares IK
the simulator uses, on the same Panda model (``sim/assets/panda``). Poses are in the frame of
``/ee_target`` (the simulated world; the arm base sits at the ``arm_mount`` frame of
``sim/fruit_swap.xml``).
"""

from __future__ import annotations

import mujoco
import numpy as np

from df_policy.sim import scene
from df_policy.sim.config import SimConfig
from df_policy.sim.env import READY_QPOS
from df_policy.sim.ik import DampedLeastSquaresIK


class ArmKinematics:
    """Joint targets for tool poses; one instance per node (holds a scratch model)."""

    def __init__(self) -> None:
        model = scene.build_model(SimConfig(render=False))
        self.qpos = mujoco.MjData(model).qpos.copy()
        self.arm_qpos = np.array([model.joint(j).qposadr[0] for j in scene.ARM_JOINTS])
        self.ik = DampedLeastSquaresIK(model, scene.TCP_SITE, scene.ARM_JOINTS, home=READY_QPOS,
                                       iterations=30)

    def joint_targets(self, pose: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """Joint positions (7,) putting the tool at ``pose`` [x, y, z, qw, qx, qy, qz],
        starting from the measured ``joints`` (7,)."""
        qpos = self.qpos.copy()
        qpos[self.arm_qpos] = joints
        self.ik.reset(joints)
        quat = np.asarray(pose[3:7], dtype=np.float64)
        return self.ik.solve(qpos, np.asarray(pose[:3], dtype=np.float64),
                             quat / max(np.linalg.norm(quat), 1e-9))
