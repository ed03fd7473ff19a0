"""sensor_msgs/Image <-> numpy without cv_bridge (zero copy where possible)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image

SUPPORTED = ("rgb8", "bgr8")


def image_to_rgb(msg: Image) -> np.ndarray:
    """An ``(H, W, 3) uint8`` RGB view of an rgb8/bgr8 Image (rows may be padded: ``step``).

    Raises:
        ValueError: naming the problem for another encoding, a short buffer or a bad step.
    """
    if msg.encoding not in SUPPORTED:
        raise ValueError(f"unsupported image encoding '{msg.encoding}' (use {SUPPORTED})")
    height, width, step = msg.height, msg.width, msg.step
    if height == 0 or width == 0:
        raise ValueError(f"empty image {width}x{height}")
    if step < 3 * width:
        raise ValueError(f"image step {step} is smaller than 3 * width ({3 * width})")
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ValueError(f"image data has {buffer.size} bytes, expected step*height = "
                         f"{step * height}")
    rows = buffer[: step * height].reshape(height, step)
    image = rows[:, : 3 * width].reshape(height, width, 3)
    return image[..., ::-1] if msg.encoding == "bgr8" else image


def rgb_to_image(image: np.ndarray, msg: Image | None = None) -> Image:
    """Fill an rgb8 Image from an ``(H, W, 3) uint8`` array (bytes, never an ndarray)."""
    msg = msg or Image()
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = 3 * msg.width
    msg.data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    return msg
