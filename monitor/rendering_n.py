"""Rendering "N" of the 12 CURE-TSR challenges: the next holdout, written blind, NOT measured.

A-M are measured or written already, so N is the next blind one. N is written without running the
detector, the classifier, the image statistics, calibrate or evaluate on it, to be measured once
(fit on the default FIT_RENDERINGS, test on N). It is written without A-M's helpers (only
monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared) and each effect
is another physical process, or another way a real camera or the real world produces the
condition, than any of A-M (their lines: monitor/rendering_c.py ... _m.py):

| condition | N |
| --- | --- |
| decolorization | a multi-zone auto white balance fooled by the sign itself: each zone's grey-world gains cancel the colour that fills it (the sign's red or blue, the sky), so colours are neutralised patch by patch, unevenly, with a wrong cast where a zone mixes two colours; the ISP lowers the saturation for its low-confidence estimate |
| lens_blur | a camera whose filter stack was replaced by a thicker one: the extra glass moves the focus behind the sensor (a back-focus error, a defocus disc with the plate's spherical aberration, a brighter core) and its birefringent low-pass plates split every point into four spots set further apart than designed |
| codec_error | an H.264 stream whose slice headers' weighted-prediction tables are corrupted: slices (runs of 16 px macroblock rows) predicted with wrong luma weights and offsets and wrong chroma offsets, so bands of macroblocks turn brighter, darker or tinted, clipping where they overflow; coarse 4x4 residual quantisation in them |
| darkening | night falling at an internally illuminated sign whose lamps are failing: the daylight going (little left at the high levels), the camera's gain noise rising, the face lit from behind by a few fluorescent tubes through its diffusing face, some dead, one with blackened ends, so it shows bright bands along the working tubes and dark ones between; the tubes' cool white |
| dirty_lens | a window "cleaned" with a dirty cloth: a band of curved, parallel smear streaks of grime along the wipe's arcs, which dim and tint what is behind and scatter the scene's light across the streaks (along the wipe's radius) |
| exposure | a fixed exposure while fresh snow covers the ground: the sun's light bounced from the snow field lights the sign from below (more towards its bottom, cool), the bright foreground's veiling glare rises towards the bottom of the view, the raw channels clip and the ISP's highlight recovery turns clipped colours white |
| gaussian_blur | a vehicle-mounted camera passing the sign at speed: a constant-velocity (box, soft-ended by the shutter) motion blur along the travel, a little pitch from the road, and the rolling shutter's skew (rows read later are displaced further, so verticals lean) |
| noise | an RGB-IR sensor (no IR-cut filter, a quarter of its sites see infrared) at high gain: the ISP subtracts an interpolated IR estimate from every colour, so the IR sites' noise lands in all channels as a coarse, periodically structured grain, red noisiest, with black specks where the subtraction overshoots and a faint cast where it is miscalibrated |
| rain | gusty heavy rain in sheets: bands of denser rain sweeping diagonally across the view with the gust, each a veil of wind-slanted streaks at three depths (far ones fine and faint, near ones wide and soft), the view dimmed under the rain cloud |
| shadow | a building site's scaffold wrapped in debris netting between the sun and the sign: the tubes' and a brace's hard shadows, the knitted net letting a share of the sun through in its colour (green, blue or white), darker where it sags in folds, the sky's blue fill; sometimes the scaffold's end crosses the view |
| snow | driving through snowfall: flakes streak radially away from the focus of expansion (the direction of travel, off the crop), longer, brighter and softer the nearer they pass, lit by the vehicle's warm-white headlights, the snow-laden air a faint veil |
| haze | fog at dusk lit by a street lamp beside the sign: the airlight is the lamp's own light scattered by the fog (sodium orange, or an LED's white), brightest in its downward beam and towards the lamp, the fog's density uneven; the daylight's remainder dims |

Conventions of N:
- Strength: a nominal value per level, from the level-1 to the level-5 value along two thirds of
  a line and one third of a cubic (s^3) in the level, times an inverse Gaussian (Wald) jitter,
  Wald(1, 150) clipped to [0.72, 1.3] (`_strength`). Count, size, placement, colour and kind are
  drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through ARRI's LogC3 curve (EI 800; the code range 0-1 taken as the
  LogC3 codes from linear 0 to linear 1, its linear toe included; A 2.2, B sRGB, C BT.709, D 2.4,
  E 2.0, F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*, K HLG, L PQ, M S-Log3); luminance uses the EBU Tech
  3213 (PAL) primaries' weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 76  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.0713, 0.7067, 0.2220])  # EBU Tech 3213 (PAL) luminance weights, BGR order
# ARRI LogC3 at EI 800: cut, a, b, c, d, e, f
_CUT, _A, _B, _C, _D, _E, _F = 0.010591, 5.555556, 0.052272, 0.247190, 0.385537, 5.367655, 0.092809


def _logc_enc(y: np.ndarray) -> np.ndarray:
    """Scene-linear reflectance to the LogC3 code (0-1), linear toe below the cut."""
    y = np.asarray(y, np.float64)
    return np.where(y > _CUT, _C * np.log10(np.maximum(_A * y + _B, 1e-9)) + _D, _E * y + _F)


def _logc_dec(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float64)
    return np.where(c > _E * _CUT + _F, (np.power(10.0, (c - _D) / _C) - _B) / _A, (c - _F) / _E)


_C0, _C1 = float(_logc_enc(np.float64(0.0))), float(_logc_enc(np.float64(1.0)))  # the code range's ends

# ---------------------------------------------------------------------------------------------
# Helpers of N


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi, 2/3 linear and 1/3 cubic in the level, times a Wald jitter."""
    s = (level - 1) / 4.0
    u = (2.0 * s + s**3) / 3.0
    jitter = min(1.3, max(0.72, float(rng.wald(1.0, 150.0))))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the LogC3 codes of linear 0-1) to linear light (0-1)."""
    return np.clip(_logc_dec(_C0 + np.asarray(x, np.float64) * (_C1 - _C0)), 0.0, None).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    return ((_logc_enc(y) - _C0) / (_C1 - _C0)).astype(np.float32)


def _luma(x: np.ndarray) -> np.ndarray:
    return (x @ _LUM).astype(np.float32)


def _layer_hw(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _up(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A layer resized to x's height and width, keeping its channel axis (or its absence)."""
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    mode = cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(layer, (w, h), interpolation=mode).reshape(h, w, *layer.shape[2:])


def _soft(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.25)).reshape(img.shape)


def _xy(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return xx.astype(np.float32), yy.astype(np.float32)


def _field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field in [0, 1]: white noise on a coarse grid, upsampled bilinearly, then smoothed."""
    lh, lw = shape
    gh, gw = max(2, round(lh / max(scale, 1.0)) + 2), max(2, round(lw / max(scale, 1.0)) + 2)
    f = cv2.resize(rng.random((gh, gw)).astype(np.float32), (lw, lh), interpolation=cv2.INTER_LINEAR)
    f = _soft(f, 0.3 * max(scale, 1.0))
    return (f - f.min()) / (float(f.max() - f.min()) + 1e-6)


def _over(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """`colour` laid over `base` with coverage `alpha` (H, W) or (H, W, 1)."""
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


def _line_kernel(length: float, angle: float, soft_ends: float = 0.0) -> np.ndarray:
    """A normalised straight motion kernel of `length` px at `angle` (rad), its ends ramped over `soft_ends`."""
    half = int(math.ceil(length / 2.0)) + 1
    s = np.linspace(-length / 2.0, length / 2.0, max(8, int(length * 6)))
    wgt = np.ones_like(s)
    if soft_ends > 0:
        wgt = np.clip((length / 2.0 - np.abs(s)) / max(soft_ends, 1e-3), 0.0, 1.0) + 0.05
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    xs, ys = np.round(half + s * math.cos(angle)).astype(int), np.round(half + s * math.sin(angle)).astype(int)
    np.add.at(k, (ys, xs), wgt.astype(np.float32))
    return k / float(k.sum())


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering N: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A multi-zone auto white balance (the ISP's statistics grid, each zone's grey-world gains
    # interpolated between zone centres) fooled by the sign filling its zones: each zone's mean
    # colour is taken for the light's colour and cancelled, so the sign's red or blue is neutralised
    # patch by patch, and a zone mixing two colours casts the lesser one wrong. The ISP lowers the
    # saturation for a low-confidence estimate. A-M: a grey blend, a mixer print, UV fading, sodium
    # and mercury light, a lost burst, an IR leak, the colour killer, a yellowed window, grime, sky
    # glare, a gamut mismatch, dew.
    t = _strength(rng, level, 0.4, 1.2)
    h, w = x.shape[:2]
    lin = _lin(x)
    cell = _short(x) * rng.uniform(0.2, 0.45)  # a zone's side on the crop
    zh, zw = max(1, round(h / cell)), max(1, round(w / cell))
    zones = cv2.resize(lin, (zw, zh), interpolation=cv2.INTER_AREA).reshape(zh, zw, 3) + np.float32(0.01)
    gains = np.clip(_luma(zones)[:, :, None] / zones, 0.25, 4.0)
    gains = cv2.resize(gains.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 3)
    mean = lin.reshape(-1, 3).mean(axis=0) + np.float32(0.01)
    whole = np.clip(_luma(mean[None, :])[0] / mean, 0.25, 4.0)  # the frame's estimate, the sign filling it
    balanced = lin * np.power(gains, np.float32(1.2 * t)) * np.power(whole, np.float32(t * rng.uniform(0.8, 1.4)))
    y = _luma(balanced)[:, :, None]
    preset = np.power(2.0, rng.normal(0.0, 0.2, 3)).astype(np.float32)  # low confidence: towards its preset
    balanced = balanced * np.power(preset / float(_luma(preset[None, :])[0]), np.float32(min(1.0, t)))
    sat = np.float32(1.0 - min(0.95, rng.uniform(0.7, 1.0) * t))
    return _enc(y + (balanced - y) * sat)


def _stack_psf(r: float, split: float, rng: np.random.Generator) -> np.ndarray:
    """A defocus disc of radius r px (a brighter core from the plate's spherical aberration), split into four."""
    ss = 4
    ang = rng.uniform(-0.2, 0.2)
    offs = [(split / 2 * (a * math.cos(ang) - b * math.sin(ang)), split / 2 * (a * math.sin(ang) + b * math.cos(ang)))
            for a, b in ((-1, -1), (-1, 1), (1, -1), (1, 1))]  # fmt: skip
    half = int(math.ceil(r + split)) + 2
    n = (2 * half + 1) * ss
    big = np.zeros((n, n), np.float32)
    for (dx, dy), wt in zip(offs, rng.uniform(0.8, 1.2, 4), strict=True):
        c = (round((half + 0.5 + dx) * ss), round((half + 0.5 + dy) * ss))
        cv2.circle(big, c, max(1, round(r * ss)), float(wt), -1, cv2.LINE_AA)
        cv2.circle(big, c, max(1, round(0.45 * r * ss)), float(wt) * 0.4, -1, cv2.LINE_AA)  # the core
    k = cv2.resize(big, (2 * half + 1, 2 * half + 1), interpolation=cv2.INTER_AREA)
    return k / max(float(k.sum()), 1e-6)


def _lens_blur(x, level, rng):
    # The camera's IR-cut / optical low-pass filter stack replaced by a thicker one: the extra glass
    # in the converging beam moves the focus behind the sensor (every point a defocus disc, its
    # light piled towards the centre by the plate's spherical aberration), and the birefringent
    # low-pass plates, thicker than designed, split each point into four spots a few pixels apart.
    # A-M: hexagonal, round, heptagonal and rhombic irises, a tilted plane, a ring PSF, field
    # curvature, diffusion glow, astigmatism, a cracked element, coma, a scratched dome, onion rings.
    t = _strength(rng, level, 0.014, 0.085)
    r = max(0.6, t * _short(x))
    split = (1.0 + 0.6 * rng.random()) * r + 0.02 * _short(x)
    k = _stack_psf(r, split, rng)
    return _enc(cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REPLICATE).reshape(x.shape))


def _wp_slices(rng: np.random.Generator, rows: int, t: float) -> list[tuple[int, int]]:
    """Corrupted slices as (first, last + 1) macroblock rows: one to three runs covering a share growing with t."""
    out = []
    for _ in range(int(rng.integers(1, 4))):
        n = max(1, round(rows * min(1.0, (0.2 + 0.55 * t) * rng.uniform(0.6, 1.1))))
        start = int(rng.integers(0, max(1, rows - n + 1)))
        out.append((start, start + n))
    return out


def _codec_error(x, level, rng):
    # An H.264 stream (explicit weighted prediction, as encoders use for fades) whose slice headers
    # are corrupted: the slices' luma weight and offset and chroma offsets are wrong, so each
    # macroblock of such a slice is its correct picture scaled and shifted (recon = wrong weight x
    # reference + wrong offset + the residual meant for the right one), brighter, darker or tinted,
    # clipping where it overflows; the coarse residual leaves 4x4 steps. Codec work is on the signal.
    # A-M: displaced blocks, DCT, MCU errors, MVs, a lost restart, a stride, wavelets, concealment,
    # VQ, DPCM, HEVC intra, mid-GOP, SVC.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    mb = max(2, round(_short(x) / 4.0))  # 16 px macroblocks on a 64 px sign
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    q = max(1, mb // (4 if t < 0.6 else 2))
    blocky = cv2.resize(cv2.resize(ycc, (max(1, w // q), max(1, h // q)), interpolation=cv2.INTER_AREA),
                        (w, h), interpolation=cv2.INTER_NEAREST).reshape(ycc.shape)  # fmt: skip
    out = ycc.copy()
    for a, b in _wp_slices(rng, -(-h // mb), t):
        sl = slice(a * mb, min(h, b * mb))
        part = ycc[sl] + (blocky[sl] - ycc[sl]) * np.float32(min(0.95, 0.4 + 0.55 * t))
        wy = 2.0 ** rng.normal(0.0, 0.15 + 0.2 * t)
        oy = rng.normal(0.0, 0.04 + 0.07 * t)
        oc = rng.normal(0.0, 0.03 + 0.06 * t, 2)
        part[:, :, 0] = part[:, :, 0] * np.float32(wy) + np.float32(oy)
        part[:, :, 1:] = part[:, :, 1:] + oc.astype(np.float32)
        out[sl] = np.clip(part, 0.0, 1.0)
    return cv2.cvtColor(out, cv2.COLOR_YCrCb2BGR)


def _tube_light(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: the light of the sign's failing tubes through its diffusing face, 1.5 on a working tube's line."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    vertical = rng.random() < 0.3
    u, v, span = (xx, yy, lw) if vertical else (yy, xx, lh)
    n = int(rng.integers(2, 5))
    spread = span / n * rng.uniform(0.15, 0.3)
    light = np.zeros((lh, lw), np.float32)
    for i in range(n):
        pos = (i + 0.5 + rng.normal(0.0, 0.08)) * span / n
        out = 1.0 if rng.random() > 0.25 + 0.45 * t else rng.uniform(0.0, 0.3)  # dead or dying
        length = lw if not vertical else lh
        ends = np.clip(np.minimum(v, length - v) / (length * rng.uniform(0.1, 0.3)), 0.0, 1.0) if i == 0 else 1.0
        light += out * (0.3 + 0.7 * ends) / (1.0 + ((u - pos) / spread) ** 2)
    return light * np.float32(1.5)


def _darkening(x, level, rng):
    # Night falling at an internally illuminated sign whose lamps are failing: the daylight going,
    # the face lit from behind by a few fluorescent tubes through its diffusing face, some dead, one
    # with blackened ends, so bright bands lie along the working tubes and dark ones between; the
    # tubes' cool white, and the camera's gain (its noise) up in the dark. A-M: a LUT,
    # under-exposure, shot noise, dusk, a stuck ND, a failing street light, a smoked dome, a distant
    # lamp, a backlit sign, a dying IR lamp, a shelf cloud, an eclipse, a variable ND.
    stops = _strength(rng, level, 0.65, 3.2)
    light = _up(_soft(_tube_light(rng, _layer_hw(x), min(1.0, stops / 4.0)), 1.0), x)[:, :, None]
    ambient = np.float32(min(0.95, rng.uniform(0.05, 0.15) + 0.8 * max(0.0, 1.0 - stops / 2.5)))  # dusk's remainder
    tint = np.float32([1.12, 1.0, 0.86])  # BGR: the tubes' cool white
    gain = np.float32(2.0**-stops) * (ambient + (1.0 - ambient) * light * tint)
    agc = rng.normal(0.0, 0.006 * stops, x.shape).astype(np.float32)  # the camera's gain, up in the dark
    return _enc(_lin(x) * gain) + agc


def _wipe(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, float]:
    """At layer size: the smeared grime's density along a wipe's arcs, and the wipe's radial angle at the crop."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    side = float(min(lh, lw))
    ang = rng.uniform(0, 2 * math.pi)
    dist = side * rng.uniform(0.9, 1.8)  # the wiping hand's pivot, off the crop
    cx, cy = lw / 2 + dist * math.cos(ang), lh / 2 + dist * math.sin(ang)
    rad = np.hypot(xx - cx, yy - cy)
    width = side * (0.5 + 0.8 * t) * rng.uniform(0.8, 1.2)
    r0 = dist - width * rng.uniform(0.3, 0.7)
    band = np.clip(np.minimum(rad - r0, r0 + width - rad) / (0.15 * width), 0.0, 1.0)
    pitch = rng.uniform(1.8, 3.5)
    wobble = 4.0 * _field(rng, (lh, lw), side * 0.3)
    streak = (0.5 + 0.5 * np.sin(2 * math.pi * rad / pitch + wobble)) ** 3
    dens = band * (0.3 + 0.7 * streak) * (0.6 + 0.4 * _field(rng, (lh, lw), side * 0.2))
    return np.clip(dens * (0.5 + 1.05 * t), 0.0, 1.0).astype(np.float32), ang


def _dirty_lens(x, level, rng):
    # Someone "cleaned" the housing window with a dirty cloth: a band of curved, parallel streaks of
    # smeared grime along the wipe's arcs, out of focus; the grime dims and tints what is behind,
    # and the streaks, like a brushed surface, scatter the scene's light across themselves (along the
    # wipe's radius). A-M: blobs, smudges and grit, dust and grime, mud, pollen, a hair or salt, a
    # fingerprint or dropping, a cobweb, insects, water spots, sap, spray paint, a biofilm.
    t = _strength(rng, level, 0.3, 1.0)
    dens, ang = _wipe(rng, _layer_hw(x), t)
    g = _up(_soft(dens, rng.uniform(0.5, 0.9)), x)[:, :, None]
    lin = _lin(x)
    k = _line_kernel(max(2.0, (0.12 + 0.25 * t) * _short(x)), ang)
    scatter = cv2.filter2D(lin, -1, k, borderType=cv2.BORDER_REFLECT).reshape(lin.shape)
    film = (
        np.float32([0.62, 0.68, 0.75]) if rng.random() < 0.6 else np.float32([0.7, 0.7, 0.7])
    )  # BGR: soot-brown / grey
    seen = lin * (1.0 - 0.85 * g) + scatter * g * 0.6
    return _enc(seen * (1.0 - g * (1.0 - film)) + _luma(lin).mean() * 0.1 * g)


def _exposure(x, level, rng):
    # A fixed exposure (set on a snowless day) while fresh snow covers the ground: the sunlit snow
    # field bounces light onto the sign from below (more towards its bottom, cooled by the sky it
    # also reflects), the bright foreground below the view veils the lens with glare rising towards
    # the bottom, the raw channels clip one by one, and the ISP's highlight recovery turns clipped
    # colours white. A-M: a LUT, clipping, knee and smear, the sun, AE overshoot, WDR, headlights,
    # a flash, a night profile, an open iris, a glint, a DCG seam, halation.
    stops = _strength(rng, level, 0.8, 5.2)
    h, w = x.shape[:2]
    _, yy = _xy(h, w)
    tilt = rng.uniform(-0.2, 0.2)
    xs = np.linspace(-0.5, 0.5, w, dtype=np.float32)[None, :]
    low = np.clip(yy / max(h - 1, 1) + tilt * xs, 0.0, 1.0)  # 0 at the top of the sign, 1 at its bottom
    bounce = np.power(2.0, stops * (0.6 + 0.4 * low**1.5)).astype(np.float32)[:, :, None]
    cool = np.float32([1.08, 1.0, 0.92])  # BGR: the snow also mirrors the blue sky
    lin = _lin(x)
    lit = lin * (1.0 + (bounce - 1.0) * cool)
    veil = (np.float32(0.04 * stops * rng.uniform(0.6, 1.2)) * low**2)[:, :, None]
    raw = lit + veil
    over = np.clip((raw.max(axis=2, keepdims=True) - 1.0) * 2.0, 0.0, 1.0)  # highlight recovery
    raw = np.minimum(raw, 1.0)
    return _enc(raw + (1.0 - raw) * over * np.float32(0.9))


def _gaussian_blur(x, level, rng):
    # A vehicle-mounted camera passing the sign at speed: a constant-velocity motion blur along the
    # travel (a box, its ends ramped as the shutter opens and closes), a little pitch from the road,
    # and the rolling shutter's skew (each row read later, the image displaced further along the
    # travel, so the sign's verticals lean); the lens's own softness. A-M: Gaussian, elongated,
    # turbulence, a Lissajous mount, jello, a water film, AF hunting, a swaying sign, diffraction,
    # zoom creep, a twisting pole, a struck pole, a pothole jolt.
    t = _strength(rng, level, 0.065, 0.3)
    h, w = x.shape[:2]
    length = max(1.5, t * _short(x))
    ang = float(rng.normal(0.0, 0.12)) + (math.pi if rng.random() < 0.5 else 0.0)
    k = _line_kernel(length, ang, soft_ends=0.15 * length)
    lin = cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REFLECT).reshape(x.shape)
    xx, yy = _xy(h, w)
    skew = length * rng.uniform(0.4, 1.2) * math.cos(ang)
    mx = np.clip(xx + np.float32(skew) * (yy / max(h - 1, 1) - 0.5), 0, w - 1).astype(np.float32)
    lin = cv2.remap(lin, mx, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(x.shape)
    return _enc(_soft(lin, 0.3 + 0.25 * _short(x) / 64.0))


def _ir_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """The IR estimate's noise: one value per 2x2 cell (the IR sites), interpolated as the ISP fills the rest."""
    hc, wc = -(-h // 2) + 1, -(-w // 2) + 1
    cells = rng.standard_normal((hc, wc)).astype(np.float32)
    up = cv2.resize(cells, (2 * wc, 2 * hc), interpolation=cv2.INTER_LINEAR)
    return up[:h, :w]


def _noise(x, level, rng):
    # An RGB-IR sensor (no IR-cut filter; a quarter of its sites see infrared) at high gain: the ISP
    # subtracts an interpolated IR estimate from every colour channel, so the IR sites' shot and
    # read noise lands in all three as a coarse, 2x2-structured grain (red noisiest), the
    # subtraction overshooting to black specks in the darks, a faint cast where it is miscalibrated.
    # A-M: colour grain, Bayer, shot noise and banding, salt and pepper, herringbone, blotches, a
    # wireless link, gain noise, an intensifier, quad-Bayer, radiation, NR mottle, SDI bit errors.
    g = _strength(rng, level, 0.13, 0.95)
    h, w = x.shape[:2]
    lin = _lin(x)
    y = _luma(lin)[:, :, None]
    ir = 0.4 * y  # daylight's infrared, about as bright as the visible here
    sd = np.sqrt(lin * 0.02 + 0.0015) * np.float32(g)  # shot and read noise of the colour sites
    own = rng.standard_normal(x.shape).astype(np.float32) * sd * np.float32([1.0, 0.8, 1.35])  # BGR: red most
    ir_sd = np.sqrt(ir * 0.02 + 0.0015) * np.float32(g * 1.6)
    k = np.float32([0.9, 0.85, 1.0]) * np.float32(rng.uniform(0.85, 1.15))  # the ISP's IR coefficients
    est = ir + _ir_noise(rng, h, w)[:, :, None] * ir_sd
    out = lin + ir * np.float32([0.92, 0.88, 1.05]) + own - k * est
    return _enc(np.maximum(out, 0.0))


def _rain_sheets(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: the rain's streak density, three depths, modulated by diagonal gust sheets."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    side = float(min(lh, lw))
    gust = rng.uniform(0, math.pi)
    u = xx * math.cos(gust) + yy * math.sin(gust)
    sheets = 0.5 + 0.5 * np.sin(
        2 * math.pi * u / (side * rng.uniform(0.45, 1.0)) + 3.0 * _field(rng, (lh, lw), side * 0.4)
    )
    dens = (0.25 + 0.75 * sheets**2).astype(np.float32)
    slant = math.pi / 2 + rng.normal(0.0, 0.2) + rng.choice([-1, 1]) * rng.uniform(0.1, 0.35)
    out = np.zeros((lh, lw), np.float32)
    for p, ln, soft, bright in ((0.05, 6.0, 0.3, 0.5), (0.02, 12.0, 0.7, 0.7), (0.006, 22.0, 1.6, 1.0)):
        drops = (rng.random((lh, lw)) < p * (0.3 + 0.9 * t) * dens).astype(np.float32)
        k = _line_kernel(ln * rng.uniform(0.8, 1.2), slant)
        streaks = cv2.filter2D(drops, -1, k * np.float32(ln * 0.5), borderType=cv2.BORDER_REFLECT)
        out += _soft(streaks, soft) * np.float32(bright)
    return np.clip(out, 0.0, 1.0), dens


def _rain(x, level, rng):
    # Gusty heavy rain in sheets: bands of denser rain sweep diagonally across the view with the
    # gust's rolls, each a veil of wind-slanted streaks at three depths (far ones fine and faint,
    # near ones wide and soft), the denser sheets greying the view; all dimmed under the rain cloud.
    # A-M: streaks, drops on the lens, a wet windshield, drops in flight, headlight-lit rain, spray,
    # rivulets, splashes, a wet sign, visor drips, a sunshower, drizzle beads, freezing rain.
    t = _strength(rng, level, 0.07, 0.8)
    streaks, dens = _rain_sheets(rng, _layer_hw(x), t)
    s = _up(streaks, x)[:, :, None]
    d = _up(dens, x)[:, :, None]
    lin = _lin(x) * np.float32(1.0 - 0.25 * t)
    grey = np.float32([0.62, 0.6, 0.58]) * np.float32(0.3 + 0.6 * float(_luma(lin).mean()))
    lin = _over(lin, np.clip(0.3 * t * d, 0.0, 1.0), grey)
    return _enc(_over(lin, np.clip(s * (0.35 + 0.4 * t), 0.0, 1.0), grey * np.float32(1.6)))


def _scaffold(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: the scaffold tubes' opacity and the net's shade (folds and knit), 0 outside the net."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    side = float(min(lh, lw))
    rot = rng.normal(0.0, 0.25)
    u = xx * math.cos(rot) + yy * math.sin(rot)
    v = -xx * math.sin(rot) + yy * math.cos(rot)
    tubes = np.zeros((lh, lw), np.float32)
    for coord, pitch in ((u, side * rng.uniform(0.6, 1.4)), (v, side * rng.uniform(0.5, 1.0))):
        ph = (coord / pitch + rng.uniform(0, 1)) % 1.0
        tubes = np.maximum(tubes, (np.minimum(ph, 1 - ph) * pitch < rng.uniform(2.0, 4.0)).astype(np.float32))
    brace = np.abs((u - v * rng.uniform(0.6, 1.6)) % (side * 2.0) - side) < rng.uniform(1.5, 3.0)
    tubes = np.maximum(tubes, brace.astype(np.float32))
    folds = 0.75 + 0.25 * np.sin(
        2 * math.pi * u / (side * rng.uniform(0.15, 0.35)) + 4.0 * _field(rng, (lh, lw), side * 0.5)
    )
    knit = 0.9 + 0.1 * np.sign(np.sin(xx * 2.2) * np.sin(yy * 2.2))
    net = (folds * knit).astype(np.float32)
    if rng.random() < 0.4:  # the scaffold ends inside the view
        edge = (u - side * rng.uniform(-0.3, 0.3) - u.mean()) * rng.choice([-1, 1]) > 0
        net, tubes = net * edge, tubes * edge
    return tubes, net


def _shadow(x, level, rng):
    # A building site's scaffold wrapped in debris netting between the sun and the sign: the tubes'
    # and a diagonal brace's hard shadows, the knitted net letting a share of the sun through in its
    # own colour (green, blue or white), darker where it sags in folds, the sky's blue fill in the
    # shade. A-M: blinds, an edge or dapples, branches, a vehicle, a hood, fan blades, a fence, an
    # overpass, a perforated canopy, a sign plate, palm fronds, an awning, a facade.
    t = min(0.95, _strength(rng, level, 0.05, 0.85))
    tubes, net = _scaffold(rng, _layer_hw(x))
    colours = (np.float32([0.55, 1.0, 0.6]), np.float32([1.0, 0.75, 0.5]), np.float32([0.95, 0.95, 0.95]))
    cloth = colours[int(rng.integers(0, 3))]  # BGR: green, blue or white netting
    sky = np.float32([1.2, 1.0, 0.85]) * np.float32(0.12)
    c = _soft(net, 0.6)[:, :, None]  # the net's cover: the sun passes it at 1 - t, in the cloth's colour
    through = (1.0 - c) + c * np.float32(1.0 - t) * cloth + sky * c * np.float32(t)
    light = through * (1.0 - np.float32(min(1.0, 0.25 + 0.8 * t)) * _soft(tubes, 1.2)[:, :, None])
    return _enc(_lin(x) * _up(light.astype(np.float32), x))


def _snow_streaks(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: flakes streaked radially away from the focus of expansion, near ones long, bright and soft."""
    lh, lw = shape
    side = float(min(lh, lw))
    a = rng.uniform(0, 2 * math.pi)
    foe = np.float32(
        [lw / 2 + side * rng.uniform(0.8, 2.2) * math.cos(a), lh / 2 + side * rng.uniform(0.8, 2.2) * math.sin(a)]
    )
    n = int((8 + 120 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))
    pts = rng.random((n, 2)).astype(np.float32) * np.float32([lw, lh])
    near = rng.random(n) ** 2.0  # 1: passing the lens, 0: far
    rel = pts - foe
    dist = np.hypot(rel[:, 0], rel[:, 1])[:, None] + 1e-3
    ln = (0.05 + 0.35 * near)[:, None] * dist * (0.4 + 0.6 * t)
    ends = pts + rel / dist * ln
    layers = [np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)]
    for p, q, nr in zip(pts, ends, near, strict=True):
        thick = 1 if nr < 0.5 else int(1 + 3 * nr)
        cv2.line(
            layers[int(nr >= 0.5)],
            (round(p[0]), round(p[1])),
            (round(q[0]), round(q[1])),
            0.5 + 0.5 * nr,
            thick,
            cv2.LINE_AA,
        )
    return np.clip(_soft(layers[0], 0.4) + 0.8 * _soft(layers[1], 1.5), 0.0, 1.0)


def _snow(x, level, rng):
    # Driving through snowfall at dusk: each flake streaks radially away from the focus of
    # expansion (the direction of travel, off the crop), longer, brighter and softer the nearer it
    # passes the lens, lit by the vehicle's warm-white headlights; the snow-laden air a faint veil.
    # A-M: glow and dots, veil and discs, a cap on the sign, frost, lamp-lit flakes, slush, a ground
    # blizzard, a visor heap, a porthole, squall arcs, rime, aggregate flakes, a plough's spray.
    t = _strength(rng, level, 0.05, 0.66)
    flakes = _up(_snow_streaks(rng, _layer_hw(x), t), x)
    lin = _lin(x)
    lamp = np.float32([0.86, 0.95, 1.0])  # BGR: warm-white headlights
    veiled = _over(lin, np.full(x.shape[:2], 0.25 * t, np.float32), lamp * np.float32(0.55))
    return _enc(_over(veiled, np.clip(flakes * (0.7 + 0.3 * t), 0.0, 0.97), lamp))


def _haze(x, level, rng):
    # Fog at dusk lit by a street lamp beside the sign: the airlight is the lamp's own light
    # scattered by the droplets (sodium orange or an LED's white), brightest in its downward beam and
    # nearest the lamp, the fog's density uneven; the daylight's remainder dims the scene. A-M: a
    # flat layer, depth, multiple scattering, smoke or dust, mist, a plastic sheet, fog by a low sun,
    # aerosol, ice fog, condensation, inner fog, NO2 smog, a steam plume, sea-salt haze.
    opacity = min(0.97, _strength(rng, level, 0.1, 0.7))
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    xx, yy = _xy(h, w)
    side = _short(x)
    lx, ly = w * rng.uniform(-0.6, 1.6), -side * rng.uniform(0.3, 1.0)  # the lamp, above the view
    d2 = ((xx - lx) ** 2 + (yy - ly) ** 2) / (side * rng.uniform(0.6, 1.2)) ** 2
    cone = np.clip(1.0 - np.abs(xx - lx) / (np.maximum(yy - ly, 1.0) * rng.uniform(0.5, 1.0)), 0.0, 1.0)
    glow = (0.35 + 0.65 / (1.0 + d2) + 0.5 * cone).astype(np.float32)[:, :, None]
    lamps = (np.float32([0.2, 0.55, 1.0]), np.float32([1.0, 0.97, 0.9]), np.float32([0.72, 0.86, 1.0]))
    colour = lamps[int(rng.integers(0, 3))] * np.float32(rng.uniform(0.35, 0.55))  # sodium, LED, warm LED
    dens = _up(_field(rng, _layer_hw(x), LAYER * rng.uniform(0.3, 0.6)), x)
    trans = np.exp(-tau * (0.7 + 0.6 * dens)).astype(np.float32)[:, :, None]
    lin = _lin(x) * np.float32(1.0 - 0.3 * opacity)
    return _enc(lin * trans + glow * colour * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_n(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "N".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "N", _EFFECTS)
