"""Rendering "Q" of the 12 CURE-TSR challenges: written blind, measured once on 2026-12-02.

(Measured once after it was written, to judge summed-evidence naming: docs/DESIGN.md §5.8.)
A-P were measured already when Q was written, so Q was the next blind one. Q is written without running the detector,
the classifier, the image statistics, calibrate or evaluate on it, to be measured once (fit on the
default FIT_RENDERINGS, test on Q). It is written without A-P's helpers (only
monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared) and each effect
is another physical process, or another way a real camera or the real world produces the
condition, than any of A-P (their lines: monitor/rendering_c.py ... _p.py):

| condition | Q |
| --- | --- |
| decolorization | a broadcast legaliser (gamut limiter) in the video chain set far too tight: it scales each pixel's chroma down until the composite signal, luma plus and minus the chroma's amplitude, stays inside narrowed limits, so saturated, dark and bright colours lose the most, mid-grey ones little; its gain is smoothed along the line, and the luma is squeezed into narrowed limits too (whites greyed, blacks lifted) |
| lens_blur | a cheap anamorphic (cylindrical) adapter on the camera's lens, its focus set wrong: the defocus spot is an upright ellipse (the cylinder squeezes one axis, the recorder stretches it back), a little vertical line spread from the adapter's own focus (a cylinder acts on its one axis), and the bright parts' horizontal streak flare, bluish |
| codec_error | a progressive JPEG (a snapshot camera's) whose download stopped part-way: every block has the first scans (DC and the lowest frequencies, coarse successive-approximation bits), the blocks before where the transfer stopped one scan more; the chroma, subsampled, a scan behind the luma |
| darkening | an electrochromic (smart-glass) window in front of the camera tinting: the tungsten-oxide layer darkens by stops and turns the light blue, darkest at the bus-bars along two edges and lagging in the middle (the colouring front's "iris"), the auto exposure making up part with gain and its noise |
| dirty_lens | wildfire ash settled on the housing window: curled flakes of many sizes (grey-white ash, some charred black), out of focus, mostly opaque, fine ash dust between them scattering the scene's light |
| exposure | a sensor whose black-level clamp is failing: the black pedestal floats up (by channel, drifting along the line, with the columns' own offsets), so the blacks turn grey, and the auto exposure's gain on top carries the rest into clipping |
| gaussian_blur | a video management system's transcode for a low-bandwidth client: the stream area-averaged down to a few pixels across the sign (a non-square scale), then stretched back by the player's bilinear scaler and smoothed by its display filter |
| noise | a cheap camera's low-bit-depth output stage (RGB565-like, green one bit more) with random dither added before the truncation to hide banding, at the camera's own pixels: every value jittered by a quantisation step or more (rectangular or triangular dither, its amplitude set for a wider step) and rounded to few levels |
| rain | a daytime downpour against a bright overcast view: each falling drop is a tiny inverted fisheye showing the dark ground below, so the motion-streaked drops are grey-dark lines with a thin bright core (the sky's reflection), near ones wide and soft; the rain's grey veil dims the view |
| shadow | a drifting smoke plume (a chimney's or a roadside fire's) between the sun and the sign: a soft, turbulent, semi-transparent shade with wispy edges and dense cores, reddened (the smoke takes blue first), the sky's fill unshaded |
| snow | wet snow falling on a heated housing window: fresh six-armed flakes (out of focus, white stars), half-melted grey slush spots and clear meltwater drops that refract (invert) what is behind them, a few flakes still falling beyond |
| haze | fog at dusk lit by the camera's own white LED illuminator beside the lens: the fog just in front backscatters the beam into a bright veil centred where the beam crosses the view, near droplets as soft bright specks, the sign dimmed by the fog and the fading daylight |

Conventions of Q:
- Strength: a nominal value per level, from the level-1 to the level-5 value along a power ease-out
  (1 - (1 - s)^1.7) in the level, times a von Mises jitter, 1 + 0.2 * VonMises(0, 6) clipped to
  [0.74, 1.27] (`_strength`). Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through RED's Log3G10 curve (the code range 0-1 taken as the
  Log3G10 codes from linear 0 to linear 1; A 2.2, B sRGB, C BT.709, D 2.4, E 2.0, F 1.8, G 2.6,
  H 2.3, I 2.5, J CIE L*, K HLG, L PQ, M S-Log3, N ARRI LogC3, O V-Log, P F-Log); luminance uses
  Apple RGB's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 56  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.083332, 0.672034, 0.244634])  # Apple RGB luminance weights, BGR order
_LA, _LB, _LC = 0.224282, 155.975327, 0.01  # RED Log3G10: a, b, c (the log branch; linear >= 0 only)
_EASE_POW = 1.7  # the strength law's ease-out power
_VM_KAPPA, _VM_SCALE = 6.0, 0.2  # the von Mises jitter's concentration and scale


def _log3g10_enc(y: np.ndarray) -> np.ndarray:
    return _LA * np.log10((np.asarray(y, np.float64) + _LC) * _LB + 1.0)


def _log3g10_dec(v: np.ndarray) -> np.ndarray:
    return (np.power(10.0, np.asarray(v, np.float64) / _LA) - 1.0) / _LB - _LC


_Q0, _Q1 = float(_log3g10_enc(np.float64(0.0))), float(_log3g10_enc(np.float64(1.0)))  # the code range's ends

# ---------------------------------------------------------------------------------------------
# Helpers of Q


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi along a power ease-out in the level, times a von Mises jitter."""
    s = (level - 1) / 4.0
    u = 1.0 - (1.0 - s) ** _EASE_POW
    jitter = min(1.27, max(0.74, 1.0 + _VM_SCALE * float(rng.vonmises(0.0, _VM_KAPPA))))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the Log3G10 codes of linear 0-1) to linear light (0-1)."""
    v = _Q0 + np.clip(np.asarray(x, np.float64), 0.0, 1.0) * (_Q1 - _Q0)
    return np.clip(_log3g10_dec(v), 0.0, None).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    return ((_log3g10_enc(y) - _Q0) / (_Q1 - _Q0)).astype(np.float32)


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
    mode = cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(layer, (w, h), interpolation=mode).reshape(h, w, *layer.shape[2:])


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.3)).reshape(img.shape)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return xx.astype(np.float32), yy.astype(np.float32)


def _field(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """A smooth random field in [0, 1]: normal values on a grid of `cell` px, bicubic, stretched."""
    lh, lw = shape
    gh, gw = max(2, math.ceil(lh / max(cell, 1.0)) + 2), max(2, math.ceil(lw / max(cell, 1.0)) + 2)
    f = cv2.resize(rng.standard_normal((gh, gw)).astype(np.float32), (lw, lh), interpolation=cv2.INTER_CUBIC)
    return (f - f.min()) / (float(f.max() - f.min()) + 1e-6)


def _over(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering Q: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A broadcast legaliser (gamut limiter) in the video chain, set far too tight: it keeps the
    # composite signal, luma plus and minus the chroma's amplitude, inside narrowed limits by
    # scaling each pixel's chroma down, so saturated colours, and dark or bright ones (near a
    # limit), lose the most; its gain is smoothed along the line (it works on a short window).
    # Video work is on the signal. A-P: a grey blend, a mixer print, UV fading, sodium and mercury
    # light, a lost burst, an IR leak, the colour killer, a yellowed window, grime, sky glare, a gamut
    # mismatch, dew, a fooled multi-zone white balance, a long coax, bleached filter dyes.
    t = min(1.0, _strength(rng, level, 0.25, 0.92))
    y = _luma(x)[:, :, None]
    c = x - y
    u, v = 0.492 * c[:, :, 0], 0.877 * c[:, :, 2]  # the colour difference signals (B-Y, R-Y)
    amp = np.sqrt(u * u + v * v) * np.float32(rng.uniform(1.0, 1.3))  # the composite's chroma swing
    top = 1.15 - 0.6 * t * rng.uniform(0.85, 1.1)  # the narrowed limits (legal is about -0.2 .. 1.2)
    bottom = -0.2 + 0.45 * t * rng.uniform(0.85, 1.1)
    room = np.maximum(np.minimum(top - y[:, :, 0], y[:, :, 0] - bottom), 0.0)
    gain = np.minimum(1.0, room / (amp + 1e-4)).astype(np.float32)
    win = max(1, round(_short(x) * rng.uniform(0.03, 0.08)))
    gain = cv2.erode(gain, np.ones((1, 2 * win + 1), np.uint8))  # the window keeps its lowest gain
    gain = cv2.blur(gain, (2 * win + 1, 1))[:, :, None] * np.float32(1.0 - 0.25 * t)  # and a trim
    # its luma limits are narrowed too and the luma squeezed into them: whites greyed, blacks lifted
    hi, lo = 1.0 - 0.22 * t, 0.1 * t
    y = lo + (hi - lo) * y
    return np.clip(y + c * gain, 0.0, 1.0)


def _lens_blur(x, level, rng):
    # A cheap anamorphic (cylindrical) adapter in front of the camera's lens, its focus set wrong:
    # the cylinder squeezes the view on one axis and the recorder stretches it back, so the defocus
    # spot is an upright ellipse; the adapter's own focus, set wrong too, adds a line spread along
    # the cylinder's (vertical) axis only, and bright parts throw the anamorphic's horizontal
    # streak flare, bluish. A-P: hexagonal, round,
    # heptagonal and rhombic irises, a tilted plane, a ring PSF, field curvature, glow, astigmatism,
    # a cracked element, coma, a scratched dome, onion rings, a filter stack, spherochromatism, trefoil.
    t = _strength(rng, level, 0.016, 0.08)
    s = _short(x)
    r = max(1.6, t * s)  # the spot's half width, px (a sensor pixel or two at least)
    squeeze = rng.uniform(1.9, 2.6)
    half = int(math.ceil(r * (squeeze + 0.7))) + 1
    big = np.zeros((4 * (2 * half + 1), 4 * (2 * half + 1)), np.float32)
    centre = (2 * (2 * half + 1), 2 * (2 * half + 1))
    cv2.ellipse(big, centre, (round(4 * r), round(4 * r * squeeze)), 0.0, 0.0, 360.0, 1.0, -1, cv2.LINE_AA)
    k = cv2.resize(big, (2 * half + 1, 2 * half + 1), interpolation=cv2.INTER_AREA)
    k = cv2.filter2D(k, -1, np.full((max(1, round(0.3 * r)) * 2 + 1, 1), 1.0, np.float32))
    lin = _lin(x)
    out = cv2.filter2D(lin, -1, k / float(k.sum()), borderType=cv2.BORDER_REFLECT).reshape(x.shape)
    bright = np.maximum(_luma(lin) - rng.uniform(0.4, 0.7), 0.0)
    streak = cv2.blur(bright, (max(3, round(s * (0.5 + t))) | 1, 1))[:, :, None]
    return _enc(out + streak * np.float32([0.9, 0.5, 0.25]) * np.float32(0.6 + 2.0 * t))


def _dct_matrix(n: int) -> np.ndarray:
    k, i = np.mgrid[0:n, 0:n]
    m = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.astype(np.float32)


def _scans(plane: np.ndarray, blk: int, got: np.ndarray, coarse: float) -> np.ndarray:
    """A plane rebuilt blockwise from the progressive scans each block got (0: DC only, coarse ... 4)."""
    h, w = plane.shape
    by, bx = -(-h // blk), -(-w // blk)
    pad = np.pad(plane, ((0, by * blk - h), (0, bx * blk - w)), mode="edge") - 0.5  # JPEG's level shift
    d = _dct_matrix(blk)
    coef = d @ pad.reshape(by, blk, bx, blk).transpose(0, 2, 1, 3) @ d.T  # (by, bx, blk, blk)
    u, v = np.mgrid[0:blk, 0:blk]
    diag = (u + v) * 8.0 / blk  # the zig-zag order, in 8 x 8 terms
    cut = np.float32([1, 2, 3.5, 6, 10])[got][:, :, None, None]  # spectral selection per scan count
    # successive approximation: the bits not yet sent, as a step in grey levels (orthonormal DCT: x blk)
    step = np.float32([56, 28, 14, 6, 3])[got][:, :, None, None] * np.float32(coarse / 255.0 * blk)
    q = np.where(diag[None, None] < cut, np.trunc(coef / step) * step, 0.0)
    q[:, :, 0, 0] = np.round(coef[:, :, 0, 0] / step[:, :, 0, 0]) * step[:, :, 0, 0]
    back = (d.T @ q.astype(np.float32) @ d).transpose(0, 2, 1, 3).reshape(by * blk, bx * blk)
    return back[:h, :w] + 0.5


def _codec_error(x, level, rng):
    # A progressive JPEG (a snapshot camera's upload) whose transfer stopped part-way: every block
    # has the first scans, DC and the lowest frequencies with coarse successive-approximation bits,
    # and the blocks before the point where the transfer stopped have one scan more; the chroma,
    # subsampled 2:1, sends its scans after the luma's, so it is a scan behind. On the signal.
    # A-P: displaced blocks, DCT, MCU errors, MVs, a lost restart, a stride, wavelets, concealment,
    # VQ, DPCM, HEVC intra, mid-GOP, SVC, weighted prediction, a tiled read, AV1 loop filters.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    blk = max(4, round(_short(x) / 8.0))
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    full = int(np.clip(round(4.0 * (1.0 - t) + rng.uniform(-0.4, 0.4)), 0, 3))  # scans all blocks got
    by, bx = -(-h // blk), -(-w // blk)
    # where the transfer stopped, in raster order: the worse the link, the earlier on average
    stop = int(rng.integers(0, by * bx) * min(1.0, max(0.1, 1.3 - t)))
    got = np.full(by * bx, full, int)
    got[:stop] += 1
    out = np.empty_like(ycc)
    coarse = 0.6 + 0.5 * t  # the encoder's quality setting: a starved uploader sets it low too
    out[:, :, 0] = _scans(ycc[:, :, 0], blk, got.reshape(by, bx), coarse)
    ch, cw = max(1, h // 2), max(1, w // 2)
    cby, cbx = -(-ch // blk), -(-cw // blk)
    cgot = np.clip(np.full(cby * cbx, full - 1, int), 0, 4)
    cgot[: stop * cby * cbx // (by * bx)] += 1
    for c in (1, 2):
        sub = cv2.resize(ycc[:, :, c], (cw, ch), interpolation=cv2.INTER_AREA).reshape(ch, cw)
        rec = _scans(sub, blk, np.clip(cgot, 0, 4).reshape(cby, cbx), coarse)
        out[:, :, c] = cv2.resize(rec.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w)
    return np.clip(cv2.cvtColor(out.astype(np.float32), cv2.COLOR_YCrCb2BGR), 0.0, 1.0)


def _darkening(x, level, rng):
    # An electrochromic (smart-glass) window in front of the camera tinting: the tungsten-oxide
    # layer darkens by stops and passes blue best, darkest at the bus-bars along two opposite edges
    # of the pane, the colouring front lagging in its middle (the "iris"); the crop sees a part of
    # the pane. The auto exposure makes up part of it with gain, its noise with it. A-P: a LUT,
    # under-exposure, shot noise, dusk, a stuck iris, a failing street light, a smoked dome, a
    # distant lamp, a backlit sign, a dying IR lamp, a storm, an eclipse, a variable ND, failing
    # tubes, low beams, wildfire smoke.
    stops = _strength(rng, level, 1.5, 4.8)
    h, w = x.shape[:2]
    xx, yy = _grid(h, w)
    across = (xx / max(w - 1, 1)) if rng.random() < 0.5 else (yy / max(h - 1, 1))
    u0, span = rng.uniform(0.0, 0.5), rng.uniform(0.4, 0.9)
    u = u0 + span * across  # position across the pane, bus-bar (0) to bus-bar (1)
    lag = rng.uniform(0.2, 0.5)
    depth = (1.0 - lag * (1.0 - (2.0 * u - 1.0) ** 2))[:, :, None]
    ratio = np.float32([0.7, 1.0, 1.25]) * rng.uniform(0.9, 1.1, 3).astype(np.float32)  # BGR: blue passes
    lin = _lin(x) * np.exp2(-stops * depth * ratio).astype(np.float32)
    gain = np.float32(2.0 ** (stops * rng.uniform(0.12, 0.3)))
    lin = lin * gain * np.float32(1.0 - 0.15 * rng.random()) * (ratio / ratio.mean()) ** 0.5  # half a WB
    sigma = 0.005 * gain * np.sqrt(lin + 0.003)
    lin = lin + rng.standard_normal(x.shape).astype(np.float32) * sigma.astype(np.float32)
    return _enc(np.maximum(lin, 0.0))


def _ash(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: ash flakes (irregular curled polygons) as coverage and their colour times coverage."""
    lh, lw = shape
    cover, paint = np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)
    for _ in range(int((4 + 26 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))):
        r = LAYER * (0.015 + 0.09 * rng.random() ** 2.5) * (0.7 + 0.6 * t)
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * math.pi, n))
        rad = r * rng.uniform(0.45, 1.0, n)
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        pts = np.stack([cx + rad * np.cos(ang), cy + 0.7 * rad * np.sin(ang)], 1).round().astype(np.int32)
        grey = rng.uniform(0.05, 0.15) if rng.random() < 0.3 else rng.uniform(0.45, 0.75)  # charred or ash
        op = rng.uniform(0.6, 0.95)
        mask = np.zeros((lh, lw), np.float32)
        cv2.fillPoly(mask, [pts], 1.0, cv2.LINE_AA)
        a = mask * op  # a later flake lies over an earlier one (premultiplied colour)
        cover, paint = cover * (1.0 - a) + a, paint * (1.0 - a) + a * grey
    return np.clip(cover, 0.0, 0.97), paint


def _dirty_lens(x, level, rng):
    # Wildfire ash settled on the housing window: curled flakes of many sizes, grey-white ash and
    # some charred black, out of focus, mostly opaque, lit by the daylight on the window's face;
    # fine ash dust between them scatters the scene's light. A-P: blobs, smudges and grit, dust and
    # grime, mud, pollen, a hair or salt, a fingerprint or dropping, a cobweb, insects, water spots,
    # sap, spray paint, a biofilm, a dirty cloth, wet leaves, slime trails.
    t = _strength(rng, level, 0.045, 0.75)
    hw = _layer_hw(x)
    cover, paint = _ash(rng, hw, t)
    sigma = LAYER * rng.uniform(0.012, 0.03)
    cover = _fit(_blur(cover, sigma), x)[:, :, None]
    tone = _fit(_blur(paint, sigma), x)[:, :, None] / np.maximum(cover, 1e-3)
    tone = np.clip(tone, 0.0, 0.8) * np.float32([0.92, 0.96, 1.0])  # ash is a warm grey
    dust = _fit(_field(rng, hw, LAYER * 0.3), x)[:, :, None] * np.float32(0.05 + 0.25 * t)
    lin = _lin(x)
    light = np.float32(rng.uniform(0.35, 0.6))  # the daylight falling on the window's face
    scatter = lin.mean(axis=(0, 1)) * np.float32(0.5) + np.float32(0.12)
    lin = lin * (1.0 - dust) + scatter * dust
    return _enc(lin * (1.0 - cover) + tone * light * cover)


def _exposure(x, level, rng):
    # A sensor whose black-level clamp is failing: the pedestal the ISP should subtract floats up,
    # by its own amount in each colour channel, drifting along the line (the clamp's capacitor
    # leaking between resets) with each column's offset on top, so the blacks turn grey; the auto
    # exposure's gain on top carries the bright parts into clipping. In linear raw values. A-P: a
    # LUT, clipping, knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a night
    # profile, an open iris, a glint, a DCG seam, halation, snow bounce, sense-up, a global shutter.
    stops = _strength(rng, level, 0.45, 2.9)
    h, w = x.shape[:2]
    lin = _lin(x)
    ped = np.float32(0.012 + 0.022 * stops) * rng.uniform(0.7, 1.3, 3).astype(np.float32)  # BGR
    drift = np.linspace(0.0, 1.0, w, dtype=np.float32) * np.float32(rng.uniform(-0.6, 0.6))
    cols = rng.normal(0.0, 0.06, w).astype(np.float32)  # the column amplifiers' own clamp offsets
    pedestal = ped[None, None, :] * (1.0 + drift + cols)[None, :, None]
    gain = np.float32(2.0 ** (0.7 * stops) * rng.uniform(0.9, 1.1))
    raw = (lin + pedestal) * gain
    return _enc(np.minimum(raw, 1.0))


def _gaussian_blur(x, level, rng):
    # A video management system's transcode for a low-bandwidth client: the stream is area-averaged
    # down so the sign is a few pixels across (a non-square scale: the target's aspect is not the
    # camera's), then stretched back by the player's bilinear scaler and softened by its display
    # filter. A-P: Gaussian, elongated, turbulence, a Lissajous mount, jello, a water film, AF
    # hunting, a swaying sign, diffraction, zoom creep, a twisting pole, a struck pole, a jolt, a
    # passing car, an interlaced chain, a PTZ pan.
    t = _strength(rng, level, 0.035, 0.15)
    h, w = x.shape[:2]
    s = _short(x)
    aspect = rng.uniform(0.75, 1.33)
    across = max(2.0, 1.0 / t)  # px across the sign's shorter side after the downscale
    sh, sw = max(2, round(h / s * across * aspect**0.5)), max(2, round(w / s * across / aspect**0.5))
    # the scalers average the stream's code values, not light: this works on the signal
    small = cv2.resize(x, (min(sw, w), min(sh, h)), interpolation=cv2.INTER_AREA)
    back = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)
    return np.clip(_blur(back, 0.25 * s / across), 0.0, 1.0)


def _noise(x, level, rng):
    # A cheap camera's low-bit-depth output stage (RGB565-like: green keeps one bit more) with a
    # random dither added before the truncation to hide banding: every value is jittered by up to
    # a quantisation step (rectangular dither, or triangular, the sum of two) and rounded to few
    # levels, so the grain is per channel and tied to the step. On the signal. A-P: colour grain,
    # Bayer, shot noise and banding, salt and pepper, herringbone, blotches, a wireless link, gain
    # noise, an intensifier, quad-Bayer, radiation, NR mottle, SDI bit errors, RGB-IR, dark current,
    # film-grain synthesis.
    lost = _strength(rng, level, 4.5, 6.3)  # bits dropped from 8
    steps = np.float32(2.0 ** (8.0 - lost)) * np.float32([1.0, 2.0, 1.0]) - 1.0  # levels per channel, BGR
    # the stage works on the camera's own pixels (the sign about LAYER px across), the crop is a copy
    hw = _layer_hw(x)
    cam = cv2.resize(x, (hw[1], hw[0]), interpolation=cv2.INTER_AREA).reshape(*hw, 3)
    d = rng.random(cam.shape).astype(np.float32) - 0.5
    if rng.random() < 0.5:  # triangular dither: the sum of two rectangular ones
        d = d + rng.random(cam.shape).astype(np.float32) - 0.5
    d = d * np.float32(rng.uniform(1.0, 1.6))  # its amplitude set for the 8-bit path's wider step
    err = np.floor(cam * steps + d + 0.5) / steps - cam
    h, w = x.shape[:2]
    err = cv2.resize(err, (w, h), interpolation=cv2.INTER_NEAREST).reshape(x.shape)
    return np.clip(x + err, 0.0, 1.0).astype(np.float32)


def _downpour(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: the drops' motion streaks (body) and their thin bright cores."""
    lh, lw = shape
    body, core = np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)
    slant = rng.normal(0.0, 0.15)
    for _ in range(int((6 + 60 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))):
        near = rng.random() ** 2.5
        ln = LAYER * (0.12 + 0.35 * near) * rng.uniform(0.8, 1.2)
        x0, y0 = rng.uniform(-0.1 * lw, 1.1 * lw), rng.uniform(-ln, lh)
        p1 = (round(x0 + math.sin(slant) * ln), round(y0 + math.cos(slant) * ln))
        width = 1 + round(2.0 * near)
        cv2.line(body, (round(x0), round(y0)), p1, 0.35 + 0.5 * near, width, cv2.LINE_AA)
        cv2.line(core, (round(x0), round(y0)), p1, 0.3 + 0.4 * near, 1, cv2.LINE_AA)
    return body, core


def _rain(x, level, rng):
    # A daytime downpour against a bright overcast view: each falling drop is a tiny inverted
    # fisheye that shows the dark ground below it, so the motion-streaked drops are grey-dark
    # lines, with a thin bright core where the sky is reflected; near drops wide and soft; the rain's
    # grey veil dims the view. A-P: streaks, drops on the lens, a windshield, drops in flight,
    # headlight-lit rain, spray, rivulets, splashes, a wet sign, visor drips, a sunshower, drizzle
    # beads, freezing rain, sheets, an overpass edge, PWM-lit dashes.
    t = _strength(rng, level, 0.05, 0.7)
    hw = _layer_hw(x)
    body, core = _downpour(rng, hw, t)
    body = _fit(_blur(body, 0.6), x)[:, :, None]
    core = _fit(_blur(core, 0.4), x)[:, :, None]
    lin = _lin(x)
    h = x.shape[0]
    ground = lin[h // 2 :].mean(axis=(0, 1)) * np.float32(0.35) + np.float32(0.01)  # darker below
    sky = np.float32([0.75, 0.74, 0.72]) * np.float32(rng.uniform(0.7, 1.0))
    veil = np.float32(0.03 + 0.1 * min(t, 1.0))
    lin = lin * (1.0 - veil) + np.float32([0.3, 0.3, 0.29]) * veil
    lin = _over(lin, np.clip(body * (0.55 + 0.3 * t), 0.0, 0.9), ground)
    return _enc(_over(lin, np.clip(core * 0.5, 0.0, 0.6), sky))


def _plume(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: a smoke plume's column density (0 clear .. about 1.5 at its dense cores)."""
    lh, lw = shape
    xx, yy = _grid(lh, lw)
    ang = rng.uniform(-0.6, 0.6) + (math.pi / 2 if rng.random() < 0.3 else 0.0)
    px, py = rng.uniform(0.2, 0.8) * lw, rng.uniform(0.2, 0.8) * lh  # a point on the plume's axis
    along = (xx - px) * math.cos(ang) + (yy - py) * math.sin(ang)
    across = -(xx - px) * math.sin(ang) + (yy - py) * math.cos(ang)
    bend = (_field(rng, (lh, lw), LAYER * 0.8) - 0.5) * LAYER * 0.5  # the wind's meander
    width = LAYER * (0.2 + 0.25 * t) * (0.6 + 0.8 * (along - along.min()) / (float(np.ptp(along)) + 1e-6))
    band = np.exp(-(((across + bend) / width) ** 2))
    puffs = sum(wt * _field(rng, (lh, lw), LAYER * c) for wt, c in ((0.5, 0.35), (0.3, 0.16), (0.2, 0.07)))
    return (band * np.clip(1.9 * puffs - 0.45, 0.0, None)).astype(np.float32)


def _shadow(x, level, rng):
    # A drifting smoke plume (a chimney's, or a roadside fire's) between the sun and the sign: a
    # soft, turbulent, semi-transparent shade with wispy edges and dense cores, the light through it
    # reddened (the smoke's fine particles take blue first), the sky's fill unshaded. A-P: blinds,
    # an edge or dapples, branches, a vehicle, a hood, fan blades, a fence, an overpass, a perforated
    # canopy, a sign plate, palm fronds, an awning, a facade, netting, bunting, a corrugated roof.
    t = min(1.2, _strength(rng, level, 0.12, 1.1))
    dens = _fit(_blur(_plume(rng, _layer_hw(x), t), 0.8), x)[:, :, None]
    tau = np.float32(1.0 + 1.6 * t) * np.float32([1.3, 1.0, 0.75])  # BGR: blue taken first
    sky = np.float32([0.2, 0.15, 0.11]) * np.float32(rng.uniform(0.7, 1.1))  # the sky's fill, bluish
    sun = np.float32(1.0) - sky
    light = sun * np.exp(-tau * dens) + sky
    return _enc(_lin(x) * light)


def _window_snow(rng: np.random.Generator, h: int, w: int, t: float) -> tuple[np.ndarray, np.ndarray]:
    """At the crop's size: white coverage (flakes and slush) and the meltwater drops' lens strength."""
    s = max(min(h, w), 4)
    white, drops = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
    for _ in range(int((5 + 45 * t) * h * w / s**2 * rng.uniform(0.8, 1.2))):
        kind = rng.choice(3, p=(0.4, 0.25, 0.35))  # a fresh flake, slush, a clear drop
        r = s * rng.uniform(0.02, 0.06) * (0.7 + 0.6 * t)
        c = (round(rng.uniform(0, w)), round(rng.uniform(0, h)))
        if kind == 0:
            a0 = rng.uniform(0, math.pi / 3)
            for k in range(3):  # six arms: three lines through the centre
                dx, dy = r * math.cos(a0 + k * math.pi / 3), r * math.sin(a0 + k * math.pi / 3)
                p0, p1 = (round(c[0] - dx), round(c[1] - dy)), (round(c[0] + dx), round(c[1] + dy))
                cv2.line(white, p0, p1, 1.0, max(1, round(r * 0.25)), cv2.LINE_AA)
        elif kind == 1:
            cv2.circle(white, c, max(1, round(r)), rng.uniform(0.4, 0.7), -1, cv2.LINE_AA)
        else:
            cv2.circle(drops, c, max(1, round(r * 1.2)), 1.0, -1, cv2.LINE_AA)
    return white, drops


def _snow(x, level, rng):
    # Wet snow falling on a heated housing window: flakes land and melt, so the window carries fresh
    # six-armed flakes (out of focus, soft white stars), half-melted grey slush spots and clear
    # meltwater drops, each a small lens that shows what is behind it inverted; a few flakes still
    # fall beyond. A-P: glow and dots, veil and discs, a cap, frost, lamp-lit flakes, slush, a ground
    # blizzard, a visor heap, a porthole, squall arcs, rime, aggregates, a plough's spray, streaks
    # from the focus of expansion, graupel, a laden branch.
    t = _strength(rng, level, 0.08, 0.9)
    h, w = x.shape[:2]
    s = _short(x)
    white, drops = _window_snow(rng, h, w, t)
    lens = _blur(drops, 0.04 * s)  # a bump per drop: its gradient bends the view through it
    gx = cv2.Sobel(lens, cv2.CV_32F, 1, 0, ksize=1, borderType=cv2.BORDER_REFLECT) * np.float32(0.5)
    gy = cv2.Sobel(lens, cv2.CV_32F, 0, 1, ksize=1, borderType=cv2.BORDER_REFLECT) * np.float32(0.5)
    xx, yy = _grid(h, w)
    k = np.float32(s * rng.uniform(0.15, 0.3))
    seen = cv2.remap(x, xx + k * gx, yy + k * gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(x.shape)
    lin = _lin(seen) * (1.0 - 0.15 * np.clip(drops, 0.0, 1.0))[:, :, None]  # the drops' rims, darker
    white = _blur(white, 0.012 * s + 0.4)[:, :, None]
    beyond = (rng.random((h, w)) < 0.004 + 0.02 * t).astype(np.float32)
    beyond = _blur(beyond, 0.01 * s + 0.5)[:, :, None] * np.float32(3.0)
    lin = _over(lin, np.clip(beyond, 0.0, 0.8), np.float32([0.85, 0.85, 0.84]))
    lin = lin * np.float32(1.0 - 0.1 * t) + np.float32(0.05 * t)  # the snowy overcast's flat light
    return _enc(_over(lin, np.clip(white * 0.95, 0.0, 0.95), np.float32([0.9, 0.9, 0.88])))


def _haze(x, level, rng):
    # Fog at dusk lit by the camera's own white LED illuminator beside the lens: the fog just in
    # front backscatters the beam into a bright veil centred where the beam crosses the view, near
    # droplets in the beam as soft bright specks; the sign is dimmed by the fog and by the fading
    # daylight. A-P: a flat layer, depth, multiple scattering, smoke or dust, mist, a plastic sheet,
    # fog by a low sun, aerosol, ice fog, condensation, inner fog, NO2 smog, a steam plume, sea salt,
    # lamp-lit fog, a tunnel, crepuscular mist.
    opacity = min(0.95, _strength(rng, level, 0.03, 0.26))
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    s = _short(x)
    xx, yy = _grid(h, w)
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    spread = s * rng.uniform(0.25, 0.55)
    beam = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * spread**2))
    dens = _fit(_field(rng, _layer_hw(x), LAYER * 0.5), x)
    trans = np.exp(-tau * (0.8 + 0.4 * dens))[:, :, None]
    led = np.float32([1.0, 0.95, 0.86]) * np.float32(rng.uniform(0.45, 0.7))  # a 5000 K LED's white
    veil = led * (0.12 + 1.3 * beam)[:, :, None]
    specks = (rng.random((h, w)) < 0.002 + 0.006 * opacity).astype(np.float32) * beam
    specks = _blur(specks, 0.015 * s + 0.5)[:, :, None] * np.float32(4.0 * opacity)
    day = np.float32(rng.uniform(0.75, 0.95))
    return _enc(_lin(x) * day * trans + veil * (1.0 - trans) + led * specks)


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_q(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "Q".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "Q", _EFFECTS)
