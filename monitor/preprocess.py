"""Frames as cameras and data sets deliver them -> GradCon's input (N, C, 28, 28) in [0, 1].

Decoding is strict: anything that is not a sane image raises ImageError with a one-line reason,
so the consumer can dead-letter it instead of crashing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

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


# The side of the one shrunken copy of a frame (`prepare_frames`) that both the model's input and the
# calibration's image statistics (calibration.features) are computed from, so a frame is resized
# from its full size once, not once per consumer of it.
PREPARED_SIZE = 64
# A JPEG is decoded at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling decodes fewer pixels) when its
# short side stays at least this long: twice PREPARED_SIZE, so the shrink to it still averages.
REDUCED_MIN_SIDE = 2 * PREPARED_SIZE
_PREPARED_SHAPE = (PREPARED_SIZE, PREPARED_SIZE, 3)
_REDUCED_FLAGS = {
    (2, 3): cv2.IMREAD_REDUCED_COLOR_2,
    (4, 3): cv2.IMREAD_REDUCED_COLOR_4,
    (8, 3): cv2.IMREAD_REDUCED_COLOR_8,
    (2, 1): cv2.IMREAD_REDUCED_GRAYSCALE_2,
    (4, 1): cv2.IMREAD_REDUCED_GRAYSCALE_4,
    (8, 1): cv2.IMREAD_REDUCED_GRAYSCALE_8,
}


def _jpeg_frame_header(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, colour components) from a JPEG's start-of-frame segment, or None."""
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
            w = int.from_bytes(data[i + 7 : i + 9], "big")
            return w, int.from_bytes(data[i + 5 : i + 7], "big"), data[i + 9]
        i += 2 + seg
    return None


def declared_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the header, read before decoding so a decompression bomb is refused cheaply."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if data.startswith(b"BM") and len(data) >= 26:
        return abs(int.from_bytes(data[18:22], "little", signed=True)), abs(
            int.from_bytes(data[22:26], "little", signed=True)
        )
    if data.startswith(b"\xff\xd8"):
        sof = _jpeg_frame_header(data)
        return None if sof is None else sof[:2]
    return None


def reduction_factor(width: int, height: int, min_side: int = REDUCED_MIN_SIDE) -> int:
    """The largest DCT scale-down (1, 2, 4 or 8) that keeps the decoded short side >= min_side."""
    factor = 8
    while factor > 1 and min(width, height) // factor < min_side:
        factor //= 2
    return factor


class DecodedFrame(NamedTuple):
    """A decoded frame and the size it was sent at (it may have been decoded at a reduced scale)."""

    image: np.ndarray  # uint8 BGR (H, W, 3) or grey (H, W)
    native_shape: tuple[int, int]  # (height, width) as encoded


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """Encoded JPEG/PNG/BMP bytes -> uint8 BGR (H, W, 3) or grey (H, W) image, at full size.

    Pixels are taken as stored: a JPEG's EXIF orientation tag is ignored (IMREAD_UNCHANGED), since
    cameras and producers send sensor-order frames and a rotation would differ from what the
    model was trained and calibrated on.
    """
    return decode_frame(data, max_pixels, min_side=0).image


def decode_frame(data: bytes, max_pixels: int = 40_000_000, min_side: int = REDUCED_MIN_SIDE) -> DecodedFrame:
    """Like decode_image, but a large JPEG is decoded at 1/2, 1/4 or 1/8 scale (reduction_factor)
    when its short side stays >= min_side (0: always full size); the native (h, w) comes along.

    Scoring needs only a PREPARED_SIZE copy of the frame: decoding a 1080p frame at 1/8 scale
    skips most of the inverse DCT and the shrink then reads 64 times fewer pixels.
    """
    if not data:
        raise ImageError("empty payload")
    kind = next((k for m, k in _MAGIC.items() if data.startswith(m)), None)
    refused = next((k for m, k in _REFUSED.items() if data.startswith(m)), None)
    if refused is not None:
        raise ImageError(f"not an image the wire accepts: {refused} (expected jpeg, png or bmp)")
    if kind is None:
        raise ImageError(f"not an image (unrecognised leading bytes {data[:8].hex()})")
    sof = _jpeg_frame_header(data) if kind == "jpeg" else None
    size = sof[:2] if sof is not None else declared_size(data)
    if size is not None:
        w, h = size
        if w <= 0 or h <= 0:
            raise ImageError(f"{kind} header declares an empty image ({w}x{h})")
        if w * h > max_pixels:
            raise ImageError(f"{kind} header declares {w}x{h} pixels, over the limit of {max_pixels}")
    flag = cv2.IMREAD_UNCHANGED
    if sof is not None and min_side > 0:
        factor = reduction_factor(sof[0], sof[1], min_side)
        # IGNORE_ORIENTATION: like IMREAD_UNCHANGED, pixels as stored (the reduced modes would rotate).
        flag = _REDUCED_FLAGS.get((factor, sof[2]), flag)
        flag = flag if flag == cv2.IMREAD_UNCHANGED else flag | cv2.IMREAD_IGNORE_ORIENTATION
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag)
    if img is None:
        raise ImageError(f"{kind} payload could not be decoded (truncated or corrupt)")
    img = as_uint8_image(img)
    return DecodedFrame(img, (size[1], size[0]) if size is not None else (img.shape[0], img.shape[1]))


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


def prepare_frames(frames: Sequence[np.ndarray] | np.ndarray, size: int = PREPARED_SIZE) -> np.ndarray:
    """Frames (uint8 BGR or grey, any size) -> (N, size, size, 3) uint8 BGR: the one resize of each frame.

    A frame already (size, size, 3) is taken as it is (resizing it to its own size is a copy).
    """
    out = np.empty((len(frames), size, size, 3), dtype=np.uint8)
    for i, f in enumerate(frames):
        if isinstance(f, np.ndarray) and f.shape == (size, size, 3) and f.dtype == np.uint8:
            out[i] = f
            continue
        f = as_uint8_image(f)  # (H, W, 1) -> grey, BGRA -> BGR
        # INTER_AREA averages when shrinking (no aliasing), which keeps noise statistics honest and
        # is what CURE-TSR's crops need.
        if min(f.shape[:2]) >= size:
            r = area_shrink(f, (size, size))
        else:
            r = cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR)
        out[i] = r[:, :, None] if r.ndim == 2 else r
    return out


def area_shrink(img: np.ndarray, dsize: tuple[int, int]) -> np.ndarray:
    """uint8 image -> uint8 image of dsize (width, height), bit-identical to cv2.resize(img, dsize,
    interpolation=cv2.INTER_AREA) when shrinking, and faster (hot path: every frame's decode).

    At a ratio that is not a whole number OpenCV's area resize is one generic weighted sum, float32
    for uint8 and float32 images alike, rounded half to even at the end; its uint8 version is the
    slower one (measured on the 797 BelgiumTSC crops of 64 px or more: 93 vs 72 us a frame), so the
    frame goes through the float32 one and is rounded back. Whole-number ratios keep OpenCV's uint8
    fast path, which sums integers and rounds otherwise. Measured equal on every pixel of those crops
    and of 805 random images of 64-400 px; tests/test_preprocess.py keeps checking it."""
    h, w = img.shape[:2]
    if h % dsize[1] == 0 and w % dsize[0] == 0:
        return cv2.resize(img, dsize, interpolation=cv2.INTER_AREA)
    r = cv2.resize(img.astype(np.float32), dsize, interpolation=cv2.INTER_AREA)
    return cv2.convertScaleAbs(r)  # values are >= 0: |x| rounded half to even and saturated to uint8


_STACK = 64
_OVER_255 = np.arange(256, dtype=np.float32) / np.float32(255.0)


def model_input_from_prepared(prepared: np.ndarray, channels: int = 3, size: int = 28) -> torch.Tensor:
    """(N, PREPARED_SIZE, PREPARED_SIZE, 3) uint8 BGR from prepare_frames -> float (N, C, size, size) in [0, 1], RGB."""
    n = len(prepared)
    if n == 0:
        return torch.empty(0, channels, size, size)
    side = prepared.shape[1]
    # The frames stacked into one tall image, shrunk in one call: each frame's area windows end at its
    # own last row (frame k starts at source row k*side, output row k*size), so every pixel is the
    # one a frame-by-frame resize gives (measured: all sizes 4-63 from 64, 64 random frames; and
    # the BelgiumTSC crops' copies at 28). In chunks that stay in cache.
    small = np.empty((n * size, size, 3), dtype=np.uint8)
    for i in range(0, n, _STACK):
        chunk = prepared[i : i + _STACK]
        small[i * size : (i + len(chunk)) * size] = area_shrink(chunk.reshape(-1, side, 3), (size, size * len(chunk)))
    # In numpy and OpenCV, not torch: torch runs these on its OpenMP team, which stalls for
    # milliseconds when another process holds a core (measured on 2 shared cores: 172 vs 50 us a
    # frame in chunks of 16). Level -> level / 255 by table: bit-identical to the float32 division.
    if channels == 1:
        # Pointwise, so the batch stacked into one tall image converts exactly as frame by frame would.
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        return torch.from_numpy(cv2.LUT(grey, _OVER_255).reshape(n, 1, size, size))
    x = np.empty((n, 3, size, size), dtype=np.float32)
    for c, plane in enumerate(reversed(cv2.split(small))):  # BGR -> RGB, channels first
        x[:, c] = cv2.LUT(plane, _OVER_255).reshape(n, size, size)
    return torch.from_numpy(x)


def to_model_input(frames: Sequence[np.ndarray] | np.ndarray, channels: int = 3, size: int = 28) -> torch.Tensor:
    """A list of uint8 BGR/grey frames of any sizes, or an N x H x W (x C) array -> float (N, C, size, size) in [0, 1].

    Every frame goes through its PREPARED_SIZE copy (prepare_frames) first, the same copy the
    calibration's image statistics read, so the consumer resizes each frame once for both; and
    training, calibration and scoring all see the same input (one home: change it here only).
    """
    if size > PREPARED_SIZE:
        raise ValueError(f"model input size {size} is over the prepared copy's {PREPARED_SIZE} px")
    if len(frames) == 0:
        return torch.empty(0, channels, size, size)
    if isinstance(frames, np.ndarray) and frames.dtype == np.uint8 and frames.shape[1:] == _PREPARED_SHAPE:
        return model_input_from_prepared(frames, channels, size)  # already prepared: its copy is itself
    return model_input_from_prepared(prepare_frames(frames), channels, size)
