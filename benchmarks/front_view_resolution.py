"""How far a fruit's image moves in the front camera when the fruit moves: depth vs sideways.

    python benchmarks/front_view_resolution.py [--sizes 32 64] [--shift 0.02]

With the wrist camera dead, the policy must place its grasp from the front view alone. This
puts the apple in slot A and in slot B, moves it by ``--shift`` metres in depth (x, along the
front camera's view) and sideways (y), renders the front camera (64 px, as in the demos),
resizes it as the model's input is resized, and finds the apple's pixels by difference with a
render without it (the orange is kept out of view). Prints per slot and size: the apple's
pixel count and how many pixels its centroid moves per centimetre in depth and sideways.
"""

import argparse
import json
import sys

import mujoco
import numpy as np

from df_policy.images import resize_images
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv

APPLE_REST_Z = 0.0267
"""Height of the apple's centre resting on the table, metres."""
OUT_OF_VIEW = (0.0, 0.0, -1.0)
"""Where a fruit goes to be out of the picture: under the table."""
MIN_DIFFERENCE = 30.0
"""Summed RGB difference from the apple-free render for a pixel to count as apple."""


def fruit_qpos(env: FruitSwapEnv, fruit: str) -> int:
    """Index of a fruit's free-joint position in ``qpos``."""
    body = mujoco.mj_name2id(env.model, mujoco.mjtObj.mjOBJ_BODY, fruit)
    return int(env.model.jnt_qposadr[env.model.body_jntadr[body]])


def front_view(env: FruitSwapEnv, position: tuple[float, float, float], size: int
               ) -> np.ndarray:
    """The front camera's image with the apple at ``position`` and no orange, resized."""
    for fruit, where in (("apple", position), ("orange", OUT_OF_VIEW)):
        index = fruit_qpos(env, fruit)
        env.data.qpos[index:index + 3] = where
    env.data.qvel[:] = 0.0
    mujoco.mj_forward(env.model, env.data)
    obs, *_ = env.step(np.concatenate([env.tcp_pose(), [0.0]]).astype(np.float32))
    return resize_images(obs["front"][None], size)[0].astype(float)


def centroid(image: np.ndarray, background: np.ndarray) -> tuple[float, float, int]:
    """(row, column, pixel count) of where ``image`` differs from ``background``."""
    weight = np.abs(image - background).sum(-1)
    weight[weight < MIN_DIFFERENCE] = 0.0
    rows, cols = np.nonzero(weight)
    w = weight[rows, cols]
    return float((rows * w).sum() / w.sum()), float((cols * w).sum() / w.sum()), len(rows)


def apple_centroid(env: FruitSwapEnv, x: float, y: float, size: int,
                   background: np.ndarray) -> tuple[float, float, int]:
    """Centroid and pixel count of the apple resting at (x, y) in the resized front view."""
    return centroid(front_view(env, (x, y, APPLE_REST_Z), size), background)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--shift", type=float, default=0.02, help="metres each way")
    args = parser.parse_args()
    env = FruitSwapEnv(SimConfig())
    env.reset(seed=0)
    slots = env.slot_positions()
    rows = []
    for size in args.sizes:
        background = front_view(env, OUT_OF_VIEW, size)
        for slot in ("A", "B"):
            x, y = (float(v) for v in slots[slot][:2])
            shift = args.shift
            centre = apple_centroid(env, x, y, size, background)
            near = apple_centroid(env, x - shift, y, size, background)
            far = apple_centroid(env, x + shift, y, size, background)
            left = apple_centroid(env, x, y - shift, size, background)
            right = apple_centroid(env, x, y + shift, size, background)
            per_cm = 0.01 / (2 * args.shift)
            rows.append({
                "size": size, "slot": slot, "apple_pixels": centre[2],
                "px_per_cm_depth": round(per_cm * float(np.hypot(far[0] - near[0],
                                                                 far[1] - near[1])), 2),
                "px_per_cm_sideways": round(per_cm * float(np.hypot(right[0] - left[0],
                                                                    right[1] - left[1])), 2),
            })
    env.close()
    print("| front view px | slot | apple pixels | px per cm of depth | px per cm sideways |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['size']} | {row['slot']} | {row['apple_pixels']} | "
              f"{row['px_per_cm_depth']} | {row['px_per_cm_sideways']} |")
    print(json.dumps({"command": " ".join(sys.argv), "rows": rows}))


if __name__ == "__main__":
    main()
