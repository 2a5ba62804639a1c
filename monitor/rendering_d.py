"""Rendering "D" of the 12 CURE-TSR challenges: the session's final holdout, written blind.

A, B and C have all been used to develop the detector, so D is the one rendering nobody tuned on:
fit on A, B and C, test on D, once (measured so on 2026-11-30: docs/DESIGN.md §5.8). It is written
without A's, B's or C's helpers (only monitor.renderings.apply_effects, the argument check and
uint8 wrapper, is shared) and each effect is another physical process, or another way a real
camera produces the condition, than any of A, B and C (their lines: monitor/rendering_c.py):

| condition | D |
| --- | --- |
| decolorization | monochromatic light: a low-pressure sodium lamp (589 nm) lights the scene, every hue becomes orange-grey, the camera's white balance half corrects it |
| lens_blur | a mirror (catadioptric) lens out of focus: a ring PSF (donut bokeh, the secondary mirror's obstruction), with focus breathing (a slight magnification) |
| codec_error | H.264-like wrong motion vectors: macroblocks of a slice predicted from displaced places of the same frame with a drifting vector and DC, some with corrupt green or pink chroma |
| darkening | dusk: less light, the camera's automatic gain amplifies read noise, a longer shutter adds a little motion blur, blue-hour tint |
| dirty_lens | mud splashes on the lens: opaque brown irregular splats with satellite droplets and drip tails, defocused by the lens |
| exposure | the sun in or near the frame: veiling glare washing one side, polygonal iris ghosts along the line through the centre |
| gaussian_blur | a vibrating camera mount: a Lissajous motion PSF (the mount's two resonances), where the sinusoid dwells at its extremes |
| noise | a failing hot sensor: salt-and-pepper stuck and dead pixels plus amplifier glow in one corner, whose thermal noise grows towards it |
| rain | raindrops in flight close to the camera: big out-of-focus bright discs stretched along their fall by the exposure, overcast dimming |
| shadow | the shadow of a vehicle or a person (a large soft-edged silhouette crossing part of the sign) or a cloud's low-frequency shadow, sky-blue ambient |
| snow | frost on the lens window: dendritic ice crystals branching at 60 degrees from the edges, a frosted scattering film along them |
| haze | smoke (a grey-brown turbulent plume from one side) or a dust storm (yellow-brown, denser low down), local density from a turbulent field |

Conventions of D:
- Strength: a nominal value per level, linear from the level-1 to the level-5 value, times a
  uniform jitter of +-25 % (`_strength`): neighbouring levels overlap, higher levels are stronger
  on average. Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through a pure 2.4 power (a BT.1886 display's curve); A uses 2.2,
  B the sRGB curve, C BT.709's camera curve.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  eye and by neutral measures only (scripts/rendering_strength.py: mean absolute difference and
  structure loss against A, B and C), never by the project's detector, classifier or image
  statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 100  # px: procedural layers are drawn with the crop's shorter side at this size
_GAMMA = 2.4
_Y601 = np.float32([0.114, 0.587, 0.299])  # luminance weights, BGR order

# ---------------------------------------------------------------------------------------------
# Helpers of D


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi linearly, times a uniform jitter in [0.75, 1.25]."""
    return float((lo + (hi - lo) * (level - 1) / 4.0) * rng.uniform(0.75, 1.25))


def _lin(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0) ** np.float32(_GAMMA)


def _enc(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0.0, 1.0) ** np.float32(1.0 / _GAMMA)


def _dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    return cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)


def _turbulence(rng: np.random.Generator, shape: tuple[int, int], scales: tuple[float, ...]) -> np.ndarray:
    """A sum of smoothed noise octaves (amplitude halving per octave), scaled to [0, 1]."""
    acc = np.zeros(shape, np.float32)
    for i, s in enumerate(scales):
        f = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(s, 0.4))
        acc += f / (f.std() + 1e-6) * 0.5**i
    return (acc - acc.min()) / (np.ptp(acc) + 1e-6)


def _convolve(x: np.ndarray, kernel: np.ndarray, most: int = 13) -> np.ndarray:
    """x filtered by `kernel`; a kernel wider than `most` px runs on a copy shrunk to fit."""
    h, w = x.shape[:2]
    f = kernel.shape[0] / most
    if f <= 1.0 or min(h, w) / f < 6:
        return cv2.filter2D(x, -1, kernel, borderType=cv2.BORDER_REFLECT)
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    small = cv2.resize(x, (sw, sh), interpolation=cv2.INTER_AREA)
    k = cv2.resize(kernel, (most, most), interpolation=cv2.INTER_AREA)
    small = cv2.filter2D(small, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering D: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # Low-pressure sodium light is one wavelength: the camera sees only how much of it each
    # surface reflects (red paint reflects 589 nm well, blue barely), all in one orange hue; the
    # white balance pulls part of the orange back towards grey. A: blend to grey; B: channel-mixer
    # monochrome; C: a UV-faded print.
    s = min(1.0, _strength(rng, level, 0.3, 0.95))
    lin = _lin(x)
    reflect = lin @ np.float32([0.05, 0.45, 0.5])  # reflectance at 589 nm from the surface's colour
    lamp = np.float32([0.08, 0.5, 1.0])
    wb = rng.uniform(0.6, 0.9)  # share of the cast the camera's white balance removes: orange-grey stays
    lamp = lamp + wb * (np.float32([1.0, 1.0, 1.0]) * float(lamp.mean()) - lamp)
    mono = reflect[:, :, None] * lamp / float(lamp @ _Y601) * float((lin @ _Y601).mean() / (reflect.mean() + 1e-6))
    return _enc(lin + s * (mono - lin))


def _ring(radius: float, inner: float) -> np.ndarray:
    """Annulus PSF (outer `radius` px, obstruction `inner` of it), 4x supersampled, sum 1."""
    half = int(math.ceil(radius)) + 1
    c = (np.arange((2 * half + 1) * 4, dtype=np.float32) + 0.5) / 4 - (half + 0.5)
    r2 = c[:, None] ** 2 + c[None, :] ** 2
    k = ((r2 <= max(radius, 0.7) ** 2) & (r2 >= (inner * radius) ** 2)).astype(np.float32)
    k = k.reshape(2 * half + 1, 4, 2 * half + 1, 4).mean(axis=(1, 3))
    return k / k.sum()


def _lens_blur(x, level, rng):
    # A mirror (catadioptric) lens with spherical aberration, out of focus: the secondary mirror
    # blocks the middle of the aperture, so most of a point's light spreads into a wide ring
    # (donut bokeh, doubled edges), while the paraxial rays still meet near focus and leave a
    # small soft core (a glow over a ghost of the sign, not one uniform blur); refocusing changes
    # the magnification a little (focus breathing). A: hexagonal iris; B: round rimmed iris;
    # C: tilted focal plane with axial chromatic aberration.
    h, w = x.shape[:2]
    radius = max(1.5, _strength(rng, level, 0.05, 0.2) * _side(x))
    ring = _ring(radius, rng.uniform(0.55, 0.75))
    core = _ring(max(0.7, radius * rng.uniform(0.1, 0.25)), 0.0)
    pad = (ring.shape[0] - core.shape[0]) // 2
    share = rng.uniform(0.2, 0.4) * (1.1 - 0.15 * level)  # the core's share: less light focuses as the error grows
    kernel = (1.0 - share) * ring + share * np.pad(core, pad)
    out = _convolve(_lin(x), kernel)
    scale = 1.0 + rng.uniform(0.02, 0.05) * (1 if rng.random() < 0.5 else -1)
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), 0.0, scale)
    out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return _enc(out)


def _slice(ycc, src, y0, m, rng, chroma_p, wander):
    """One slice of macroblocks decoded from a wrong motion vector that drifts block by block."""
    w = ycc.shape[1]
    pad = src.shape[0] - ycc.shape[0]
    x0 = int(rng.integers(0, max(1, -(-w // m) // 2 + 1))) * m  # the error starts in the first half of the row
    v = rng.normal(0.0, wander * m, 2)
    dc = 0.0
    for bx in range(x0, w, m):
        v += rng.normal(0.0, 0.35 * m, 2)
        dc += rng.normal(0.0, 0.03)
        sy = int(np.clip(y0 + pad // 2 + v[0], 0, src.shape[0] - m))
        sx = int(np.clip(bx + pad // 2 + v[1], 0, src.shape[1] - m))
        blk = src[sy : sy + m, sx : sx + m].copy()
        blk[:, :, 0] += dc
        if rng.random() < chroma_p:  # a corrupt chroma residual: green (both low) or pink (both high)
            blk[:, :, 1:] += rng.choice([-1.0, 1.0]) * rng.uniform(0.12, 0.3)
        hh, ww = ycc[y0 : y0 + m, bx : bx + m].shape[:2]
        ycc[y0 : y0 + m, bx : bx + m] = blk[:hh, :ww]


def _codec_error(x, level, rng):
    # A lost or damaged P-frame slice in an H.264 stream: the decoder predicts its macroblocks
    # from the wrong places in the reference (here the same picture) with a motion vector that
    # drifts from block to block, and a damaged residual leaves green or pink chroma blocks.
    # A: blocks from the previous frame, JPEG; B: own DCT quantisation, lost slices concealed;
    # C: bit errors desynchronising MCU rows, 4:1:1 chroma.
    h, w = x.shape[:2]
    m = max(2, round(_side(x) / rng.uniform(5.0, 9.0)))  # a 16 px macroblock in crop px
    ycc = cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)
    pad = 4 * m
    src = cv2.copyMakeBorder(ycc, pad, pad, pad, pad, cv2.BORDER_REFLECT)
    frac = min(0.95, _strength(rng, level, 0.15, 0.7))
    rows = np.arange(0, h, m)
    hit = rows[rng.random(len(rows)) < frac]
    if hit.size == 0:
        hit = rows[[int(rng.integers(len(rows)))]]
    for y0 in hit:
        _slice(ycc, src, int(y0), m, rng, 0.1 + 0.25 * frac, 0.5 + 0.25 * level)
    return cv2.cvtColor(np.clip(ycc, 0.0, 1.0), cv2.COLOR_YCrCb2BGR)


def _darkening(x, level, rng):
    # Dusk: the scene light falls; the camera's auto exposure lengthens the shutter (a little
    # motion blur) and raises the gain, which amplifies the read noise; the remaining sky light is
    # blue. A: a LUT; B: vignette, warm cast, flare; C: shot noise and crushed blacks, no gain.
    h, w = x.shape[:2]
    stops = _strength(rng, level, 1.5, 7.0)
    gain = stops * rng.uniform(0.35, 0.6)  # stops the gain wins back
    lin = _lin(x) * np.float32(2.0 ** (gain - stops))
    blue = min(1.0, stops / 7.0) * rng.uniform(0.5, 1.0)
    lin = lin * (1.0 - blue * np.float32([0.0, 0.2, 0.45]))
    length = max(1, round(rng.uniform(0.005, 0.012) * stops * _side(x)))
    k = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    a = rng.uniform(0, math.pi)
    cv2.line(
        k,
        (length - round(length * math.cos(a)), length - round(length * math.sin(a))),
        (length + round(length * math.cos(a)), length + round(length * math.sin(a))),
        1.0,
        1,
    )
    lin = cv2.filter2D(lin, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)
    p = max(1.0, _side(x) / rng.uniform(40.0, 70.0))  # sensor pixels per crop px
    sh, sw = max(1, round(h / p)), max(1, round(w / p))
    read = rng.normal(0.0, 0.004 * 2.0**gain, (sh, sw, 3)).astype(np.float32)
    return _enc(lin + cv2.resize(read, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, 3))


def _splat(mask: np.ndarray, rng: np.random.Generator) -> None:
    """One mud splash on `mask`: a main blob, satellite droplets thrown outwards, a drip tail."""
    lh, lw = mask.shape
    c = np.array([rng.uniform(0, lw), rng.uniform(0, lh)])
    r = rng.uniform(0.06, 0.16) * LAYER
    cv2.ellipse(mask, (tuple(c), (2 * r, 2 * r * rng.uniform(0.6, 1.0)), rng.uniform(0, 180)), 1.0, -1)
    for _ in range(int(rng.integers(3, 9))):
        a, d = rng.uniform(0, 2 * math.pi), r * rng.uniform(0.9, 2.2)
        p = c + d * np.array([math.cos(a), math.sin(a)])
        cv2.circle(mask, (int(p[0]), int(p[1])), max(1, int(r * rng.uniform(0.1, 0.35))), 1.0, -1)
    if rng.random() < 0.8:  # mud runs down the window under gravity
        length = r * rng.uniform(1.0, 3.0)
        x0 = c[0] + rng.uniform(-0.5, 0.5) * r
        end = (int(x0 + rng.normal(0, 0.1 * length)), int(c[1] + length))
        cv2.line(mask, (int(x0), int(c[1])), end, 1.0, max(1, int(r * rng.uniform(0.2, 0.4))))
        cv2.circle(mask, end, max(1, int(r * 0.3)), 1.0, -1)


def _dirty_lens(x, level, rng):
    # Mud thrown up by traffic onto the housing window: opaque brown splats with droplets around
    # them and tails where the mud ran down; on the window, so out of focus (soft edges) and
    # ragged (the mud's grain). A: dark blobs, specks, a veil; B: greasy smudges, grit; C: dust
    # shadows and a grime film.
    lh, lw = _dims(x)
    mask = np.zeros((lh, lw), np.float32)
    for _ in range(max(1, round(_strength(rng, level, 2.0, 14.0)))):
        _splat(mask, rng)
    ragged = _turbulence(rng, (lh, lw), (0.8, 2.0))
    mask = np.clip(mask * (0.7 + 0.6 * ragged), 0.0, 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.006, 0.02) * LAYER)
    alpha = _fit(mask * rng.uniform(0.8, 0.97), x)[:, :, None]
    mud = np.float32([0.1, 0.2, 0.3]) * rng.uniform(0.6, 1.3) * (0.8 + 0.4 * _fit(ragged, x)[:, :, None])
    return x + alpha * (mud - x)


def _ghost(layer: np.ndarray, centre: np.ndarray, radius: float, sides: int, turn: float, colour) -> None:
    a = turn + np.arange(sides) * 2 * math.pi / sides
    pts = np.stack([centre[0] + radius * np.cos(a), centre[1] + radius * np.sin(a)], 1)
    ghost = np.zeros(layer.shape[:2], np.float32)
    cv2.fillPoly(ghost, [np.round(pts * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    layer += cv2.GaussianBlur(ghost, (0, 0), max(0.6, 0.1 * radius))[:, :, None] * colour


def _exposure(x, level, rng):
    # The sun in or just outside the frame: light scattered in the lens veils the image, most on
    # the sun's side, and reflections between lens surfaces make ghosts of the iris's polygon on
    # the line from the sun through the image centre. A: global stops; B: per-channel clipping,
    # blooming; C: a video knee and CCD smear.
    s = _strength(rng, level, 0.25, 2.0)
    lh, lw = _dims(x)
    centre = np.array([lw / 2.0, lh / 2.0])
    a = rng.uniform(0, 2 * math.pi)
    sun = centre + rng.uniform(0.45, 0.8) * np.array([lw * math.cos(a), lh * math.sin(a)])
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    d = np.hypot(xx - sun[0], yy - sun[1]) / LAYER
    veil = 1.0 / (1.0 + (d / rng.uniform(0.25, 0.5)) ** 2)
    layer = (s * veil)[:, :, None] * np.float32([0.9, 0.97, 1.0])
    sides, turn = int(rng.integers(5, 9)), rng.uniform(0, math.pi)
    for _ in range(int(rng.integers(3, 7))):
        t = rng.uniform(-1.3, 0.9)  # position on the sun-centre line: 0 at the centre, 1 at the sun
        colour = np.float32(rng.uniform(0.3, 1.0, 3)) * 0.2 * s
        _ghost(layer, centre + t * (sun - centre), rng.uniform(0.04, 0.18) * LAYER, sides, turn, colour)
    lin = _lin(x) * np.float32(1.0 + 0.5 * s)
    return _enc(lin + _fit(layer.astype(np.float32), x))


def _lissajous(amp: float, rng: np.random.Generator) -> np.ndarray:
    """Motion PSF of a mount vibrating at two resonances: a Lissajous path, weighted by dwell time."""
    fx, fy = [(1, 2), (2, 3), (3, 4), (1, 3), (3, 5)][int(rng.integers(5))]
    ry, phase = rng.uniform(0.4, 1.0), rng.uniform(0, 2 * math.pi)
    t = np.linspace(0.0, 2 * math.pi * rng.uniform(0.6, 1.0), 2000)
    half = int(math.ceil(amp)) + 1
    px = half + amp * np.sin(fx * t + phase)
    py = half + amp * ry * np.sin(fy * t)
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    np.add.at(k, (np.round(py).astype(int), np.round(px).astype(int)), 1.0)
    turn = cv2.getRotationMatrix2D((float(half), float(half)), rng.uniform(0, 180), 1.0)
    k = cv2.warpAffine(k, turn, k.shape[::-1], flags=cv2.INTER_LINEAR)
    return k / k.sum()


def _gaussian_blur(x, level, rng):
    # A sign camera on a pole shaken by wind or trucks: the image moves along the mount's two
    # resonant sinusoids during the exposure, and spends most time at their turning points, so
    # the blur is a Lissajous figure with bright ends. A: isotropic Gaussian; B: elongated
    # Gaussian plus resolution loss; C: turbulence and a Moffat PSF.
    amp = max(0.8, _strength(rng, level, 0.02, 0.09) * _side(x))
    return _convolve(x, _lissajous(amp, rng), most=15)


def _noise(x, level, rng):
    # A sensor failing in the heat: stuck (white) and dead (black) pixels scattered over it, and
    # the readout amplifier glowing in one corner: dark current adds a purple-red glow there and
    # its thermal noise grows towards it. A: colour grain; B: Bayer shot noise and JPEG;
    # C: luminance shot noise, banding, hot pixels.
    h, w = x.shape[:2]
    p = max(1.0, _side(x) / rng.uniform(45.0, 75.0))
    sh, sw = max(1, round(h / p)), max(1, round(w / p))
    s = _strength(rng, level, 0.2, 1.0)
    cy, cx = (0 if rng.random() < 0.5 else sh - 1), (0 if rng.random() < 0.5 else sw - 1)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    glow = np.exp(-np.hypot(yy - cy, xx - cx) / (rng.uniform(0.3, 0.7) * max(sh, sw)))[:, :, None]
    lin = cv2.resize(_lin(x), (sw, sh), interpolation=cv2.INTER_AREA).reshape(sh, sw, 3)
    lin = lin + 0.25 * s * glow * np.float32([0.7, 0.25, 1.0])
    lin = lin + rng.normal(0.0, 0.08 * s, (sh, sw, 3)).astype(np.float32) * (0.15 + glow)
    u = rng.random((sh, sw))
    frac = 0.05 * s
    lin[u < frac / 2] = 0.0
    lin[(u >= frac / 2) & (u < frac)] = rng.uniform(0.6, 1.0)
    out = _enc(lin)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_NEAREST).reshape(h, w, 3) if (sh, sw) != (h, w) else out


def _rain(x, level, rng):
    # Rain falling just in front of the lens: each drop is far out of focus (a large soft disc),
    # brighter than the sign (it refracts the bright sky) and stretched along its fall during the
    # exposure; the overcast sky dims the scene. A: thin streaks, blue tint; B: drops stuck on
    # the lens; C: a water film on a windshield.
    t = _strength(rng, level, 0.15, 1.0)
    lh, lw = _dims(x)
    alpha = np.zeros((lh, lw), np.float32)
    fall = 90.0 + rng.normal(0.0, 15.0)  # degrees: vertical, tilted by the wind
    for _ in range(max(1, round(22 * t * rng.uniform(0.7, 1.3)))):
        r = rng.uniform(0.03, 0.1) * LAYER
        axes = (int(r * rng.uniform(1.8, 4.5)), int(r))
        drop = np.zeros_like(alpha)
        cv2.ellipse(drop, (int(rng.uniform(0, lw)), int(rng.uniform(0, lh))), axes, fall, 0, 360, 1.0, -1)
        alpha = np.maximum(alpha, drop * rng.uniform(0.2, 0.5))
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.02 * LAYER)
    sky = np.float32([0.85, 0.85, 0.82]) * rng.uniform(0.8, 1.0)
    lin = _lin(x) * np.float32(1.0 - 0.25 * t)
    a = _fit(alpha, x)[:, :, None]
    return _enc(lin + a * (sky - lin))


def _silhouette(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A vehicle's, a person's or a cloud's shadow on the sign plane, at layer size (1: shadowed)."""
    lh, lw = shape
    m = np.zeros(shape, np.float32)
    kind = int(rng.integers(3))
    cx, cy = rng.uniform(0.1, 0.9) * lw, rng.uniform(0.1, 0.9) * lh
    if kind == 0:  # a truck or van: a box with a cab, larger than the sign
        bw, bh = rng.uniform(0.8, 1.6) * lw, rng.uniform(0.4, 0.8) * lh
        cv2.rectangle(m, (int(cx - bw), int(cy)), (int(cx), int(cy + bh)), 1.0, -1)
        cv2.rectangle(m, (int(cx), int(cy + 0.3 * bh)), (int(cx + 0.35 * bw), int(cy + bh)), 1.0, -1)
    elif kind == 1:  # a person, stretched by a low sun
        u = rng.uniform(0.15, 0.25) * LAYER
        cv2.circle(m, (int(cx), int(cy - 3 * u)), int(u), 1.0, -1)
        cv2.ellipse(m, (int(cx), int(cy)), (int(1.2 * u), int(2.2 * u)), 0, 0, 360, 1.0, -1)
        for side in (-1, 1):
            cv2.line(
                m,
                (int(cx + side * 0.5 * u), int(cy)),
                (int(cx + side * 0.7 * u), int(cy + 5 * u)),
                1.0,
                max(1, int(0.7 * u)),
            )
        shear = np.float32([[1, rng.uniform(-0.6, 0.6), 0], [0, 1, 0]])
        m = cv2.warpAffine(m, shear, (lw, lh))
    else:  # a cloud: low-frequency, broad
        m = np.clip((_turbulence(rng, shape, (0.3 * LAYER, 0.15 * LAYER)) - rng.uniform(0.3, 0.6)) * 4.0, 0.0, 1.0)
    if m.mean() < 0.2:  # the shadow falls on the sign, not beside it: move it to its middle
        ys, xs = np.nonzero(m > 0.5)
        if ys.size:
            m = np.roll(m, (int(lh / 2 - ys.mean()), int(lw / 2 - xs.mean())), axis=(0, 1))
    return m


def _shadow(x, level, rng):
    # A passing vehicle, a pedestrian or a cloud shades part of the sign; the penumbra is soft
    # (the occluder is far from the sign), and the shade is lit by the blue sky. A: venetian-blind
    # bands; B: an edge, a pole, dappled light; C: branches or a truss.
    lh, lw = _dims(x)
    mask = cv2.GaussianBlur(_silhouette((lh, lw), rng), (0, 0), rng.uniform(0.02, 0.06) * LAYER)
    stops = _strength(rng, level, 0.8, 4.5)  # sunlight to skylight: a sunny day's shade is 2-5 stops
    sky = np.float32([1.0, 0.8, 0.62]) * rng.uniform(0.9, 1.1)  # the colour of what still lights the shade, BGR
    shade = 2.0**-stops * sky / float(sky @ _Y601)
    return _enc(_lin(x) * (1.0 + _fit(mask, x)[:, :, None] * (shade - 1.0)))


def _dendrite(mask: np.ndarray, p, a: float, length: float, depth: int, rng: np.random.Generator) -> None:
    """An ice needle from p along angle a with side needles at +-60 degrees (ice is hexagonal)."""
    q = (p[0] + length * math.cos(a), p[1] + length * math.sin(a))
    cv2.line(mask, (int(p[0] * 8), int(p[1] * 8)), (int(q[0] * 8), int(q[1] * 8)), 1.0, 1, cv2.LINE_AA, shift=3)
    if depth == 0:
        return
    for f in rng.uniform(0.25, 0.9, int(rng.integers(2, 5))):
        b = (p[0] + f * (q[0] - p[0]), p[1] + f * (q[1] - p[1]))
        side = math.pi / 3 * (1 if rng.random() < 0.5 else -1)
        _dendrite(mask, b, a + side, length * rng.uniform(0.3, 0.5), depth - 1, rng)
    _dendrite(mask, q, a + rng.normal(0, 0.2), length * 0.6, depth - 1, rng)


def _snow(x, level, rng):
    # Frost on the camera window in freezing weather: ice crystals grow inwards from the cold
    # edges as dendrites branching at 60 degrees, and a frosted film (fine crystals) scatters the
    # light where they are dense. A: a glow and falling dots; B: a veil, discs, streaks;
    # C: snow stuck on the sign face.
    t = _strength(rng, level, 0.15, 0.9)
    lh, lw = _dims(x)
    mask = np.zeros((lh, lw), np.float32)
    for _ in range(max(1, round(14 * t))):
        edge = int(rng.integers(4))
        p = [
            (rng.uniform(0, lw), 0.0),
            (lw - 1.0, rng.uniform(0, lh)),
            (rng.uniform(0, lw), lh - 1.0),
            (0.0, rng.uniform(0, lh)),
        ][edge]
        a = (math.pi / 2, math.pi, -math.pi / 2, 0.0)[edge] + rng.normal(0, 0.4)
        _dendrite(mask, p, a, rng.uniform(0.15, 0.35) * LAYER * (0.5 + t), 3, rng)
    film = np.clip(cv2.GaussianBlur(mask, (0, 0), 0.05 * LAYER) * (2.0 + 3.0 * t), 0.0, 0.9)
    frost = np.maximum(np.clip(mask, 0.0, 1.0) * 0.95, film)
    scattered = cv2.GaussianBlur(x, (0, 0), 0.04 * _side(x))
    a = _fit(frost, x)[:, :, None]
    ice = np.float32([1.0, 0.97, 0.93]) * rng.uniform(0.85, 0.98)
    return scattered * a * 0.3 + x * (1.0 - a) + a * 0.7 * ice


def _haze(x, level, rng):
    # Smoke from a fire beside the road (a grey-brown plume rising from one side, turbulent) or a
    # dust storm (yellow-brown, denser near the ground): transmission exp(-density) with the
    # density's local turbulence; the particles' own colour is the airlight. A: a flat #CECECE
    # layer; B: Koschmieder with a depth map; C: multiple scattering of the scene's light.
    lh, lw = _dims(x)
    beta = _strength(rng, level, 0.2, 1.8)
    dens = 0.3 + _turbulence(rng, (lh, lw), (0.25 * LAYER, 0.1 * LAYER, 0.04 * LAYER))
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    if rng.random() < 0.5:  # smoke plume: a source below, widening as it rises, bent by the wind
        x0, lean = rng.uniform(0.0, 1.0) * lw, rng.uniform(-0.6, 0.6)
        width = (0.25 + 0.6 * (1.0 - yy / lh)) * lw * rng.uniform(0.5, 1.0) * (0.6 + 0.15 * level)  # more smoke, wider
        dens *= np.exp(-(((xx - x0 - lean * (lh - yy)) / width) ** 2))
        dens += rng.uniform(0.1, 0.2)  # smoke that has already spread through the air around the plume
        air = np.float32([0.38, 0.42, 0.47]) * rng.uniform(0.7, 1.2)
    else:  # dust storm: thicker low down; yellow-brown airlight, blue scattered away
        dens *= 0.6 + 0.8 * yy / lh
        air = np.float32([0.3, 0.55, 0.75]) * rng.uniform(0.8, 1.1)
    trans = _fit(np.exp(-beta * dens).astype(np.float32), x)[:, :, None]
    return _enc(_lin(x) * trans + _lin(air) * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_d(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "D".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "D", _EFFECTS)
