"""Frames as cameras and data sets deliver them -> GradCon's input (N, C, 28, 28) in [0, 1].

Decoding is strict: anything that is not a sane image raises ImageError with a one-line reason,
so the consumer can dead-letter it instead of crashing.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch


class ImageError(ValueError):
    """An input is not a usable image; the message says what was wrong."""


_MAGIC = {
    b"\xff\xd8\xff": "jpeg",
    b"\x89PNG\r\n\x1a\n": "png",
    b"BM": "bmp",
}
# Formats OpenCV would decode but the wire does not list (docs/WIRE.md): refused by name, so a
# producer that sends them learns why instead of having them scored by accident of the decoder.
_REFUSED = {b"P5": "pgm", b"P6": "ppm"}


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header, read before decoding so a decompression bomb is refused cheaply."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"BM") and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(
            int.from_bytes(data[22:26], "little", signed=True)
        )
    if data.startswith(b"\xff\xd8"):
        i = 2
        n = len(data)
        while i + 9 < n:
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            seg = int.from_bytes(data[i + 2 : i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
            i += 2 + seg
        return None
    return None


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """Encoded JPEG/PNG/BMP bytes -> uint8 BGR (H, W, 3) or grey (H, W) image.

    Pixels are taken as stored: a JPEG's EXIF orientation tag is ignored (IMREAD_UNCHANGED), since
    cameras and producers send sensor-order frames and a rotation would differ from what the
    model was trained and calibrated on.
    """
    if not data:
        raise ImageError("empty payload")
    kind = next((k for m, k in _MAGIC.items() if data.startswith(m)), None)
    refused = next((k for m, k in _REFUSED.items() if data.startswith(m)), None)
    if refused is not None:
        raise ImageError(f"not an image the wire accepts: {refused} (expected jpeg, png or bmp)")
    if kind is None:
        raise ImageError(f"not an image (unrecognised leading bytes {data[:8].hex()})")
    size = declared_size(data)
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(f"{kind} header declares an empty image ({w}x{h})")
        if w * h > max_pixels:
            raise ImageError(f"{kind} header declares {w}x{h} pixels, over the limit of {max_pixels}")
    buf = np.frombuffer(data, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageError(f"{kind} payload could not be decoded (truncated or corrupt)")
    return as_uint8_image(img)


def as_uint8_image(img: np.ndarray) -> np.ndarray:
    """Normalise a decoded array to uint8 grey (H, W) or BGR (H, W, 3); refuse what is not an image."""
    if not isinstance(img, np.ndarray):
        raise ImageError(f"frame is a {type(img).__name__}, not a numpy array")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype in (np.float32, np.float64):
        img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ImageError(f"frame has dtype {img.dtype}, expected uint8")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ImageError(f"frame has shape {img.shape}, expected HxW grey or HxWx3 BGR")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ImageError(f"frame has shape {img.shape}, which is empty")
    return img


def resize_frame(img: np.ndarray, channels: int, size: int) -> np.ndarray:
    """One frame -> (size, size, channels) uint8 in RGB order (grey for 1 channel)."""
    img = as_uint8_image(img)
    if channels == 1:
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    # INTER_AREA averages when shrinking (no aliasing), which is what CURE-TSR's crops need.
    interp = cv2.INTER_AREA if min(img.shape[:2]) >= size else cv2.INTER_LINEAR
    out = cv2.resize(img, (size, size), interpolation=interp)
    return out.reshape(size, size, channels)


def to_model_input(frames: Sequence[np.ndarray] | np.ndarray, channels: int = 3, size: int = 28) -> torch.Tensor:
    """A list of uint8 BGR/grey frames of any sizes, or an N x H x W (x C) array -> float (N, C, size, size) in [0, 1]."""
    if isinstance(frames, np.ndarray) and frames.ndim in (3, 4) and frames.dtype == np.uint8:
        frames = list(frames)
    if len(frames) == 0:
        return torch.empty(0, channels, size, size)
    batch = np.stack([resize_frame(f, channels, size) for f in frames])  # (N, size, size, C) uint8
    # In numpy, not torch: torch runs these on its OpenMP team, which stalls for milliseconds when
    # another process holds a core (measured on 2 shared cores: 172 vs 50 us a frame in chunks of
    # 16); the result is bit-identical (float32 division by 255 either way).
    x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2)).astype(np.float32)
    x /= np.float32(255.0)
    return torch.from_numpy(x)
