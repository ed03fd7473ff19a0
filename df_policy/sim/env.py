"""The fruit-swap task as a gymnasium environment (``df_policy/FruitSwap-v0``).

A Panda arm, a table with slots A, B, C, an apple and an orange. At reset one fruit is in A and
the other in B (which is where: 50/50), C is empty, and each fruit sits at a random offset inside
its slot. The goal: swap the fruits through C, orange first (orange -> C, apple -> the orange's
start slot, orange -> the apple's start slot).

Observation (dict)::

    front, wrist  (S, S, 3) uint8   camera images (zeros when ``config.render`` is False)
    ee_pose       (7,) float32      tool-centre pose [x, y, z, qw, qx, qy, qz] (world frame)
    gripper       (1,) float32      finger opening in metres (0 closed .. 0.08 open)
    joint_pos     (7,) float32      arm joint positions in radians

Action (8,) float32: absolute tool-centre target ``[x, y, z, qw, qx, qy, qz, grip]`` with grip in
[0, 1] (1 = close), tracked by damped-least-squares IK and joint position servos.

``info``: ``is_success`` (both fruits resting in each other's start slots, gripper open),
``stage`` (0..3, see :meth:`FruitSwapEnv.stage`), ``orange_start`` ('A' or 'B'), and the memory
checks, one pair per scene of :data:`AMBIGUOUS_SCENES`: ``ambiguous_step`` (the control step at
which the first scene was first seen, or None) and ``ambiguous_move`` (the first fruit to leave
its slot after that, or None), and ``second_ambiguous_step`` and ``second_ambiguous_move``.
The episode terminates on success and is truncated after ``config.max_steps`` control steps.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import mujoco
import numpy as np

from df_policy.keys import EE_POSE, GRIPPER, JOINT_POS
from df_policy.sim import scene
from df_policy.sim.config import SimConfig
from df_policy.sim.ik import DampedLeastSquaresIK

READY_QPOS = np.array([0.0, -0.35, 0.0, -2.3, 0.0, 1.95, 0.785])
"""A comfortable arm configuration above the table, gripper pointing down."""
WORKSPACE_LOW = np.array([-0.25, -0.4, 0.0])
WORKSPACE_HIGH = np.array([0.3, 0.4, 0.45])
"""Box the tool-centre target is clipped to (metres, world frame)."""
FINGER_OPEN = 0.04
SLOT_RADIUS = 0.045
"""A fruit whose centre is within this horizontal distance of a slot centre is in that slot."""
REST_SPEED = 0.03
"""A fruit slower than this (m/s) and low on the table is resting."""
AMBIGUOUS_SCENES = {
    "first": {"orange": "C", "apple": "B"},
    "second": {"orange": "C", "apple": "A"},
}
"""Where the fruits rest in the two scenes both layouts pass through that need a different
next move in each; only the episode's history tells the layouts apart (the task's memory
tests). ``first`` (slot A empty): with the orange started in A it follows the first move
(next: the apple B -> A), started in B the second (next: the orange C -> A). ``second`` (slot
B empty): started in A it follows the second move (next: the orange C -> B), started in B the
first (next: the apple A -> B)."""


def other_start_slot(slot: str) -> str:
    """The other of the two start slots A and B: the apple's start for the orange's."""
    return "B" if slot == "A" else "A"


def ambiguous_answer(orange_start: str, scene: str = "first") -> str:
    """The fruit the next move must take at ambiguous scene ``scene`` (of
    :data:`AMBIGUOUS_SCENES`), for the layout whose orange started in slot ``orange_start``."""
    if scene not in AMBIGUOUS_SCENES:
        known = ", ".join(AMBIGUOUS_SCENES)
        raise ValueError(f"unknown ambiguous scene {scene!r} (known: {known})")
    first_scene_answer = "apple" if orange_start == "A" else "orange"
    if scene == "first":
        return first_scene_answer
    return "orange" if first_scene_answer == "apple" else "apple"


def ambiguous_keys(scene: str) -> tuple[str, str]:
    """The info and outcome keys of ambiguous scene ``scene``: (when it was first reached,
    which fruit left its slot next)."""
    prefix = "" if scene == "first" else f"{scene}_"
    return f"{prefix}ambiguous_step", f"{prefix}ambiguous_move"


def _unreached_scenes() -> dict[str, int | str | None]:
    """Every ambiguous scene's keys (:func:`ambiguous_keys`), none reached yet."""
    return {key: None for name in AMBIGUOUS_SCENES for key in ambiguous_keys(name)}


class FruitSwapEnv(gym.Env):
    """The fruit-swap world. See the module docstring for spaces and the task."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, config: SimConfig | None = None, render_mode: str | None = None) -> None:
        self.config = config or SimConfig()
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "render_fps": int(round(self.config.control_hz))}
        self.model = scene.build_model(self.config)
        self.data = mujoco.MjData(self.model)
        self._ids()
        self.ik = DampedLeastSquaresIK(
            self.model, scene.TCP_SITE, scene.ARM_JOINTS, home=READY_QPOS
        )
        self._renderers: dict[str, mujoco.Renderer] = {}
        self._scene_option = mujoco.MjvOption()
        self._scene_option.sitegroup[:] = 0
        self._nominal_cam_pos = self.model.cam_pos.copy()
        self._nominal_light = self.model.light_diffuse.copy()
        self._nominal_light_dir = self.model.light_dir.copy()
        self._nominal_headlight = (self.model.vis.headlight.ambient.copy(),
                                   self.model.vis.headlight.diffuse.copy())
        self._nominal_cam_quat = self.model.cam_quat.copy()
        self._nominal_rgba = self.model.geom_rgba.copy()
        size = self.config.image_size
        spaces: dict[str, gym.Space] = {
            cam: gym.spaces.Box(0, 255, (size, size, 3), np.uint8) for cam in self.config.cameras
        }
        spaces[EE_POSE] = gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)
        spaces[GRIPPER] = gym.spaces.Box(0.0, 2 * FINGER_OPEN + 0.01, (1,), np.float32)
        spaces[JOINT_POS] = gym.spaces.Box(-np.inf, np.inf, (7,), np.float32)
        self.observation_space = gym.spaces.Dict(spaces)
        low = np.concatenate([WORKSPACE_LOW, -np.ones(4), [0.0]]).astype(np.float32)
        high = np.concatenate([WORKSPACE_HIGH, np.ones(4), [1.0]]).astype(np.float32)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.down_quat = self._tcp_quat_at(READY_QPOS)
        self.orange_start = "A"
        self._stage = 0
        self._steps = 0
        self._last_grip = 0.0
        self._ambiguous: dict[str, int | str | None] = _unreached_scenes()

    # ----------------------------------------------------------------------------------------
    # gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Start an episode: random fruit placement (and perturbations when configured)."""
        super().reset(seed=seed)
        rng = self.np_random
        mujoco.mj_resetData(self.model, self.data)
        self.orange_start = "A" if rng.random() < 0.5 else "B"
        apple_start = other_start_slot(self.orange_start)
        self._place_fruit("orange", self.orange_start, rng)
        self._place_fruit("apple", apple_start, rng)
        self.data.qpos[self._arm_qpos] = READY_QPOS
        self.data.qpos[self._finger_qpos] = [FINGER_OPEN, -FINGER_OPEN]
        self.data.ctrl[self._arm_act] = READY_QPOS
        self.data.ctrl[self._finger_act] = [FINGER_OPEN, -FINGER_OPEN]
        self._apply_scene_perturbations(rng)
        self.ik.reset()
        mujoco.mj_forward(self.model, self.data)
        mujoco.mj_step(self.model, self.data, nstep=20)  # let the fruits settle
        self._stage = 0
        self._steps = 0
        self._last_grip = 0.0
        self._ambiguous = _unreached_scenes()
        return self._observation(), self._info()

    def step(
        self, action: np.ndarray
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Track the target pose for one control step."""
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (8,):
            raise ValueError(f"action must have shape (8,), got {action.shape}")
        if not np.all(np.isfinite(action)):
            raise ValueError(f"action must be finite, got {action.tolist()}")
        pos = np.clip(action[:3], WORKSPACE_LOW, WORKSPACE_HIGH)
        quat = action[3:7]
        norm = np.linalg.norm(quat)
        quat = self.down_quat if norm < 1e-6 else quat / norm
        return self._advance(self.ik.solve(self.data.qpos, pos, quat), action[7])

    def step_joints(
        self, joint_targets: np.ndarray, grip: float
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Track arm joint targets (7,) and a gripper command for one control step (the way a
        joint trajectory controller is driven)."""
        joint_targets = np.asarray(joint_targets, dtype=np.float64)
        if joint_targets.shape != (7,) or not np.all(np.isfinite(joint_targets)):
            raise ValueError(f"joint targets must be 7 finite values, got {joint_targets}")
        if not np.isfinite(grip):
            raise ValueError(f"gripper command must be finite, got {grip}")
        return self._advance(joint_targets, grip)

    def _advance(
        self, arm_targets: np.ndarray, grip: float
    ) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Servo the arm to ``arm_targets`` and the fingers to ``grip`` for one control step."""
        lower, upper = self.ik.lower, self.ik.upper
        grip = float(np.clip(grip, 0.0, 1.0))
        self.data.ctrl[self._arm_act] = np.clip(arm_targets, lower, upper)
        opening = FINGER_OPEN * (1.0 - grip)
        self.data.ctrl[self._finger_act] = [opening, -opening]
        self._last_grip = grip
        self._move_occluder()
        mujoco.mj_step(self.model, self.data, nstep=self.config.substeps)
        self._steps += 1
        self._update_stage()
        info = self._info()
        terminated = bool(info["is_success"])
        truncated = self._steps >= self.config.max_steps and not terminated
        return self._observation(), float(terminated), terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """The front camera image (rgb_array mode)."""
        if self.render_mode != "rgb_array":
            return None
        return self._render_camera("front")

    def close(self) -> None:
        """Free the renderers (their GL contexts)."""
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()

    # ----------------------------------------------------------------------------------------
    # Privileged state (for the scripted expert and evaluation)

    def fruit_positions(self) -> dict[str, np.ndarray]:
        """World position (3,) of each fruit's centre."""
        return {name: self.data.xpos[self._fruit_body[name]].copy() for name in scene.FRUITS}

    def fruit_speeds(self) -> dict[str, float]:
        """Linear speed (m/s) of each fruit."""
        return {
            name: float(np.linalg.norm(self.data.qvel[adr : adr + 3]))
            for name, adr in self._fruit_qvel.items()
        }

    def slot_positions(self) -> dict[str, np.ndarray]:
        """World position (3,) of each slot's centre on the table."""
        return {name: self.model.body_pos[bid].copy() for name, bid in self._slot_body.items()}

    def slot_of(self, fruit: str) -> str | None:
        """The slot a fruit rests in, or None while it is elsewhere (carried, dropped)."""
        position = self.fruit_positions()[fruit]
        if position[2] > 0.06:
            return None
        for name, centre in self.slot_positions().items():
            if np.linalg.norm(position[:2] - centre[:2]) < SLOT_RADIUS:
                return name
        return None

    def goal_slots(self) -> dict[str, str]:
        """Where each fruit must end: in the other fruit's start slot."""
        apple_start = other_start_slot(self.orange_start)
        return {"orange": apple_start, "apple": self.orange_start}

    def stage(self) -> int:
        """Progress through the orange-first swap, never decreasing within an episode.

        0: start; 1: orange resting in C (apple still in its start slot); 2: apple resting in the
        orange's start slot (orange in C); 3: orange resting in the apple's start slot (done).
        """
        return self._stage

    def tcp_pose(self) -> np.ndarray:
        """Tool-centre pose (7,) [x, y, z, qw, qx, qy, qz]."""
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self._tcp])
        return np.concatenate([self.data.site_xpos[self._tcp], quat])

    # ----------------------------------------------------------------------------------------
    # Internals

    def _ids(self) -> None:
        model = self.model
        self._arm_qpos = np.array([model.joint(j).qposadr[0] for j in scene.ARM_JOINTS])
        self._finger_qpos = np.array([model.joint(j).qposadr[0] for j in scene.FINGER_JOINTS])
        self._arm_act = np.array(
            [model.actuator(f"{scene.ARM_PREFIX}act_joint{i}").id for i in range(1, 8)]
        )
        self._finger_act = np.array(
            [model.actuator(f"{scene.ARM_PREFIX}act_finger{i}").id for i in (1, 2)]
        )
        self._tcp = model.site(scene.TCP_SITE).id
        self._fruit_body = {name: model.body(name).id for name in scene.FRUITS}
        self._fruit_qpos = {name: model.joint(f"{name}_joint").qposadr[0] for name in scene.FRUITS}
        self._fruit_qvel = {name: model.joint(f"{name}_joint").dofadr[0] for name in scene.FRUITS}
        self._slot_body = {name: model.body(f"slot_{name}").id for name in scene.SLOTS}
        self._fruit_radius = {
            "apple": float(model.geom("apple_body").size[2]),
            "orange": float(model.geom("orange_body").size[0]),
        }
        self._camera_id = {
            key: model.camera(name).id for key, name in scene.CAMERA_NAMES.items()
        }
        self._distractors = [
            model.body(f"distractor{i}").id for i in range(self.config.distractors)
        ]
        self._occluder = (
            model.body(scene.OCCLUDER).mocapid[0] if self.config.occluder else None
        )

    def _tcp_quat_at(self, arm_qpos: np.ndarray) -> np.ndarray:
        data = mujoco.MjData(self.model)
        data.qpos[self._arm_qpos] = arm_qpos
        mujoco.mj_kinematics(self.model, data)
        quat = np.empty(4)
        mujoco.mju_mat2Quat(quat, data.site_xmat[self._tcp])
        return quat

    def _place_fruit(self, fruit: str, slot: str, rng: np.random.Generator) -> None:
        jitter = self.config.slot_jitter
        centre = self.model.body_pos[self._slot_body[slot]]
        offset = rng.uniform(-jitter, jitter, size=2)
        adr = self._fruit_qpos[fruit]
        self.data.qpos[adr : adr + 3] = [
            centre[0] + offset[0],
            centre[1] + offset[1],
            self._fruit_radius[fruit] + 0.001,
        ]
        yaw = rng.uniform(-np.pi, np.pi)
        self.data.qpos[adr + 3 : adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]

    def _apply_scene_perturbations(self, rng: np.random.Generator) -> None:
        cfg = self.config
        self.model.cam_pos[:] = self._nominal_cam_pos
        if cfg.camera_jitter > 0:
            shift = rng.uniform(-cfg.camera_jitter, cfg.camera_jitter, (self.model.ncam, 3))
            self.model.cam_pos[:] += shift
        self.model.light_diffuse[:] = self._nominal_light * cfg.light_scale
        if cfg.light_jitter > 0:
            scale = 1.0 + rng.uniform(-cfg.light_jitter, cfg.light_jitter, (self.model.nlight, 1))
            self.model.light_diffuse[:] = np.clip(self.model.light_diffuse * scale, 0.0, 1.0)
        self._apply_scene_corruptions(rng)
        for body in self._distractors:
            # On the table, clear of the slots: in front of or behind the row of slots.
            x = rng.choice([rng.uniform(0.1, 0.25), rng.uniform(-0.2, -0.1)])
            self.model.body_pos[body] = [x, rng.uniform(-0.3, 0.3), 0.027]
        self._occluder_phase = rng.random()

    def _apply_scene_corruptions(self, rng: np.random.Generator) -> None:
        """Lights, colours and camera poses of the lab as configured (nominal when 0 / 1); the
        directions are drawn from ``rng``."""
        cfg, model = self.config, self.model
        ambient, diffuse = self._nominal_headlight
        model.vis.headlight.ambient[:] = np.clip(ambient * cfg.light_scale, 0.0, 1.0)
        model.vis.headlight.diffuse[:] = np.clip(diffuse * cfg.light_scale, 0.0, 1.0)
        model.light_diffuse[:] = np.clip(model.light_diffuse, 0.0, 1.0)
        model.light_dir[:] = self._nominal_light_dir
        if cfg.light_tilt_deg > 0:
            for light in range(model.nlight):
                model.light_dir[light] = _tilted(self._nominal_light_dir[light],
                                                 cfg.light_tilt_deg, rng)
        model.geom_rgba[:] = self._nominal_rgba
        if cfg.table_tint > 0:
            table = model.geom("table_top").id
            colour = rng.uniform(0.0, 1.0, 3)
            model.geom_rgba[table, :3] += cfg.table_tint * (colour - model.geom_rgba[table, :3])
        for fruit in ("apple_body", "orange_body"):
            model.geom_rgba[model.geom(fruit).id, :3] *= 1.0 - cfg.fruit_shade
        model.cam_quat[:] = self._nominal_cam_quat
        for cam in np.flatnonzero(model.cam_bodyid == 0):  # cameras on a fixed mount
            if cfg.camera_shift > 0:
                direction = rng.normal(size=3)
                model.cam_pos[cam] += cfg.camera_shift * direction / np.linalg.norm(direction)
            if cfg.camera_tilt_deg > 0:
                axis = rng.normal(size=3)
                turn = np.zeros(4)
                mujoco.mju_axisAngle2Quat(turn, axis / np.linalg.norm(axis),
                                          np.deg2rad(cfg.camera_tilt_deg))
                mujoco.mju_mulQuat(model.cam_quat[cam], self._nominal_cam_quat[cam], turn)

    def _move_occluder(self) -> None:
        if self._occluder is None:
            return
        t = self._steps / self.config.control_hz
        phase = (t / self.config.occluder_period + self._occluder_phase) % 1.0
        self.data.mocap_pos[self._occluder] = [0.3, -0.4 + 0.8 * phase,
                                                self.config.occluder_height]

    def _update_stage(self) -> None:
        slots = {fruit: self._resting_slot(fruit) for fruit in scene.FRUITS}
        goal = self.goal_slots()
        apple_start = goal["orange"]
        expected = {
            1: {"orange": "C", "apple": apple_start},
            2: {"orange": "C", "apple": self.orange_start},
            3: {"orange": apple_start, "apple": self.orange_start},
        }
        nxt = self._stage + 1
        if nxt in expected and slots == expected[nxt]:
            self._stage = nxt
        self._track_ambiguous(slots)

    def _track_ambiguous(self, resting: dict[str, str | None]) -> None:
        """For each of :data:`AMBIGUOUS_SCENES`, note the first step the fruits rest so, then
        the first fruit to leave its slot after it (lifted, or pushed out): the move the
        policy chose."""
        for name, layout in AMBIGUOUS_SCENES.items():
            step_key, move_key = ambiguous_keys(name)
            if self._ambiguous[step_key] is None:
                if resting == layout:
                    self._ambiguous[step_key] = self._steps
            elif self._ambiguous[move_key] is None:
                for fruit, slot in layout.items():
                    if self.slot_of(fruit) != slot:
                        self._ambiguous[move_key] = fruit
                        break

    def _resting_slot(self, fruit: str) -> str | None:
        if self.fruit_speeds()[fruit] > REST_SPEED:
            return None
        return self.slot_of(fruit)

    def _info(self) -> dict[str, Any]:
        success = self._stage == 3 and self._last_grip < 0.5
        return {
            "is_success": bool(success), "stage": self._stage, "orange_start": self.orange_start,
            **self._ambiguous,
        }

    def _observation(self) -> dict[str, np.ndarray]:
        size = self.config.image_size
        obs: dict[str, np.ndarray] = {}
        for cam in self.config.cameras:
            if self.config.render:
                obs[cam] = self._render_camera(cam)
            else:
                obs[cam] = np.zeros((size, size, 3), np.uint8)
        obs[EE_POSE] = self.tcp_pose().astype(np.float32)
        opening = self.data.qpos[self._finger_qpos[0]] - self.data.qpos[self._finger_qpos[1]]
        obs[GRIPPER] = np.array([opening], np.float32)
        obs[JOINT_POS] = self.data.qpos[self._arm_qpos].astype(np.float32)
        return obs

    def _render_camera(self, cam: str) -> np.ndarray:
        renderer = self._renderers.get(cam)
        if renderer is None:
            size = self.config.image_size
            renderer = self._renderers[cam] = mujoco.Renderer(self.model, size, size)
        renderer.update_scene(
            self.data, camera=self._camera_id[cam], scene_option=self._scene_option
        )
        return renderer.render()


def _tilted(direction: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """``direction`` turned by ``degrees`` towards a random perpendicular (unit length)."""
    unit = direction / np.linalg.norm(direction)
    perpendicular = np.cross(unit, rng.normal(size=3))
    perpendicular /= np.linalg.norm(perpendicular)
    angle = np.deg2rad(degrees)
    return np.cos(angle) * unit + np.sin(angle) * perpendicular
