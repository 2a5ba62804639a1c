"""The 12 CURE-TSR challenge effects at 5 levels, and a builder for CURE-TSR-style challenge sets.

The data set's authors rendered their challenges in Adobe After Effects on whole video frames
(docs/DESIGN.md §3); these are OpenCV/numpy re-creations applied to one sign crop at a time.

Scale. Crops range from ~21 to 700 px. Every size-dependent quantity (blur radius, noise grain,
streak length, blob size, block size) is expressed for a reference sign of REFERENCE_SIZE px and
multiplied by min(H, W) / REFERENCE_SIZE, so an effect looks the same on a small and a large crop
and survives GradCon's 28x28 downsample. Procedural layers (rain, snow, dirt, shadow, haze) are
drawn at no more than LAYER_SIZE px and resized up: they are smooth at that scale and it keeps a
700 px crop as cheap as a 90 px one.

Severity is nested: every random choice (where the raindrops fall, which blocks a codec error
corrupts, the noise field) is drawn once from the seed, independently of the level, and a higher
level uses more of it or uses it more strongly. So for one image and seed the five levels are one
scene getting worse, and the change from the clean image grows strictly with the level.
"""

from __future__ import annotations

import csv
import hashlib
import math
import multiprocessing
import os
import time
import warnings
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from monitor.challenge_types import CHALLENGE_CODES, FOLDER_NAMES, challenge_code
from monitor.codec import NO_ENCODING, WireEncoding
from monitor.cure_tsr import (
    LEVELS,
    MANIFEST_FIELDS,
    MANIFEST_NAME,
    MANIFEST_WIRE,
    SIGN_TYPES,
    challenge_folder,
    format_name,
    group_of,
    is_track_name,
    list_images,
    load_image,
    parse_name,
    training_images,
)
from monitor.rendering_c import apply_c
from monitor.rendering_d import apply_d
from monitor.rendering_e import apply_e
from monitor.rendering_f import apply_f
from monitor.rendering_g import apply_g
from monitor.rendering_h import apply_h
from monitor.rendering_i import apply_i
from monitor.rendering_j import apply_j
from monitor.rendering_k import apply_k
from monitor.rendering_l import apply_l
from monitor.rendering_m import apply_m
from monitor.rendering_n import apply_n
from monitor.rendering_o import apply_o
from monitor.rendering_p import apply_p
from monitor.rendering_q import apply_q
from monitor.rendering_r import apply_r
from monitor.renderings import (
    FIT_RENDERINGS,
    RENDERINGS,
    apply_b,
    check_rendering_args,
    check_renderings,
    rendering_of_track,
)

REFERENCE_SIZE = 64.0  # px: the sign size the level parameters below are written for
LAYER_SIZE = 128  # px: the largest side procedural layers are drawn at
GAMMA = 2.2  # exposure stops act on linear light; 8-bit images are close to gamma 2.2

# ---------------------------------------------------------------------------------------------
# Small helpers


def _scale(h: int, w: int) -> float:
    """Size of this crop relative to the reference sign."""
    return max(min(h, w), 8) / REFERENCE_SIZE


def _layer_shape(h: int, w: int) -> tuple[int, int]:
    f = min(1.0, LAYER_SIZE / max(h, w))
    return max(1, round(h * f)), max(1, round(w * f))


def _to_size(layer: np.ndarray, h: int, w: int) -> np.ndarray:
    if layer.shape[:2] == (h, w):
        return layer
    return cv2.resize(layer, (w, h), interpolation=cv2.INTER_LINEAR)


def _gaussian(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; large sigmas are applied on a shrunken copy (same look, a fraction of the cost)."""
    if sigma <= 0:
        return img
    h, w = img.shape[:2]
    f = sigma / 3.0
    if f > 1.5 and min(h, w) / f >= 4:
        small = cv2.resize(img, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma * small.shape[1] / w, borderType=cv2.BORDER_REFLECT)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _blend(img: np.ndarray, color, alpha: np.ndarray | float) -> np.ndarray:
    """img * (1 - alpha) + color * alpha, alpha scalar or (H, W)."""
    if isinstance(alpha, np.ndarray) and alpha.ndim == 2:
        alpha = alpha[:, :, None]
    return img + (np.asarray(color, np.float32) - img) * alpha


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _splat(shape: tuple[int, int], ys: np.ndarray, xs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Sum weights into a float32 image at (rounded) positions inside shape."""
    out = np.zeros(shape, np.float32)
    yi, xi = np.round(ys).astype(int), np.round(xs).astype(int)
    ok = (yi >= 0) & (yi < shape[0]) & (xi >= 0) & (xi < shape[1])
    np.add.at(out, (yi[ok], xi[ok]), weights[ok].astype(np.float32))
    return out


def _lowfreq_noise(rng: np.random.Generator, shape: tuple[int, int], cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a coarse random grid resized with cubic interpolation."""
    h, w = shape
    gh, gw = max(2, round(cells * h / max(h, w))), max(2, round(cells * w / max(h, w)))
    grid = rng.random((gh, gw)).astype(np.float32)
    return np.clip(cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC), 0.0, 1.0)


@lru_cache(maxsize=64)
def _hexagon_kernel(radius: float) -> np.ndarray:
    """Normalised hexagonal iris (flat top, circumradius radius px), anti-aliased by 8x8 supersampling."""
    half = int(math.ceil(radius)) + 1
    ss = 8
    coords = (np.arange((2 * half + 1) * ss, dtype=np.float32) + 0.5) / ss - (half + 0.5)
    y, x = np.abs(coords)[:, None], np.abs(coords)[None, :]
    r = max(radius, 0.5)  # a hexagon inside one pixel is the identity
    inside = (y <= r * math.sqrt(3) / 2) & (math.sqrt(3) * x + y <= math.sqrt(3) * r)
    k = inside.reshape(2 * half + 1, ss, 2 * half + 1, ss).mean(axis=(1, 3)).astype(np.float32)
    return k / k.sum()


def _line_kernel(length: float, angle_deg: float, thickness: float) -> np.ndarray:
    """A streak: a line through the kernel centre, peak 1 (not normalised: each drop keeps its brightness)."""
    half = int(math.ceil(length / 2)) + 2
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    dx, dy = math.sin(math.radians(angle_deg)) * length / 2, math.cos(math.radians(angle_deg)) * length / 2
    s = 16  # cv2 drawing with 4 fractional bits
    p0 = (round((half - dx) * s), round((half - dy) * s))
    p1 = (round((half + dx) * s), round((half + dy) * s))
    cv2.line(k, p0, p1, 1.0, max(1, round(thickness)), cv2.LINE_AA, shift=4)
    if thickness < 1:
        k *= thickness
    return k


# ---------------------------------------------------------------------------------------------
# The effects. Each takes float32 BGR (H, W, 3) in [0, 1], the level, an rng (used the same way at
# every level: see the module docstring) and the previous frame (float32, same shape) or None.


def _decolorization(x, level, rng, prev):
    # After Effects' black & white filter compounded: a growing share of the grey rendering.
    grey = cv2.cvtColor(x, cv2.COLOR_BGR2GRAY)[:, :, None]
    return _blend(x, grey, (0.2, 0.4, 0.6, 0.8, 1.0)[level - 1])


def _lens_blur(x, level, rng, prev):
    # Camera lens blur, hexagonal iris, radius 2/4/6/8/10 px on the reference sign.
    h, w = x.shape[:2]
    radius = 2.0 * level * _scale(h, w)
    f = radius / 6.0
    if f > 1.5 and min(h, w) / f >= 8:  # big kernels: blur a shrunken copy (the result is smooth anyway)
        small = cv2.resize(x, (round(w / f), round(h / f)), interpolation=cv2.INTER_AREA)
        k = _hexagon_kernel(round(radius * small.shape[1] / w, 2))
        small = cv2.filter2D(small, -1, k, borderType=cv2.BORDER_REFLECT)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.filter2D(x, -1, _hexagon_kernel(round(radius, 2)), borderType=cv2.BORDER_REFLECT)


def _codec_error(x, level, rng, prev):
    # Time displacement: macroblocks taken from an earlier moment (the previous frame when given,
    # else the frame itself) at an offset that grows with the displacement (1..5 frames), some
    # blocks lost to their DC colour, and JPEG quantisation getting coarser.
    h, w = x.shape[:2]
    s = _scale(h, w)
    m = max(3, round(10 * s))  # macroblock side
    gh, gw = -(-h // m), -(-w // m)
    u = rng.random((gh, gw))
    ang = rng.uniform(0, 2 * math.pi, (gh, gw))
    mag = rng.uniform(0.5, 1.0, (gh, gw))
    share = (0.10, 0.20, 0.32, 0.45, 0.60)[level - 1]
    hit = u < share
    lost = u < share * (0.15 + 0.05 * level)  # nested too: a lost block stays lost at higher levels
    shift = np.where(hit, 0.2 * level * m * mag, 0.0)
    dx = np.repeat(np.repeat((np.cos(ang) * shift).astype(np.float32), m, 0), m, 1)[:h, :w]
    dy = np.repeat(np.repeat((np.sin(ang) * shift).astype(np.float32), m, 0), m, 1)[:h, :w]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    src = x if prev is None else prev
    moved = cv2.remap(src, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    hit_px = np.repeat(np.repeat(hit, m, 0), m, 1)[:h, :w, None]
    out = np.where(hit_px, moved, x)
    # lost blocks: the block mean of the displaced content (a decoder showing only DC coefficients)
    pad = np.pad(out, ((0, gh * m - h), (0, gw * m - w), (0, 0)), mode="edge")
    means = pad.reshape(gh, m, gw, m, 3).mean(axis=(1, 3))
    dc = np.repeat(np.repeat(means, m, 0), m, 1)[:h, :w]
    out = np.where(np.repeat(np.repeat(lost, m, 0), m, 1)[:h, :w, None], dc, out)
    quality = (60, 45, 32, 22, 14)[level - 1]
    u8 = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", u8, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR).astype(np.float32) / 255.0


@lru_cache(maxsize=16)
def _exposure_lut(stops: float) -> np.ndarray:
    v = np.arange(256, dtype=np.float64) / 255.0
    lin = np.clip(v**GAMMA * 2.0**stops, 0.0, 1.0)  # clip: light beyond white is lost, as on a sensor
    return np.round(lin ** (1 / GAMMA) * 255.0).astype(np.uint8)


def _dirty_lens(x, level, rng, prev):
    # Dust and smudges on the lens: out-of-focus (so soft-edged) irregular grime blobs that darken
    # and scatter light (a local blur), fine dust specks, and a faint greasy veil. More blobs and
    # specks, more opaque, per level.
    h, w = x.shape[:2]
    lh, lw = _layer_shape(h, w)
    side = min(lh, lw)
    n_max = 14
    cy = rng.uniform(0.0, 1.0, n_max) * lh
    cx = rng.uniform(0.0, 1.0, n_max) * lw
    sy = rng.uniform(0.07, 0.18, n_max) * side
    sx = sy * rng.uniform(0.6, 1.8, n_max)
    theta = rng.uniform(0, math.pi, n_max)
    strength = rng.uniform(0.75, 1.0, n_max)
    texture = 0.45 + 0.9 * _lowfreq_noise(rng, (lh, lw), 9)  # irregular edges and density
    n_specks = 150
    spy, spx = rng.uniform(0, lh, n_specks), rng.uniform(0, lw, n_specks)
    spw = rng.uniform(0.5, 1.0, n_specks)
    n_blobs = (3, 5, 8, 11, 14)[level - 1]
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    alpha = np.zeros((lh, lw), np.float32)
    for i in range(n_blobs):
        ddy, ddx = yy - cy[i], xx - cx[i]
        c, sn = math.cos(theta[i]), math.sin(theta[i])
        u = (ddx * c + ddy * sn) / sx[i]
        v = (-ddx * sn + ddy * c) / sy[i]
        d2 = u * u + v * v
        alpha = np.maximum(alpha, strength[i] * np.exp(-0.5 * d2 * d2))  # flat core, soft rim
    alpha = np.clip(alpha * texture, 0.0, 1.0)
    k = 16 * level
    specks = _splat((lh, lw), spy[:k], spx[:k], spw[:k])
    sigma = max(0.5, 0.012 * side)
    specks = np.clip(cv2.GaussianBlur(specks, (0, 0), sigma) * (2 * math.pi * sigma * sigma), 0.0, 1.0)
    opacity = (0.50, 0.60, 0.70, 0.80, 0.90)[level - 1]
    a = _to_size(alpha, h, w)
    sp = _to_size(specks, h, w)
    scattered = _gaussian(x, 2.5 * _scale(h, w))
    out = _blend(x, scattered, np.minimum(1.0, 1.5 * a))
    out = _blend(out, (0.55, 0.58, 0.60), 0.03 * level)  # grease veil
    out = _blend(out, (0.10, 0.13, 0.16), opacity * a)  # brownish grime
    return _blend(out, (0.08, 0.09, 0.10), 0.6 * sp)


def _gaussian_blur(x, level, rng, prev):
    # Blurriness 5/10/15/20/25 on the reference sign; After Effects' blurriness is about 3 sigma.
    h, w = x.shape[:2]
    return _gaussian(x, 5.0 * level / 3.0 * _scale(h, w))


def _noise(x, level, rng, prev):
    # Colour noise; the grain is one reference pixel, so a large crop gets proportionally coarser
    # grain and the noise survives downsampling to the model's 28x28 as it would on a small sign.
    h, w = x.shape[:2]
    g = max(1.0, _scale(h, w))
    nh, nw = max(1, round(h / g)), max(1, round(w / g))
    field = rng.standard_normal((nh, nw, 3), dtype=np.float32)
    field = _to_size(field, h, w)
    sigma = (0.06, 0.12, 0.18, 0.24, 0.30)[level - 1]
    return x + sigma * field


def _rain(x, level, rng, prev):
    # A blue gradient over the scene and rain streaks at 25% opacity; more drops per level
    # (After Effects: 10k..100k drops per frame).
    h, w = x.shape[:2]
    lh, lw = _layer_shape(h, w)
    sl = min(lh, lw) / REFERENCE_SIZE
    area = (lh / sl) * (lw / sl) / REFERENCE_SIZE**2  # in reference signs
    n_max = int(round(260 * area))
    ys, xs = rng.uniform(-0.2, 1.0, n_max) * lh, rng.uniform(-0.1, 1.1, n_max) * lw
    bright = rng.uniform(0.5, 1.0, n_max)
    angle = rng.normal(0.0, 10.0)
    far = rng.random(n_max) < 0.6
    n = int(round((30, 70, 120, 180, 260)[level - 1] * area))
    drops = np.zeros((lh, lw), np.float32)
    for is_far, length, thick in ((True, 8.0, 0.7), (False, 16.0, 1.2)):
        sel = np.zeros(n_max, bool)
        sel[:n] = far[:n] == is_far
        imp = _splat((lh, lw), ys[sel], xs[sel], bright[sel])
        k = _line_kernel(length * sl, angle, thick * sl)
        drops += cv2.filter2D(imp, -1, k, borderType=cv2.BORDER_CONSTANT)
    drops = _to_size(np.clip(drops, 0.0, 1.0), h, w)
    tint = (0.12, 0.18, 0.24, 0.30, 0.36)[level - 1]
    ramp = np.linspace(1.0, 0.45, h, dtype=np.float32)[:, None, None]
    top, bottom = np.float32([0.62, 0.42, 0.28]), np.float32([0.70, 0.60, 0.50])  # BGR: blue to blue-grey
    grad = top * ramp + bottom * (1 - ramp)
    out = x + (grad - x) * (tint * ramp)
    return _blend(out, (0.92, 0.90, 0.88), 0.25 * 2.0 * drops)


def _shadow(x, level, rng, prev):
    # Venetian-blind shadow: soft parallel bands at opacity 15..75%.
    h, w = x.shape[:2]
    lh, lw = _layer_shape(h, w)
    side = min(lh, lw)
    period = rng.uniform(0.28, 0.45) * side
    angle = math.radians(rng.uniform(-40, 40))
    duty = rng.uniform(0.4, 0.6)
    phase = rng.uniform(0, 1)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    t = ((yy * math.cos(angle) + xx * math.sin(angle)) / period + phase) % 1.0
    edge = 0.08
    d = np.minimum(t, 1.0 - t) * 2  # 0 at band centre line, 1 halfway between
    mask = _smoothstep((duty - d) / edge + 0.5)
    mask = _to_size(mask.astype(np.float32), h, w)
    opacity = (0.15, 0.30, 0.45, 0.60, 0.75)[level - 1]
    return x * (1.0 - opacity * mask)[:, :, None]


def _snow(x, level, rng, prev):
    # Glow (a bright bloom and a lift towards white) and snowfall of soft flakes of two sizes;
    # After Effects: 10k..140k flakes per frame.
    h, w = x.shape[:2]
    lh, lw = _layer_shape(h, w)
    sl = min(lh, lw) / REFERENCE_SIZE
    area = (lh / sl) * (lw / sl) / REFERENCE_SIZE**2
    n_max = int(round(300 * area))
    ys, xs = rng.uniform(0, lh, n_max), rng.uniform(0, lw, n_max)
    bright = rng.uniform(0.6, 1.0, n_max)
    big = rng.random(n_max) < 0.2
    n = int(round((35, 80, 140, 210, 300)[level - 1] * area))
    flakes = np.zeros((lh, lw), np.float32)
    for is_big, sigma in ((False, 0.6), (True, 1.3)):
        sel = np.zeros(n_max, bool)
        sel[:n] = big[:n] == is_big
        s = sigma * sl
        imp = _splat((lh, lw), ys[sel], xs[sel], bright[sel])
        flakes += cv2.GaussianBlur(imp, (0, 0), s) * (2 * math.pi * s * s)  # peak ~ brightness
    flakes = _to_size(np.clip(flakes, 0.0, 1.0), h, w)
    glow = (0.08, 0.14, 0.20, 0.26, 0.32)[level - 1]
    bloom = _gaussian(x, 6.0 * _scale(h, w))
    out = 1.0 - (1.0 - x) * (1.0 - glow * bloom)  # screen: highlights bleed
    out = _blend(out, (0.93, 0.93, 0.93), glow)
    return _blend(out, (0.98, 0.98, 0.98), 0.9 * flakes)


def _haze(x, level, rng, prev):
    # Radial gradient, smart blur, contrast loss and a #CECECE layer at 10..50% opacity.
    h, w = x.shape[:2]
    s = _scale(h, w)
    out = _gaussian(x, (0.3 + 0.2 * level) * s)
    mean = out.mean(axis=(0, 1), keepdims=True)
    out = mean + (out - mean) * (1.0 - 0.06 * level)
    lh, lw = _layer_shape(h, w)
    cy, cx = rng.uniform(0.2, 0.8) * lh, rng.uniform(0.2, 0.8) * lw
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    r = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2) / math.hypot(lh, lw)
    radial = _to_size((1.0 - np.clip(r / 0.8, 0, 1)).astype(np.float32), h, w)
    opacity = (0.10, 0.20, 0.30, 0.40, 0.50)[level - 1]
    return _blend(out, (0xCE / 255.0,) * 3, opacity * (0.6 + 0.4 * radial))


_EFFECTS: dict[int, Callable] = {
    1: _decolorization,
    2: _lens_blur,
    3: _codec_error,
    5: _dirty_lens,
    7: _gaussian_blur,
    8: _noise,
    9: _rain,
    10: _shadow,
    11: _snow,
    12: _haze,
}
_STOPS = {4: (-1, -3, -5, -7, -9), 6: (1, 3, 5, 7, 9)}  # darkening, exposure (docs/DESIGN.md §3)

CHALLENGES: tuple[str, ...] = tuple(FOLDER_NAMES[c] for c in CHALLENGE_CODES)


def _check_level(level) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or int(level) not in LEVELS:
        raise ValueError(f"challenge level {level!r} is not an integer 1-5")
    return int(level)


def _as_bgr(img: np.ndarray, what: str) -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise ValueError(f"{what} must be a uint8 numpy image, not {getattr(img, 'dtype', type(img).__name__)}")
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim == 3 and img.shape[2] == 3:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return cv2.cvtColor(img[:, :, 0], cv2.COLOR_GRAY2BGR)
    raise ValueError(f"{what} has shape {img.shape}, expected H x W grey or H x W x 3 BGR")


def apply_challenge(
    img: np.ndarray,
    challenge: str | int,
    level: int,
    seed: int | None = 0,
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """One CURE-TSR challenge at level 1..5 on a uint8 BGR or grey image; same shape and dtype.

    Deterministic for an integer seed (None: fresh randomness). `previous` (the frame before, of
    the same sign, any size) is used by CodecError only. Grey images are processed as grey BGR, so
    Decolorization leaves them unchanged.
    """
    code = challenge_code(challenge)
    if code == 0:
        raise ValueError("ChallengeFree is not an effect; choose a challenge type 1-12")
    level = _check_level(level)
    bgr = _as_bgr(img, "image")
    if bgr.shape[0] < 1 or bgr.shape[1] < 1:
        raise ValueError(f"image has shape {img.shape}, which is empty")
    if code in _STOPS:
        out = cv2.LUT(bgr, _exposure_lut(float(_STOPS[code][level - 1])))
    else:
        rng = np.random.default_rng(seed)
        x = bgr.astype(np.float32) * np.float32(1 / 255)
        prev = None
        if previous is not None and code == 3:
            p = _as_bgr(previous, "previous frame")
            if p.shape != bgr.shape:
                p = cv2.resize(p, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_AREA)
            prev = p.astype(np.float32) * np.float32(1 / 255)
        y = _EFFECTS[code](x, level, rng, prev)
        out = np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 2 or img.shape[2] == 1:
        return cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).reshape(img.shape)
    return out


def apply_rendering(
    img: np.ndarray,
    challenge: int | str,
    level: int,
    rng: np.random.Generator,
    rendering: str = "B",
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "A" (apply_challenge),
    "B" (monitor.renderings), "C" (monitor.rendering_c), "D" (monitor.rendering_d), "E"
    (monitor.rendering_e), "F" (monitor.rendering_f), "G" (monitor.rendering_g), "H"
    (monitor.rendering_h), "I" (monitor.rendering_i), "J" (monitor.rendering_j), "K"
    (monitor.rendering_k), "L" (monitor.rendering_l), "M" (monitor.rendering_m), "N"
    (monitor.rendering_n), "O" (monitor.rendering_o), "P" (monitor.rendering_p), "Q"
    (monitor.rendering_q) or "R" (monitor.rendering_r): other physical models of the same conditions.

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state. "A"
    calls apply_challenge with a seed drawn from `rng`; `previous` (the track's frame before) is
    used by A's codec error only. It lives here, not in monitor.renderings, so that B-R stay
    written without A (and the builder below can draw all eighteen without an import cycle).
    """
    code, level = check_rendering_args(img, challenge, level, rng, rendering)
    if rendering == "A":
        return apply_challenge(img, code, level, seed=int(rng.integers(0, 2**63 - 1)), previous=previous)
    return _RENDERERS[rendering](img, code, level, rng)


# Rendering letter -> its module's entry point (A, which takes a seed and the previous frame, above).
_RENDERERS: dict[str, Callable[[np.ndarray, int, int, np.random.Generator], np.ndarray]] = {
    "B": apply_b, "C": apply_c, "D": apply_d, "E": apply_e, "F": apply_f, "G": apply_g, "H": apply_h,
    "I": apply_i, "J": apply_j, "K": apply_k, "L": apply_l, "M": apply_m, "N": apply_n,
    "O": apply_o, "P": apply_p, "Q": apply_q, "R": apply_r,
}  # fmt: skip
assert set(_RENDERERS) | {"A"} == set(RENDERINGS), "every rendering in RENDERINGS needs its entry here"


# ---------------------------------------------------------------------------------------------
# Challenge-set builder


def sign_type_for_class(class_name: str) -> int:
    """Stable CURE-TSR sign type 1..14 for a class folder of another data set.

    BelgiumTSC classes do not map onto CURE-TSR's 14 sign types, so the code is only a stable
    label: a numeric class folder maps to int(name) mod 14 + 1 ('00017' -> 4), any other name to
    CRC-32 of its UTF-8 bytes mod 14 + 1. The real class is kept in the manifest.
    """
    if class_name.isascii() and class_name.isdigit():
        return int(class_name) % len(SIGN_TYPES) + 1
    return zlib.crc32(class_name.encode("utf-8")) % len(SIGN_TYPES) + 1


def variant_seed(seed: int, source_key: str, challenge: str | int) -> int:
    """Per-image seed from (set seed, source file key, challenge): order-independent and reproducible.

    The level is deliberately not part of it: the five levels of one frame share their random
    layout (see the module docstring), so severity is nested and strictly grows per image.
    """
    text = f"{int(seed)}|{source_key}|{challenge_code(challenge)}"
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _source_list(clean) -> list[tuple[Path, str, str]]:
    """(path, class, track) of the clean images; a folder is read with `training_images`."""
    if isinstance(clean, (str, Path)) and Path(clean).is_dir():
        pairs = training_images(clean)
    elif isinstance(clean, (str, Path)):
        pairs = [(p, group_of(p)) for p in list_images(clean)]
    else:  # paths, or (path, group id) pairs as `training_images` gives them
        pairs = [(Path(c[0]), str(c[1])) if isinstance(c, tuple) else (Path(c), group_of(c)) for c in clean]
    out = []
    for p, group in pairs:
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no such image file")
        track = group.rsplit("/", 1)[-1] if is_track_name(p) else group.replace("/", "~")
        out.append((p, p.parent.name, track))
    return out


def _sign_type_of(path: Path, class_name: str) -> int:
    try:
        return parse_name(path.name).sign_type  # a CURE-TSR crop keeps its own sign type
    except ValueError:
        return sign_type_for_class(class_name)


def _plan(sources: list[tuple[Path, str, str]], sequence_type: int) -> list[list[tuple[Path, str, str, int, int]]]:
    """Tracks (sorted) of (path, class, track, sign type, index) frames, indices consecutive within a
    track and one index left free between tracks of a sign type (so index runs also recover tracks)."""
    tracks: dict[tuple[str, str], list[Path]] = {}
    for p, cls, trk in sources:
        tracks.setdefault((cls, trk), []).append(p)
    next_index: dict[int, int] = {}
    plan = []
    for cls, trk in sorted(tracks):
        frames = sorted(set(tracks[(cls, trk)]), key=lambda p: p.name)
        sign = _sign_type_of(frames[0], cls)
        start = next_index.get(sign, 1)
        if start + len(frames) - 1 > 9999:
            raise ValueError(f"more than 9999 frames of sign type {sign:02d}: CURE-TSR indices have four digits")
        plan.append([(p, cls, trk, sign, start + i) for i, p in enumerate(frames)])
        next_index[sign] = start + len(frames) + 1
    format_name(sequence_type, 1, 0, 0, 1)  # validates sequence_type early, with the usual message
    return plan


def _render_track(job: tuple) -> list[dict]:
    """Worker: write the ChallengeFree copy and every variant of one track's frames; manifest rows.
    Each frame is written as the consumer decodes it after the wire encoding (challenges act on the
    camera's image, the codec after them), so readers of the set need not encode it again."""
    frames, out_dir, split, sequence_type, variants, seed, wire, rendering = job
    out_dir = Path(out_dir)
    rows = []
    previous = None
    for path, cls, trk, sign, index in frames:
        img = load_image(path)
        key = f"{cls}/{path.name}"
        rel = f"{split}/{challenge_folder(0)}/{format_name(sequence_type, sign, 0, 0, index)}"
        _write_bmp(out_dir / rel, wire.roundtrip([img], full_size=True)[0])
        row = {"source": str(path), "class": cls, "track": trk, MANIFEST_WIRE: wire.describe()}
        # A clean frame has no rendering: its column stays empty.
        rows.append({"file": rel, **row, "challenge": FOLDER_NAMES[0], "level": 0, "rendering": ""})
        for code, level in variants:
            vseed = variant_seed(seed, key, code)
            if rendering == "A":  # the seed itself, as before renderings existed: A sets stay reproducible
                out = apply_challenge(img, code, level, seed=vseed, previous=previous if code == 3 else None)
            else:
                out = apply_rendering(img, code, level, np.random.default_rng(vseed), rendering)
            rel = f"{split}/{challenge_folder(code, level)}/{format_name(sequence_type, sign, code, level, index)}"
            _write_bmp(out_dir / rel, wire.roundtrip([out], full_size=True)[0])
            rows.append({"file": rel, **row, "challenge": FOLDER_NAMES[code], "level": level, "rendering": rendering})
        previous = img  # codec error displaces blocks from the track's previous (clean) frame
    return rows


def _write_bmp(path: Path, img: np.ndarray) -> None:
    ok, buf = cv2.imencode(".bmp", img)
    if not ok:
        raise OSError(f"{path}: BMP encoding failed")
    buf.tofile(str(path))


def _mp_context():
    # Not fork: a forked worker inherits OpenCV's (and torch's) thread-pool locks as they were at
    # the fork, and deadlocked in testing after the parent had run threaded OpenCV code. forkserver
    # forks workers from a clean server that has imported this module once.
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _init_worker() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe


def build_challenge_set(
    clean: str | Path | Sequence[str | Path] | Sequence[tuple[str | Path, str]],
    out_dir: str | Path,
    challenges: Iterable[str | int] | None = None,
    levels: Iterable[int] = LEVELS,
    seed: int = 0,
    sequence_type: int = 1,
    split: str = "Real_Test",
    progress: bool | None = None,
    workers: int | None = None,
    wire: WireEncoding = NO_ENCODING,
    renderings: Sequence[str] = FIT_RENDERINGS,
) -> dict:
    """Write a CURE-TSR-style challenge set from clean images; returns counts per folder.

    Layout: out_dir/<split>/ChallengeFree/01_<sign>_00_00_<idx>.bmp and
    out_dir/<split>/<Challenge>-<level>/01_<sign>_<ct>_<lvl>_<idx>.bmp, plus out_dir/manifest.csv
    (file, source, class, track, challenge, level, rendering). `clean` is a folder (read like
    `training_images`: a CURE-TSR layout gives its ChallengeFree frames), a list of image paths
    (tracks from '<track>_<frame>' names, else one per parent folder) or of (path, group id) pairs
    as `training_images` returns them (the group is the track).
    Frames of one track get consecutive indices and codec error displaces blocks from the track's
    previous frame. Existing files of the same names are overwritten. `workers` defaults to
    min(2, CPU count) processes. `wire`: every written frame is first passed through this encoding
    (monitor.codec; the manifest's wire column records it; default lossless). `renderings` (A-R, see
    apply_rendering; default FIT_RENDERINGS, which leaves the holdouts out) take the tracks in turn
    (rendering_of_track): a fit on some renderings' tracks never sees a track tested in another.
    """
    t0 = time.perf_counter()
    codes, lvls = _check_request(challenges, levels, split)
    renderings = check_renderings(renderings)
    sources = _source_list(clean)
    if not sources:
        raise ValueError(f"{clean}: no images to build a challenge set from")
    plan = _plan(sources, sequence_type)
    out_dir = Path(out_dir)
    variants = [(c, v) for c in codes for v in lvls]
    folders = [challenge_folder(0)] + [challenge_folder(c, v) for c, v in variants]
    for name in folders:
        (out_dir / split / name).mkdir(parents=True, exist_ok=True)
    jobs = [
        (frames, str(out_dir), split, sequence_type, variants, seed, wire, rendering_of_track(i, renderings))
        for i, frames in enumerate(plan)
    ]
    n_workers = min(2, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    rows = _render_all(jobs, n_workers, len(sources) if progress else None)
    _write_manifest(out_dir / MANIFEST_NAME, rows)
    counts: dict[str, int] = {f"{split}/{name}": 0 for name in folders}
    for r in rows:
        counts[r["file"].rsplit("/", 1)[0]] += 1
    return {
        "out_dir": str(out_dir),
        "split": split,
        "sources": len(sources),
        "tracks": len(plan),
        "images_written": len(rows),
        "folders": counts,
        "renderings": {r: sum(job[-1] == r for job in jobs) for r in renderings},
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _check_request(
    challenges: Iterable[str | int] | None, levels: Iterable[int], split: str
) -> tuple[list[int], list[int]]:
    """The challenge codes and levels asked for, sorted; ValueError for what cannot be built."""
    codes = sorted({challenge_code(c) for c in (challenges if challenges is not None else CHALLENGES)})
    if 0 in codes:
        raise ValueError("ChallengeFree is always written; list only challenge types 1-12")
    lvls = sorted({int(v) for v in levels})
    for v in lvls:
        if v not in LEVELS:
            raise ValueError(f"challenge level {v} is not 1-5")
    if not split or "/" in split or "\\" in split:
        raise ValueError(f"split {split!r} must be one folder name, e.g. Real_Test")
    return codes, lvls


def _render_all(jobs: list[tuple], n_workers: int, show_progress_of: int | None) -> list[dict]:
    """Render every track (worker processes when there are several), in job order; manifest rows.
    show_progress_of: the number of source images, for a progress bar (None: no bar)."""
    rows: list[dict] = []
    bar = None
    if show_progress_of is not None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(
            TextColumn("challenge set"), BarColumn(), MofNCompleteColumn(), TextColumn("images"), TimeRemainingColumn()
        )
        bar.start()
        task = bar.add_task("build", total=show_progress_of)
    try:
        done = 0
        if n_workers > 1 and len(jobs) > 1:
            try:
                with ProcessPoolExecutor(n_workers, mp_context=_mp_context(), initializer=_init_worker) as pool:
                    for track_rows in pool.map(_render_track, jobs, chunksize=4):
                        rows += track_rows
                        done += 1
                        if bar is not None:
                            bar.advance(task, len(jobs[done - 1][0]))
            except BrokenProcessPool:
                # Workers re-import the caller's __main__; without an `if __name__ == "__main__":`
                # guard (or from stdin) they die at start. Finish here rather than fail.
                warnings.warn(
                    "challenge-set worker processes could not start (does the calling script lack an "
                    '`if __name__ == "__main__":` guard?); continuing in this process',
                    stacklevel=3,
                )
        for job in jobs[done:]:
            rows += _render_track(job)
            if bar is not None:
                bar.advance(task, len(job[0]))
    finally:
        if bar is not None:
            bar.stop()
    return rows


def _write_manifest(path: Path, rows: list[dict]) -> None:
    """manifest.csv: one row per written file, sorted by file."""
    rows.sort(key=lambda r: r["file"])
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*MANIFEST_FIELDS, MANIFEST_WIRE])
        writer.writeheader()
        writer.writerows(rows)
