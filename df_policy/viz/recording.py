"""Reading a live view's ``.rrd`` back with rerun's own chunk reader, and drawing one step of it.

:func:`read_recording` gives every logged series by entity; :func:`render_step` draws the
cameras beside their forecasts with the noise level and surprise so far (the README image).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from rerun.chunk import RrdReader

from df_policy.errors import DataError

Series = list[tuple[int, Any]]
"""(step, value) pairs in step order."""


def read_recording(path: str | Path) -> dict[str, Series]:
    """Every entity of the recording in ``path``: images as ``(H, W, C) uint8`` arrays,
    scalars as floats, text logs as strings, point and line batches as float arrays.

    Raises:
        DataError: when ``path`` is missing or not a rerun recording.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"recording {path} not found")
    try:
        chunks = list(RrdReader(path).stream())
    except (ValueError, OSError) as err:
        raise DataError(f"{path} is not a rerun recording ({err})") from None
    # Chunks need not be stored in the order they were logged (two events of one step can
    # come out swapped), so rows are ordered by step, then by the time they were logged.
    logged: dict[str, list[tuple[int, int, Any]]] = {}
    for chunk in chunks:
        if chunk.is_static or "step" not in chunk.timeline_names:
            continue
        batch = chunk.to_record_batch()
        columns = {name: batch.column(name).to_pylist() for name in batch.schema.names
                   if name == "step" or ":" in name}  # the index and the data components
        times = (batch.column("log_time").cast(pa.int64()).to_pylist()
                 if "log_time" in batch.schema.names else [0] * batch.num_rows)
        entity = chunk.entity_path.lstrip("/")
        for row, step in enumerate(columns["step"]):
            value = _value(columns, row)
            if value is not None:
                logged.setdefault(entity, []).append((int(step), times[row], value))
    return {entity: [(step, value) for step, _, value in sorted(rows, key=lambda r: r[:2])]
            for entity, rows in logged.items()}


def _value(columns: dict[str, list], row: int) -> Any:
    """The logged value of one row (None where the row holds no data component)."""
    if columns.get("Image:buffer", [None] * (row + 1))[row] is not None:
        fmt = columns["Image:format"][row][0]
        flat = np.asarray(columns["Image:buffer"][row][0], dtype=np.uint8)
        return flat.reshape(fmt["height"], fmt["width"], -1)
    if columns.get("Scalars:scalars", [None] * (row + 1))[row] is not None:
        return float(columns["Scalars:scalars"][row][0])
    if columns.get("TextLog:text", [None] * (row + 1))[row] is not None:
        return str(columns["TextLog:text"][row][0])
    for name in ("LineStrips3D:strips", "Points3D:positions"):
        if columns.get(name, [None] * (row + 1))[row] is not None:
            return np.asarray(columns[name][row], dtype=np.float64)
    return None


def latest(series: Series, step: int) -> Any:
    """The value logged last at or before ``step`` (None if nothing yet)."""
    found = None
    for at, value in series:
        if at > step:
            break
        found = value
    return found


def render_step(path: str | Path, step: int, png: str | Path, scale: int = 4) -> Path:
    """Draw ``step`` of the recording: each camera above its forecast, and the noise level
    and surprise of every camera up to that step. Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_recording(path)
    cameras = sorted(key.split("/", 1)[1] for key in series if key.startswith("camera/"))
    fig = plt.figure(figsize=(2.2 * len(cameras) + 4.2, 4.2))
    grid = fig.add_gridspec(2, len(cameras) + 2)
    for column, cam in enumerate(cameras):
        for row, (kind, title) in enumerate((("camera", cam), ("forecast", f"{cam} forecast"))):
            ax = fig.add_subplot(grid[row, column])
            image = latest(series.get(f"{kind}/{cam}", []), step)
            if image is not None:
                ax.imshow(image.repeat(scale, 0).repeat(scale, 1))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    for row, kind in enumerate(("noise_level", "surprise")):
        ax = fig.add_subplot(grid[row, len(cameras):])
        for cam in cameras:
            points = np.array([(at, v) for at, v in series.get(f"{kind}/{cam}", [])
                               if at <= step])
            if len(points):
                ax.plot(points[:, 0], points[:, 1], label=cam)
        ax.set_ylabel(kind.replace("_", " "), fontsize=9)
        ax.legend(fontsize=8)
    ax.set_xlabel("step")
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png
