"""Rendering "G" of the 12 CURE-TSR challenges: written blind, measured once on 2026-11-30 (docs/DESIGN.md §5.8).

F was measured once on 2026-11-30, so A-F have all met the detector and none is blind any more. G
is written without running the detector, the classifier, the image statistics, calibrate or
evaluate on it, to be measured once (fit on the default FIT_RENDERINGS, test on G). It is written
without A-F's helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper,
is shared) and each effect is another physical process, or another way a real camera produces the
condition, than any of A-F (their lines: monitor/rendering_c.py, _d.py, _e.py, _f.py):

| condition | G |
| --- | --- |
| decolorization | the ISP's colour killer at high gain: saturation cut, most in shadows and highlights, the chroma noise filter bleeding what colour is left over the edges |
| lens_blur | astigmatism off the optical axis: points become short focal lines whose orientation turns with the direction to the frame's centre |
| codec_error | a wavelet (JPEG 2000-like, LeGall 5/3) stream at too low a bit rate: blur, ringing and smeared texture without blocks, corrupted code-blocks as plaid patches |
| darkening | a smoked (tinted) camera dome with auto exposure at its limit: stops lost through the tint, a faint flipped inner reflection, shadows crushed in the tone curve's toe |
| dirty_lens | an oily fingerprint (elliptical whorls of ridges that scatter light) or a bird dropping (a chalky white splat, dark core, splashed specks) |
| exposure | headlights on retroreflective sheeting at night: the sign returns the beam to the camera and blows out around the beam's hotspot, in the lamp's colour, through a soft shoulder |
| gaussian_blur | autofocus hunting during the exposure: the average of defocus discs swept from small to large, a centre-peaked bell blur with no rim |
| noise | a weak analogue wireless video link: receiver noise smeared along the scan lines (chroma longer still), FM "sparkles" as short bright dashes |
| rain | rivulets running down the window: narrow meandering streams that refract what is behind them, bright and dark edges, beaded drops, rainy dimness |
| shadow | a chain-link fence or trellis between the sun and the sign: a foreshortened mesh of thin wire shadows with a penumbra over the part behind the fence |
| snow | a ground blizzard: wind drives the snow almost horizontally, flakes as long thin streaks and gusts in dense streaked bands, a flat whiteout |
| haze | a bank of radiation fog with its undulating top across the sign, lit by a low sun: the airlight brighter and warmer towards the sun's side |

Conventions of G:
- Strength: a nominal value per level, along a power 0.8 of the level from the level-1 to the
  level-5 value, times a log-uniform jitter in [0.78, 1.28] (`_strength`). Count, size,
  placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through a pure 2.6 power (A 2.2, B sRGB, C BT.709, D 2.4, E 2.0,
  F 1.8); luminance uses BT.2020's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 72  # px: procedural layers are drawn with the crop's shorter side at this size
_GAMMA = 2.6
_LUM = np.float32([0.0593, 0.6780, 0.2627])  # BT.2020 luminance weights, BGR order
_JITTER = (math.log(0.78), math.log(1.28))

# ---------------------------------------------------------------------------------------------
# Helpers of G


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi along a power 0.8, times a log-uniform jitter in [0.78, 1.28]."""
    return float((lo + (hi - lo) * ((level - 1) / 4.0) ** 0.8) * math.exp(rng.uniform(*_JITTER)))


def _lin(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0) ** np.float32(_GAMMA)


def _enc(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0.0, 1.0) ** np.float32(1.0 / _GAMMA)


def _dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A layer resized to the crop (area averaging when shrinking keeps thin strokes' weight)."""
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    out = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)
    return out.reshape(h, w, *layer.shape[2:])


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    return np.mgrid[0:h, 0:w].astype(np.float32)


def _field(rng: np.random.Generator, shape: tuple[int, int], sx: float, sy: float | None = None) -> np.ndarray:
    """White noise blurred by (sx, sy) px, rescaled to [0, 1]."""
    f = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), max(sx, 0.4), sigmaY=max(sy or sx, 0.4))
    return (f - f.min()) / (np.ptp(f) + 1e-6)


def _smoothstep(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return v * v * (3.0 - 2.0 * v)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering G: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # As the analogue gain rises the ISP's "colour killer" lowers saturation to hide chroma noise,
    # most in shadows and highlights (where chroma is least reliable), and its chroma noise filter
    # smears what colour is left across the edges; a colourless frame lets the white balance
    # drift a little. A-F: a grey blend, a mixer print, a UV-faded print, sodium light, a lost
    # colour burst, an IR leak.
    s = _strength(rng, level, 0.22, 1.1)
    lum = (x @ _LUM)[:, :, None]  # the ISP's luma, of the encoded values
    chroma = cv2.GaussianBlur(x - lum, (0, 0), max(0.4, s * rng.uniform(0.03, 0.07) * _side(x)))
    tone = ((lum - 0.5) / 0.5) ** 2  # 0 at mid grey, 1 at black and white
    keep = np.clip(1.0 - s * (0.7 + 1.0 * tone) * rng.uniform(0.9, 1.1), 0.0, 1.0)
    cast = rng.normal(0.0, 0.02, 3).astype(np.float32) * s
    return np.clip(lum + chroma * keep + cast, 0.0, 1.0)


def _line_kernel(a: float, b: float, ang: float) -> np.ndarray:
    """A uniform elliptical PSF (half axes a along `ang`, b across), anti-aliased by supersampling."""
    half, ss = int(math.ceil(a)) + 1, 3
    c = (np.arange((2 * half + 1) * ss, dtype=np.float32) + 0.5) / ss - (half + 0.5)
    yy, xx = c[:, None], c[None, :]
    u = xx * math.cos(ang) + yy * math.sin(ang)
    v = -xx * math.sin(ang) + yy * math.cos(ang)
    k = ((u / a) ** 2 + (v / b) ** 2 <= 1.0).astype(np.float32)
    k = k.reshape(2 * half + 1, ss, 2 * half + 1, ss).mean(axis=(1, 3))
    return k / k.sum()


def _lens_blur(x, level, rng):
    # Astigmatism: the sign sits off the lens's axis, where a point is imaged as a short focal
    # line (tangential or sagittal) rather than a disc, its orientation turning with the direction
    # to the frame's optical centre. Six orientations are filtered and blended per pixel.
    # A-F: hexagonal and round irises, a tilted plane, a ring PSF, field curvature, a diffusion glow.
    h, w = x.shape[:2]
    a = max(1.0, _strength(rng, level, 0.035, 0.17) * _side(x))
    b = max(0.6, a * rng.uniform(0.15, 0.4))
    n = 6
    lin = _lin(x)
    stack = np.stack(
        [cv2.filter2D(lin, -1, _line_kernel(a, b, k * math.pi / n), borderType=cv2.BORDER_REFLECT) for k in range(n)]
    )
    ang0, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0.7, 3.0) * _side(x)
    cx, cy = w / 2 + dist * math.cos(ang0), h / 2 + dist * math.sin(ang0)  # the frame's centre, off the crop
    yy, xx = _grid(h, w)
    ang = np.arctan2(yy - cy, xx - cx) + (math.pi / 2 if rng.random() < 0.5 else 0.0)
    t = (ang % math.pi) / (math.pi / n)
    i0 = np.floor(t).astype(np.int64) % n
    f = (t - np.floor(t))[:, :, None]
    rows, cols = np.indices((h, w))
    return _enc((1.0 - f) * stack[i0, rows, cols] + f * stack[(i0 + 1) % n, rows, cols])


def _lift(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One LeGall 5/3 analysis step along axis 0 (even length): (low, high)."""
    even, odd = a[0::2], a[1::2]
    d = odd - 0.5 * (even + np.concatenate([even[1:], even[-1:]]))
    return even + 0.25 * (np.concatenate([d[:1], d[:-1]]) + d), d


def _unlift(s: np.ndarray, d: np.ndarray) -> np.ndarray:
    even = s - 0.25 * (np.concatenate([d[:1], d[:-1]]) + d)
    odd = d + 0.5 * (even + np.concatenate([even[1:], even[-1:]]))
    out = np.empty((2 * len(s), *s.shape[1:]), s.dtype)
    out[0::2], out[1::2] = even, odd
    return out


def _dwt2(p: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    lo, hi = _lift(p)
    ll, lh = _lift(lo.T)
    hl, hh = _lift(hi.T)
    return ll.T, [lh.T, hl.T, hh.T]


def _idwt2(ll: np.ndarray, bands: list[np.ndarray]) -> np.ndarray:
    lh, hl, hh = bands
    return _unlift(_unlift(ll.T, lh.T).T, _unlift(hl.T, hh.T).T)


def _wavelet_code(plane: np.ndarray, step: float, errors: int, rng: np.random.Generator) -> np.ndarray:
    """Three 5/3 levels, dead-zone quantised (finest levels coarsest, as a rate control drops them
    first), then `errors` corrupted code-blocks: a wrong top bit-plane (a plaid patch) or lost."""
    ll, bands = plane, []
    for _ in range(3):
        ll, b = _dwt2(ll)
        bands.append(b)
    for lev, b in enumerate(bands):  # 0: the finest
        q = step * (2.2, 1.4, 1.0)[lev]
        for i, band in enumerate(b):
            mag = np.floor(np.abs(band) / q)
            b[i] = np.sign(band) * np.where(mag > 0, (mag + 0.4) * q, 0.0)
    ll = np.round(ll / (0.4 * step)) * (0.4 * step)
    for _ in range(errors):
        band = bands[int(rng.integers(1, 3))][int(rng.integers(3))]
        y0, x0, n = int(rng.integers(band.shape[0])), int(rng.integers(band.shape[1])), int(rng.integers(2, 5))
        block = band[y0 : y0 + n, x0 : x0 + n]
        if rng.random() < 0.65:
            block += rng.choice(np.float32([-1, 1]), block.shape) * np.float32(rng.uniform(0.15, 0.45))
        else:
            block[:] = 0.0
    for b in reversed(bands):
        ll = _idwt2(ll, b)
    return ll


def _codec_error(x, level, rng):
    # A camera streaming a wavelet codec (JPEG 2000-like) at too low a bit rate: the LeGall 5/3
    # subbands quantised coarsely give a blur with ringing and smeared texture along edges, no
    # blocks; bit errors in code-blocks add wavelet-shaped plaid patches or lose a patch's detail.
    # The sign is small in the coded frame, so it is coded at 48-80 px. A-F: displaced blocks,
    # DCT quantisation, MCU desync, wrong motion vectors, a lost restart, a wrong stride.
    h, w = x.shape[:2]
    s = _strength(rng, level, 0.25, 3.0)
    f = rng.uniform(48.0, 80.0) / _side(x)
    ch, cw = max(8, round(h * f)), max(8, round(w * f))
    coded = cv2.resize(x, (cw, ch), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    coded = cv2.copyMakeBorder(coded, 0, -ch % 8, 0, -cw % 8, cv2.BORDER_REFLECT)
    ycc = cv2.cvtColor(coded, cv2.COLOR_BGR2YCrCb)
    errors = int(rng.poisson(3.0 * s))
    for c in range(3):
        ycc[:, :, c] = _wavelet_code(
            ycc[:, :, c], (0.09 if c == 0 else 0.18) * s, errors if c == 0 else errors // 2, rng
        )
    out = cv2.cvtColor(np.clip(ycc, 0.0, 1.0), cv2.COLOR_YCrCb2BGR)[:ch, :cw]
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA if f > 1 else cv2.INTER_LINEAR)


def _darkening(x, level, rng):
    # A smoked (tinted) dome over the camera and auto exposure at its limit: the tint takes stops
    # of light away, a little unevenly per colour, more where the sign is seen through the dome
    # obliquely (a longer path in the tinted acrylic); the dome's outer surface reflects a faint
    # soft image of the bright surroundings that the tint does not dim (so it weighs more the
    # darker the scene); the camera's tone curve crushes what falls into its toe.
    # A-F: a LUT, vignette and flare, shot noise, dusk gain, a stuck iris, a failing street light.
    h, w = x.shape[:2]
    stops = _strength(rng, level, 0.6, 3.8)
    yy, xx = _grid(h, w)
    a = rng.uniform(0, 2 * math.pi)
    ramp = xx * math.cos(a) + yy * math.sin(a)
    path = 0.4 + 1.2 * (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)  # relative path length in the tint
    tints = (np.float32([0.88, 1.0, 0.9]), np.float32([0.7, 0.88, 1.0]), np.float32([1.0, 0.97, 0.95]))
    lin = _lin(x) * np.exp2(-stops * path)[:, :, None] * tints[int(rng.integers(3))]  # grey-green, bronze, smoke
    lh, lw = _dims(x)
    mirror = 0.3 + 0.7 * _fit(_field(rng, (lh, lw), 0.12 * LAYER), x)  # the soft image of the sky and surroundings
    e = _enc(lin + (mirror * rng.uniform(0.004, 0.01))[:, :, None])
    k = rng.uniform(0.06, 0.14)  # the toe: e^2 / (e + k), scaled to keep white
    return e * e / (e + k) * (1.0 + k)


def _fingerprint(x: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    # oily fingerprints on the window: elliptical whorls of ridges that scatter light (a local blur
    # and a veiling glare), the ridges faintly visible as stronger scattering
    lh, lw = _dims(x)
    yy, xx = _grid(lh, lw)
    mask, ridges = np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)
    wander = _field(rng, (lh, lw), 5.0) * rng.uniform(3.0, 8.0)  # the whorl's irregular ridges
    for _ in range(1 + int(rng.integers(0, 1 + level // 2))):
        cx, cy = rng.uniform(0.15, 0.85) * lw, rng.uniform(0.15, 0.85) * lh  # a print that ends on the crop
        size, ang, ecc = _strength(rng, level, 0.3, 0.55) * LAYER, rng.uniform(0, math.pi), rng.uniform(0.55, 0.8)
        u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
        v = (-(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)) / ecc
        r = np.sqrt(u * u + v * v) / size
        env = np.clip((1.0 - r) / 0.3, 0.0, 1.0)
        ridge = 0.5 + 0.5 * np.cos(2 * math.pi * r * rng.uniform(7.0, 11.0) + wander)
        mask, ridges = np.maximum(mask, env), np.maximum(ridges, env * ridge)
    m = (_fit(mask, x) * min(0.95, _strength(rng, level, 0.55, 0.9)))[:, :, None]
    mix = m * (0.5 + 0.5 * _fit(ridges, x)[:, :, None])
    lin = _lin(x)
    scattered = cv2.GaussianBlur(lin, (0, 0), rng.uniform(0.04, 0.08) * _side(x))
    glare = lin.mean(axis=(0, 1)) * 0.5 + np.float32(rng.uniform(0.12, 0.25))
    return lin + mix * (0.6 * scattered + 0.4 * glare - lin)


def _dropping(x: np.ndarray, level: int, rng: np.random.Generator) -> np.ndarray:
    # a bird dropping on the housing window: a chalky white splat with a dark grey-brown core, a
    # ragged edge and splashed specks, a little out of focus, nearly opaque
    lh, lw = _dims(x)
    yy, xx = _grid(lh, lw)
    cx, cy = rng.uniform(0.1, 0.9) * lw, rng.uniform(0.1, 0.9) * lh
    rad = _strength(rng, level, 0.12, 0.4) * LAYER
    ang, dist = np.arctan2(yy - cy, xx - cx), np.hypot(xx - cx, yy - cy)
    edge = np.ones_like(ang)
    for k in range(2, 7):  # a ragged outline
        edge += rng.uniform(0.0, 0.12) * np.cos(k * ang + rng.uniform(0, 2 * math.pi))
    splat = (dist < rad * edge).astype(np.float32)
    core = (
        np.hypot(xx - cx - rng.normal(0, 0.1) * rad, yy - cy - rng.normal(0, 0.1) * rad) < rad * rng.uniform(0.25, 0.5)
    ).astype(np.float32)
    for _ in range(int(rng.integers(1, 2 + level))):  # specks splashed outwards
        a, d = rng.uniform(0, 2 * math.pi), rad * rng.uniform(1.1, 1.8)
        c = (int((cx + d * math.cos(a)) * 8), int((cy + d * math.sin(a)) * 8))
        cv2.circle(splat, c, int(rng.uniform(0.05, 0.14) * rad * 8) + 4, 1.0, -1, cv2.LINE_AA, 3)
    soft = 0.012 * LAYER + 0.4
    alpha = _fit(cv2.GaussianBlur(splat, (0, 0), soft) * rng.uniform(0.85, 0.97), x)[:, :, None]
    core = _fit(cv2.GaussianBlur(core, (0, 0), soft), x)[:, :, None]
    colour = np.float32([0.8, 0.84, 0.85]) * (1.0 - core) + np.float32([0.14, 0.18, 0.22]) * core
    return _lin(x) * (1.0 - alpha) + alpha * _lin(colour)


def _dirty_lens(x, level, rng):
    # An oily fingerprint or a bird dropping on the window. A-F: dark blobs, greasy finger wipes,
    # dust shadows, mud splashes, pollen sparkles, hairs and salt.
    return _enc(_fingerprint(x, level, rng) if rng.random() < 0.6 else _dropping(x, level, rng))


def _exposure(x, level, rng):
    # Headlights (or the camera's own illuminator) on a retroreflective sign at night: the sheeting
    # returns the beam straight to the camera, so the sign blows out around the beam's hotspot and
    # less towards its edge, in the lamp's colour, through the sensor's soft shoulder.
    # A-F: global stops, per-channel clipping, a knee and smear, the sun, a tunnel, WDR.
    h, w = x.shape[:2]
    stops = _strength(rng, level, 1.6, 7.6)
    yy, xx = _grid(h, w)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    sx, sy = rng.uniform(0.3, 0.7) * _side(x), rng.uniform(0.2, 0.5) * _side(x)  # beams are wider than tall
    beam = np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    lamp = np.float32([0.62, 0.85, 1.0]) if rng.random() < 0.5 else np.float32([1.0, 0.97, 0.88])  # halogen, LED
    lin = _lin(x) * np.exp2(stops * (0.3 + 0.7 * beam))[:, :, None] * lamp
    knee = 0.6  # linear below, an exponential shoulder above: highlights roll off into white
    return _enc(np.where(lin < knee, lin, knee + (1 - knee) * (1 - np.exp(-(lin - knee) / (1 - knee)))))


def _sweep_kernel(r0: float, r1: float) -> np.ndarray:
    """The mean of unit-sum discs of radii r0..r1 (anti-aliased edges)."""
    half = int(math.ceil(r1)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    d = np.hypot(xx, yy)
    k = np.zeros_like(d)
    for r in np.linspace(r0, r1, 7):
        disc = np.clip(r + 0.5 - d, 0.0, 1.0)
        k += disc / disc.sum()
    return k / k.sum()


def _gaussian_blur(x, level, rng):
    # Autofocus hunting while the shutter is open (or the temporal noise filter averaging frames of
    # the hunt): the lens sweeps through focus, so the picture is the mean of defocus discs from
    # small to large, a centre-peaked bell-shaped blur with no rim.
    # A-F: isotropic and elongated Gaussians, turbulence, a Lissajous, jello, a water film.
    r1 = max(1.0, _strength(rng, level, 0.045, 0.2) * _side(x))
    r0 = r1 * rng.uniform(0.0, 0.3)
    return _enc(cv2.filter2D(_lin(x), -1, _sweep_kernel(r0, r1), borderType=cv2.BORDER_REFLECT))


def _streaks(rng: np.random.Generator, shape: tuple[int, int], run: float) -> np.ndarray:
    """Unit-variance noise smeared along the rows by `run` px (a video line's bandwidth)."""
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), sigmaX=run, sigmaY=0.3)
    return n / (n.std() + 1e-6)


def _noise(x, level, rng):
    # A weak analogue wireless video link (2.4/5.8 GHz cameras): receiver noise arrives along the
    # scan lines, so the grain is smeared sideways by the video bandwidth, chroma more (its
    # bandwidth is narrower), and FM "sparkles" are short bright (sometimes dark) dashes.
    # A-F: colour grain, Bayer shot noise, luminance shot noise and FPN, stuck pixels,
    # herringbone, chroma blotches and radio bars.
    sigma = _strength(rng, level, 0.035, 0.2)
    lh, lw = _dims(x)
    run = rng.uniform(1.5, 3.5)
    ycc = cv2.cvtColor(x, cv2.COLOR_BGR2YCrCb)
    ycc[:, :, 0] += _fit(_streaks(rng, (lh, lw), run), x) * sigma
    for c in (1, 2):
        ycc[:, :, c] += _fit(_streaks(rng, (lh, lw), 3.0 * run), x) * 0.45 * sigma
    sparks = np.zeros((lh, lw), np.float32)
    for _ in range(int(rng.poisson(lh * 0.6 * sigma))):
        row, x0, n = int(rng.integers(lh)), int(rng.integers(lw)), int(rng.integers(2, 3 + lw // 8))
        sparks[row, x0 : x0 + n] = np.linspace(1.0, 0.3, len(sparks[row, x0 : x0 + n])) * (
            1 if rng.random() < 0.8 else -1
        )
    ycc[:, :, 0] += _fit(sparks, x) * 0.8
    return np.clip(cv2.cvtColor(np.clip(ycc, 0.0, 1.0), cv2.COLOR_YCrCb2BGR), 0.0, 1.0)


def _rivulets(rng: np.random.Generator, shape: tuple[int, int], level: int) -> np.ndarray:
    """A water height map: meandering streams from the top down, and beaded drops beside them."""
    lh, lw = shape
    hmap = np.zeros(shape, np.float32)
    for _ in range(2 * level + int(rng.integers(0, 3))):
        xpos, y, drift = rng.uniform(0, lw), -2.0, rng.normal(0.0, 0.25)
        top = rng.uniform(-0.1, 0.6) * lh  # where the stream starts: some run in from above the crop
        pts = []
        while y < lh + 2:
            pts.append((xpos, y if y > top else top))
            y += rng.uniform(2.0, 5.0)
            xpos += drift * 3 + rng.normal(0.0, 1.0)
        thick = max(1, round(rng.uniform(1.5, 3.5) * (0.6 + 0.2 * level)))
        cv2.polylines(hmap, [np.int32(np.array(pts) * 8)], False, 1.0, thick, cv2.LINE_AA, shift=3)
        for _ in range(int(rng.integers(0, 4))):
            px, py = pts[int(rng.integers(len(pts)))]
            c = (int((px + rng.normal(0, 4)) * 8), int(py * 8))
            cv2.circle(hmap, c, int(rng.uniform(0.8, 2.0) * thick * 8), 1.0, -1, cv2.LINE_AA, 3)
    return cv2.GaussianBlur(hmap, (0, 0), 1.2)


def _rain(x, level, rng):
    # Rivulets running down the housing window in rain: narrow meandering streams that refract
    # (shift and magnify) what is behind them, with a bright edge (the sky's reflection) and a dark
    # one, beaded drops beside them, and the dimmer light of a rainy sky.
    # A-F: streaks, drops on the lens, a water film and wiper, near drops, headlit rain, truck spray.
    h, w = x.shape[:2]
    lh, lw = _dims(x)
    hmap = _rivulets(rng, (lh, lw), level)
    gy, gx = np.gradient(hmap)
    k = rng.uniform(4.0, 8.0) * (0.6 + 0.2 * level) * w / lw  # crop px of shift per unit slope of the water surface
    yy, xx = _grid(h, w)
    gx, gy = _fit(gx, x), _fit(gy, x)
    refr = cv2.remap(x, xx - k * gx, yy - k * gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    m = np.clip(_fit(hmap, x) * 2.5, 0.0, 1.0)[:, :, None]
    lin = _lin(x) * (1.0 - 0.09 * level * rng.uniform(0.5, 1.0))  # a rainy sky: less light
    light = np.clip(-(gx + gy) * 4.0, -1.0, 1.0)[:, :, None]  # slopes facing the sky glint, others darken
    water = (
        _lin(cv2.GaussianBlur(refr, (0, 0), (0.004 + 0.004 * level) * _side(x))) * 0.85 + np.clip(light, 0, None) * 0.22
    )
    water = water * (1.0 + 0.5 * np.clip(light, None, 0.0))
    return _enc(lin * (1.0 - m) + m * water)


def _shadow(x, level, rng):
    # A chain-link fence (diamond cells) or a trellis (square cells) between the sun and the sign:
    # a foreshortened mesh of thin wire shadows, softened by the sun's disc, over the part of the
    # sign behind the fence (its top edge crosses the crop), lit there only by the blue sky.
    # A-F: blinds, edges and dapples, branches and trusses, silhouettes and clouds, a hood, a fan.
    h, w = x.shape[:2]
    yy, xx = _grid(h, w)
    cell = rng.uniform(0.12, 0.28) * _side(x)
    half = math.radians(rng.uniform(28.0, 36.0) if rng.random() < 0.65 else 45.0)
    rot, persp = rng.uniform(0, math.pi), rng.normal(0.0, 0.4) / _side(x)
    wire = min(0.4, _strength(rng, level, 0.1, 0.24)) * cell  # half width of a wire's shadow
    pen = rng.uniform(0.05, 0.12) * cell + 0.4
    mesh = np.zeros((h, w), np.float32)
    for a in (rot + half, rot - half):
        u = ((xx - w / 2) * math.cos(a) + (yy - h / 2) * math.sin(a)) * (1.0 + persp * yy) / cell + rng.uniform(0, 1)
        d = np.abs(u - np.round(u)) * cell
        mesh = np.maximum(mesh, np.clip((wire + pen - d) / (2.0 * pen), 0.0, 1.0))
    na = rng.uniform(0, 2 * math.pi)
    proj = xx * math.cos(na) + yy * math.sin(na)
    proj = (proj - proj.min()) / (np.ptp(proj) + 1e-6)
    cover = min(1.05, _strength(rng, level, 0.5, 1.0))  # share of the crop behind the fence
    m = (mesh * _smoothstep((proj - (1.0 - cover)) / 0.08 + 0.5))[:, :, None]
    stops = _strength(rng, level, 1.3, 2.6)
    sky = np.float32([1.25, 1.0, 0.8]) * np.float32(2.0**-stops)  # the shade is lit by the blue sky only
    return _enc(_lin(x) * (1.0 - m + m * sky))


def _gust_field(rng: np.random.Generator, shape: tuple[int, int], wind: float) -> np.ndarray:
    """A density field streaked along the wind direction (radians from the rows), in [0, 1]."""
    lh, lw = shape
    big = int(math.ceil(math.hypot(lh, lw))) + 2
    f = _field(rng, (big, big), 12.0, 1.5)
    rot = cv2.getRotationMatrix2D((big / 2, big / 2), math.degrees(wind), 1.0)
    rot[:, 2] -= ((big - lw) / 2, (big - lh) / 2)
    return cv2.warpAffine(f, rot, (lw, lh), borderMode=cv2.BORDER_REFLECT)


def _snow(x, level, rng):
    # A ground blizzard: strong wind drives the snow almost horizontally, so flakes are long thin
    # streaks along the wind and gusts carry it in dense streaked bands over the scene, under the
    # flat light of a whiteout. A-F: glow and dots, veil, discs and falling streaks, snow on the
    # sign, frost, lamp-lit flakes, slush on the lens.
    t = _strength(rng, level, 0.05, 0.62)
    lh, lw = _dims(x)
    wind = rng.uniform(-0.3, 0.3)
    dens = np.clip(min(0.8, 0.6 * t) * (0.25 + 1.3 * _gust_field(rng, (lh, lw), wind)), 0.0, 0.93)
    flakes = (rng.random((lh, lw)) < 0.004 + 0.04 * t).astype(np.float32)
    flakes *= rng.uniform(0.5, 1.0, (lh, lw)).astype(np.float32)
    length = max(3, round(rng.uniform(0.08, 0.2) * LAYER))
    kern = np.zeros((length | 1, length | 1), np.float32)
    c, d = length // 2, length / 2
    p0 = (round(c - d * math.cos(wind)), round(c - d * math.sin(wind)))
    cv2.line(kern, p0, (round(c + d * math.cos(wind)), round(c + d * math.sin(wind))), 1.0, 1, cv2.LINE_AA)
    streaks = np.clip(cv2.filter2D(flakes, -1, kern / kern.sum()) * length * 0.35, 0.0, 1.0)
    white = np.float32([0.95, 0.93, 0.9]) * rng.uniform(0.9, 1.0)
    lin = _lin(x) * (1.0 - 0.1 * t)  # the flat light of a whiteout
    d, s = _fit(dens, x)[:, :, None], _fit(streaks, x)[:, :, None]
    out = lin * (1.0 - d) + d * white * 0.75
    return _enc(out + s * (white - out))


def _haze(x, level, rng):
    # A bank of radiation fog lying low, its undulating top across the sign, lit by a low sun: below
    # the top the fog is dense, above it a thin haze; forward scattering makes the airlight
    # brighter and warmer on the sun's side. A-F: a flat layer, depth, multiple scattering, smoke
    # and dust, mist on the window, a plastic sheet.
    h, w = x.shape[:2]
    t = _strength(rng, level, 0.04, 0.38)
    yy, xx = _grid(h, w)
    yn, xn = yy / h, xx / w
    top = rng.uniform(0.1, 0.7) - 0.8 * t + 0.08 * np.sin(2 * math.pi * xn * rng.uniform(0.5, 1.5) + rng.uniform(0, 6))
    bank = _smoothstep((yn - top) / rng.uniform(0.1, 0.25))
    tau = t * rng.uniform(1.5, 2.3) * (0.15 + 0.85 * bank)
    trans = np.exp(-tau)[:, :, None]
    sun = xn if rng.random() < 0.5 else 1.0 - xn  # 1 on the sun's side
    glow = (sun**2)[:, :, None]
    air = np.float32([0.8, 0.82, 0.84]) * (1.0 - glow) + np.float32([0.72, 0.9, 1.0]) * glow
    air = air * (0.7 + 0.3 * glow) * rng.uniform(0.85, 1.0)
    return _enc(_lin(x) * trans + air * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_g(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "G".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "G", _EFFECTS)
