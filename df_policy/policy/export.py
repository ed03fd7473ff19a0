"""Turn a training run into a small deployable checkpoint folder, with its calibration.

The folder holds the EMA weights (as ``model.safetensors``), the normaliser, the resolved
config and ``calibration.json`` (innovation-gating statistics from clean demonstrations) — no
optimiser state. This is how ``data/checkpoints/df_fruit_swap`` is made. The ONNX graphs of
the onnxruntime backend are added by :func:`df_policy.policy.onnx_export.export_onnx`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from df_policy.checkpoint import checkpoint_dir, load_checkpoint
from df_policy.errors import CheckpointError
from df_policy.policy.calibration import CALIBRATION_FILE, calibrate, save_calibration
from df_policy.policy.config import RuntimeConfig


def export_checkpoint(run: str | Path, store: str | Path, out: str | Path,
                      calibration_episodes: int = 10,
                      runtime: RuntimeConfig | None = None) -> dict[str, Any]:
    """Copy the run's newest EMA weights to ``out`` and calibrate gating on ``store`` with
    ``runtime``'s sampling (default: the runtime defaults)."""
    source = checkpoint_dir(run)
    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shutil.copy2(source / "ema.safetensors", tmp / "model.safetensors")
    for name in ("normalizer.safetensors", "config.yaml"):
        shutil.copy2(source / name, tmp / name)
    loaded = load_checkpoint(tmp)
    calibration = {"cameras": {}}
    if loaded.kind == "df":  # the DP-style baseline forecasts nothing: no gating to calibrate
        calibration = calibrate(loaded, store, calibration_episodes, runtime=runtime)
        calibration["source_checkpoint"] = str(source)
        save_calibration(tmp, calibration)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    size = sum(f.stat().st_size for f in out.iterdir())
    return {"checkpoint": str(out), "from": str(source), "size_bytes": size,
            "calibration": calibration["cameras"]}


def recalibrate_checkpoint(folder: str | Path, store: str | Path, calibration_episodes: int = 10,
                           runtime: RuntimeConfig | None = None) -> dict[str, Any]:
    """Calibrate an exported DF checkpoint's gating anew on ``store`` (a calibration made
    with another forecast error, another runtime sampling, or on a user's own clean
    demonstrations); the weights are untouched."""
    folder = Path(folder)
    loaded = load_checkpoint(folder)
    if loaded.kind != "df":
        raise CheckpointError(f"{folder} holds a {loaded.kind!r} policy: it forecasts no "
                              "frames, so there is no gating to calibrate")
    calibration = calibrate(loaded, store, calibration_episodes, runtime=runtime)
    try:  # where the weights came from stays recorded (an unreadable old file is replaced)
        source = json.loads((folder / CALIBRATION_FILE).read_text()).get("source_checkpoint")
    except (OSError, json.JSONDecodeError):
        source = None
    if source is not None:
        calibration["source_checkpoint"] = source
    save_calibration(folder, calibration)
    return {"checkpoint": str(folder), "calibration": calibration["cameras"]}
