"""Rendering "F" of the 12 CURE-TSR challenges: written blind, measured once on 2026-11-30 (fit on A, B, C, test on F; docs/DESIGN.md §5.8).

A-E had all been measured with the detector (docs/DESIGN.md §5.8), so none was blind any more. F
was written without running the detector, the classifier, the image statistics, calibrate or
evaluate on it, then measured once with the default fit (FIT_RENDERINGS, test on F); G
(monitor/rendering_g.py) is the holdout written after it. It is written without A-E's helpers
(only monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared) and each
effect is another physical process, or another way a real camera produces the condition, than any
of A-E (their lines: monitor/rendering_c.py, _d.py, _e.py):

| condition | F |
| --- | --- |
| decolorization | the IR-cut filter failing at dusk: infrared leaks in (reds and greens lift, a magenta cast), then the camera's monochrome night mode half switches in |
| lens_blur | a soft-focus diffusion filter (or a greasy zoom front element): a slightly soft core plus a wide glow and halos around bright parts |
| codec_error | raw frame buffer faults: a wrong line stride (rows sheared and wrapped from some line on) or field combing of a moving sign |
| darkening | a failing street light at night: little light, and a rolling shutter reading its 100 Hz flicker as dark and lit row bands |
| dirty_lens | a hair or fibre across the lens (thin out-of-focus dark curves) or dried salt spray (white crusty speckles) |
| exposure | wide-dynamic-range tone mapping gone wrong: lifted, local contrast flattened, halos along edges, a grey cast |
| gaussian_blur | a uniform water film on the window: an even blur, a slight magnification and barrel bulge of the film's meniscus |
| noise | low-light chroma noise in large colour blotches (after the camera's noise reduction) plus radio interference bars |
| rain | spray from a passing truck: a dense grey mist drifting in from one side, fine droplets smeared by its motion |
| shadow | a rotating fan's (or turbine's) blades: dark sectors from a hub, smeared along their rotation, partly covering the sign |
| snow | slush splashed on the lens: translucent grey-white blobs that blur and whiten what is behind them, a cold overcast cast |
| haze | a plastic film or greenhouse sheet in front of the camera: a milky, slightly yellow veil with wrinkles and a soft glow |

Conventions of F:
- Strength: a nominal value per level, along a power 1.5 of the level from the level-1 to the level-5
  value (the higher levels spread further apart), times a triangular jitter of +-30 % (`_strength`).
  Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through a pure 1.8 power (A 2.2, B sRGB, C BT.709, D 2.4, E 2.0).
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py), never by the project's detector,
  classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 88  # px: procedural layers are drawn with the crop's shorter side at this size
_GAMMA = 1.8
_LUM = np.float32([0.11, 0.59, 0.30])  # luminance weights, BGR order

# ---------------------------------------------------------------------------------------------
# Helpers of F


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi along a power 1.5, times a triangular jitter in [0.7, 1.3]."""
    return float((lo + (hi - lo) * ((level - 1) / 4.0) ** 1.5) * rng.triangular(0.7, 1.0, 1.3))


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
    out = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)
    return out.reshape(h, w, *layer.shape[2:])


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """White noise blurred by `sigma` px, rescaled to [0, 1]."""
    f = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(sigma, 0.4))
    return (f - f.min()) / (np.ptp(f) + 1e-6)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:h, 0:w].astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering F: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # At dusk the day/night switch moves the IR-cut filter out before the image turns grey: near
    # infrared (strong off paint reds and foliage, weak off blue) adds to every channel, the red and
    # blue pixels' IR sensitivity giving a magenta cast, while the camera's monochrome mode fades
    # the colour. A grey blend, mixer, faded print, sodium light and colour burst are A-E's.
    s = min(1.0, _strength(rng, level, 0.15, 1.0))
    lin = _lin(x)
    ir = lin @ np.float32([0.05, 0.45, 0.9]) * rng.uniform(0.6, 1.0)  # IR reflectance: red and green lift
    leak = (ir * s)[:, :, None] * np.float32([0.8, 0.45, 1.0])  # B and R pixels pass more IR: magenta
    mixed = lin + leak
    mono = min(1.0, s * rng.uniform(0.5, 1.0))  # how far the night mode has switched in
    lum = (mixed @ _LUM)[:, :, None]
    out = lum + (mixed - lum) * (1.0 - mono)
    return _enc(out / max(1.0, float(out.max())) * rng.uniform(0.85, 1.0))


def _lens_blur(x, level, rng):
    # A diffusion ("soft focus") filter, or grease on a zoom's front element: most light still
    # forms a slightly soft image, a share is spread into a wide glow whose halos surround bright
    # parts. A-E: hexagonal and round irises, a tilted plane, a ring PSF, field curvature.
    s = _strength(rng, level, 0.25, 0.85)
    lin = _lin(x)
    core = cv2.GaussianBlur(lin, (0, 0), max(0.5, s * 0.06 * _side(x)))
    glow = cv2.GaussianBlur(lin, (0, 0), rng.uniform(0.08, 0.16) * _side(x))
    halo = cv2.GaussianBlur(lin, (0, 0), rng.uniform(0.25, 0.4) * _side(x))
    share = min(0.8, 0.6 * s)
    out = (1.0 - share) * core + share * (0.6 * glow + 0.4 * halo) * rng.uniform(1.05, 1.25)
    return _enc(out)


def _codec_error(x, level, rng):
    # Faults in the raw frame buffer, not in a codec's blocks: a wrong line stride reads each row
    # a few pixels further on than the last (the rest of the frame sheared and wrapped round), or
    # the two fields of an interlaced camera are woven while the sign moves (combing).
    # A-E: displaced blocks, DCT quantisation, MCU desync, wrong motion vectors, a lost restart.
    h, w = x.shape[:2]
    s = _strength(rng, level, 0.2, 1.0)
    if rng.random() < 0.55:
        start = int(h * (1.0 - min(0.92, (0.08 + 0.85 * s) * rng.uniform(0.8, 1.2))))
        step = max(1, round(rng.uniform(0.01, 0.04) * w * (0.5 + s))) * rng.choice([-1, 1])
        out = x.copy()
        for r in range(start, h):
            out[r] = np.roll(x[r], int(step * (r - start + 1)) % w, axis=0)
        return out
    shift = max(1.0, s * rng.uniform(0.06, 0.14) * w) * rng.choice([-1.0, 1.0])
    moved = cv2.warpAffine(x, np.float32([[1, 0, shift], [0, 1, 0.1 * shift]]), (w, h), borderMode=cv2.BORDER_REFLECT)
    out = x.copy()
    odd = int(rng.integers(2))
    out[odd::2] = moved[odd::2]  # the other field was exposed 1/50 s later
    return out


def _darkening(x, level, rng):
    # A street light failing at night: little light, and its 100 Hz flicker (deepened by the
    # failing ballast) read row by row by the rolling shutter as dark and lit bands.
    # A-E: a LUT, vignette and flare, shot noise, dusk gain noise, a stuck iris.
    h, w = x.shape[:2]
    stops = _strength(rng, level, 0.2, 3.0)
    bands = rng.uniform(1.5, 4.5)
    depth = min(0.95, rng.uniform(0.6, 0.75) + 0.04 * level)
    yy = np.arange(h, dtype=np.float32)[:, None, None]
    flicker = 1.0 - depth * (0.5 + 0.5 * np.sin(2 * math.pi * bands * yy / h + rng.uniform(0, 2 * math.pi)))
    tint = np.float32([0.6, 0.88, 1.1])  # the dying lamp's warmer light
    return _enc(_lin(x) * np.float32(2.0**-stops) * flicker * tint)


def _fibres(x: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    # hairs on the window: thin dark curves, defocused into soft grey bands
    lh, lw = _dims(x)
    mask = np.zeros((lh, lw), np.float32)
    for _ in range(int(rng.integers(1, 3)) + 2 * level):
        p = rng.uniform(0, 1, 2) * (lw, lh)
        ang = rng.uniform(0, math.pi)
        pts = []
        for t in np.linspace(-0.7, 0.7, 24):
            ang += rng.normal(0, 0.08)
            pts.append((p[0] + t * LAYER * math.cos(ang), p[1] + t * LAYER * math.sin(ang)))
        thick = max(1, round(rng.uniform(1.0, 2.5) * (0.6 + 0.4 * level)))
        cv2.polylines(mask, [np.int32(np.array(pts) * 8)], False, 1.0, thick, cv2.LINE_AA, shift=3)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.8, 1.8))
    opacity = min(0.95, _strength(rng, level, 0.35, 0.95))
    return _lin(x) * (1.0 - opacity * np.clip(_fit(mask, x), 0.0, 1.0)[:, :, None])


def _salt(x: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    # dried salt spray: many small crusty white specks, a faint white film between them
    lh, lw = _dims(x)
    n = round(_strength(rng, level, 15.0, 300.0))
    crust = (rng.random((lh, lw)) < n / (lh * lw)).astype(np.float32)
    crust = cv2.dilate(crust, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2, 2)))
    crust = cv2.GaussianBlur(crust * rng.uniform(0.6, 1.0, (lh, lw)).astype(np.float32), (0, 0), 0.6)
    film = 0.08 * min(1.0, n / 300.0)
    m = np.clip(_fit(crust, x) * 1.6 + film, 0.0, 1.0)[:, :, None]
    return _lin(x) * (1.0 - m) + m * np.float32([0.92, 0.95, 0.97])


def _dirty_lens(x, level, rng):
    # A hair or fibre across the window, or dried salt spray off the road. A-E: dark blobs,
    # greasy smudges, dust shadows, mud splashes, pollen sparkles.
    return _enc(_fibres(x, level, rng) if rng.random() < 0.5 else _salt(x, level, rng))


def _exposure(x, level, rng):
    # Wide-dynamic-range tone mapping pushed too far: the log image's large-scale base is lifted
    # and compressed while its detail is kept, so every region drifts to mid-grey-bright, edges
    # get halos (the base is a plain blur) and the picture looks flat and grey.
    # A-E: global stops, per-channel clipping, a knee and smear, the sun, overshoot after a tunnel.
    s = _strength(rng, level, 0.2, 1.0)
    lin = _lin(x) + 1e-3
    lg = np.log2(lin)
    base = cv2.GaussianBlur(lg, (0, 0), rng.uniform(0.05, 0.12) * _side(x))
    detail = lg - base
    target = math.log2(rng.uniform(0.35, 0.55))  # where the mapping pulls every region
    squeeze = 1.0 - min(0.9, 0.85 * s)
    out = np.exp2(target + (base - target) * squeeze + detail * (1.0 + 0.6 * s) + 1.5 * s)
    lum = (out @ _LUM)[:, :, None]
    out = lum + (out - lum) * (1.0 - 0.5 * s)  # the grey cast: colour flattened with contrast
    return _enc(out + 0.08 * s)


def _gaussian_blur(x, level, rng):
    # A thin even film of water on the window: it scatters evenly (a round blur) and its meniscus
    # acts as a weak lens, magnifying the middle a little with a barrel bulge.
    # A-E: isotropic and elongated Gaussians, turbulence, a Lissajous motion, jello.
    h, w = x.shape[:2]
    s = _strength(rng, level, 0.25, 1.0)
    yy, xx = _grid(h, w)
    cx, cy = w * rng.uniform(0.4, 0.6), h * rng.uniform(0.4, 0.6)
    dx, dy = (xx - cx) / _side(x), (yy - cy) / _side(x)
    r2 = dx * dx + dy * dy
    k = (1.0 - 0.08 * s * rng.uniform(0.6, 1.0)) * (1.0 + 0.15 * s * r2)  # magnified centre, bulge
    out = cv2.remap(x, cx + dx * k * _side(x), cy + dy * k * _side(x), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    out = cv2.GaussianBlur(_lin(out), (0, 0), max(0.5, s * 0.065 * _side(x)))
    return _enc(out * np.float32(rng.uniform(0.95, 1.05)))


def _noise(x, level, rng):
    # At low light the camera's noise reduction keeps chroma noise in large soft colour blotches
    # (it smooths the noise, it can't remove it); a nearby transmitter adds coloured horizontal
    # bars. A-E: colour grain, Bayer shot noise, luminance shot noise, stuck pixels, herringbone.
    h, w = x.shape[:2]
    s = _strength(rng, level, 0.2, 1.0)
    lh, lw = _dims(x)
    ycc = cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)
    for c in (1, 2):
        blot = _smooth_field(rng, (lh, lw), rng.uniform(1.5, 3.5)) - 0.5
        ycc[:, :, c] += _fit(blot, x) * 0.7 * s
    ycc[:, :, 0] += _fit(_smooth_field(rng, (lh, lw), 0.8) - 0.5, x) * 0.2 * s
    out = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
    yy, xx = _grid(h, w)
    for _ in range(int(rng.integers(1, 3 + level))):
        row, half = rng.uniform(0, h), rng.uniform(0.01, 0.05) * h + 0.5
        ripple = np.sin(2 * math.pi * xx / (w / rng.uniform(4, 20)) + rng.uniform(0, 6))
        band = np.exp(-(((yy - row) / half) ** 2)) * (0.5 + 0.5 * ripple)
        out = out + (band * 0.4 * s)[:, :, None] * rng.uniform(-1.0, 1.0, 3).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def _rain(x, level, rng):
    # Spray thrown up by a passing truck: a dense grey mist drifting in from one side, its density
    # turbulent, and fine droplets in it smeared sideways by the spray's motion.
    # A-E: streaks, drops on the lens, a water film, big near drops, rain in a headlight beam.
    t = _strength(rng, level, 0.2, 1.0)
    lh, lw = _dims(x)
    yy, xx = _grid(lh, lw)
    side = int(rng.integers(2))
    pos = xx / lw if side == 0 else 1.0 - xx / lw  # 0 at the side the truck passes on
    dens = np.clip(1.25 - pos * rng.uniform(0.6, 1.2), 0.0, 1.0) * (0.55 + 0.45 * _smooth_field(rng, (lh, lw), 6.0))
    dens = np.clip(dens * min(0.9, 0.75 * t), 0.0, 0.95)
    drops = (rng.random((lh, lw)) < 0.04 * t).astype(np.float32) * rng.uniform(0.3, 1.0, (lh, lw)).astype(np.float32)
    run = max(3, int(rng.uniform(0.04, 0.1) * LAYER)) | 1
    drops = cv2.blur(drops, (run, 1)) * 2.5  # smeared along the spray's sideways motion
    lin = _lin(x)
    grey = np.float32([0.52, 0.54, 0.55]) * rng.uniform(0.8, 1.1)  # road spray: dirty grey
    d = _fit(dens, x)[:, :, None]
    out = lin * (1.0 - d) + d * grey + _fit(drops, x)[:, :, None] * 0.35
    return _enc(out)


def _shadow(x, level, rng):
    # The shadow of a rotating fan or turbine: dark blade sectors radiating from a hub (often off
    # the frame), smeared along their rotation by the exposure; the rest stays in sunlight.
    # A-E: blinds, edges and dapples, branches and trusses, silhouettes and clouds, a sun hood.
    h, w = x.shape[:2]
    yy, xx = _grid(h, w)
    hub = (rng.uniform(-0.3, 1.3) * w, rng.uniform(-0.3, 1.3) * h)
    ang = np.arctan2(yy - hub[1], xx - hub[0])
    blades = int(rng.integers(2, 6))
    cover = min(0.85, _strength(rng, level, 0.25, 0.7))  # share of each turn a blade covers
    phase = (ang * blades / (2 * math.pi) + rng.uniform(0, 1)) % 1.0
    soft = rng.uniform(0.04, 0.12)  # the smear of the rotation during the exposure
    mask = np.clip((cover - phase) / soft + 0.5, 0.0, 1.0) * np.clip(phase / soft + 0.5, 0.0, 1.0)
    stops = _strength(rng, level, 1.0, 3.0)
    lin = _lin(x)
    sky = np.float32([1.0, 0.85, 0.7]) * 0.03  # shade lit by the blue sky
    m = mask[:, :, None]
    return _enc(lin * (1.0 - m * (1.0 - 2.0**-stops)) + m * sky)


def _snow(x, level, rng):
    # Slush thrown onto the lens: translucent grey-white blobs that scatter what is behind them
    # (a local blur and a whitish veil), under the cold blue-grey light of a snowy overcast sky.
    # A-E: a glow, a veil and discs, snow on the sign, frost, wet snow under a lamp.
    t = _strength(rng, level, 0.2, 1.0)
    lh, lw = _dims(x)
    blobs = np.zeros((lh, lw), np.float32)
    for _ in range(max(1, round(rng.uniform(4, 8) * (0.5 + 5.0 * t)))):
        c = (int(rng.uniform(0, lw) * 8), int(rng.uniform(0, lh) * 8))
        ax = (int(rng.uniform(0.08, 0.3) * LAYER * 8), int(rng.uniform(0.06, 0.22) * LAYER * 8))
        cv2.ellipse(blobs, c, ax, rng.uniform(0, 180), 0, 360, float(rng.uniform(0.5, 1.0)), -1, cv2.LINE_AA, 3)
    blobs = blobs * (0.6 + 0.4 * _smooth_field(rng, (lh, lw), 2.0))
    blobs = np.clip(cv2.GaussianBlur(blobs, (0, 0), 0.03 * LAYER), 0.0, 1.0) * min(0.95, 0.65 + 0.3 * t)
    lin = _lin(x) * np.float32([1.05, 1.0, 0.9])  # overcast snow light: a little blue
    scattered = cv2.GaussianBlur(lin, (0, 0), 0.06 * _side(x))
    slush = np.float32([0.86, 0.9, 0.9]) * rng.uniform(0.85, 1.05)  # grey-white, a little brown
    m = _fit(blobs, x)[:, :, None]
    out = lin * (1.0 - m) + m * (0.35 * scattered + 0.65 * slush)
    return _enc(out)


def _haze(x, level, rng):
    # A plastic sheet (a greenhouse film, a wrapped housing) in front of the camera: it scatters
    # evenly (a milky, slightly yellow veil, a soft glow of the scene) and its wrinkles make the
    # veil uneven in long soft bands. A-E: a flat layer, depth, multiple scattering, smoke, mist.
    t = _strength(rng, level, 0.25, 1.0)
    lh, lw = _dims(x)
    wr = cv2.GaussianBlur(rng.standard_normal((lh, lw)).astype(np.float32), (0, 0), 2.0, sigmaY=10.0)
    wr = (wr - wr.min()) / (np.ptp(wr) + 1e-6)
    veil = np.clip(min(0.85, 0.7 * t) * (0.3 + 1.4 * _fit(wr, x)), 0.0, 0.95)[:, :, None]
    lin = _lin(x)
    glow = cv2.GaussianBlur(lin, (0, 0), 0.15 * _side(x))
    milk = np.float32([0.5, 0.78, 0.86]) * rng.uniform(0.85, 1.05)  # aged polyethylene: yellowish
    folds = cv2.GaussianBlur(rng.standard_normal((lh, lw)).astype(np.float32), (0, 0), 0.8, sigmaY=5.0)
    glint = np.clip(folds / (folds.std() + 1e-6) - 1.0, 0.0, None) * 0.2 * t  # folds catching the light
    out = lin * (1.0 - veil) + veil * (0.55 * glow + 0.45 * milk) + _fit(glint, x)[:, :, None] * milk
    return _enc(out)


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_f(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "F".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "F", _EFFECTS)
