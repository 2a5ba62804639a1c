"""Rendering "E" of the 12 CURE-TSR challenges: the holdout for the product as shipped, written blind.

Once D had been measured, a fit on all of A-D had no rendering left that nobody tuned on: E is
that rendering (fit on A-D, test on E, once), whichever of A-D FIT_RENDERINGS holds; measured so on
2026-11-30 (docs/DESIGN.md §5.8). It is written without A's, B's, C's or D's helpers (only
monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared) and each effect is another physical process, or another way a real camera
produces the condition, than any of A-D (their lines: monitor/rendering_c.py, monitor/rendering_d.py):

| condition | E |
| --- | --- |
| decolorization | an old CCTV camera losing its colour burst: chroma fades and its hue rotates, differently in horizontal bands |
| lens_blur | field curvature: the centre in focus, a defocus disc growing towards the edges and corners |
| codec_error | MJPEG with a lost restart interval: from some block the rest of the frame is grey or green, or a stale shifted copy (a half-updated frame) |
| darkening | an iris / ND filter stuck closed, the camera's contrast stretch after 8-bit quantisation: dark, lifted blacks, posterised |
| dirty_lens | pollen and dust on the window: many tiny bright out-of-focus dots lit by the scene, a diffuse glow |
| exposure | auto exposure overshooting after a tunnel: the frame lifted, soft-clipped highlights, washed colours, a purple fringe |
| gaussian_blur | a rolling-shutter wobble (jello: rows shifted along a sinusoid) with a fixed-focus lens at its limit |
| noise | a long video cable's interference: diagonal crossing stripes (herringbone) with cross-colour, plus coarse quantisation noise |
| rain | falling rain lit by headlights from one side: bright short warm streaks in the beam, its scattered glow |
| shadow | the shadow of the camera housing's hood: a dark band along one edge, a slight penumbra, warm bounce light in it |
| snow | wet snowfall at night under a street lamp: large soft flakes near the camera lit by the lamp, with bloom, the scene dim |
| haze | condensation on the housing window: a mist graded up from the bottom, scattering the scene, droplets along its top edge |

Conventions of E:
- Strength: a nominal value per level, linear from the level-1 to the level-5 value, times a
  uniform jitter of +-20 % (`_strength`); count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through a pure 2.0 power (A 2.2, B sRGB, C BT.709, D 2.4).
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py), never by the project's detector,
  classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 120  # px: procedural layers are drawn with the crop's shorter side at this size
_Y709 = np.float32([0.0722, 0.7152, 0.2126])  # luminance weights, BGR order

# ---------------------------------------------------------------------------------------------
# Helpers of E


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi linearly, times a uniform jitter in [0.8, 1.2]."""
    return float((lo + (hi - lo) * (level - 1) / 4.0) * rng.uniform(0.8, 1.2))


def _lin(x: np.ndarray) -> np.ndarray:
    return np.square(np.clip(x, 0.0, 1.0))


def _enc(y: np.ndarray) -> np.ndarray:
    return np.sqrt(np.clip(y, 0.0, 1.0))


def _dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    out = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)
    return out.reshape(h, w, *layer.shape[2:])


def _disc_blur(x: np.ndarray, radius: float) -> np.ndarray:
    """Defocus: a uniform disc PSF of `radius` px (a round aperture)."""
    r = max(radius, 0.5)
    half = int(math.ceil(r))
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    cv2.circle(k, (half * 8, half * 8), int(r * 8), 1.0, -1, cv2.LINE_AA, shift=3)
    return cv2.filter2D(x, -1, k / k.sum(), borderType=cv2.BORDER_REFLECT)


def _coords(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:h, 0:w].astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering E: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A composite CCTV camera whose colour burst is failing: the decoder's chroma gain and its
    # subcarrier phase drift, so colour fades and hues rotate, by different amounts in bands of
    # lines. A: blend to grey; B: channel mixer; C: a faded print; D: sodium light.
    h = x.shape[0]
    s = min(1.0, _strength(rng, level, 0.35, 0.95))
    cuts = np.sort(rng.uniform(0, h, int(rng.integers(1, 5))).astype(int))
    gain, phase = np.empty(h, np.float32), np.empty(h, np.float32)
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, h], strict=False):
        gain[a:b] = 1.0 - s * rng.uniform(0.7, 1.0)
        phase[a:b] = rng.normal(0.0, 0.9 * s)
    sm = max(0.5, 0.01 * h)
    gain = cv2.GaussianBlur(gain[:, None], (1, 0), sm).ravel()[:, None]
    phase = cv2.GaussianBlur(phase[:, None], (1, 0), sm).ravel()[:, None]
    ycc = cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)
    cr, cb = ycc[:, :, 1] - 0.5, ycc[:, :, 2] - 0.5
    ycc[:, :, 1] = 0.5 + gain * (cr * np.cos(phase) - cb * np.sin(phase))
    ycc[:, :, 2] = 0.5 + gain * (cr * np.sin(phase) + cb * np.cos(phase))
    ycc[:, :, 0] *= np.float32(1.0 - 0.12 * s)  # the weak burst also lowers the AGC's luma a little
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)


def _lens_blur(x, level, rng):
    # Field curvature: the lens focuses on a curved surface, so when the centre is sharp the edges
    # and corners are out of focus by a disc that grows with the distance from the centre.
    # A: hexagonal iris; B: round rimmed iris; C: tilted plane, axial CA; D: mirror lens ring PSF.
    h, w = x.shape[:2]
    radius = max(1.0, _strength(rng, level, 0.04, 0.15) * _side(x))
    lin = _lin(x)
    yy, xx = _coords(h, w)
    centre = (rng.uniform(0.4, 0.6) * w, rng.uniform(0.4, 0.6) * h)
    r = np.hypot((xx - centre[0]) / (w / 2.0), (yy - centre[1]) / (h / 2.0)) / math.sqrt(2.0)
    sharp = rng.uniform(0.05, 0.3) * (1.2 - 0.2 * level)  # the sharp zone shrinks as the error grows
    wgt = np.clip((r - sharp) / (0.75 - sharp), 0.0, 1.0) ** 0.8
    out = lin
    for k, f in enumerate((0.35, 0.7, 1.0)):  # a few discs, each zone blended in: the blur grows outwards
        blur = _disc_blur(lin, radius * f)
        a = np.clip(wgt * 3.0 - k, 0.0, 1.0)[:, :, None]
        out = out + a * (blur - out)
    return _enc(out)


def _codec_error(x, level, rng):
    # An MJPEG camera whose stream lost a restart interval: the decoder can't resync until the
    # next frame, so from some 8 x 8 block on the rest of the frame is grey (DC 0) or green (all
    # zero YCbCr), or is left from an older frame that was shifted (a half-updated frame).
    # A: previous frame's blocks; B: DCT quantisation, concealed slices; C: MCU desync; D: drifting MVs.
    h, w = x.shape[:2]
    m = max(2, round(_side(x) / rng.uniform(6.0, 10.0)))
    frac = min(0.95, _strength(rng, level, 0.15, 0.75))
    row = min(h - 1, int(h * (1.0 - frac)) // m * m)
    col = int(rng.integers(0, max(1, w // m))) * m
    lost = np.zeros((h, w), bool)
    lost[row + m :] = True
    lost[row : row + m, col:] = True
    kind = rng.random()
    if kind < 0.35:
        fill = np.full_like(x, 0.5) + np.float32(rng.normal(0, 0.03))
    elif kind < 0.6:
        g = cv2.cvtColor(np.zeros((1, 1, 3), np.float32), cv2.COLOR_YCrCb2BGR)
        fill = np.broadcast_to(np.clip(g, 0, 1), x.shape).astype(np.float32)
    else:
        d = rng.uniform(0.08, 0.25, 2) * _side(x) * rng.choice([-1.0, 1.0], 2)
        mat = np.float32([[1, 0, d[0]], [0, 1, d[1]]])
        fill = cv2.warpAffine(x, mat, (w, h), borderMode=cv2.BORDER_REPLICATE) * np.float32(rng.uniform(0.75, 1.2))
    out = x.copy()
    out[lost] = fill[lost]
    return np.clip(out, 0.0, 1.0)


def _darkening(x, level, rng):
    # The iris (or an ND filter) stuck nearly closed: the sensor gets little light and the 8-bit
    # output keeps only a few codes; the camera's contrast stretch then spreads them out again
    # (posterised shadows) over a lifted black pedestal (low contrast).
    # A: a LUT; B: vignette and flare; C: shot noise, crushed blacks; D: dusk with gain noise.
    stops = _strength(rng, level, 3.0, 9.0)
    y = np.round(_enc(_lin(x) * np.float32(2.0**-stops)) * 255.0) / 255.0
    stretch = 2.0 ** (0.5 * stops * rng.uniform(0.55, 0.8))  # the share of the lost light it wins back
    pedestal = rng.uniform(0.08, 0.15)  # the black level set high: a grey, low-contrast dark picture
    return pedestal + y * stretch * (1.0 - pedestal)  # y's 8-bit codes stay apart: posterised


def _dirty_lens(x, level, rng):
    # Pollen and dust settled on the housing window: many tiny grains, out of focus, each a small
    # soft disc lit by the light around it (bright against the scene), and a faint glow of light
    # they scatter. A: dark blobs; B: greasy smudges; C: dust shadows; D: mud splashes.
    lh, lw = _dims(x)
    n = round(_strength(rng, level, 40.0, 420.0))
    dots = np.zeros((lh, lw), np.float32)
    pts = np.stack([rng.uniform(0, lw, n), rng.uniform(0, lh, n)], 1)
    for (px, py), r, b in zip(pts, rng.uniform(0.5, 2.2, n), rng.uniform(0.3, 1.0, n), strict=False):
        cv2.circle(dots, (int(px * 8), int(py * 8)), max(1, int(r * 8)), float(b), -1, cv2.LINE_AA, shift=3)
    dots = cv2.GaussianBlur(dots, (0, 0), 0.5)
    lin = _lin(x)
    lit = 0.35 + cv2.GaussianBlur(lin, (0, 0), 0.1 * _side(x))
    tint = np.float32([0.7, 0.92, 1.0]) * rng.uniform(0.8, 1.0)  # pollen: yellow-white
    glow = (0.01 + 0.0004 * n) * cv2.GaussianBlur(lin, (0, 0), 0.2 * _side(x))
    return _enc(lin + _fit(dots, x)[:, :, None] * lit * tint * 0.8 + glow)


def _exposure(x, level, rng):
    # Auto exposure overshooting as the car leaves a tunnel: the whole frame is lifted, the camera
    # rolls highlights off softly (a filmic shoulder), colours near white wash out, and lateral
    # chromatic aberration leaves a purple fringe on bright edges. A: global stops; B: per-channel
    # clipping; C: knee and smear; D: the sun in frame.
    stops = _strength(rng, level, 0.5, 3.0)
    lin = _lin(x) * np.float32(2.0**stops) + np.float32(rng.uniform(0.0, 0.02) * stops)
    knee = 0.55
    over = np.maximum(lin - knee, 0.0)
    lin = np.where(lin > knee, knee + (1 - knee) * (1 - np.exp(-over / (1 - knee))), lin)
    lum = (lin @ _Y709)[:, :, None]
    lin = lum + (lin - lum) * (1.0 - rng.uniform(0.5, 0.9) * np.clip(lum, 0.0, 1.0))
    bright = (lum[:, :, 0] > 0.85).astype(np.float32)
    ring = np.clip(cv2.GaussianBlur(bright, (0, 0), max(0.6, 0.02 * _side(x))) - bright, 0.0, 1.0)
    fringe = np.float32([0.55, -0.1, 0.35]) * rng.uniform(0.4, 0.8)
    return _enc(lin + ring[:, :, None] * fringe)


def _gaussian_blur(x, level, rng):
    # A CMOS camera on a vibrating pole reads its rows one after another, so each row is caught at
    # another phase of the vibration (jello: rows shifted along a sinusoid), and its fixed-focus
    # lens at its resolution limit softens everything. A: isotropic Gaussian; B: elongated
    # Gaussian; C: turbulence, Moffat PSF; D: a Lissajous motion PSF.
    h, w = x.shape[:2]
    amp = _strength(rng, level, 0.012, 0.06) * _side(x)
    cycles, phase = rng.uniform(0.8, 2.5), rng.uniform(0, 2 * math.pi)
    yy, xx = _coords(h, w)
    wave = np.sin(2 * math.pi * cycles * yy / h + phase)
    mx = xx + amp * wave
    my = yy + 0.3 * amp * np.cos(2 * math.pi * cycles * yy / h + phase)
    out = cv2.remap(x, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    sigma = max(0.4, _strength(rng, level, 0.008, 0.03) * _side(x))
    return cv2.GaussianBlur(out, (0, 0), sigma)


def _noise(x, level, rng):
    # A long unshielded video cable picks up interference: crossing diagonal stripes (a herringbone
    # moire of two carriers), partly leaking into the colour (cross-colour); the grabber's coarse
    # quantisation adds its own noise. A: colour grain; B: Bayer shot noise; C: luminance shot
    # noise and banding; D: stuck pixels and amplifier glow.
    h, w = x.shape[:2]
    s = _strength(rng, level, 0.2, 1.0)
    yy, xx = _coords(h, w)
    period = _side(x) / rng.uniform(5.0, 12.0)
    a = rng.uniform(0.35, 0.9)
    jit = np.cumsum(rng.normal(0, 0.15, h)).astype(np.float32)[:, None]  # line-to-line timing jitter
    u = 2 * math.pi / period
    stripes = np.sin(u * (xx * math.cos(a) + yy * math.sin(a)) + jit) + rng.uniform(0.4, 1.0) * np.sin(
        u * (xx * math.cos(a) - yy * math.sin(a)) + rng.uniform(0, 6)
    )
    amp = 0.14 * s
    out = x + (amp * stripes)[:, :, None] * (np.float32([1.0, 1.0, 1.0]) + np.float32([0.4, -0.2, -0.3]))
    step = 2.0 ** (2.0 + 3.0 * s) / 255.0  # 4 to 32 codes per step
    out = out + rng.uniform(-0.5, 0.5, out.shape).astype(np.float32) * step
    return np.round(np.clip(out, 0.0, 1.0) / step) * step


def _rain(x, level, rng):
    # Rain falling through a car's headlight beam, from one side of the frame: drops in the beam
    # shine as bright, short warm streaks (the exposure's length of their fall) and the beam's
    # light scattered by the rain veils that side. A: thin streaks, blue; B: drops on the lens;
    # C: a water film; D: big out-of-focus drops.
    t = _strength(rng, level, 0.15, 1.0)
    lh, lw = _dims(x)
    yy, xx = _coords(lh, lw)
    side = int(rng.integers(4))
    pos = [xx / lw, 1 - xx / lw, yy / lh, 1 - yy / lh][side]  # 0 at the lit edge
    beam = np.clip(1.2 - 1.8 * pos, 0.0, 1.0)
    streaks = np.zeros((lh, lw), np.float32)
    tilt = rng.normal(0, 0.25)
    for _ in range(max(2, round(150 * t * rng.uniform(0.8, 1.2)))):
        px, py = rng.uniform(0, lw), rng.uniform(0, lh)
        b = beam[int(py) % lh, int(px) % lw]
        if b <= 0.0:
            continue
        ln = rng.uniform(0.03, 0.08) * LAYER
        q = (px + ln * math.sin(tilt), py + ln * math.cos(tilt))
        p8, q8 = (int(px * 8), int(py * 8)), (int(q[0] * 8), int(q[1] * 8))
        cv2.line(streaks, p8, q8, float(b * rng.uniform(0.5, 1.0)), 1, cv2.LINE_AA, shift=3)
    streaks = cv2.GaussianBlur(streaks, (0, 0), 0.4)
    warm = np.float32([0.72, 0.9, 1.0])
    lin = _lin(x) + (_fit(beam, x) * 0.2 * t)[:, :, None] * warm
    return _enc(lin + _fit(streaks, x)[:, :, None] * warm * 1.2)


def _shadow(x, level, rng):
    # The camera housing's sun hood shades the window when the sun is behind it: a dark band along
    # one edge, its edge only slightly soft (the hood is close but the sun is a disc), lit in the
    # shade by warm light bounced off the road. A: blinds; B: an edge, a pole, dapples; C: branches;
    # D: a vehicle's, person's or cloud's silhouette.
    lh, lw = _dims(x)
    yy, xx = _coords(lh, lw)
    depth = _strength(rng, level, 0.2, 0.5)
    slope = math.tan(rng.normal(0, 0.12))
    side = int(rng.integers(4))
    pos = [yy / lh + slope * (xx / lw - 0.5), 1 - yy / lh + slope * (xx / lw - 0.5), xx / lw, 1 - xx / lw][side]
    pen = rng.uniform(0.01, 0.035)
    mask = np.clip((depth - pos) / pen + 0.5, 0.0, 1.0)
    stops = _strength(rng, level, 1.2, 3.2)
    bounce = np.float32([0.55, 0.8, 1.0]) * rng.uniform(0.02, 0.05)  # warm light off the road
    lin = _lin(x)
    m = _fit(mask, x)[:, :, None]
    return _enc(lin * (1.0 - m * (1.0 - 2.0**-stops)) + m * bounce * float(lin.mean() + 0.2))


def _snow(x, level, rng):
    # Wet snow falling at night under a street lamp: large flakes close to the camera, out of
    # focus, lit by the lamp (brightest near it), with bloom around them; the scene itself is
    # dim. A: a glow and dots; B: a veil, discs, streaks; C: snow on the sign; D: frost on the lens.
    t = _strength(rng, level, 0.15, 1.0)
    lh, lw = _dims(x)
    yy, xx = _coords(lh, lw)
    lamp = (rng.uniform(-0.2, 1.2) * lw, rng.uniform(-0.3, 0.2) * lh)
    light = 1.0 / (1.0 + (np.hypot(xx - lamp[0], yy - lamp[1]) / (0.7 * LAYER)) ** 2)
    flakes = np.zeros((lh, lw), np.float32)
    for _ in range(max(2, round(60 * t * rng.uniform(0.8, 1.2)))):
        px, py = rng.uniform(0, lw), rng.uniform(0, lh)
        r = rng.uniform(0.015, 0.06) * LAYER
        ax = (max(1, int(r * 8)), max(1, int(r * rng.uniform(0.6, 1.0) * 8)))
        b = float(rng.uniform(0.5, 1.0) * light[int(py) % lh, int(px) % lw])
        cv2.ellipse(flakes, (int(px * 8), int(py * 8)), ax, rng.uniform(0, 180), 0, 360, b, -1, cv2.LINE_AA, 3)
    flakes = cv2.GaussianBlur(flakes, (0, 0), 0.012 * LAYER)
    bloom = cv2.GaussianBlur(flakes, (0, 0), 0.06 * LAYER) * rng.uniform(0.5, 1.0)
    lamp_col = np.float32([0.65, 0.85, 1.0])
    dim = np.float32(2.0 ** -rng.uniform(0.3, 0.6))  # night: the lamp lights the sign less than day did
    veil = light * 0.35 * t  # the lamp's light scattered by the many small flakes further away
    lin = _lin(x) * dim + _fit(veil, x)[:, :, None] * lamp_col
    return _enc(lin + _fit(np.clip(flakes + bloom, 0.0, 1.5), x)[:, :, None] * lamp_col)


def _haze(x, level, rng):
    # Condensation inside the camera housing on a cold morning: a mist of fine droplets on the
    # window, thickest at the bottom where the glass is coldest, scattering the scene (a blur and
    # a light veil), with larger droplets along its top edge. A: a flat layer; B: Koschmieder with
    # depth; C: multiple scattering; D: smoke or dust.
    h, w = x.shape[:2]
    t = _strength(rng, level, 0.3, 1.0)
    yy, xx = _coords(h, w)
    top = h * (1.0 - min(1.0, rng.uniform(0.6, 0.9) * (0.55 + 0.7 * t)))
    edge = top + 0.05 * h * np.sin(2 * math.pi * xx / w * rng.uniform(1, 3) + rng.uniform(0, 6))
    dens = np.clip((yy - edge) / (h - top + 1e-3), 0.0, 1.0) ** 0.5 * min(0.97, t)
    lin = _lin(x)
    # the mist sends the scene's own light everywhere (its colour, a little brighter): contrast falls
    scat = 0.7 * cv2.GaussianBlur(lin, (0, 0), 0.12 * _side(x)) + 0.3 * lin.mean((0, 1)) * rng.uniform(1.8, 2.8)
    out = lin + dens[:, :, None] * (scat - lin)
    drops = np.zeros((h, w), np.float32)
    for px in rng.uniform(0, w, int(rng.integers(6, 20))):
        py = float(edge[0, min(w - 1, int(px))]) + rng.normal(0, 0.02 * h)
        r = max(1, int(rng.uniform(0.01, 0.03) * _side(x) * 8))
        cv2.circle(drops, (int(px * 8), int(py * 8)), r, 0.2, max(1, r // 24), cv2.LINE_AA, shift=3)
    return _enc(out + drops[:, :, None])


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_e(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "E".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "E", _EFFECTS)
