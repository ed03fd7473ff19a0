"""Names shared by the simulator, the episode store, training, the runtime and the ROS nodes.

Store layout (zarr, Diffusion Policy style; N = total steps over all episodes)::

    data/front        (N, H, W, 3) uint8   front camera RGB, one chunk per frame
    data/wrist        (N, H, W, 3) uint8   wrist camera RGB
    data/front_valid  (N,)         bool    False where the frame is missing (real-robot imports)
    data/wrist_valid  (N,)         bool
    data/action       (N, 8)       float32 commanded target after observing step i:
                                           [x, y, z, qw, qx, qy, qz, grip]  (grip 1 = closed)
    data/ee_pose      (N, 7)       float32 measured end-effector pose [x, y, z, qw, qx, qy, qz]
    data/gripper      (N, 1)       float32 measured finger opening in metres
    data/joint_pos    (N, 7)       float32 arm joint positions in radians
    meta/episode_ends (E,)         int64   exclusive end index of each episode in data/*
    meta/episode_success (E,)      bool    whether the episode reached the goal
    meta/episode_seed (E,)         int64   simulator seed (-1 for real-robot data)
"""

FRONT = "front"
WRIST = "wrist"
CAMERAS = (FRONT, WRIST)

ACTION = "action"
EE_POSE = "ee_pose"
GRIPPER = "gripper"
JOINT_POS = "joint_pos"

ACTION_DIM = 8
"""Action vector: position (3), orientation quaternion w-first (4), gripper command (1)."""
GRIP_CLOSED = 0.5
"""Gripper commands above this close the gripper."""
POSE_DIM = 7
JOINT_DIM = 7

EPISODE_ENDS = "episode_ends"
EPISODE_SUCCESS = "episode_success"
EPISODE_SEED = "episode_seed"


def valid_key(camera: str) -> str:
    """Name of the per-frame validity mask of ``camera`` (``front`` -> ``front_valid``)."""
    return f"{camera}_valid"
