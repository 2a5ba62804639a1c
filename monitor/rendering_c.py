"""Rendering "C" of the 12 CURE-TSR challenges (issue 11): a third family, written blind to the detector.

A (monitor.challenges) and B (monitor.renderings) have been used to tune the product, so a fit on
them tested on C is the honest figure for conditions nobody here drew for the detector. C is
written without A's or B's helpers (only monitor.renderings.apply_effects, the argument check and
uint8 wrapper, is shared) and each effect is made by another physical process or another way a
real camera produces the condition:

| condition | A | B | C |
| --- | --- | --- | --- |
| decolorization | linear blend towards BT.601 grey | channel-mixer monochrome print in Lab, toned | UV-faded print: reds fade most, pigment loss lightens, varnish yellows, uneven fading |
| lens_blur | hexagonal iris, gamma values | round iris with bright rim and cat's eye, linear | tilted focal plane (blur radius varies across the sign), per-channel focus (axial chromatic aberration) |
| codec_error | blocks displaced from the previous frame, DC-only blocks, JPEG | own 8x8 DCT quantisation, 4:2:0, lost slices concealed | bit errors: desynchronised rest of an MCU row (shift, DC drift) to the restart marker; 4:1:1 chroma bleeding, flat low-bitrate blocks, deblocking |
| darkening | global LUT -1..-9 stops, gamma 2.2 | under-exposure, vignette, warm cast, flare, read noise (sRGB) | under-exposure with photon shot noise and a black-level pedestal that crushes shadows (BT.709 camera curve) |
| dirty_lens | soft opaque dark blobs, specks, grease veil | greasy smudges (local glare), sharp grit spots | dust shadows (soft discs with a darker rim, multiplicative) and a grime film that scatters the scene's light |
| exposure | global LUT +1..+9 stops | per-channel clipping, blooming, glare ramp | over-exposure through a video camera's knee (highlight compression, highlight desaturation) and CCD vertical smear |
| gaussian_blur | isotropic Gaussian | elongated Gaussian plus resolution loss | atmospheric turbulence: several randomly warped copies averaged, then a heavy-tailed (Moffat) PSF |
| noise | additive colour grain | Poisson + read noise on a Bayer mosaic, JPEG | luminance shot noise (the camera's noise reduction removed chroma noise), row banding, column fixed pattern, hot pixels |
| rain | streaks and a blue gradient | drops on the lens (refracting lenses) | wet windshield: a running water film that refracts (height-field gradient), specular glints, a wiper's arc smear |
| shadow | venetian-blind bands, neutral | straight edge / pole / dappled mask, blue ambient | projected tree branches or a gantry truss, disc penumbra, ambient of the sky, overcast or foliage colour |
| snow | glow and Gaussian dots | whitening veil, near discs, far streaks | snow stuck on the sign face: a cap along the upper edge and clumps, granular and shaded |
| haze | blur, contrast loss, flat #CECECE layer | Koschmieder scattering with a depth map | multiple scattering: the scene's own light spread by a multi-scale point spread function plus veiling glare, tinted |

Conventions of C:
- Strength: a nominal value per level, geometric from the level-1 to the level-5 value, times a
  log-normal jitter (`_strength`): neighbouring levels overlap as real scenes do, and a higher
  level is stronger on average. Size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in scene-linear values through the BT.709 camera curve (what video cameras encode
  with); A uses a 2.2 gamma, B the sRGB curve.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  eye and by neutral measures (mean absolute difference, structure loss) against A and B
  (scripts/rendering_strength.py), never by the project's detector or its image statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 80  # px: procedural layers are drawn with the crop's shorter side at this size
_LUMA = np.float32([0.0722, 0.7152, 0.2126])  # BT.709 luminance weights, BGR order

# ---------------------------------------------------------------------------------------------
# Helpers of C


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float, spread: float = 0.2) -> float:
    """Level 1 -> lo, level 5 -> hi geometrically, times exp(N(0, spread)); kept in [0.75 lo, 1.25 hi]."""
    nominal = lo * (hi / lo) ** ((level - 1) / 4.0)
    return float(np.clip(nominal * math.exp(rng.normal(0.0, spread)), 0.75 * lo, 1.25 * hi))


def _linear(x: np.ndarray) -> np.ndarray:
    """BT.709 video signal in [0, 1] -> scene-linear light (the inverse of the camera's OETF)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x < 0.081, x / 4.5, ((x + 0.099) / 1.099) ** (1 / 0.45)).astype(np.float32)


def _signal(lin: np.ndarray) -> np.ndarray:
    """Scene-linear light -> BT.709 video signal (clipped: light beyond full scale is lost)."""
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin < 0.018, 4.5 * lin, 1.099 * lin**0.45 - 0.099).astype(np.float32)


def _layer_dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _to_crop(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    return cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)


def _noise_field(rng: np.random.Generator, shape: tuple[int, int], sy: float, sx: float) -> np.ndarray:
    """Gaussian-filtered white noise with standard deviations (sy, sx) px, scaled to zero mean, unit std."""
    f = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(sx, 0.3), sigmaY=max(sy, 0.3))
    return (f - f.mean()) / (f.std() + 1e-6)


def _ramp(shape: tuple[int, int], angle: float) -> np.ndarray:
    """-1 .. 1 across the image along `angle` (radians)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = (xx / max(w - 1, 1) - 0.5) * math.cos(angle) + (yy / max(h - 1, 1) - 0.5) * math.sin(angle)
    return r / (0.5 * (abs(math.cos(angle)) + abs(math.sin(angle))) + 1e-6)


def _pillbox(radius: float) -> np.ndarray:
    """Flat disc PSF of a defocused lens, anti-aliased by 4x4 supersampling, sum 1."""
    half = int(math.ceil(radius)) + 1
    c = (np.arange((2 * half + 1) * 4, dtype=np.float32) + 0.5) / 4 - (half + 0.5)
    k = (c[:, None] ** 2 + c[None, :] ** 2 <= max(radius, 0.5) ** 2).astype(np.float32)
    k = k.reshape(2 * half + 1, 4, 2 * half + 1, 4).mean(axis=(1, 3))
    return k / k.sum()


def _moffat(radius: float, beta: float) -> np.ndarray:
    """Moffat PSF (1 + r^2/a^2)^-beta with a FWHM of radius / 1.5 px, cut at `radius`, sum 1."""
    half = max(1, int(math.ceil(radius)))
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    fwhm = max(radius / 1.5, 0.6)
    a = fwhm / (2.0 * math.sqrt(2 ** (1 / beta) - 1))
    k = (1.0 + (xx * xx + yy * yy) / (a * a)) ** -beta
    return (k / k.sum()).astype(np.float32)


def _filtered(x: np.ndarray, radius: float, kernel: Callable[[float], np.ndarray], most: float = 6.0) -> np.ndarray:
    """x filtered by kernel(radius px); a kernel wider than `most` px runs on a shrunken copy."""
    h, w = x.shape[:2]
    f = radius / most
    if f > 1.0 and min(h, w) / f >= 6:
        small = cv2.resize(x, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
        small = cv2.filter2D(small, -1, kernel(radius * small.shape[1] / w), borderType=cv2.BORDER_REFLECT)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.filter2D(x, -1, kernel(radius), borderType=cv2.BORDER_REFLECT)


def _wide_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of any width (wide ones on a shrunken copy: the result is smooth)."""
    h, w = x.shape[:2]
    f = sigma / 4.0
    if f > 1.0 and min(h, w) / f >= 3:
        small = cv2.resize(x, (max(1, round(w / f)), max(1, round(h / f))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma * small.shape[1] / w, borderType=cv2.BORDER_REFLECT)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(x, (0, 0), max(sigma, 0.3), borderType=cv2.BORDER_REFLECT)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering C: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A print faded by UV light: organic red, magenta and yellow pigments bleach first and blue
    # ones last, so the chroma loss depends on the hue; bleached pigment lets the white base show
    # (the face lightens), the varnish yellows (blue is absorbed) and the side facing the sun fades
    # more. A: a blend towards grey; B: a monochrome channel mixer in Lab.
    s = min(1.0, _strength(rng, level, 0.3, 0.95))
    hue = cv2.cvtColor(x, cv2.COLOR_BGR2HSV)[:, :, 0]  # degrees
    redness = 0.5 + 0.5 * np.cos(np.radians(hue - rng.uniform(-25.0, 25.0)))  # 1 at red, 0 at cyan
    sun = 1.0 + rng.uniform(0.1, 0.35) * _ramp(x.shape[:2], rng.uniform(0, 2 * math.pi))
    fade = np.clip(s * sun * (0.5 + 0.5 * redness), 0.0, 1.0)[:, :, None]
    luma = (x @ _LUMA)[:, :, None]
    out = luma + (x - luma) * (1.0 - fade)
    out = out + rng.uniform(0.15, 0.35) * fade * (1.0 - out)  # pigment loss: the base shows through
    yellow = s * rng.uniform(0.05, 0.14)
    return out * np.float32([1.0 - yellow, 1.0 - 0.3 * yellow, 1.0])


def _lens_blur(x, level, rng):
    # Defocus of a sign on a tilted plane relative to the focal plane: the blur radius grows
    # across the crop along a random direction, and each colour focuses at another distance
    # (axial chromatic aberration), in linear light. A: one hexagonal radius; B: one round rimmed
    # iris radius.
    side = _side(x)
    mid = _strength(rng, level, 0.035, 0.14) * side
    rmap = np.maximum(0.8, mid * (1.0 + rng.uniform(0.25, 0.7) * _ramp(x.shape[:2], rng.uniform(0, 2 * math.pi))))
    ca = rng.uniform(0.1, 0.3) * (1 if rng.random() < 0.5 else -1)
    per_channel = (1.0 + ca, 1.0, 1.0 - 0.6 * ca)  # B, G, R: blue and red focus on either side of green
    lo = float(rmap.min()) * min(per_channel)
    hi = float(rmap.max()) * max(per_channel)
    radii = np.geomspace(lo, max(hi, lo * 1.01), 6)
    lin = _linear(x)
    stack = np.stack([_filtered(lin, r, _pillbox) for r in radii])  # (6, H, W, 3)
    out = np.empty_like(lin)
    for c, k in enumerate(per_channel):
        t = np.interp(np.log(rmap * k), np.log(radii), np.arange(len(radii), dtype=np.float64))
        i0 = np.clip(np.floor(t).astype(np.intp), 0, len(radii) - 2)
        frac = (t - i0).astype(np.float32)
        a = np.take_along_axis(stack[:, :, :, c], i0[None], axis=0)[0]
        b = np.take_along_axis(stack[:, :, :, c], (i0 + 1)[None], axis=0)[0]
        out[:, :, c] = a + frac * (b - a)
    return _signal(out)


def _flat_blocks(plane: np.ndarray, m: int, loss: float) -> np.ndarray:
    """Low bitrate: each m x m block keeps its mean and 1 - `loss` of a residual smoothed by `loss`."""
    h, w = plane.shape
    gh, gw = -(-h // m), -(-w // m)
    p = np.pad(plane, ((0, gh * m - h), (0, gw * m - w)), mode="edge")
    means = p.reshape(gh, m, gw, m).mean(axis=(1, 3))
    mean_map = np.repeat(np.repeat(means, m, 0), m, 1)[:h, :w]
    smooth = cv2.GaussianBlur(plane, (0, 0), max(loss * m / 3.0, 0.3))
    out = mean_map + (1.0 - loss) * (smooth - mean_map)
    edge = np.zeros((h, w), bool)  # the decoder's deblocking filter softens the block seams
    b = max(1, m // 4)
    for off in range(-b, b):
        edge[np.arange(h) % m == off % m, :] = True
        edge[:, np.arange(w) % m == off % m] = True
    return np.where(edge, cv2.GaussianBlur(out, (0, 0), max(m / 5.0, 0.5)), out).astype(np.float32)


def _bit_errors(ycc: np.ndarray, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """A flipped bit desynchronises the entropy decoder: from that MCU to the next restart marker
    (the end of its row, sometimes the next one too) the content slides sideways and the DC
    predictor drifts (a constant colour offset)."""
    h, w = ycc.shape[:2]
    for _ in range(n):
        y0, x0 = int(rng.integers(0, -(-h // m))) * m, int(rng.integers(0, -(-w // m))) * m
        rows = m * int(rng.integers(1, 3))
        shift = int(rng.integers(1, max(2, m // 2) + 1)) * (1 if rng.random() < 0.5 else -1)
        drift = np.float32([rng.normal(0, 0.12), rng.normal(0, 0.1), rng.normal(0, 0.1)])
        seg = ycc[y0 : y0 + rows].copy()
        moved = np.roll(seg, shift, axis=1) + drift
        seg[:m, x0:] = moved[:m, x0:]
        seg[m:] = moved[m:]
        ycc[y0 : y0 + rows] = seg
    return ycc


def _codec_error(x, level, rng):
    # A corrupted low-bitrate stream (an MJPEG/DV-like camera link): bit errors desynchronise
    # the rest of an MCU row; 4:1:1 chroma bleeds colour sideways; low bitrate leaves flat
    # blocks, which the decoder's deblocking softens. A: blocks displaced in time, DC-only blocks,
    # JPEG; B: its own DCT quantisation, 4:2:0 and lost slices concealed.
    h, w = x.shape[:2]
    m = max(2, round(_side(x) / rng.uniform(6.0, 11.0)))  # one MCU (8 coded px) in crop px
    ycc = cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)
    loss = min(0.95, _strength(rng, level, 0.12, 0.75))
    ycc[:, :, 0] = _flat_blocks(ycc[:, :, 0], m, loss)
    cw = max(1, round(w / max(1.0, m / 2.0)))  # 4:1:1: chroma at a quarter of the coded width
    for c in (1, 2):
        small = cv2.resize(ycc[:, :, c], (cw, h), interpolation=cv2.INTER_AREA)
        ycc[:, :, c] = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    n = int(round(_strength(rng, level, 1.0, 6.0, spread=0.3)))
    ycc = _bit_errors(ycc, m, n, rng)
    return cv2.cvtColor(np.clip(ycc, 0.0, 1.0), cv2.COLOR_YCrCb2BGR)


def _darkening(x, level, rng):
    # Too little light on the sensor: fewer photons (shot noise grows as the light falls) and the
    # camera's black-level pedestal, subtracted and clipped, crushes the shadows to black; no
    # gain (the image stays dark). A: a LUT on a 2.2 gamma; B: vignette, warm cast, flare.
    stops = _strength(rng, level, 1.0, 6.0)
    photons = rng.uniform(600.0, 3000.0)  # full-scale photons per pixel at the clean exposure
    lin = _linear(x) * np.float32(2.0**-stops)
    lin = (rng.poisson(lin * photons) / photons).astype(np.float32)
    black = rng.uniform(0.001, 0.003) * (1.0 + stops / 3.0)
    return _signal(np.maximum(lin - black, 0.0) / (1.0 - black))


def _dust_shadows(shape: tuple[int, int], t: float, rng: np.random.Generator) -> np.ndarray:
    """Transmission (H, W) of dust near the sensor: soft discs whose rim is darker than the centre."""
    lh, lw = shape
    trans = np.ones(shape, np.float32)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    for _ in range(round((8 + 50 * t) * rng.uniform(0.7, 1.3) * lh * lw / LAYER**2)):
        r = rng.uniform(0.025, 0.07) * LAYER
        cy, cx = rng.uniform(0, lh), rng.uniform(0, lw)
        y0, y1, x0, x1 = (
            max(0, int(cy - r) - 2),
            min(lh, int(cy + r) + 3),
            max(0, int(cx - r) - 2),
            min(lw, int(cx + r) + 3),
        )
        if y0 >= y1 or x0 >= x1:
            continue
        rho = np.hypot(yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx) / r
        body = np.clip((1.0 - rho) * r / 1.5, 0.0, 1.0) * (0.6 + 0.4 * rho**3)  # darker rim
        trans[y0:y1, x0:x1] *= 1.0 - rng.uniform(0.25, 0.35 + 0.45 * t) * body
    return trans


def _dirty_lens(x, level, rng):
    # Dust on a glass near the sensor casts soft shadows (discs with a darker rim) that multiply
    # the light, so they show most on a bright background; a grime film on the front glass
    # scatters part of the scene's own light over the image (contrast loss) and has a few thick,
    # dark patches. A: opaque dark blobs blended in; B: greasy smudges with glare, sharp grit.
    t = _strength(rng, level, 0.15, 0.85)
    lh, lw = _layer_dims(x)
    trans = _dust_shadows((lh, lw), t, rng)
    film = np.clip(0.5 + 0.35 * _noise_field(rng, (lh, lw), 0.15 * LAYER, 0.2 * LAYER), 0.0, 1.0)
    patches = np.clip(_noise_field(rng, (lh, lw), 0.05 * LAYER, 0.05 * LAYER) - rng.uniform(1.6, 2.2), 0.0, 1.0)
    trans *= 1.0 - np.clip(patches * (0.8 + t), 0.0, 0.85)
    veil = _to_crop(np.clip(t * 0.7 * film, 0.0, 0.85), x)[:, :, None]
    lin = _linear(x)
    scattered = _wide_blur(lin, rng.uniform(0.15, 0.3) * _side(x))
    lin = lin * (1.0 - veil) + veil * scattered * np.float32(rng.uniform(0.9, 1.1, 3))
    return _signal(lin * _to_crop(trans, x)[:, :, None])


def _exposure(x, level, rng):
    # Over-exposure through a video camera: above its knee point the signal is compressed and the
    # highlights lose their colour (the camera protects the hue of clipped channels), and a
    # CCD's vertical smear adds a streak along the columns that hold light beyond full well.
    # A: a global LUT; B: per-channel clipping, blooming, a glare ramp.
    stops = _strength(rng, level, 0.8, 4.5)
    lin = _linear(x) * np.float32(2.0**stops)
    lum = lin @ _LUMA
    over = np.maximum(lum - 1.0, 0.0)
    smear = rng.uniform(0.05, 0.25) * over.mean(axis=0)  # charge picked up while shifting out the column
    knee, slope = rng.uniform(0.7, 0.9), rng.uniform(0.1, 0.3)
    squeezed = np.where(lum > knee, knee + (lum - knee) * slope, lum)
    lin = lin * (squeezed / np.maximum(lum, 1e-6))[:, :, None]
    white = np.clip((lum - knee) / (2.0 * (1.0 - knee) + 1e-6), 0.0, 1.0)[:, :, None]
    lin = lin + white * (squeezed[:, :, None] - lin)
    return _signal(lin + smear[None, :, None])


def _gaussian_blur(x, level, rng):
    # Seen through a turbulent atmosphere over a long exposure: the image is shifted by a smooth
    # random tilt field many times during the exposure (the average of several warped copies)
    # and the short-exposure PSF has heavy (Moffat) tails. A: one isotropic Gaussian; B: an
    # elongated Gaussian plus a resolution loss.
    h, w = x.shape[:2]
    side = _side(x)
    radius = max(1.0, _strength(rng, level, 0.03, 0.14) * side)
    amp = radius * rng.uniform(0.35, 0.7)  # px: tilt of the wavefront
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    acc = np.zeros_like(x)
    lh, lw = _layer_dims(x)
    for _ in range(4):  # tilt fields drawn at layer size: smooth at that scale
        dx = _to_crop(_noise_field(rng, (lh, lw), 0.2 * LAYER, 0.2 * LAYER), x) * amp
        dy = _to_crop(_noise_field(rng, (lh, lw), 0.2 * LAYER, 0.2 * LAYER), x) * amp
        acc += cv2.remap(x, xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    beta = rng.uniform(1.8, 4.0)
    return _filtered(acc / 4.0, radius, lambda r: _moffat(r, beta))


def _noise(x, level, rng):
    # A small sensor in low light after the camera's processing: photon shot noise in linear
    # light on the luminance only (chroma noise removed by the camera's noise reduction), row
    # banding and column fixed-pattern noise from the readout, and hot pixels. The sensor pixel
    # is 1/48..1/80 of the sign, so the grain survives a resize to the detector's 64 px.
    # A: additive colour grain; B: Bayer-mosaic shot and read noise before JPEG.
    h, w = x.shape[:2]
    p = max(1.0, _side(x) / rng.uniform(48.0, 80.0))
    sh, sw = max(1, round(h / p)), max(1, round(w / p))
    lin = _linear(x)
    lum = cv2.resize(lin, (sw, sh), interpolation=cv2.INTER_AREA).reshape(sh, sw, 3) @ _LUMA
    r = _strength(rng, level, 0.08, 0.4)  # shot noise relative to full scale: 1 / sqrt(full-well photons)
    # Shot noise at tens of photons and more: Gaussian with the Poisson variance, lum / photons.
    d = (rng.standard_normal((sh, sw)) * np.sqrt(np.maximum(lum, 0.0)) * r).astype(np.float32)
    d += rng.normal(0.0, 0.06 * r, (sh, 1)).astype(np.float32)  # row banding
    d += rng.normal(0.0, 0.04 * r, (1, sw)).astype(np.float32)  # column fixed pattern
    hot = rng.random((sh, sw)) < 0.02 * r
    d = np.where(hot, rng.uniform(0.3, 1.0, (sh, sw)).astype(np.float32), d)
    d = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR) if (sh, sw) != (h, w) else d
    return _signal(lin + d.reshape(h, w)[:, :, None])


def _water_film(shape: tuple[int, int], t: float, rng: np.random.Generator) -> np.ndarray:
    """Height (layer px) of water running down a windshield: a streaky film and a few rivulets."""
    lh, lw = shape
    height = 0.5 * _noise_field(rng, shape, 0.12 * LAYER, 0.03 * LAYER)
    riv = np.zeros(shape, np.float32)
    for _ in range(2 + round(6 * t)):
        xs = rng.uniform(0, lw) + np.cumsum(rng.normal(0, 0.02 * LAYER, 12))
        ys = np.linspace(rng.uniform(-0.2, 0.4) * lh, lh * 1.1, 12)
        pts = np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)
        width = max(1, round(rng.uniform(0.02, 0.05) * LAYER))
        cv2.polylines(riv, [pts], False, float(rng.uniform(0.6, 1.0)), width, cv2.LINE_AA, shift=4)
    return height + 2.0 * cv2.GaussianBlur(riv, (0, 0), 0.02 * LAYER)


def _wiper_smear(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The arc a wiper leaves: a band around a pivot below the image, smeared along the arc."""
    h, w = img.shape[:2]
    pivot = (rng.uniform(0.0, w), h * rng.uniform(1.3, 2.2))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dist = np.hypot(xx - pivot[0], yy - pivot[1])
    r0 = rng.uniform(float(dist.min()), float(dist.max()))
    band = max(1.0, rng.uniform(0.15, 0.35) * _side(img))
    mask = np.clip(1.0 - np.abs(dist - r0) / band, 0.0, 1.0) ** 0.5
    sweep = rng.uniform(3.0, 9.0)  # degrees
    acc = np.zeros_like(img)
    for a in np.linspace(-sweep, sweep, 7):
        rot = cv2.getRotationMatrix2D(pivot, float(a), 1.0)
        acc += cv2.warpAffine(img, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return img + mask[:, :, None] * (acc / 7.0 - img)


def _rain(x, level, rng):
    # A wet windshield in front of the camera: a continuous film of running water refracts the
    # scene by the gradient of its thickness, glints where its surface tilts towards the light,
    # and a wiper leaves a smeared arc. A: streaks in the air and a blue gradient; B: separate
    # drops on the lens, each an inverted lens.
    t = _strength(rng, level, 0.15, 0.9)
    lh, lw = _layer_dims(x)
    height = _water_film((lh, lw), t, rng)
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    h, w = x.shape[:2]
    k = t * rng.uniform(0.02, 0.04) * _side(x) / (float(np.hypot(gx, gy).std()) + 1e-6)  # crop px per unit slope
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = cv2.remap(
        x, xx + k * _to_crop(gx, x), yy + k * _to_crop(gy, x), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    light = rng.uniform(0, 2 * math.pi)
    tilt = gx * math.cos(light) + gy * math.sin(light)
    glint = _to_crop(np.clip(tilt / (np.abs(tilt).max() + 1e-6), 0.0, 1.0) ** 2 * (0.5 + 0.5 * t), x)
    out = out + glint[:, :, None] * (1.0 - out)
    if rng.random() < 0.4 + 0.5 * t:
        out = _wiper_smear(out, rng)
    return out * np.float32(1.0 - 0.12 * t)  # a wet film absorbs and reflects some light away


def _branches(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Silhouette of a tree's branches entering from an edge, forking, with leaf clumps at the tips."""
    mask = np.zeros(shape, np.float32)
    lh, lw = shape
    edge = rng.integers(4)
    start = [
        (rng.uniform(0, lw), -2.0),
        (lw + 2.0, rng.uniform(0, lh)),
        (rng.uniform(0, lw), lh + 2.0),
        (-2.0, rng.uniform(0, lh)),
    ][edge]
    heading = (math.pi / 2, math.pi, -math.pi / 2, 0.0)[edge] + rng.normal(0, 0.3)
    stack = [(np.array(start), heading, 0.14 * LAYER, 0)]
    while stack:
        p, a, width, depth = stack.pop()
        q = p + rng.uniform(0.2, 0.4) * LAYER * np.array([math.cos(a), math.sin(a)])
        cv2.line(
            mask,
            tuple(np.round(p * 16).astype(int)),
            tuple(np.round(q * 16).astype(int)),
            1.0,
            max(1, round(width)),
            cv2.LINE_AA,
            shift=4,
        )
        if depth < 4:
            for da in (-1, 1):
                stack.append((q, a + da * rng.uniform(0.3, 0.8), width * 0.65, depth + 1))
        else:
            for _ in range(int(rng.integers(4, 9))):  # leaf clumps
                c = q + rng.normal(0, 0.08 * LAYER, 2)
                cv2.circle(
                    mask,
                    tuple(np.round(c * 16).astype(int)),
                    int(rng.uniform(0.07, 0.15) * LAYER * 16),
                    1.0,
                    -1,
                    cv2.LINE_AA,
                    shift=4,
                )
    return mask


def _truss(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Silhouette of a sign gantry's truss: two chords with diagonal braces, at a slant."""
    lh, lw = shape
    mask = np.zeros((3 * lh, 3 * lw), np.float32)  # drawn large, rotated, then the middle is kept
    gap, pitch = rng.uniform(0.35, 0.7) * LAYER, rng.uniform(0.25, 0.45) * LAYER
    y0 = 1.5 * lh + rng.uniform(-0.4, 0.4) * lh - gap / 2
    chord, brace = max(1, round(rng.uniform(0.08, 0.16) * LAYER)), max(1, round(rng.uniform(0.03, 0.07) * LAYER))
    for y in (y0, y0 + gap):
        cv2.line(mask, (0, int(y * 16)), (3 * lw * 16, int(y * 16)), 1.0, chord, cv2.LINE_AA, shift=4)
    xs = np.arange(rng.uniform(0, pitch), 3 * lw, pitch)
    for i, xv in enumerate(xs[:-1]):
        a, b = (xv, y0), (xs[i + 1], y0 + gap)
        if i % 2:
            a, b = (xv, y0 + gap), (xs[i + 1], y0)
        cv2.line(
            mask, (int(a[0] * 16), int(a[1] * 16)), (int(b[0] * 16), int(b[1] * 16)), 1.0, brace, cv2.LINE_AA, shift=4
        )
    rot = cv2.getRotationMatrix2D((1.5 * lw, 1.5 * lh), rng.uniform(-35, 35), 1.0)
    return cv2.warpAffine(mask, rot, (3 * lw, 3 * lh))[lh : 2 * lh, lw : 2 * lw]


_AMBIENT = (  # linear-light share of each channel (BGR) that the shadowed sky/environment still gives
    np.float32([1.0, 0.8, 0.62]),  # clear blue sky
    np.float32([0.92, 0.92, 0.9]),  # overcast, nearly neutral
    np.float32([0.7, 0.95, 0.72]),  # light bounced off foliage
)


def _shadow(x, level, rng):
    # The projected silhouette of a tree's branches or a gantry's truss; the penumbra is the
    # silhouette convolved with a disc (the sun's size at the occluder's distance), and the
    # shadow keeps the colour of whatever still lights it (sky, overcast, foliage), in linear
    # light. A: periodic neutral bands; B: a straight edge, a pole or dappled light, blue.
    lh, lw = _layer_dims(x)
    mask = _truss((lh, lw), rng) if rng.random() < 0.4 else _branches((lh, lw), rng)
    mask = cv2.filter2D(np.clip(mask, 0.0, 1.0), -1, _pillbox(rng.uniform(0.01, 0.07) * LAYER))
    depth = min(0.97, _strength(rng, level, 0.45, 0.95))
    ambient = _AMBIENT[int(rng.integers(len(_AMBIENT)))]
    block = depth * _to_crop(mask, x)[:, :, None] * (1.0 - 0.15 * ambient)  # the fill's colour is blocked least
    return _signal(_linear(x) * (1.0 - block))


def _snow(x, level, rng):
    # Snow stuck on the sign face, not falling: a cap along the upper edge (snow settles on what
    # faces up) with a wavy lower edge and clumps, more of them near the top, granular and
    # shaded blue where it is thick. A: a glow and falling dots; B: a veil, near discs, far streaks.
    t = min(0.9, _strength(rng, level, 0.1, 0.7))
    lh, lw = _layer_dims(x)
    yy = np.mgrid[0:lh, 0:lw][0].astype(np.float32) / lh
    tilt = rng.uniform(-0.15, 0.15) * (np.mgrid[0:lh, 0:lw][1].astype(np.float32) / lw - 0.5)
    wave = 0.06 * _noise_field(rng, (1, lw), 0.5, 0.1 * LAYER)
    cap = np.clip((t * rng.uniform(0.4, 0.7) + wave - yy - tilt) * LAYER / 2.0, 0.0, 1.0)
    field = _noise_field(rng, (lh, lw), 0.05 * LAYER, 0.06 * LAYER) + rng.uniform(1.0, 2.0) * (1.0 - yy)
    thr = np.quantile(field, 1.0 - 0.6 * t)
    clumps = np.clip((field - thr) * 4.0, 0.0, 1.0)
    cover = np.maximum(cap, clumps)
    grain = 0.04 * _noise_field(rng, (lh, lw), 0.6, 0.6)
    shade = np.clip(cv2.GaussianBlur(cover, (0, 0), 0.03 * LAYER), 0.0, 1.0)
    tone = rng.uniform(0.86, 0.98)
    snow = (tone + grain)[:, :, None] * (1.0 - 0.08 * shade[:, :, None] * np.float32([0.0, 0.5, 1.0]))
    a = _to_crop(cover, x)[:, :, None]
    return x + a * (_to_crop(snow.astype(np.float32), x) - x)


_FOG_TINT = (
    np.float32([1.0, 1.0, 1.0]),  # daylight fog
    np.float32([1.0, 0.93, 0.85]),  # bluish dusk mist
    np.float32([0.55, 0.8, 1.0]),  # fog lit by sodium street lights
    np.float32([0.85, 0.95, 1.0]),  # dusty, warm
)


def _haze(x, level, rng):
    # Multiple scattering: the light of the scene itself is spread by an atmospheric point spread
    # function (a sum of Gaussians of growing width: the glow around bright parts) and a share
    # of it veils the whole frame at the scene's mean brightness, tinted by the light in the fog,
    # so a dark scene gets a dark fog. A: a flat #CECECE layer; B: Koschmieder with a constant
    # airlight and a depth map.
    side = _side(x)
    s = min(0.95, _strength(rng, level, 0.2, 0.85))
    lin = _linear(x)
    w = rng.dirichlet((2.0, 2.0, 2.0))
    glow = sum(wi * _wide_blur(lin, f * side) for wi, f in zip(w, (0.05, 0.15, 0.45), strict=True))
    tint = _FOG_TINT[int(rng.integers(len(_FOG_TINT)))]
    level_of_fog = float(lin.mean()) * rng.uniform(0.6, 1.0) + rng.uniform(0.15, 0.45)
    # veiling glare: the fog is brighter on the side of the light source (sun, headlights) off frame
    glare = 1.0 + rng.uniform(0.25, 0.6) * _ramp(x.shape[:2], rng.uniform(0, 2 * math.pi))
    veil = (np.float32(level_of_fog) * glare)[:, :, None] * tint
    g = rng.uniform(0.45, 0.75)  # share of the scattered light that stays near its source
    return _signal((1.0 - s) * lin + s * (g * glow + (1.0 - g) * veil))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_c(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "C".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "C", _EFFECTS)
