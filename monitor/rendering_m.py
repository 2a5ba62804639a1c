"""Rendering "M" of the 12 CURE-TSR challenges: the next holdout, written blind, NOT measured.

A-L are measured or written already; L is about to be measured, so M is the next blind one. M is
written without running the detector, the classifier, the image statistics, calibrate or evaluate
on it, to be measured once (fit on the default FIT_RENDERINGS, test on M). It is written without
A-L's helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper, is
shared) and each effect is another physical process, or another way a real camera produces the
condition, than any of A-L (their lines: monitor/rendering_c.py ... _l.py):

| condition | M |
| --- | --- |
| decolorization | dew on the sign face after a clear night: micro-droplets condensed on the sheeting (thickest towards its top, which sees the cold sky) scatter a milky white over it and wash its colours out, cleared in vertical tracks where drops ran down |
| lens_blur | a camcorder's two-bladed iris out of focus: rhombic (diamond) defocus spots, then the camera's edge enhancement ringing around the blurred edges (bright and dark halos) |
| codec_error | a spatially scalable (SVC) stream losing its enhancement layer: slices of macroblocks decoded from the base layer only, at a half, a quarter or an eighth of the resolution (coarse, soft, quantised), with drift where the decoder adds stale enhancement residuals at a wrong offset |
| darkening | a variable ND filter (two polarisers) turned too far: the light falls by stops, unevenly, with the dark "X" of crossed polarisers across the view, their blue-violet leak at extinction, and a faint violet veil of sky light bounced between the filter's two glasses lifting the blacks |
| dirty_lens | a biofilm on a long-uncleaned housing window: translucent green-brown algae films growing in from the gasket's edge, out of focus, dark mould speckle clusters in them, scattering a little of the scene's light |
| exposure | centre-weighted metering fooled by a dark background: the exposure rises by stops, partly as gain (its read noise comes up), the sign rolls off through a soft shoulder, and halation (light reflected back from the sensor's cover glass, spread wide) lays a warm orange glow around its bright parts |
| gaussian_blur | a pothole jolt during the exposure: the camera rests, jumps and settles with a damped bounce, so the sign is a double image joined by a faint streak, through the lens's own softness |
| noise | bit errors on an uncompressed serial digital (SDI) link with a failing cable: random bits flipped in the 10-bit 4:2:2 Y'CbCr samples, so most errors are small but high-bit flips throw bright, dark or coloured sparkles (chroma ones two pixels wide) |
| rain | freezing rain glazing the housing window: clear ice frozen in lumps where drops froze as they ran, its rippled surface refracting what is behind it, trapped air bubbles as bright specks, a white rimy rim where it is thin, the rain's grey dimming |
| shadow | the shade of a building across the street, crossed by sunlight mirrored from its glass facade: cool sky-lit shade behind a straight penumbral edge, with a skewed grid of bright warm window-pane reflections (some panes dark behind blinds) inside it |
| snow | a passing snowplough's thrown snow: an arc of snow from one lower side of the view, a granular white curtain of clumps and powder thinning towards its edges, hiding what is behind it |
| haze | sea-salt haze on the coast: humid air swells the salt particles into droplets that scatter all colours alike, a cool white airlight of the bright sea sky, thicker towards the sea's side of the view, their forward scattering a soft aureole around bright parts |

Conventions of M:
- Strength: a nominal value per level, from the level-1 to the level-5 value along three fifths of
  a line and two fifths of a parabola (s^2) in the level, times a Laplace jitter,
  1 + Laplace(0, 0.07) clipped to [0.72, 1.28] (`_strength`). Count, size, placement, colour and
  kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through Sony's S-Log3 curve (the code range 0-1 taken as the S-Log3
  codes from linear 0 to linear 1, its linear toe included; A 2.2, B sRGB, C BT.709, D 2.4, E 2.0,
  F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*, K HLG, L PQ); luminance uses ProPhoto RGB (ROMM)'s weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 84  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.0000879, 0.7118741, 0.2880402])  # ProPhoto RGB (ROMM) luminance weights, BGR order
_SL3_BREAK = 171.2102946929 / 1023.0  # S-Log3: the code where its linear toe meets the log part


def _slog3_enc(y: np.ndarray) -> np.ndarray:
    """Scene-linear reflectance to the S-Log3 code (0-1), linear toe below 0.01125."""
    y = np.asarray(y, np.float64)
    log = (420.0 + np.log10((np.maximum(y, 0.01125) + 0.01) / 0.19) * 261.5) / 1023.0
    toe = (y * (171.2102946929 - 95.0) / 0.01125 + 95.0) / 1023.0
    return np.where(y >= 0.01125, log, toe)


def _slog3_dec(c: np.ndarray) -> np.ndarray:
    c = np.asarray(c, np.float64)
    log = np.power(10.0, (np.maximum(c, _SL3_BREAK) * 1023.0 - 420.0) / 261.5) * 0.19 - 0.01
    toe = (c * 1023.0 - 95.0) * 0.01125 / (171.2102946929 - 95.0)
    return np.where(c >= _SL3_BREAK, log, toe)


_C0, _C1 = float(_slog3_enc(np.float64(0.0))), float(_slog3_enc(np.float64(1.0)))  # the code range's ends

# ---------------------------------------------------------------------------------------------
# Helpers of M


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi, 3/5 linear and 2/5 quadratic in the level, times a Laplace jitter."""
    s = (level - 1) / 4.0
    u = 0.6 * s + 0.4 * s * s
    jitter = min(1.28, max(0.72, 1.0 + float(rng.laplace(0.0, 0.07))))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the S-Log3 codes of linear 0-1) to linear light (0-1)."""
    return np.clip(_slog3_dec(_C0 + np.asarray(x, np.float64) * (_C1 - _C0)), 0.0, None).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    return ((_slog3_enc(y) - _C0) / (_C1 - _C0)).astype(np.float32)


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


def _blotches(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field in [0, 1]: white noise on a coarse grid, upsampled bicubically, features ~`scale` px."""
    lh, lw = shape
    gh, gw = max(2, round(lh / max(scale, 1.0)) + 2), max(2, round(lw / max(scale, 1.0)) + 2)
    f = cv2.resize(rng.random((gh, gw)).astype(np.float32), (lw, lh), interpolation=cv2.INTER_CUBIC)
    return (f - f.min()) / (float(f.max() - f.min()) + 1e-6)


def _over(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """`colour` laid over `base` with coverage `alpha` (H, W) or (H, W, 1)."""
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering M: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # Dew on the sign face after a clear night: the sheeting cools below the dew point by
    # radiating to the sky (most at its top, which sees most sky), and micro-droplets condense on
    # it. Each scatters white light, so a milky veil lies over the colours and their chroma goes;
    # where drops grew heavy and ran down, vertical tracks are cleared. A-L: a grey blend, a mixer
    # print, a UV-faded print, sodium and mercury light, a lost colour burst, an IR leak, the colour
    # killer, a yellowed window, road grime, sky glare, a gamut metadata mismatch.
    t = min(0.97, _strength(rng, level, 0.05, 0.27))
    h, w = x.shape[:2]
    lh, lw = _layer_hw(x)
    _, yy = _xy(lh, lw)
    top = 1.0 - rng.uniform(0.2, 0.6) * yy / lh  # more dew where the face sees more sky
    patch = 0.75 + 0.25 * _blotches(rng, (lh, lw), LAYER * rng.uniform(0.2, 0.5))
    runs = np.ones(lw, np.float32)
    for _ in range(int(rng.integers(0, 2 + round(6 * t)))):  # run-off tracks, a layer pixel or two wide
        c = int(rng.integers(0, lw))
        runs[c : c + int(rng.integers(1, 3))] = rng.uniform(0.2, 0.6)
    dew = _up(np.clip(t * top * patch * runs[None, :], 0.0, 1.0).astype(np.float32), x)[:, :, None]
    lin = _lin(x)
    y = _luma(lin)[:, :, None]
    washed = y + (lin - y) * (1.0 - 0.9 * dew)
    milk = np.float32([0.97, 0.97, 0.96]) * np.float32(0.25 + 0.9 * float(_luma(lin).mean()))
    return _enc(washed * (1.0 - 0.45 * dew) + milk * 0.45 * dew)


def _diamond_psf(r: float, rng: np.random.Generator) -> np.ndarray:
    """A two-bladed iris's defocus spot: a rhombus of half-diagonal r px, a little flattened and turned."""
    ss = 4
    half = int(math.ceil(r)) + 1
    n = (2 * half + 1) * ss
    big = np.zeros((n, n), np.float32)
    c, rot, flat = n / 2.0, math.pi / 4 + rng.normal(0.0, 0.1), rng.uniform(0.7, 1.0)
    corners = [(r * ss, 0.0), (0.0, r * ss * flat), (-r * ss, 0.0), (0.0, -r * ss * flat)]
    pts = [(c + a * math.cos(rot) - b * math.sin(rot), c + a * math.sin(rot) + b * math.cos(rot)) for a, b in corners]
    cv2.fillConvexPoly(big, np.round(pts).astype(np.int32), 1.0, cv2.LINE_AA)
    k = cv2.resize(big, (2 * half + 1, 2 * half + 1), interpolation=cv2.INTER_AREA)
    return k / max(float(k.sum()), 1e-6)


def _lens_blur(x, level, rng):
    # A camcorder's two-bladed iris (two notched blades forming a square opening), focused off the
    # sign: each point becomes a rhombic spot. The camera then sharpens its output (edge
    # enhancement, an unsharp mask on luma), which cannot restore the lost detail but rings
    # around what edges remain as bright and dark halos. A-L: hexagonal, round and heptagonal
    # irises, a tilted plane, a ring PSF, field curvature, diffusion glow, astigmatism, a cracked
    # element, coma, a scratched dome, onion rings, lateral colour.
    t = _strength(rng, level, 0.03, 0.14)
    r = max(0.7, t * _short(x))
    k = _diamond_psf(r, rng)
    lin = cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REPLICATE).reshape(x.shape)
    sig = _enc(lin)
    y = _luma(sig)
    halo = (y - _soft(y, 0.6 + 0.25 * r)) * np.float32(rng.uniform(0.6, 1.4))  # the enhancer's gain
    return sig + halo[:, :, None]


def _base_layer(x: np.ndarray, f: int, step: float) -> np.ndarray:
    """The SVC base layer: the frame at 1/f resolution in Y'CbCr, quantised, upsampled as the decoder does."""
    h, w = x.shape[:2]
    small = cv2.resize(x, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA).reshape(-1, 3)
    ycc = small @ np.float32([[0.114, 0.5, -0.0813], [0.587, -0.3313, -0.4187], [0.299, -0.1687, 0.5]])
    ycc[:, 0] = np.round(ycc[:, 0] / step) * step
    ycc[:, 1:] = np.round(ycc[:, 1:] / (2.0 * step)) * (2.0 * step)  # chroma quantised coarser
    bgr = ycc @ np.float32([[1.0, 1.0, 1.0], [1.772, -0.3441, 0.0], [0.0, -0.7141, 1.402]])
    bgr = bgr.reshape(max(1, h // f), max(1, w // f), 3)
    return cv2.resize(bgr, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)


def _codec_error(x, level, rng):
    # A spatially scalable (SVC) stream whose enhancement-layer packets are lost: the slices they
    # carried (runs of macroblocks in raster order) are decoded from the base layer only, at a half,
    # a quarter or an eighth of the resolution and coarsely quantised, so they turn soft and blotchy; the
    # decoder still adds stale enhancement residuals it holds, at a wrong offset, drifting ghost
    # edges. Codec work is on the signal. A-L: displaced blocks, DCT, MCU bit errors, motion
    # vectors, a lost restart, a wrong stride, wavelets, packet loss, VQ, DPCM, HEVC intra, mid-GOP.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    f = 2 ** int(np.clip(round(1.0 + 2.0 * t * rng.uniform(0.6, 1.4)), 1, 3))  # half, quarter or eighth
    base = _base_layer(x, f, 0.05 + 0.15 * t)
    off = np.round(rng.normal(0.0, 0.03 + 0.05 * t, 2) * _short(x)).astype(int)
    stale = np.roll(x - base, (int(off[0]), int(off[1])), axis=(0, 1))  # residuals at the wrong place
    lost_img = np.clip(base + stale * np.float32(rng.uniform(0.6, 1.2)), 0.0, 1.0)
    mb = max(2, round(_short(x) / 4.0))  # 16 px macroblocks on a 64 px sign
    rows, cols = -(-h // mb), -(-w // mb)
    lost = np.zeros(rows * cols, bool)
    for _ in range(int(rng.integers(2, 4))):  # two or three slices, each a run of macroblocks
        n = max(1, round(rows * cols * min(0.95, (0.25 + 0.55 * t) * rng.uniform(0.7, 1.0))))
        start = int(rng.integers(0, max(1, rows * cols - n + 1)))
        lost[start : start + n] = True
    mask = np.kron(lost.reshape(rows, cols), np.ones((mb, mb), bool))[:h, :w]
    return np.where(mask[:, :, None], lost_img, x)


def _darkening(x, level, rng):
    # A variable ND filter (two linear polarisers, one turned) set too far towards crossed: the
    # light falls by stops, and at the deep settings the extinction is uneven across the field of
    # view (the polarisers' angle to the rays varies), leaving the dark "X" of crossed polarisers;
    # near extinction what leaks through is blue-violet, and sky light bounced between the two
    # glasses lays a faint violet veil over it all. A-L: a LUT, under-exposure, shot noise,
    # dusk, a stuck ND, a failing street light, a smoked dome, a distant lamp, a backlit sign, a
    # dying IR lamp, a storm front, an eclipse.
    stops = _strength(rng, level, 0.45, 3.8)
    h, w = x.shape[:2]
    xx, yy = _xy(h, w)
    s = _short(x)
    cx, cy = w / 2 + rng.uniform(-0.35, 0.35) * w, h / 2 + rng.uniform(-0.35, 0.35) * h  # the X's centre, in the frame
    ang = rng.uniform(0, math.pi)
    u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
    v = -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
    width = s * rng.uniform(0.25, 0.5)
    arms = np.maximum(np.exp(-(((u - v) / width) ** 2)), np.exp(-(((u + v) / width) ** 2)))
    deep = 0.5 + 0.5 * min(1.0, stops / 3.8)  # the X grows towards extinction
    extra = (1.5 + 1.3 * stops) * deep * arms  # more stops along the X's arms
    # What crossed polarisers still pass is a floor of transmission, blue-violet (BGR), whatever the angle.
    floor = np.float32([0.05, 0.006, 0.02]) * np.float32(deep * rng.uniform(0.7, 1.3))
    trans = np.exp2(-(stops + extra))[:, :, None].astype(np.float32) + floor
    # Sky light bounced between the filter's two glasses: a flat violet veil that lifts the blacks.
    veil = np.float32([0.012, 0.004, 0.008]) * np.float32(deep * rng.uniform(0.6, 1.4))
    return _enc(_lin(x) * trans + veil)


def _biofilm(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: algae cover in from the gasket's edge(s), and dark mould speckle clusters in it."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    edge = np.full((lh, lw), 1e9, np.float32)
    for side in rng.choice(4, int(rng.integers(1, 3)), replace=False):  # the gasket side(s) it grows from
        d = (xx, lw - 1 - xx, yy, lh - 1 - yy)[int(side)]
        edge = np.minimum(edge, d)
    reach = (0.3 + 1.1 * t) * min(lh, lw)
    growth = np.clip(1.0 - edge / reach, 0.0, 1.0) + 0.6 * _blotches(rng, (lh, lw), LAYER * 0.15) - 0.3
    cover = np.clip(growth * (0.6 + 0.6 * t), 0.0, 0.95)
    mould = np.zeros((lh, lw), np.float32)
    for _ in range(int(rng.integers(1, 3 + round(6 * t)))):  # clusters of dark spores
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        for _ in range(int(rng.integers(4, 14))):
            p = (round(cx + rng.normal(0, 3.0)), round(cy + rng.normal(0, 3.0)))
            cv2.circle(mould, p, int(rng.integers(0, 2)), 1.0, -1, cv2.LINE_AA)
    return cover, np.clip(mould * cover * 1.5, 0.0, 1.0)


def _dirty_lens(x, level, rng):
    # A biofilm on a housing window nobody has cleaned for years: green algae (brown where it has
    # dried) grows in from the gasket's edge as a translucent film that absorbs red and blue, with
    # dark mould spores in clusters; so close to the lens it is out of focus, and it scatters a
    # little of the scene's light. A-L: dark blobs, smudges and grit, dust shadows and grime,
    # mud, pollen, hair or salt, a fingerprint or a bird dropping, a cobweb, insects, water spots,
    # tree sap, spray paint.
    t = _strength(rng, level, 0.12, 1.0)
    cover, mould = _biofilm(rng, _layer_hw(x), t)
    blur = rng.uniform(1.0, 2.2)
    c = _up(_soft(cover, blur), x)[:, :, None]
    m = _up(_soft(mould, 0.7 * blur), x)[:, :, None]
    film = np.float32([0.15, 0.55, 0.2]) if rng.random() < 0.6 else np.float32([0.12, 0.3, 0.45])  # green / brown
    lin = _lin(x)
    seen = lin * (1.0 - c * (1.0 - film)) + _soft(lin, 0.05 * _short(x)) * c * np.float32(0.25)
    return _enc(seen * (1.0 - 0.85 * m))


def _exposure(x, level, rng):
    # Centre-weighted metering fooled by a dark background (a tunnel mouth, a forest, the night):
    # the camera opens up by stops, partly with gain, the sign rolls off through the sensor's soft
    # shoulder, and halation: light passing the sensor reflects back from the cover glass and IR
    # filter and lands, spread wide, as a warm orange glow around the bright parts. A-L: a LUT, clipping
    # and blooming, knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a night
    # profile, an iris stuck open, a sun glint, a DCG seam.
    stops = _strength(rng, level, 0.35, 3.9)
    lin = _lin(x) * np.float32(2.0**stops)
    knee = np.float32(rng.uniform(0.6, 0.8))
    # A share of all the light comes back from the cover glass, spread wide: it shows around the brights.
    glow = _soft(np.minimum(_luma(lin), 4.0), 0.15 * _short(x) * rng.uniform(0.7, 1.3))
    lin = lin + glow[:, :, None] * np.float32([0.05, 0.55, 1.0]) * np.float32(rng.uniform(0.35, 0.55))  # BGR: orange
    # The halation lands in the sensor, before the tone curve's shoulder.
    rolled = np.where(lin < knee, lin, knee + (1.0 - knee) * (1.0 - np.exp(-(lin - knee) / (1.0 - knee))))
    # Part of the extra exposure is gain, so the read noise comes up with it (on the signal).
    gain_noise = rng.normal(0.0, 0.015 + 0.01 * stops, x.shape).astype(np.float32)
    return _enc(rolled) + gain_noise


def _jolt_psf(length: float, rng: np.random.Generator) -> np.ndarray:
    """The camera's path through a pothole jolt: rest, a fast jump, a damped bounce, rest; as a kernel."""
    ang = math.pi / 2 + rng.normal(0.0, 0.4)  # mostly vertical
    s = np.linspace(0.0, 1.0, 600)
    s0, dur = rng.uniform(0.2, 0.7), rng.uniform(0.03, 0.08)
    ramp = np.clip((s - s0) / dur, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)
    after = np.clip(s - s0 - dur, 0.0, None)
    bounce = rng.uniform(0.15, 0.35) * np.exp(-after / rng.uniform(0.05, 0.15)) * np.sin(after * rng.uniform(25, 45))
    p = length * (ramp + np.where(after > 0, bounce, 0.0))
    px, py = p * math.cos(ang), p * math.sin(ang)
    half = int(math.ceil(length * 1.4)) + 2
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    np.add.at(k, (np.round(py - py.mean() + half).astype(int), np.round(px - px.mean() + half).astype(int)), 1.0)
    k = _soft(k, 0.4)
    return k / float(k.sum())


def _gaussian_blur(x, level, rng):
    # A pothole jolts the camera's vehicle (or mount) while the shutter is open: the view rests,
    # jumps, overshoots and settles in a damped bounce, so each point leaves two dwell images
    # joined by a faint streak, through the lens's own softness. A-L: Gaussian, elongated,
    # turbulence, a Lissajous mount, jello, a water film, AF hunting, a swaying sign,
    # diffraction, zoom creep, a twisting pole, a struck pole's oscillation.
    t = _strength(rng, level, 0.045, 0.17)
    k = _jolt_psf(max(0.8, t * _short(x)), rng)
    lin = _lin(x)
    out = cv2.filter2D(lin, -1, k, borderType=cv2.BORDER_REFLECT).reshape(lin.shape)
    return _enc(_soft(out, 0.25 + (0.3 + 1.5 * t) * _short(x) / 64.0))


def _noise(x, level, rng):
    # An uncompressed serial digital (SDI) link over a failing coaxial cable: bit errors flip random
    # bits of the 10-bit 4:2:2 Y'CbCr words. Most flips hit low bits (faint grain) but the high ones
    # throw bright, dark or coloured sparkles; a chroma word is shared by two pixels, so colour
    # errors are two pixels wide. A-L: colour grain, Bayer, shot noise with banding, salt and pepper,
    # herringbone, chroma blotches, a wireless link, gain noise, an intensifier, quad-Bayer,
    # radiation hits, NR mottle.
    ber = _strength(rng, level, 0.012, 0.07)
    h, w = x.shape[:2]
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    wc = -(-w // 2)
    chroma = cv2.resize(ycc[:, :, 1:], (wc, h), interpolation=cv2.INTER_AREA).reshape(h, wc, 2)
    words = [np.round(ycc[:, :, 0] * 1023).astype(np.int32), np.round(chroma * 1023).astype(np.int32)]
    for i, wd in enumerate(words):
        for b in range(10):
            hit = rng.random(wd.shape) < ber
            wd = np.where(hit, wd ^ (1 << b), wd)
        words[i] = wd
    ycc[:, :, 0] = words[0] / 1023.0
    ycc[:, :, 1:] = np.repeat(words[1] / 1023.0, 2, axis=1)[:, :w].reshape(h, w, 2)
    return cv2.cvtColor(ycc.astype(np.float32), cv2.COLOR_YCrCb2BGR)


def _glaze(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: the ice's thickness (lumps where drops froze as they ran, rippled) and its bubbles."""
    lh, lw = shape
    thick = np.zeros((lh, lw), np.float32)
    for _ in range(int((3 + 200 * t * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))):
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        run = rng.uniform(2, 10)  # frozen while running down: an elongated lump
        ax = (max(1, round(rng.uniform(1.5, 4.5))), max(1, round(run)))
        cv2.ellipse(thick, (round(cx), round(cy)), ax, rng.normal(0, 12), 0, 360, rng.uniform(0.5, 1.0), -1)
    thick = _soft(thick, 1.6)
    xx, yy = _xy(lh, lw)
    ripple = np.sin(xx * rng.uniform(0.5, 0.9) + 2.0 * _blotches(rng, (lh, lw), 10.0) * 3.0) * 0.15
    thick = np.clip(thick * (1.0 + ripple), 0.0, None)
    bubbles = ((rng.random((lh, lw)) < 0.01 + 0.02 * t) * (thick > 0.35)).astype(np.float32)
    return thick, bubbles


def _rain(x, level, rng):
    # Freezing rain glazes the housing window: supercooled drops freeze on impact, in clear lumps
    # where they froze as they ran. The ice's uneven, rippled surface refracts what is behind it
    # (the gradient of its thickness bends the rays), trapped air bubbles glint as bright specks,
    # and where the ice is thin at its margins it is white and rimy; the rain dims the light.
    # A-L: streaks, drops on the lens, a wet windshield, drops in flight, headlight-lit rain, truck
    # spray, rivulets, splash crowns, a wet sign, visor drips, a sunshower, drizzle beads.
    t = _strength(rng, level, 0.15, 1.0)
    h, w = x.shape[:2]
    lh, lw = _layer_hw(x)
    thick, bubbles = _glaze(rng, (lh, lw), t)
    gy, gx = np.gradient(thick)
    bend = (2.0 + 6.0 * t) * rng.uniform(0.7, 1.3) * h / lh  # crop px per unit of thickness gradient
    xx, yy = _xy(h, w)
    mx = np.clip(xx + _up(gx.astype(np.float32), x) * np.float32(bend), 0, w - 1)
    my = np.clip(yy + _up(gy.astype(np.float32), x) * np.float32(bend), 0, h - 1)
    lin = _lin(x)
    seen = cv2.remap(lin, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(lin.shape)
    ice = _up(np.clip(thick * 2.0, 0.0, 1.0), x)[:, :, None]
    rime = _up(np.clip(1.0 - np.abs(thick - 0.1) / 0.1, 0.0, 1.0), x)[:, :, None]
    out = lin * (1.0 - ice) + _soft(seen, 0.3) * ice
    white = np.float32(0.3 + 0.8 * float(_luma(lin).mean()))
    out = _over(out, np.clip(0.25 * _soft(rime, 1.5), 0.0, 1.0), np.full(3, white, np.float32))
    out = out + _up(_soft(bubbles, 0.5), x)[:, :, None] * np.float32(0.35)
    return _enc(out * np.float32(0.98 - 0.45 * t))


def _facade(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: the building's shade (1 in it) and the sunlight its window panes mirror into it."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    side = min(lh, lw)
    ang = rng.uniform(0, 2 * math.pi)
    u = (xx - lw / 2) * math.cos(ang) + (yy - lh / 2) * math.sin(ang)
    shade = np.clip((u - rng.uniform(-0.4, 0.2) * side) / (rng.uniform(0.02, 0.06) * side) + 0.5, 0.0, 1.0)
    # The facade's window grid, sheared by the reflection's perspective: panes, mullions between.
    pw, ph = side * rng.uniform(0.14, 0.3), side * rng.uniform(0.18, 0.35)
    shear = rng.uniform(-0.5, 0.5)
    gu, gv = (xx + shear * yy) / pw + rng.uniform(0, 1), yy / ph + rng.uniform(0, 1)
    frac_u, frac_v = gu - np.floor(gu), gv - np.floor(gv)
    mull = rng.uniform(0.12, 0.25)
    pane = ((frac_u > mull) & (frac_v > mull)).astype(np.float32)
    lit = rng.random((int(lh / ph) + 4, int(lw / pw) + int(abs(shear) * lh / pw) + 4)) < rng.uniform(0.4, 0.85)
    cell = lit[np.floor(gv).astype(int) % lit.shape[0], np.floor(gu).astype(int) % lit.shape[1]]  # blinds shut
    return shade, pane * cell


def _shadow(x, level, rng):
    # The sign stands in the shade of a building across the street, lit by the blue sky; the
    # building's glass facade mirrors the sun back into the shade as a skewed grid of bright, warm
    # rectangles (the panes), dark mullions between them, some panes dark behind blinds.
    # A-L: blinds, an edge, pole or dappling, branches or a truss, a vehicle or cloud, a hood, fan
    # blades, a fence, an overpass, a perforated canopy, another sign's plate, palm fronds, an awning.
    t = min(0.95, _strength(rng, level, 0.35, 0.88))
    shade, panes = _facade(rng, _layer_hw(x))
    sky = np.float32([1.15, 1.0, 0.85]) * np.float32(1.0 - t)  # BGR: the blue sky's fill
    mirror = np.float32([0.8, 0.95, 1.05]) * np.float32(rng.uniform(0.35, 0.7))  # glass: a warm, weaker sun
    s = shade[:, :, None]
    light = (1.0 - s) + s * (sky + panes[:, :, None] * mirror * (1.0 - sky))
    return _enc(_lin(x) * _up(_soft(light.astype(np.float32), 0.6), x))


def _plough_spray(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: the density of snow thrown in an arc from one lower side, clumps and powder."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    flip = rng.random() < 0.5
    u = (lw - 1 - xx if flip else xx) / lw  # 0 at the side the snow comes from
    crest = rng.uniform(0.1, 0.7)  # the arc's highest point, as a fraction of the height from the top
    arc = (crest + (1.0 - crest) * ((u - rng.uniform(0.3, 0.6)) / 0.6) ** 2) * lh
    width = lh * (0.08 + 0.25 * t) * (0.6 + u)  # the curtain widens as it flies
    dens = np.exp(-0.5 * ((yy - arc) / width) ** 2) * (0.6 + 0.4 * _blotches(rng, (lh, lw), LAYER * 0.2))
    clumps = np.zeros((lh, lw), np.float32)
    for _ in range(int((10 + 120 * t) * rng.uniform(0.8, 1.2))):
        px, py = int(rng.integers(0, lw)), int(rng.integers(0, lh))
        if rng.random() < dens[py, px]:
            cv2.circle(clumps, (px, py), int(rng.integers(1, 4)), 1.0, -1, cv2.LINE_AA)
    grain = (0.5 + 0.5 * rng.random((lh, lw))).astype(np.float32)
    return np.clip(dens * (0.25 + 0.8 * t) * grain + 0.9 * clumps, 0.0, 1.0).astype(np.float32)


def _snow(x, level, rng):
    # A snowplough passes and its blade throws snow in an arc across the view from one lower side:
    # a granular curtain of clumps and powder, densest along the arc and thinning to its edges,
    # hiding what is behind it, lit by the overcast. A-L: glow and dots, veil and discs, snow on the
    # sign, frost, lamp-lit flakes, slush, a ground blizzard, a heap on the visor, a porthole in
    # plastered snow, a squall's arcs, hard rime, aggregate flakes.
    t = _strength(rng, level, 0.08, 1.0)
    dens = _up(_soft(_plough_spray(rng, _layer_hw(x), t), 0.6), x)
    lin = _lin(x)
    white = np.float32([0.93, 0.93, 0.9]) * np.float32(min(1.0, 0.35 + 1.3 * float(_luma(lin).mean())))
    return _enc(_over(lin, np.clip(dens, 0.0, 0.97), white))


def _haze(x, level, rng):
    # Sea-salt haze on the coast: in humid air the salt particles swell into droplets large enough
    # to scatter all colours alike, lit by the bright sea sky (a cool white airlight); the haze is
    # thicker towards the sea's side of the view, and the droplets' forward scattering spreads
    # the scene's light into a soft aureole. A-L: a flat layer, depth, multiple scattering, smoke
    # or dust, mist from below, a plastic sheet, fog, summer aerosol, ice fog, condensation,
    # radiation fog, NO2 smog, a steam plume.
    opacity = min(0.97, _strength(rng, level, 0.04, 0.42))
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    xx, yy = _xy(h, w)
    ang = rng.uniform(0, 2 * math.pi)
    d = ((xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang)) / max(h, w)
    trans = np.exp(-tau * np.maximum(1.0 + rng.uniform(1.0, 1.8) * d, 0.1)).astype(np.float32)[:, :, None]
    lin = _lin(x)
    aureole = _soft(lin, 0.08 * _short(x))
    behind = lin * trans + aureole * (1.0 - trans) * np.float32(0.6)
    air = np.float32([1.0, 0.97, 0.93]) * np.float32(rng.uniform(0.45, 0.7))
    return _enc(behind + air * (1.0 - trans) * np.float32(0.75))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_m(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "M".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "M", _EFFECTS)
