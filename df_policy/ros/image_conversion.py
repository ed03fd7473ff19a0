"""numpy -> sensor_msgs/Image without cv_bridge (decoding lives in :mod:`df_policy.images`)."""

from __future__ import annotations

import numpy as np
from sensor_msgs.msg import Image


def rgb_to_image(image: np.ndarray, msg: Image | None = None) -> Image:
    """Fill an rgb8 Image from an ``(H, W, 3) uint8`` array (bytes, never an ndarray)."""
    msg = msg or Image()
    msg.height, msg.width = int(image.shape[0]), int(image.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = 3 * msg.width
    msg.data = np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    return msg
