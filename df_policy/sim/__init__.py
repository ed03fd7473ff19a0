"""The fruit-swap world: MuJoCo scene, gymnasium env, scripted expert, teleop, perturbations.

Importing this package registers ``df_policy/FruitSwap-v0`` with gymnasium (cheap: the env
module is only imported when the env is made).
"""

import os

import gymnasium as gym

if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"  # headless: render offscreen through EGL

ENV_ID = "df_policy/FruitSwap-v0"

if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point="df_policy.sim.env:FruitSwapEnv")
