"""Photometric and optical corruptions of delivered camera frames.

What a real camera or lab does to an image while the frame still arrives on time: a different
exposure or white balance after the lights change, a gamma or contrast setting, motion or focus
blur, a compression artefact, sensor noise, a zoomed lens. Each is a callable that takes an
``(H, W, 3) uint8`` frame and returns the corrupted frame (same shape and dtype). Parameters
that a real fault would fix for a while (a blur's direction, whether the white balance drifts
warm or cool, where a zoom is centred) are drawn once from the episode's ``rng``; noise is drawn
per frame. All are seeded and deterministic.
"""

from __future__ import annotations

import cv2
import numpy as np


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


class Gain:
    """Every channel times ``gain`` (exposure or sensor gain; < 1 darker, > 1 brighter)."""

    def __init__(self, gain: float) -> None:
        if gain <= 0:
            raise ValueError(f"gain must be > 0, got {gain}")
        self.gain = gain

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The re-exposed frame."""
        return _to_uint8(frame.astype(np.float32) * self.gain)


class WhiteBalance:
    """Red and blue gains move apart by ``shift`` (warm or cool, drawn once): red × (1 ± shift),
    blue × (1 ∓ shift)."""

    def __init__(self, shift: float, rng: np.random.Generator) -> None:
        if not 0 <= shift < 1:
            raise ValueError(f"white-balance shift must be in [0, 1), got {shift}")
        sign = 1.0 if rng.random() < 0.5 else -1.0
        self.gains = np.array([1 + sign * shift, 1.0, 1 - sign * shift], dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The colour-cast frame."""
        return _to_uint8(frame.astype(np.float32) * self.gains)


class Contrast:
    """Pixel values pulled towards the frame's mean: ``mean + factor × (x - mean)``."""

    def __init__(self, factor: float) -> None:
        if not 0 <= factor <= 1:
            raise ValueError(f"contrast factor must be in [0, 1], got {factor}")
        self.factor = factor

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The flattened frame."""
        image = frame.astype(np.float32)
        mean = image.mean()
        return _to_uint8(mean + self.factor * (image - mean))


class Gamma:
    """A wrong gamma curve ``255 (x / 255) ** g``; g = ``gamma`` or 1/``gamma`` (drawn once:
    darker or brighter mid-tones)."""

    def __init__(self, gamma: float, rng: np.random.Generator) -> None:
        if gamma < 1:
            raise ValueError(f"gamma must be >= 1 (its direction is drawn), got {gamma}")
        self.exponent = gamma if rng.random() < 0.5 else 1.0 / gamma
        self.table = _to_uint8(255.0 * (np.arange(256) / 255.0) ** self.exponent)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The re-mapped frame."""
        return self.table[frame]


class MotionBlur:
    """A linear motion blur ``length`` pixels long at an angle drawn once (camera shake or a
    long exposure)."""

    def __init__(self, length: int, rng: np.random.Generator) -> None:
        if length < 1:
            raise ValueError(f"blur length must be >= 1 px, got {length}")
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0
        angle = float(rng.uniform(0.0, 180.0))
        rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
        kernel = cv2.warpAffine(kernel, rotation, (length, length))
        self.kernel = kernel / max(kernel.sum(), 1e-6)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The blurred frame."""
        return cv2.filter2D(frame, -1, self.kernel, borderType=cv2.BORDER_REFLECT)


class DefocusBlur:
    """An out-of-focus lens: a disk kernel of ``radius`` pixels."""

    def __init__(self, radius: int) -> None:
        if radius < 1:
            raise ValueError(f"defocus radius must be >= 1 px, got {radius}")
        size = 2 * radius + 1
        yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
        disk = (xx ** 2 + yy ** 2 <= radius ** 2 + 0.5).astype(np.float32)
        self.kernel = disk.reshape(size, size) / disk.sum()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The blurred frame."""
        return cv2.filter2D(frame, -1, self.kernel, borderType=cv2.BORDER_REFLECT)


class JpegCompression:
    """The frame after a JPEG encode/decode at ``quality`` (1..100): a compressed transport."""

    def __init__(self, quality: int) -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
        self.quality = int(quality)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The decoded frame."""
        ok, data = cv2.imencode(".jpg", frame[:, :, ::-1],
                                [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise RuntimeError("OpenCV failed to JPEG-encode a frame")
        return np.ascontiguousarray(cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1])


class ImpulseNoise:
    """Salt-and-pepper noise: each pixel independently becomes black or white with probability
    ``fraction`` (dead and hot pixels, bit errors), drawn per frame."""

    def __init__(self, fraction: float, rng: np.random.Generator) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(f"impulse fraction must be in [0, 1], got {fraction}")
        self.fraction = fraction
        self.rng = rng

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The speckled frame."""
        out = frame.copy()
        hit = self.rng.random(frame.shape[:2]) < self.fraction
        salt = self.rng.random(frame.shape[:2]) < 0.5
        out[hit & salt] = 255
        out[hit & ~salt] = 0
        return out


class Zoom:
    """A zoomed lens: the central ``scale`` of the frame (offset by up to half the margin,
    drawn once) scaled back to full size."""

    def __init__(self, scale: float, rng: np.random.Generator) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"zoom scale must be in (0, 1], got {scale}")
        self.scale = scale
        self.offset = rng.uniform(-0.5, 0.5, 2) * (1 - scale) / 2

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The cropped and resized frame."""
        height, width = frame.shape[:2]
        crop_h, crop_w = max(1, round(height * self.scale)), max(1, round(width * self.scale))
        top = int(round((height - crop_h) / 2 + self.offset[0] * height))
        left = int(round((width - crop_w) / 2 + self.offset[1] * width))
        top, left = min(max(top, 0), height - crop_h), min(max(left, 0), width - crop_w)
        crop = frame[top:top + crop_h, left:left + crop_w]
        return cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
