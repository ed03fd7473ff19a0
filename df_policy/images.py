"""Camera frames as ``(H, W, 3) uint8`` RGB arrays: decoding image messages, resizing.

Shared by the ROS nodes (live ``sensor_msgs/Image``), the bag importer (messages deserialised
by ``rosbags``) and the model's tokens, so a frame is decoded and resized the same way on every
path. Messages are duck-typed (``encoding``, ``height``, ``width``, ``step``, ``data``; or
``format`` and ``data`` for a compressed image): nothing here imports rclpy.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

SUPPORTED = ("rgb8", "bgr8")
"""Raw encodings the policy reads (colour, 8 bits per channel)."""


def image_to_rgb(msg: Any) -> np.ndarray:
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


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG or PNG) to ``(H, W, 3) uint8`` RGB.

    Raises:
        ValueError: when the bytes do not decode to a colour image.
    """
    buffer = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if buffer.size else None
    if decoded is None:
        raise ValueError(f"compressed image (format '{msg.format}') does not decode")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(..., H, W, 3) uint8`` images to ``(..., size, size, 3)`` (area averaging).

    Frames that are not square are squashed, never cropped, on every path alike.
    """
    if images.shape[-3:-1] == (size, size):
        return images
    flat = images.reshape(-1, *images.shape[-3:])
    out = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in flat])
    return out.reshape(*images.shape[:-3], size, size, 3)
