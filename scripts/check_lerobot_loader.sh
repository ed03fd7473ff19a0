#!/usr/bin/env bash
# Load a folder written by `df-policy convert zarr2lerobot` with LeRobot's own LeRobotDataset.
#
# LeRobot pins its own torch, so it gets its own venv (default /tmp/lerobot_check_venv, made
# once; reused afterwards). Not part of `make test`: the venv takes 5.4 GB (CUDA torch).
#
#   export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST MUJOCO_GL=egl ROS_DOMAIN_ID=<id>
#   .venv/bin/df-policy convert zarr2lerobot STORE --out /tmp/lerobot_export
#   scripts/check_lerobot_loader.sh /tmp/lerobot_export STORE
#
# Prints what LeRobot reports (episodes, frames, fps, features) and the first frame's tensors;
# with STORE, also compares the first and last frame of every episode as LeRobot decodes them
# with the store's (pixel error, and action/state equality). Exits non-zero if LeRobot cannot
# load the folder or a frame differs. HF_HUB_OFFLINE=1: nothing is fetched.
set -euo pipefail
DATASET=${1:?usage: check_lerobot_loader.sh LEROBOT_FOLDER [STORE]}
STORE=${2:-}
FRAMES=$(mktemp -d)/lerobot_frames.npz
HERE=$(cd "$(dirname "$0")/.." && pwd)
VENV=${LEROBOT_VENV:-/tmp/lerobot_check_venv}
LEROBOT_VERSION=${LEROBOT_VERSION:-0.6.1}
if [ ! -x "$VENV/bin/python" ]; then
  "${LEROBOT_PYTHON:-$(PYENV_VERSION=3.12.1 pyenv which python3.12 2>/dev/null || echo python3.12)}" -m venv "$VENV"  # lerobot 0.6 needs Python >= 3.12
  "$VENV/bin/pip" install -q "lerobot[dataset]==$LEROBOT_VERSION"
fi
HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 "$VENV/bin/python" - "$DATASET" "$FRAMES" <<'PY'
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
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
ends = [(int(e["dataset_from_index"]), int(e["dataset_to_index"]) - 1) for e in ds.meta.episodes]
picks = [i for pair in ends for i in pair]
saved = {"index": np.array(picks)}
for key in ("action", "observation.state", *ds.meta.video_keys):
    values = [ds[i][key].numpy() for i in picks]
    if key in ds.meta.video_keys:  # LeRobot gives (3, H, W) floats in 0..1
        values = [np.round(v.transpose(1, 2, 0) * 255).astype(np.uint8) for v in values]
    saved[key] = np.stack(values)
np.savez(sys.argv[2], **saved)
print(f"decoded the first and last frame of {len(ends)} episodes")
PY
if [ -n "$STORE" ]; then
  "$HERE/.venv/bin/python" - "$STORE" "$FRAMES" <<'PY'
import sys

import numpy as np

from df_policy.data.lerobot import layout
from df_policy.data.store import EpisodeStore

store = EpisodeStore.open(sys.argv[1])
got = np.load(sys.argv[2])
index = got["index"]
data = store.root["data"]
state = np.concatenate([np.asarray(data[k].oindex[index]) for k in layout.STATE_PARTS], axis=1)
assert np.array_equal(got["action"], np.asarray(data["action"].oindex[index])), "action"
assert np.array_equal(got["observation.state"], state), "observation.state"
for cam in store.cameras:
    frames = np.asarray(data[cam].oindex[index]).astype(int)
    error = np.abs(got[layout.video_key(cam)].astype(int) - frames)
    print(f"{cam}: LeRobot's frames vs the store: mean abs {error.mean():.3f}, max {error.max()}")
    assert error.max() <= 3, f"{cam} frames differ"
print("action and observation.state identical; frames match")
PY
fi
