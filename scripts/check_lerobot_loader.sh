#!/usr/bin/env bash
# Load a folder written by `df-policy convert zarr2lerobot` with LeRobot's own LeRobotDataset.
#
# LeRobot pins its own torch, so it gets its own venv (default /tmp/lerobot_check_venv, made
# once; reused afterwards). Not part of `make test`: the install downloads about 1-3 GB.
#
#   export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL=egl ROS_DOMAIN_ID=<id>
#   .venv/bin/df-policy convert zarr2lerobot STORE --out /tmp/lerobot_export
#   scripts/check_lerobot_loader.sh /tmp/lerobot_export
#
# Prints what LeRobot reports (episodes, frames, fps, features) and the first frame's tensors;
# exits non-zero if LeRobot cannot load the folder. HF_HUB_OFFLINE=1: nothing is fetched.
set -euo pipefail
DATASET=${1:?usage: check_lerobot_loader.sh LEROBOT_FOLDER}
VENV=${LEROBOT_VENV:-/tmp/lerobot_check_venv}
LEROBOT_VERSION=${LEROBOT_VERSION:-0.6.1}
if [ ! -x "$VENV/bin/python" ]; then
  "${LEROBOT_PYTHON:-python3.12}" -m venv "$VENV"  # lerobot 0.6 needs Python >= 3.12
  "$VENV/bin/pip" install -q "lerobot==$LEROBOT_VERSION"
fi
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "$VENV/bin/python" - "$DATASET" <<'PY'
import sys
from importlib.metadata import version
from pathlib import Path

from lerobot.datasets.lerobot_dataset import LeRobotDataset

root = Path(sys.argv[1]).resolve()
ds = LeRobotDataset("local/df_policy_export", root=root)
print(f"lerobot {version('lerobot')}, torch {version('torch')}")
print(f"episodes {ds.num_episodes}, frames {ds.num_frames}, fps {ds.fps}")
print("features:", ", ".join(sorted(ds.features)))
item = ds[0]
for key, value in sorted(item.items()):
    shape = tuple(value.shape) if hasattr(value, "shape") else value
    print(f"  {key}: {shape}")
last = ds[len(ds) - 1]
print("last frame: episode", int(last["episode_index"]), "frame", int(last["frame_index"]))
PY
