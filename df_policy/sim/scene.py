"""Build the fruit-swap MuJoCo model: the world of ``sim/fruit_swap.xml`` plus the Panda arm.

The arm (``sim/assets/panda/panda.xml``) is attached with ``MjSpec`` at the ``arm_mount`` frame
under the name prefix :data:`ARM_PREFIX`. Perturbation objects (distractors, a moving occluder)
are added here too, so that a model built for an evaluation suite differs from the training
world only by those objects.
"""

from __future__ import annotations

import mujoco

from df_policy.paths import data_dir
from df_policy.sim.config import SimConfig

ARM_PREFIX = "panda/"
ARM_JOINTS = tuple(f"{ARM_PREFIX}joint{i}" for i in range(1, 8))
FINGER_JOINTS = (f"{ARM_PREFIX}finger_joint1", f"{ARM_PREFIX}finger_joint2")
TCP_SITE = f"{ARM_PREFIX}tcp"
HAND_BODY = f"{ARM_PREFIX}hand"
SLOTS = ("A", "B", "C")
FRUITS = ("apple", "orange")
OCCLUDER = "occluder"

CAMERA_NAMES = {"front": "front", "wrist": f"{ARM_PREFIX}wrist"}
"""Observation camera key -> MuJoCo camera name."""

DISTRACTOR_COLOURS = (
    (0.9, 0.8, 0.1, 1.0),  # lemon
    (0.4, 0.75, 0.15, 1.0),  # lime / green apple
    (0.55, 0.15, 0.45, 1.0),  # plum
    (0.95, 0.35, 0.1, 1.0),  # tangerine, close to the orange
)


def build_model(config: SimConfig) -> mujoco.MjModel:
    """Compile the world for ``config``: table, slots, fruits, arm, cameras, perturbations."""
    scene_dir = data_dir("sim")
    spec = mujoco.MjSpec.from_file(str(scene_dir / "fruit_swap.xml"))
    arm = mujoco.MjSpec.from_file(str(scene_dir / "assets" / "panda" / "panda.xml"))
    spec.attach(arm, prefix=ARM_PREFIX, frame=spec.frame("arm_mount"))
    spec.option.timestep = config.physics_dt
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0
    spec.visual.global_.offwidth = max(640, config.image_size)
    spec.visual.global_.offheight = max(640, config.image_size)
    for index in range(config.distractors):
        _add_distractor(spec, index)
    if config.occluder:
        _add_occluder(spec)
    return spec.compile()


def _add_distractor(spec: mujoco.MjSpec, index: int) -> None:
    """A static fruit-like sphere; its position is chosen at reset (body ``distractor{i}``)."""
    body = spec.worldbody.add_body(name=f"distractor{index}", pos=[0.3, 0.4 + 0.1 * index, 0.03])
    body.add_geom(
        name=f"distractor{index}_geom",
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[0.027, 0, 0],
        rgba=DISTRACTOR_COLOURS[index % len(DISTRACTOR_COLOURS)],
        contype=0,
        conaffinity=0,
    )


def _add_occluder(spec: mujoco.MjSpec) -> None:
    """A flat card on a mocap body that the env sweeps between the front camera and the slots."""
    body = spec.worldbody.add_body(name=OCCLUDER, mocap=True, pos=[0.35, 0.0, -5.0])
    body.add_geom(
        type=mujoco.mjtGeom.mjGEOM_BOX,
        size=[0.005, 0.09, 0.07],
        rgba=[0.15, 0.15, 0.18, 1.0],
        contype=0,
        conaffinity=0,
    )
