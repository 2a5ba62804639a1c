"""Rendering "P" of the 12 CURE-TSR challenges: a holdout, written blind, measured once (docs/DESIGN.md §5.8).

A-O are measured already, so P is the next blind one. P is written without running the detector,
the classifier, the image statistics, calibrate or evaluate on it, to be measured once (fit on the
default FIT_RENDERINGS, test on P). It is written without A-O's helpers (only
monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared) and each effect
is another physical process, or another way a real camera or the real world produces the
condition, than any of A-O (their lines: monitor/rendering_c.py ... _o.py):

| condition | P |
| --- | --- |
| decolorization | a colour filter array whose dyes the sun has bleached (a camera staring into the low sun for years): the bleached filters pass more of every colour, so each channel sees the bare silicon's broad response mixed in, unevenly (most round the sun's burnt-in spot), and the fixed colour matrix cannot pull them apart again: colours sink towards a silicon-weighted grey with a slight hue twist |
| lens_blur | a lens pinched in its three-point mount (an over-tightened retaining ring, or the barrel shrinking in the cold) and a little out of focus: trefoil aberration, so every point spreads into a three-cusped, triangular spot whose orientation the mount sets |
| codec_error | an AV1 stream whose in-loop filter parameters (CDEF and loop restoration) are misread from some superblock on: each 8 x 8 block of the run smeared along its own wrong direction at a strength CDEF never uses, the restoration units' Wiener filters given wrong taps (ringing, over-sharpened edges), the chroma filtered with the luma's direction |
| darkening | a thick layer of wildfire smoke aloft at midday: the direct sun dimmed by stops and reddened (the smoke's fine particles take blue first, an Angstrom law), the skylight dim and brown, its thickness drifting across the view; the white balance only half corrects it and the gain's noise comes up |
| dirty_lens | a slug's dried slime trails across the housing window: sinuous silvery bands crawling in from the gasket, their dried edges thicker, out of focus, scattering the scene's light milkily with a faint thin-film iridescence, dimming what is behind |
| exposure | a global-shutter sensor's parasitic light sensitivity in hard sun: the exposure metered on a shaded part of the view (the sign over-exposed by stops), and while the rows wait their turn to be read, their storage nodes gather stray light from the bright scene, more in rows read later; a reddish wash rising down the view, channels clipping |
| gaussian_blur | a PTZ camera starting a pan (or a tilt) on its tour during the exposure: a uniformly accelerating motion, so the sign is smeared into a one-sided streak, densest where the motion began and thinning out, beaded by the stepper motor's cogging; the lens's own softness |
| noise | an AV1 transcoder's film-grain synthesis with grain parameters estimated far too high from a noisy source: an autoregressive (spatially correlated) grain template, pasted in blocks at random offsets without overlap, scaled by a piecewise-linear function of the intensity, the chroma grain partly drawn from the luma's |
| rain | rain at night under a PWM-dimmed LED street lamp: each drop falling through the long exposure is lit only in the lamp's on-pulses, so the streaks are dashed lines (near drops wide and soft, far ones fine), in the LED's cool white; the wet night dims the view |
| shadow | a corrugated translucent roofing sheet (a bus shelter's or carport's) between the sun and the sign: its ribs act as cylindrical lenses, so the shade is crossed by bright caustic lines and dim bands, the sheet's tint (bronze, opal or green) in the light, its opaque purlins as dark bars, and the sun full beyond the sheet's edge |
| snow | a snow-laden branch hanging just in front of the camera: an out-of-focus dark bough under a lumpy white load, side twigs with their own snow, clumps and powder shaken off it falling through the view, the snowy air's faint whitening |
| haze | morning mist in a wooded stretch of road with the sun behind the trees: the mist's airlight structured as crepuscular rays (diverging warm shafts where the sun comes through the gaps, blue-grey shade between), the mist's density drifting |

Conventions of P:
- Strength: a nominal value per level, from the level-1 to the level-5 value along a saturating
  rational ease ((1 + k) s / (1 + k s), k = 0.6) in the level, times a Weibull jitter (shape 14,
  divided by its mean) clipped to [0.73, 1.28] (`_strength`). Count, size, placement, colour and
  kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through Fujifilm's F-Log curve (the code range 0-1 taken as the F-Log
  codes from linear 0 to linear 1, its linear toe included; A 2.2, B sRGB, C BT.709, D 2.4, E 2.0,
  F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*, K HLG, L PQ, M S-Log3, N ARRI LogC3, O V-Log); luminance uses
  ColorMatch RGB's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 60  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.066985, 0.658132, 0.274884])  # ColorMatch RGB luminance weights, BGR order
# Fujifilm F-Log: a, b, c, d (log part), e, f (linear toe), the toe's end in linear light
_A, _B, _C, _D, _E, _F, _CUT = 0.555556, 0.009468, 0.344676, 0.790453, 8.735631, 0.092864, 0.00089
_EASE = 0.6  # k of the strength law's rational ease
_WEIBULL_SHAPE = 14.0
_WEIBULL_MEAN = math.gamma(1.0 + 1.0 / _WEIBULL_SHAPE)


def _flog_enc(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return np.where(y >= _CUT, _C * np.log10(np.maximum(_A * y + _B, 1e-9)) + _D, _E * y + _F)


def _flog_dec(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.where(v >= _E * _CUT + _F, (np.power(10.0, (v - _D) / _C) - _B) / _A, (v - _F) / _E)


_Q0, _Q1 = float(_flog_enc(np.float64(0.0))), float(_flog_enc(np.float64(1.0)))  # the code range's ends

# ---------------------------------------------------------------------------------------------
# Helpers of P


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi along a saturating rational ease in the level, times a Weibull jitter."""
    s = (level - 1) / 4.0
    u = (1.0 + _EASE) * s / (1.0 + _EASE * s)
    jitter = min(1.28, max(0.73, float(rng.weibull(_WEIBULL_SHAPE)) / _WEIBULL_MEAN))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the F-Log codes of linear 0-1) to linear light (0-1)."""
    return np.clip(_flog_dec(_Q0 + np.asarray(x, np.float64) * (_Q1 - _Q0)), 0.0, None).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    return ((_flog_enc(y) - _Q0) / (_Q1 - _Q0)).astype(np.float32)


def _luma(x: np.ndarray) -> np.ndarray:
    return (x @ _LUM).astype(np.float32)


def _layer_hw(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A layer brought to x's height and width (its channel axis, or its absence, kept)."""
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    mode = cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_CUBIC
    return cv2.resize(layer, (w, h), interpolation=mode).reshape(h, w, *layer.shape[2:])


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.3)).reshape(img.shape)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return xx.astype(np.float32), yy.astype(np.float32)


def _drift(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A smooth random field in [0, 1]: uniform values on a grid of `cell` px, blurred and stretched."""
    lh, lw = shape
    gh, gw = max(2, math.ceil(lh / max(cell, 1.0)) + 1), max(2, math.ceil(lw / max(cell, 1.0)) + 1)
    f = cv2.resize(rng.random((gh, gw)).astype(np.float32), (lw, lh), interpolation=cv2.INTER_LINEAR)
    f = _blur(f, 0.35 * cell)
    return (f - f.min()) / (float(f.max() - f.min()) + 1e-6)


def _mix(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


def _splat(px: np.ndarray, py: np.ndarray, wgt: np.ndarray, half: int) -> np.ndarray:
    """Points (px, py, px relative to the centre) splatted bilinearly into a normalised (2 half + 1)^2 kernel."""
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float64)
    fx, fy = px + half, py + half
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    ax, ay = fx - x0, fy - y0
    for dx, dy, c in ((0, 0, (1 - ax) * (1 - ay)), (1, 0, ax * (1 - ay)), (0, 1, (1 - ax) * ay), (1, 1, ax * ay)):
        xi, yi = np.clip(x0 + dx, 0, 2 * half), np.clip(y0 + dy, 0, 2 * half)
        np.add.at(k, (yi, xi), wgt * c)
    return (k / max(float(k.sum()), 1e-12)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering P: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A colour filter array whose dyes the sun has bleached (a camera staring into the low sun for
    # years): the bleached filters pass more of every colour, so each channel sees the bare
    # silicon's broad response mixed in, most round the sun's burnt-in spot, and the fixed colour
    # matrix (made for fresh dyes) cannot pull them apart again: colours sink towards a silicon-
    # weighted grey (red and blue lighter, green darker than a luma grey), twisted in hue by the dyes'
    # unequal fading. A-O: a grey blend, a mixer print, UV fading, sodium and mercury light, a lost
    # burst, an IR leak, the colour killer, a yellowed window, grime, sky glare, a gamut mismatch,
    # dew, a fooled multi-zone white balance, a long coax.
    t = min(1.0, _strength(rng, level, 0.22, 0.95))
    h, w = x.shape[:2]
    xx, yy = _grid(h, w)
    s = _short(x)
    cx, cy = rng.uniform(-0.2, 1.2) * w, rng.uniform(-0.2, 1.2) * h  # the sun's spot, maybe off the crop
    spot = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * (s * rng.uniform(0.6, 1.3)) ** 2))
    rates = rng.uniform(0.65, 1.15, 3).astype(np.float32)  # BGR: each dye fades at its own pace
    b = np.clip(t * (0.4 + 0.6 * spot)[:, :, None] * rates, 0.0, 1.0).astype(np.float32)
    silicon = np.float32([0.2, 0.36, 0.44])  # BGR: the bare photodiode's share of each band
    lin = _lin(x)
    broad = (lin @ silicon)[:, :, None]
    raw = lin * (1.0 - b) + broad * b
    # a fresh filter passes about a third of the light, a bleached one up to all of it: the auto
    # exposure and white balance take out the sensor's even bleaching, not the spot's, so it glows
    gain = 1.0 + 1.5 * b
    raw = raw * gain / (1.0 + 1.5 * 0.4 * t * rates)
    return _enc(raw)


def _trefoil_psf(r: float, share: float, turn: float) -> np.ndarray:
    """Spot diagram of defocus plus trefoil (W = D rho^2 + T rho^3 cos 3 theta), r px across at most."""
    rho, th = np.meshgrid(np.sqrt(np.linspace(0.0, 1.0, 48)), np.linspace(0.0, 2 * math.pi, 180, endpoint=False))
    rho, th = rho.ravel(), th.ravel()
    d, tr = (1.0 - share) * r, share * r  # the transverse ray error of each term at the pupil's rim
    ex = d * rho * np.cos(th) + tr * rho**2 * np.cos(2 * th)
    ey = d * rho * np.sin(th) - tr * rho**2 * np.sin(2 * th)
    px, py = ex * math.cos(turn) - ey * math.sin(turn), ex * math.sin(turn) + ey * math.cos(turn)
    return _splat(px, py, np.ones_like(px), int(math.ceil(r)) + 2)


def _lens_blur(x, level, rng):
    # A lens pinched in its three-point mount (an over-tightened retaining ring, or the barrel
    # shrinking in the cold), a little out of focus: the stress bends the glass into trefoil
    # aberration, so each point spreads into a three-cusped, triangular spot turned as the mount
    # is; the spot diagram is traced from the pupil's rays. A-O: hexagonal, round, heptagonal and
    # rhombic irises, a tilted plane, a ring PSF, field curvature, glow, astigmatism, a cracked
    # element, coma, a scratched dome, onion rings, a thicker filter stack, spherochromatism.
    t = _strength(rng, level, 0.05, 0.24)
    # the pinch is the lens's: its spot spans a couple of sensor pixels at least, whatever the crop
    r = max(2.4, t * _short(x))
    k = _trefoil_psf(r, rng.uniform(0.45, 0.7), rng.uniform(0.0, 2.0 * math.pi / 3.0))
    k = _blur(k, 0.35)
    k = k / float(k.sum())
    lin = cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REFLECT).reshape(x.shape)
    return _enc(lin)


def _directional(img: np.ndarray, angle: float, length: float) -> np.ndarray:
    """img smoothed along a line at `angle`, `length` px long (CDEF's primary taps, far too strong)."""
    half = int(math.ceil(length / 2.0)) + 1
    s = np.linspace(-length / 2.0, length / 2.0, max(6, int(4 * length)))
    k = _splat(s * math.cos(angle), s * math.sin(angle), np.ones_like(s), half)
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REPLICATE).reshape(img.shape)


def _wiener(img: np.ndarray, rng: np.random.Generator, t: float) -> np.ndarray:
    """A separable 7-tap filter with misread taps (summing to 1, side lobes negative): ringing."""
    side = rng.uniform(-0.5, 0.15, 3) * (0.4 + t)
    taps = np.concatenate([side[::-1], [0.0], side])
    taps[3] = 1.0 - taps.sum()
    kx = taps.astype(np.float32)[None, :]
    out = cv2.filter2D(img, -1, kx, borderType=cv2.BORDER_REPLICATE)
    return cv2.filter2D(out, -1, kx.T, borderType=cv2.BORDER_REPLICATE).reshape(img.shape)


def _codec_error(x, level, rng):
    # An AV1 stream whose in-loop filter parameters (CDEF strengths and directions, the loop
    # restoration units' Wiener taps) are misread from some superblock on: each 8 x 8 block of the
    # run is smeared along its own wrong direction at a strength CDEF never uses, and each
    # restoration unit (2 x 2 blocks here) gets a Wiener filter with wrong taps, so edges ring and
    # oversharpen; the chroma is filtered with the luma's direction. Codec work is on the signal.
    # A-O: displaced blocks, DCT, MCU errors, MVs, a lost restart, a stride, wavelets, concealment,
    # VQ, DPCM, HEVC intra, mid-GOP, SVC, weighted prediction, a tiled read.
    t = min(1.0, _strength(rng, level, 0.3, 1.0))
    h, w = x.shape[:2]
    s = _short(x)
    blk = max(2, round(s / 8.0))
    by, bx = -(-h // blk), -(-w // blk)
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    n = by * bx
    count = max(1, round(n * t * rng.uniform(0.8, 1.1)))
    start = int(rng.integers(0, max(1, n - count + 1)))
    hit = np.zeros(n, bool)
    hit[start : start + count] = True  # a run of blocks in raster order, from the misread one on
    dirs = rng.integers(0, 8, n)
    length = blk * (1.5 + 2.5 * t)
    smeared = np.stack([_directional(ycc, d * math.pi / 8.0, length) for d in range(8)])
    pick = dirs.reshape(by, bx).repeat(blk, 0).repeat(blk, 1)[:h, :w]
    out = np.take_along_axis(smeared, pick[None, :, :, None].repeat(3, axis=3), axis=0)[0]
    units = rng.integers(0, 3, (-(-by // 2), -(-bx // 2))).repeat(2 * blk, 0).repeat(2 * blk, 1)[:h, :w]
    for u in range(3):
        out = np.where((units == u)[:, :, None], _wiener(out, rng, t), out)
    mask = hit.reshape(by, bx).repeat(blk, 0).repeat(blk, 1)[:h, :w, None]
    res = np.where(mask, out, ycc).astype(np.float32)
    return np.clip(cv2.cvtColor(res, cv2.COLOR_YCrCb2BGR), 0.0, 1.0)


def _darkening(x, level, rng):
    # A thick layer of wildfire smoke aloft at midday: the direct sun is dimmed by stops and
    # reddened (the smoke's fine particles take blue first: an Angstrom law, exponent 1.2-2), the
    # skylight is dim and brown, the smoke's thickness drifts across the view; the auto white
    # balance corrects only part of the cast and the gain's noise comes up. A-O: a LUT, under-
    # exposure, shot noise, dusk, a stuck iris, a failing street light, a smoked dome, a distant
    # lamp, a backlit sign, a dying IR lamp, a storm, an eclipse, a variable ND, failing tubes,
    # low beams.
    stops = _strength(rng, level, 1.0, 3.4)
    alpha = rng.uniform(1.2, 2.0)
    tau_g = stops * math.log(2.0)  # optical depth at 550 nm for this many stops
    lam = np.float32([450.0, 550.0, 610.0])  # BGR: the channels' centre wavelengths, nm
    thick = _fit(_drift(rng, _layer_hw(x), LAYER * rng.uniform(0.4, 0.9)), x)[:, :, None]
    tau = tau_g * (lam / 550.0) ** -alpha * (0.65 + 0.7 * thick)
    sun = np.exp(-tau)
    sky = np.float32([0.09, 0.15, 0.2]) * np.exp(-0.5 * tau)  # BGR: the smoke's brown diffuse light
    wb = (np.exp(-tau_g * (lam / 550.0) ** -alpha) / math.exp(-tau_g)) ** -rng.uniform(0.1, 0.35)
    lin = _lin(x) * (sun + sky) * wb.astype(np.float32)
    gain = 2.0 ** (0.25 * stops)  # the auto exposure's gain, its read and shot noise with it
    sigma = 0.006 * gain * np.sqrt(lin + 0.002)
    lin = lin + rng.standard_normal(x.shape).astype(np.float32) * sigma.astype(np.float32)
    return _enc(np.maximum(lin, 0.0))


def _slime_trail(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: one slug's trail crawling in from an edge, a meandering band (0-1 coverage)."""
    lh, lw = shape
    side = int(rng.integers(0, 4))
    p = np.array([rng.uniform(0, lw), rng.uniform(0, lh)])
    p[side % 2] = (0.0, 0.0, lw, lh)[side]
    heading = (0.0, math.pi / 2, math.pi, -math.pi / 2)[side] + rng.normal(0.0, 0.5)
    pts = [p.copy()]
    for _ in range(int(14 + 30 * t)):
        heading += rng.normal(0.0, 0.35)
        p = p + 2.5 * np.array([math.cos(heading), math.sin(heading)])
        pts.append(p.copy())
    width = max(2, round(LAYER * (0.05 + 0.06 * t) * rng.uniform(0.8, 1.2)))
    band = np.zeros((lh, lw), np.float32)
    cv2.polylines(band, [np.round(np.array(pts)).astype(np.int32)], False, 1.0, width, cv2.LINE_AA)
    return band


def _dirty_lens(x, level, rng):
    # A slug's dried slime trails across the housing window: sinuous bands crawling in from the
    # gasket, their dried edges thicker than the middle, out of focus, scattering the scene's light
    # milkily with a faint thin-film iridescence along them and dimming what is behind. A-O: blobs,
    # smudges and grit, dust and grime, mud, pollen, a hair or salt, a fingerprint or dropping, a
    # cobweb, insects, water spots, sap, spray paint, a biofilm, a dirty cloth's wipe, wet leaves.
    t = _strength(rng, level, 0.2, 1.0)
    hw = _layer_hw(x)
    band = np.zeros(hw, np.float32)
    for _ in range(1 + int(rng.random() < 0.3 + 0.5 * t) + int(rng.random() < t * 0.6)):
        band = np.maximum(band, _slime_trail(rng, hw, t))
    inner = cv2.erode(band, np.ones((3, 3), np.uint8), iterations=max(1, round(LAYER * 0.02)))
    rims = np.clip(band - inner, 0.0, 1.0)  # the dried edges, thicker film
    film = np.clip(band * (0.2 + 0.6 * t) + rims * (0.15 + 0.3 * t), 0.0, 0.97)
    film = _fit(_blur(film, LAYER * rng.uniform(0.015, 0.03)), x)[:, :, None]
    phase = _fit(_drift(rng, hw, LAYER * 0.25), x)[:, :, None] * 2.0 * math.pi
    irid = 0.9 + 0.1 * np.cos(phase + np.float32([0.0, 2.1, 4.2]))  # thin film: hue drifting along
    lin = _lin(x)
    scatter = lin.mean(axis=(0, 1)) * np.float32(0.6) + np.float32(0.16)  # the scene's light, spread wide
    seen = lin * (1.0 - 0.55 * film) + film * scatter * irid.astype(np.float32)
    return _enc(seen)


def _exposure(x, level, rng):
    # A global-shutter sensor's parasitic light sensitivity in hard sun: the auto exposure metered
    # a shaded part of the view, so the sign is over-exposed by stops; after the exposure ends the
    # rows wait their turn to be read, and their storage nodes gather stray light meanwhile, more
    # in rows read later, spread (the light reaches a node from around its photodiode) and redder
    # (long wavelengths reach deeper into the silicon); the channels clip. A-O: a LUT, clipping,
    # knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a night profile, an open iris,
    # a glint, a DCG seam, halation, a snow field's bounce, sense-up frames.
    stops = _strength(rng, level, 1.1, 5.2)
    h, w = x.shape[:2]
    lin = _lin(x)
    over = np.float32(2.0 ** (0.3 * stops))
    top = rng.uniform(0.1, 0.6)  # where the crop's rows lie in the frame's readout order
    span = rng.uniform(0.15, 0.4)
    wait = (top + span * np.linspace(0.0, 1.0, h, dtype=np.float32))[:, None, None]
    leak_gain = 0.4 * (2.0**stops - 1.0) * rng.uniform(0.8, 1.2)
    stray = _blur(lin, 0.08 * _short(x) + 0.7) * np.float32([0.6, 1.0, 1.6])
    raw = lin * over + stray * wait * np.float32(leak_gain)
    return _enc(np.minimum(raw, 1.0))


def _pan_kernel(length: float, angle: float, v0: float, cog: float, rng: np.random.Generator) -> np.ndarray:
    """The PSF of a motion from v0 (share of the end speed) accelerating uniformly, its speed rippled by cogging."""
    tt = np.linspace(0.0, 1.0, 600)
    speed = (v0 + (1.0 - v0) * tt) * (1.0 + cog * np.sin(2 * math.pi * rng.uniform(4.0, 9.0) * tt + rng.uniform(0, 6)))
    pos = np.concatenate([[0.0], np.cumsum(np.maximum(speed, 0.0))[:-1]])
    pos = pos / max(float(pos[-1]), 1e-9) * length - length / 2.0
    half = int(math.ceil(length / 2.0)) + 2
    return _splat(pos * math.cos(angle), pos * math.sin(angle), np.ones_like(pos), half)


def _gaussian_blur(x, level, rng):
    # A PTZ camera starting a pan (or a tilt) on its patrol tour during the exposure: it
    # accelerates uniformly from (nearly) rest, so the sign is smeared into a one-sided streak,
    # densest where the motion began and thinning out; the stepper motor's cogging beads the
    # speed; the lens's own softness. A-O: Gaussian, elongated, turbulence, a Lissajous mount,
    # jello, a water film, AF hunting, a swaying sign, diffraction, zoom creep, a twisting pole, a
    # struck pole, a jolt, a passing car, an interlaced chain.
    t = _strength(rng, level, 0.06, 0.26)
    length = max(2.0, t * _short(x))
    axis = (0.0, math.pi / 2.0, math.pi / 4.0)[int(rng.choice(3, p=(0.6, 0.25, 0.15)))]
    angle = axis + rng.normal(0.0, 0.06) + (math.pi if rng.random() < 0.5 else 0.0)
    k = _pan_kernel(length, angle, rng.uniform(0.0, 0.15), rng.uniform(0.1, 0.3), rng)
    lin = cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REFLECT).reshape(x.shape)
    return _enc(_blur(lin, 0.35 + 0.15 * t * _short(x) / 8.0))


def _ar_template(rng: np.random.Generator, size: int, coeffs: np.ndarray) -> np.ndarray:
    """AV1's grain template: Gaussian noise run through a causal autoregressive filter of lag 2."""
    g = rng.standard_normal((size + 2, size + 4)).tolist()
    offs = [(dy, dx) for dy in (-2, -1, 0) for dx in (-2, -1, 0, 1, 2) if dy < 0 or dx < 0]
    c = [float(v) for v in coeffs]
    for y in range(2, size + 2):
        row = g[y]
        for xi in range(2, size + 2):
            row[xi] += sum(ci * g[y + dy][xi + dx] for ci, (dy, dx) in zip(c, offs, strict=True))
    out = np.float32(g)[2:, 2 : size + 2]
    return (out - out.mean()) / (float(out.std()) + 1e-6)


def _paste_blocks(rng: np.random.Generator, tpl: np.ndarray, shape: tuple[int, int], blk: int) -> np.ndarray:
    """The grain laid out in blk x blk blocks, each copied from the template at a random offset (no overlap)."""
    lh, lw = shape
    out = np.zeros((lh, lw), np.float32)
    span = tpl.shape[0] - blk
    for y in range(0, lh, blk):
        for x0 in range(0, lw, blk):
            oy, ox = int(rng.integers(0, span + 1)), int(rng.integers(0, span + 1))
            hh, ww = min(blk, lh - y), min(blk, lw - x0)
            out[y : y + hh, x0 : x0 + ww] = tpl[oy : oy + hh, ox : ox + ww]
    return out


def _noise(x, level, rng):
    # An AV1 transcoder's film-grain synthesis with grain parameters estimated far too high from a
    # noisy source: a grain template of Gaussian noise through an autoregressive filter (spatially
    # correlated), pasted in 32 px blocks (a quarter of the sign's side here) at random offsets
    # without overlap, scaled by a piecewise-linear function of the intensity (strongest in the mid
    # tones), the chroma grain partly drawn from the luma's. On the decoded signal. A-O: colour
    # grain, Bayer, shot noise and banding, salt and pepper, herringbone, blotches, a wireless link,
    # gain noise, an intensifier, quad-Bayer, radiation, NR mottle, SDI bit errors, RGB-IR, dark current.
    g = _strength(rng, level, 0.05, 0.3)
    hw = _layer_hw(x)
    blk = max(4, LAYER // 4)
    coeffs = rng.uniform(-0.3, 1.0, 12)
    coeffs = coeffs * (rng.uniform(0.6, 0.85) / float(np.abs(coeffs).sum()))  # a stable filter
    tpl = _ar_template(rng, 2 * blk + 8, coeffs)
    gy = _fit(_paste_blocks(rng, tpl, hw, blk), x)
    gc = [_fit(_paste_blocks(rng, tpl, hw, blk), x) for _ in range(2)]
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    luma = ycc[:, :, 0]
    pts = np.float32([0.0, 0.15, 0.5, 0.85, 1.0])
    scale = np.interp(luma, pts, np.float32([0.45, 0.8, 1.0, 0.7, 0.35]) * rng.uniform(0.85, 1.15, 5))
    ycc[:, :, 0] = luma + g * scale * gy
    mix = rng.uniform(0.3, 0.6)
    for c in (1, 2):
        ycc[:, :, c] += 0.5 * g * scale * (mix * gy + (1.0 - mix) * gc[c - 1])
    return np.clip(cv2.cvtColor(ycc.astype(np.float32), cv2.COLOR_YCrCb2BGR), 0.0, 1.0)


def _dashed_rain(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: drops' streaks lit only in the lamp's on-pulses, as dashed lines at several depths."""
    lh, lw = shape
    layer = np.zeros((lh, lw), np.float32)
    slant = rng.normal(0.0, 0.2)
    pulses, duty = int(rng.integers(3, 8)), rng.uniform(0.25, 0.5)
    for _ in range(int((8 + 70 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))):
        near = rng.random() ** 2.0
        ln = (6.0 + 26.0 * near) * rng.uniform(0.8, 1.2)
        x0, y0 = rng.uniform(-0.1 * lw, 1.1 * lw), rng.uniform(-ln, lh)
        dx, dy = math.sin(slant) * ln, math.cos(slant) * ln
        phase, val = rng.uniform(0, 1), 0.25 + 0.45 * near
        for k in range(pulses):
            a, b = (k + phase) / pulses, (k + phase + duty) / pulses
            p0 = (round(x0 + a * dx), round(y0 + a * dy))
            cv2.line(layer, p0, (round(x0 + min(b, 1.0) * dx), round(y0 + min(b, 1.0) * dy)), val, 1, cv2.LINE_AA)
    return layer


def _rain(x, level, rng):
    # Rain at night under a PWM-dimmed LED street lamp: each drop falls through the long exposure
    # but is lit only in the lamp's on-pulses, so its streak is a dashed line (near drops wide,
    # bright and soft, far ones fine and faint), in the LED's cool white; the wet night dims the
    # view. A-O: streaks, drops on the lens, a windshield, drops in flight, headlight-lit rain,
    # spray, rivulets, splashes, a wet sign, visor drips, a sunshower, drizzle beads, freezing rain,
    # sheets, a pouring overpass edge.
    t = _strength(rng, level, 0.1, 0.95)
    hw = _layer_hw(x)
    streaks = _blur(_dashed_rain(rng, hw, t), 0.45)
    streaks = _fit(streaks, x)[:, :, None]
    lin = _lin(x) * np.float32(1.0 - 0.25 * min(t, 1.0))
    led = np.float32([1.0, 0.97, 0.9])  # BGR: a 4000 K LED's cool white
    veil = np.float32(0.004 + 0.01 * t) * led  # the lamp's light scattered by the far rain
    return _enc(lin + veil + streaks * np.float32(0.5 + 0.4 * t) * led)


def _caustic_profile(rng: np.random.Generator, t: float) -> np.ndarray:
    """The light behind one period of the corrugated sheet (256 samples, mean 1): bright caustic lines."""
    u = np.linspace(0.0, 1.0, 4096, endpoint=False)
    bend = rng.uniform(0.12, 0.3) * (0.6 + 0.6 * t)  # the ribs' focusing power over the sheet's distance
    v = (u - bend * np.sin(2 * math.pi * u)) % 1.0  # where each ray lands, one period on
    hist = np.bincount(np.minimum((v * 256).astype(int), 255), minlength=256).astype(np.float32)
    hist = np.concatenate([hist[-16:], hist, hist[:16]])
    hist = cv2.GaussianBlur(hist[None, :], (0, 0), rng.uniform(2.0, 5.0)).ravel()[16:-16]  # the sun's disc
    return hist / float(hist.mean())


def _shadow(x, level, rng):
    # A corrugated translucent roofing sheet (a bus shelter's or a carport's) between the sun and
    # the sign: its ribs act as cylindrical lenses, so its shade is crossed by bright caustic lines
    # and dim bands, the light takes the sheet's tint (bronze, opal or green), its opaque purlins
    # cast dark bars across the ribs, and beyond the sheet's edge the sun is full. A-O: blinds, an
    # edge or dapples, branches, a vehicle, a hood, fan blades, a fence, an overpass, a perforated
    # canopy, a sign plate, palm fronds, an awning, a facade, a scaffold's netting, bunting.
    t = min(1.0, _strength(rng, level, 0.2, 0.9))
    h, w = x.shape[:2]
    xx, yy = _grid(h, w)
    s = _short(x)
    ang = rng.uniform(0, math.pi)
    along = xx * math.cos(ang) + yy * math.sin(ang)
    across = -xx * math.sin(ang) + yy * math.cos(ang)
    prof = _caustic_profile(rng, t)
    period = s * rng.uniform(0.12, 0.3)
    light = prof[((across / period) % 1.0 * 256).astype(int) % 256]
    tints = (np.float32([0.56, 0.78, 1.0]), np.float32([0.97, 1.0, 1.0]), np.float32([0.67, 1.0, 0.73]))
    kind = int(rng.integers(0, 3))
    diffuse = (0.3, 0.75, 0.2)[kind]  # an opal sheet spreads the light, blurring the caustics
    trans = tints[kind] * np.float32(1.0 - 0.55 * t)
    under = trans * (diffuse + (1.0 - diffuse) * light)[:, :, None]
    gap = s * rng.uniform(0.5, 1.0)
    purlin = ((along / gap + rng.uniform(0, 1)) % 1.0 < rng.uniform(0.08, 0.16)).astype(np.float32)
    under = under * (1.0 - 0.85 * purlin)[:, :, None] + np.float32([0.1, 0.07, 0.05])  # sky fill
    a = along - along.min()
    a = a if rng.random() < 0.5 else a.max() - a  # the sheet reaches in from either side
    edge = float(a.max()) * rng.uniform(0.15 + 0.3 * t, 0.6 + 0.8 * t)  # past the far side: all in its shade
    cover = np.clip((edge - a) / (0.05 * s) + 0.5, 0.0, 1.0)
    light_map = _mix(np.ones((h, w, 3), np.float32), _blur(cover.astype(np.float32), 0.02 * s), under)
    return _enc(_lin(x) * _blur(light_map.astype(np.float32), 0.01 * s))


def _bough(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: a snow-laden bough across the view (dark wood, white load) and its twigs."""
    lh, lw = shape
    wood, snow = np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)
    y0 = rng.uniform(0.05, 0.55) * lh
    xs = np.linspace(-0.1 * lw, 1.1 * lw, 24)
    tilt, sag, phase = rng.uniform(-0.25, 0.25), rng.uniform(-0.1, 0.1), rng.uniform(0, 6)
    ys = y0 + lh * (tilt * xs / lw + sag * np.sin(xs / lw * 3 + phase))  # the bough's lean and bend
    thick = max(2, round(LAYER * (0.025 + 0.06 * t)))
    pts = np.stack([xs, ys], 1)
    cv2.polylines(wood, [np.round(pts).astype(np.int32)], False, 1.0, thick, cv2.LINE_AA)
    load = max(2, round(thick * (1.0 + 1.6 * t)))
    for px, py in pts:  # lumps of snow piled on the bough's top side
        rad = int(load * rng.uniform(0.5, 1.0))
        cv2.circle(snow, (round(px), round(py - 0.6 * thick)), rad, 1.0, -1, cv2.LINE_AA)
    for _ in range(int(2 + 4 * t)):
        i = int(rng.integers(2, 22))
        a = rng.uniform(0.3, 1.2) * (1 if rng.random() < 0.5 else -1) + math.pi / 2
        ln = LAYER * rng.uniform(0.1, 0.3)
        end = (round(pts[i, 0] + ln * math.cos(a)), round(pts[i, 1] + ln * math.sin(a)))
        cv2.line(wood, (round(pts[i, 0]), round(pts[i, 1])), end, 1.0, max(1, thick // 2), cv2.LINE_AA)
        cv2.line(snow, (round(pts[i, 0]), round(pts[i, 1] - 1)), (end[0], end[1] - 1), 1.0, thick, cv2.LINE_AA)
    return wood, snow


def _falling(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: clumps and powder shaken off the bough, falling through the view."""
    lh, lw = shape
    layer = np.zeros((lh, lw), np.float32)
    for _ in range(int((4 + 40 * t) * lh * lw / LAYER**2)):
        r = LAYER * rng.uniform(0.01, 0.05) * (0.5 + t)
        centre = (round(rng.uniform(0, lw)), round(rng.uniform(0, lh)))
        cv2.circle(layer, centre, max(1, round(r)), 0.9, -1, cv2.LINE_AA)
    powder = (rng.random((lh, lw)) < 0.01 + 0.05 * t).astype(np.float32) * 0.8
    return np.maximum(layer, powder)


def _snow(x, level, rng):
    # A snow-laden branch hanging just in front of the camera: an out-of-focus dark bough under a
    # lumpy white load, side twigs with their own snow, clumps and powder shaken off by the wind
    # falling through the view, the snowy air's faint whitening. A-O: glow and dots, veil and discs,
    # a cap, frost, lamp-lit flakes, slush, a ground blizzard, a visor heap, a porthole, squall arcs,
    # rime, aggregate flakes, a plough's spray, streaks from the focus of expansion, graupel.
    t = _strength(rng, level, 0.03, 0.45)
    hw = _layer_hw(x)
    wood, snow = _bough(rng, hw, t)
    defocus = LAYER * rng.uniform(0.025, 0.05)
    wood = _fit(_blur(wood, defocus), x)
    snow = _fit(_blur(snow, defocus), x)
    falling = _fit(_blur(_falling(rng, hw, t), 0.7), x)
    lin = _lin(x)
    air = np.float32([0.8, 0.8, 0.78])
    lin = _mix(lin, np.full(x.shape[:2], 0.12 * t, np.float32), air)
    lin = _mix(lin, np.clip(falling * (0.5 + 0.4 * t), 0.0, 0.9), np.float32([0.92, 0.93, 0.93]))
    lin = _mix(lin, np.clip(wood * 0.95, 0.0, 1.0), np.float32([0.03, 0.04, 0.05]))
    return _enc(_mix(lin, np.clip(snow, 0.0, 1.0), np.float32([0.95, 0.95, 0.93])))


def _rays(rng: np.random.Generator, h: int, w: int, s: float) -> np.ndarray:
    """Crepuscular rays: shafts diverging from the sun behind the trees, above the crop (0 shade, 1 lit)."""
    xx, yy = _grid(h, w)
    sx, sy = rng.uniform(-0.5, 1.5) * w, -s * rng.uniform(0.5, 2.0)
    theta = np.arctan2(yy - sy, xx - sx)
    n = int(rng.integers(24, 60))  # the tree gaps' pattern, around the sun
    gaps = (rng.random(n) < rng.uniform(0.3, 0.55)).astype(np.float32)
    gaps = cv2.GaussianBlur(np.tile(gaps, 3)[None, :], (0, 0), 0.6).ravel()[n : 2 * n]
    idx = ((theta / (2 * math.pi)) % 1.0 * n * rng.uniform(3.0, 6.0)) % n
    i0 = np.floor(idx).astype(int)
    f = idx - i0
    return (gaps[i0] * (1 - f) + gaps[(i0 + 1) % n] * f).astype(np.float32)


def _haze(x, level, rng):
    # Morning mist in a wooded stretch of road with the sun behind the trees: the mist's airlight is
    # structured as crepuscular rays, warm shafts diverging from the sun where it comes through the
    # gaps and blue-grey shade between, the mist's density drifting. A-O: a flat layer, depth,
    # multiple scattering, smoke or dust, mist, a plastic sheet, fog by a low sun, aerosol, ice fog,
    # condensation, inner fog, NO2 smog, a steam plume, sea-salt haze, lamp-lit dusk fog, a tunnel.
    opacity = min(0.95, _strength(rng, level, 0.03, 0.26))
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    s = _short(x)
    rays = _blur(_rays(rng, h, w, s), 0.02 * s)[:, :, None]
    dens = _fit(_drift(rng, _layer_hw(x), LAYER * rng.uniform(0.3, 0.6)), x)
    trans = np.exp(-tau * (0.6 + 0.8 * dens)).astype(np.float32)[:, :, None]
    shade = np.float32([0.34, 0.28, 0.22]) * np.float32(rng.uniform(0.75, 1.0))  # BGR: the sky's blue-grey
    sun = np.float32([0.55, 0.74, 0.9]) * np.float32(rng.uniform(0.9, 1.1))
    air = shade + (sun - shade) * rays
    return _enc(_lin(x) * trans + air * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_p(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "P".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "P", _EFFECTS)
