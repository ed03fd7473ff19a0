"""The picture of docs/corruptions.md: the front camera under every corruption at severity 1, 2, 3.

    MUJOCO_GL=egl python benchmarks/corruption_gallery.py docs/img/corruptions.png

Seed 3, the arm sliding sideways for 12 control steps; the contentless-frame faults are shown
inside their window (in the benchmark it opens 1-12 s into the episode on one camera).
"""

import dataclasses
import sys

import cv2
import numpy as np

from df_policy.eval.corruptions import CORRUPTIONS, LEVELS
from df_policy.eval.suites import make_setup
from df_policy.sim.config import SimConfig
from df_policy.sim.env import FruitSwapEnv
from df_policy.sim.perturbations import ContentlessFrames, Window

FLAT = {"black_frames": 0, "white_frames": 255, "uniform_frames": 128}


def front_view(name: str, level: int, sim: SimConfig) -> np.ndarray:
    """The front camera's delivered frame after 12 steps under ``name`` at ``level``."""
    rng = np.random.default_rng(5)
    setup = make_setup(name, level, sim.cameras, sim.control_hz, rng)
    if name in FLAT:  # the fault itself: its window on the front camera from the start
        setup.faults = {"front": ContentlessFrames(FLAT[name], Window(100, rng, 0, 1))}
    fault = setup.faults.get("front", lambda frame: frame)
    env = FruitSwapEnv(dataclasses.replace(sim, **setup.sim_overrides))
    obs, _ = env.reset(seed=3)
    for _ in range(12):
        frame = fault(obs["front"])
        target = np.concatenate([obs["ee_pose"], [0.0]])
        target[1] += 0.015
        obs, *_ = env.step(target)
    env.close()
    return cv2.resize(frame, (96, 96), interpolation=cv2.INTER_NEAREST)


def main(png: str) -> None:
    sim = SimConfig()
    rows = []
    for name in CORRUPTIONS:
        row = np.concatenate([front_view(name, level, sim) for level in LEVELS], 1)
        row = cv2.copyMakeBorder(row, 1, 1, 120, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(row, name, (2, 52), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1)
        rows.append(row)
    cv2.imwrite(png, np.concatenate(rows, 0)[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main(sys.argv[1])
