"""Rendering "L" of the 12 CURE-TSR challenges: written blind, measured once (docs/DESIGN.md §5.8).

A-K had all met the detector when K was measured, so L was the next blind one. L was written
without running the detector, the classifier, the image statistics, calibrate or evaluate on it,
and measured once on 2026-12-01 (fit on the default FIT_RENDERINGS, test on L). It is written without A-K's
helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared)
and each effect is another physical process, or another way a real camera produces the
condition, than any of A-K (their lines: monitor/rendering_c.py ... _k.py):

| condition | L |
| --- | --- |
| decolorization | a mercury-vapour lamp lights the scene: its light is a few lines (436, 546, 578 nm) with almost no red, so red paint turns a dull brown-grey and every colour's chroma collapses towards the lines; the camera's white balance corrects the blue-green cast only partly |
| lens_blur | a stopped-down lens with a seven-bladed iris out of focus: heptagonal defocus spots, brighter towards their edge (over-corrected spherical aberration), with lateral chromatic aberration (red magnified, blue shrunk about the optical axis off the crop) |
| codec_error | an MPEG-2 stream joined mid-GOP: with no I-frame yet, P-frame residuals are added onto the decoder's blank reference (mid grey, or green where it starts from YUV zeros): embossed edge relief in macroblocks along the motion vectors, coarsely quantised, a few intra-refreshed blocks intact |
| darkening | a deep partial solar eclipse: the light falls by stops, what is left of the sun is its limb (limb darkening makes it redder), the darkened sky's light bluer in the shade; the auto exposure makes up part of it with gain |
| dirty_lens | spray-paint overspray on the housing window (vandalism or road-marking work nearby): a cone of fine out-of-focus paint droplets of one colour, densest at the spray's centre, a few bigger drops and runs |
| exposure | a dual-conversion-gain HDR sensor with a mis-calibrated gain ratio (too small, per channel), over-exposed: where pixels switch from the high-gain to the low-gain readout the tone jumps (a contour seam), the low-gain part coarser and noisier, and where that readout saturates too the highlights land on a flat, tinted, greyish plateau instead of white; the rest lifted |
| gaussian_blur | the sign's pole struck by a passing truck's air blast: a damped oscillation (a decaying sinusoid, slightly elliptical) during the exposure, a motion path that dwells where the swing turns and shrinks |
| noise | a small-pixel sensor at high gain behind the ISP's spatial noise reduction: the fine grain removed, a correlated luma mottle ("worms") left, stronger in the darks, and coarser chroma mottle, at the stream's binned resolution |
| rain | drizzle beading on a hydrophobic-coated window: dense tiny beads, each a ball lens showing an inverted, minified patch of what is around it, a dark rim, a top highlight; the drizzle's grey dimming |
| shadow | a translucent striped awning or banner between the sun and the sign: coloured shade (the fabric's transmission, in two alternating stripe colours) with a wavy edge where the fabric billows, the weave's faint texture |
| snow | large aggregate flakes falling in calm air at many depths: irregular clumps lit from above (white tops, grey undersides), far ones small and sharp, near ones big, soft and translucent; the snowfall's light veil |
| haze | a steam plume (a roadside vent, or a truck's exhaust in cold air): condensed water droplets rising and spreading in turbulent billows across the sign, bright white and neutral, blurring what is behind its dense parts |

Conventions of L:
- Strength: a nominal value per level, from the level-1 to the level-5 value along half a line and
  half a smoothstep (3s^2 - 2s^3) in the level, times a Student-t jitter, 1 + 0.08 * t(5) clipped
  to [0.7, 1.3] (`_strength`). Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through the PQ curve (SMPTE ST 2084, the code range 0-1 taken as
  0-1000 cd/m2; A 2.2, B sRGB, C BT.709, D 2.4, E 2.0, F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*,
  K HLG); luminance uses ACES AP1 (ACEScg)'s weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 92  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.0536895, 0.6740818, 0.2722287])  # ACES AP1 luminance weights, BGR order
_M1, _M2 = 2610.0 / 16384.0, 2523.0 / 4096.0 * 128.0  # SMPTE ST 2084 (PQ)
_C1, _C2, _C3 = 3424.0 / 4096.0, 2413.0 / 4096.0 * 32.0, 2392.0 / 4096.0 * 32.0
_PEAK = 0.1  # the code range's top, 1000 cd/m2, as a fraction of PQ's 10000


def _pq_eotf(e: np.ndarray) -> np.ndarray:
    p = np.power(np.clip(e, 0.0, 1.0), 1.0 / _M2)
    return np.power(np.maximum(p - _C1, 0.0) / (_C2 - _C3 * p), 1.0 / _M1)


def _pq_oetf(y: np.ndarray) -> np.ndarray:
    p = np.power(np.clip(y, 0.0, 1.0), _M1)
    return np.power((_C1 + _C2 * p) / (1.0 + _C3 * p), _M2)


_E_TOP = float(_pq_oetf(np.float64(_PEAK)))  # the PQ code of 1000 cd/m2 (about 0.75)

# ---------------------------------------------------------------------------------------------
# Helpers of L


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi, half linear and half a smoothstep in the level, times a Student-t jitter."""
    s = (level - 1) / 4.0
    u = 0.5 * s + 0.5 * s * s * (3.0 - 2.0 * s)
    jitter = min(1.3, max(0.7, 1.0 + 0.08 * float(rng.standard_t(5))))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the code range as 0-1000 cd/m2 in PQ) to linear light (0-1)."""
    return (_pq_eotf(np.asarray(x, np.float64) * _E_TOP) / _PEAK).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    return (_pq_oetf(y * _PEAK) / _E_TOP).astype(np.float32)


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


def _billows(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A turbulent field in [0, 1], three octaves with amplitudes halving, features about `scale` px."""
    f = np.zeros(shape, np.float32)
    for k in range(3):
        f += 0.5**k * _soft(rng.standard_normal(shape).astype(np.float32), max(scale / 2.0**k / 2.5, 0.4))
    return (f - f.min()) / (float(f.max() - f.min()) + 1e-6)


def _over(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """`colour` laid over `base` with coverage `alpha` (H, W) or (H, W, 1)."""
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering L: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A mercury-vapour lamp: its light is the 436, 546 and 578 nm lines and almost no red, so the
    # camera's red channel sees mostly the 578 nm line (reflected alike by red and green paint);
    # the narrow lines make broad pigments look alike, so chroma collapses; the white balance takes
    # out only part of the lamp's blue-green cast. A-K: a grey blend, a mixer print, a UV-faded
    # print, sodium light, a lost colour burst, an IR leak, the colour killer, a yellowed window,
    # road grime, sky glare, a gamut metadata mismatch.
    t = min(0.99, _strength(rng, level, 0.2, 0.95))
    lin = _lin(x)
    b, g, r = lin[:, :, 0], lin[:, :, 1], lin[:, :, 2]
    red_seen = 0.7 * g + 0.3 * r  # the red channel under the 578 nm line
    lamp = np.stack([b, g, (1.0 - t) * r + t * red_seen], axis=2)
    y = _luma(lamp)[:, :, None]
    lamp = y + (lamp - y) * np.float32(1.0 - t)
    lamp_cast = np.float32([0.18, 0.1, -0.22]) * np.float32(t)
    cast = 1.0 + lamp_cast * np.float32(rng.uniform(0.3, 0.7))  # what the white balance leaves of it
    return _enc(lamp * cast)


def _heptagon_psf(r: float, rot: float) -> np.ndarray:
    """A seven-bladed iris's defocus spot of radius r px, brighter towards its edge."""
    ss = 4
    half = int(math.ceil(r)) + 1
    n = (2 * half + 1) * ss
    big = np.zeros((n, n), np.float32)
    c = n / 2.0
    ang = rot + np.arange(7) * 2.0 * math.pi / 7.0
    pts = np.stack([c + r * ss * np.cos(ang), c + r * ss * np.sin(ang)], axis=1)
    cv2.fillConvexPoly(big, np.round(pts).astype(np.int32), 1.0, cv2.LINE_AA)
    xx, yy = _xy(n, n)
    d2 = ((xx - c) ** 2 + (yy - c) ** 2) / (r * ss) ** 2
    big *= 0.55 + 0.45 * np.clip(d2, 0.0, 1.0)  # over-corrected spherical aberration: a brighter rim
    k = cv2.resize(big, (2 * half + 1, 2 * half + 1), interpolation=cv2.INTER_AREA)
    return k / max(float(k.sum()), 1e-6)


def _lens_blur(x, level, rng):
    # A lens stopped down to a seven-bladed heptagonal iris, focused off the sign: each point is a
    # heptagonal spot, over-corrected spherical aberration piling its light towards the rim. The
    # cheap lens also magnifies red more than blue about the optical axis (off the crop, in the
    # full frame): lateral chromatic aberration, colour fringes that grow away from the axis.
    # A-K: hexagonal and round irises, a tilted plane, a ring PSF, field curvature, diffusion glow,
    # astigmatism, a cracked element, coma, a scratched dome, onion rings.
    t = _strength(rng, level, 0.02, 0.1)
    h, w = x.shape[:2]
    r = max(0.7, t * _short(x))
    k = _heptagon_psf(r, rng.uniform(0, 2 * math.pi))
    lin = cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REPLICATE).reshape(x.shape)
    ca = 0.25 * t * rng.uniform(0.6, 1.2)
    ax = (w / 2 + rng.uniform(-1, 1) * w, h / 2 + rng.uniform(-1, 1) * h)
    out = lin.copy()
    for ch, m in ((2, 1.0 + ca), (0, 1.0 - ca)):
        mat = cv2.getRotationMatrix2D(ax, 0.0, m)
        out[:, :, ch] = cv2.warpAffine(
            lin[:, :, ch], mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    return _enc(out)


def _codec_error(x, level, rng):
    # An MPEG-2 stream joined mid-GOP (a camera switched in, or its I-frame lost): until the next
    # I-frame the decoder adds each P-frame's residual (this frame minus the motion-shifted
    # reference the encoder had) onto its own blank reference: mid grey, or green where it starts
    # from YUV zeros. The sign shows as embossed edge relief along the motion vectors in 16 px
    # macroblocks, coarsely quantised; a few intra-refreshed blocks decode right. Codec work is on
    # the signal. A-K: displaced blocks, DCT, MCU bit errors, motion vectors, a lost restart,
    # a wrong stride, wavelets, packet loss, VQ, DPCM, HEVC intra modes.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    mb = max(2, round(_short(x) / 64.0 * 16.0))  # 16 px macroblocks on a 64 px sign
    blank = np.float32([0.5, 0.5, 0.5]) if rng.random() < 0.6 else np.float32([0.0, 0.53, 0.0])
    step = 0.02 + 0.1 * t
    out = x.copy()
    cols = -(-w // mb)
    n_mb = -(-h // mb) * cols
    first = round(n_mb * (1.0 - min(0.95, (0.05 + 0.45 * t) * rng.uniform(0.7, 1.3))))  # the join, in raster order
    refresh = max(0.02, 0.3 - 0.25 * t)
    mv = rng.normal(0.0, 0.02 + 0.05 * t, 2) * _short(x)
    for by in range(0, h, mb):
        mv = mv + rng.normal(0.0, 0.01, 2) * _short(x)  # the vectors drift along the slice
        for bx in range(0, w, mb):
            if (by // mb) * cols + bx // mb < first or rng.random() < refresh:
                continue
            blk = x[by : by + mb, bx : bx + mb]
            sy = int(np.clip(by + round(mv[1]), 0, max(h - blk.shape[0], 0)))
            sx = int(np.clip(bx + round(mv[0]), 0, max(w - blk.shape[1], 0)))
            res = blk - x[sy : sy + blk.shape[0], sx : sx + blk.shape[1]]
            res = np.round(res / step) * step  # coarse quantiser
            out[by : by + mb, bx : bx + mb] = np.clip(blank + res, 0.0, 1.0)
    return out


def _darkening(x, level, rng):
    # A deep partial solar eclipse: the sunlight falls by stops as the moon covers the disc; what
    # is left is the sun's limb, which limb darkening makes redder; the sky darkens too and its
    # light fills the shade bluer. The auto exposure makes up part of the loss with gain, and the
    # gain lifts the read noise a little. A-K: a LUT, under-exposure, shot noise, dusk, a stuck ND,
    # a failing street light, a smoked dome, a distant lamp, a backlit sign, a dying IR lamp, a storm front.
    stops = _strength(rng, level, 1.8, 9.0)
    lin = _lin(x)
    made_up = min(0.4 * stops, 1.2) * rng.uniform(0.7, 1.0)
    sun = np.float32([0.8, 0.93, 1.08])  # the redder limb, BGR
    sky = np.float32([1.25, 1.0, 0.78]) * np.float32(rng.uniform(0.005, 0.02))  # bluer sky fill
    light = lin * sun + sky * _luma(lin).mean()
    out = light * np.float32(2.0 ** (made_up - stops))
    read = rng.normal(0.0, 0.0002 * 2.0**made_up, x.shape).astype(np.float32)
    return _enc(out + read)


def _spray_layers(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """Overspray coverage at layer size: fine droplets densest at the cone's centre, a few drops and runs."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    cx, cy = rng.uniform(-0.2, 1.2) * lw, rng.uniform(-0.2, 1.2) * lh
    spread = min(lh, lw) * rng.uniform(0.5, 1.1)
    cone = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * spread**2))
    p = np.clip((0.01 + 0.2 * t) * (0.1 + cone**2), 0.0, 0.9)
    cov = (rng.random((lh, lw)) < p).astype(np.float32) * rng.uniform(0.4, 1.0, (lh, lw)).astype(np.float32)
    for _ in range(int(rng.integers(0, 3 + round(5 * t)))):  # bigger drops, some running down
        px, py = round(rng.uniform(0, lw)), round(rng.uniform(0, lh))
        rad = max(1, round(rng.uniform(0.8, 2.5)))
        cv2.circle(cov, (px, py), rad, 1.0, -1, cv2.LINE_AA)
        if rng.random() < 0.5:
            cv2.line(cov, (px, py), (px, py + round(rng.uniform(3, 12))), 0.9, max(1, rad - 1), cv2.LINE_AA)
    return cov


def _dirty_lens(x, level, rng):
    # Spray paint drifted onto the housing window (vandalism, or road-marking work nearby): a cone
    # of fine paint droplets of one colour, densest where the spray pointed, a few bigger drops and
    # runs; so close to the lens they are out of focus, a speckled film lit by the scene's light.
    # A-K: dark blobs, smudges and grit, dust shadows and grime, mud, pollen, hair or salt, a
    # fingerprint or a bird dropping, a cobweb, insects, water spots, tree sap.
    t = _strength(rng, level, 0.1, 1.0)
    lh, lw = _layer_hw(x)
    cov = _soft(_spray_layers(rng, (lh, lw), t), rng.uniform(0.6, 1.3))
    cov = np.clip(cov * (0.6 + 0.4 * t), 0.0, 0.97)
    palette = ((0.05, 0.05, 0.05), (0.1, 0.1, 0.75), (0.7, 0.3, 0.05), (0.75, 0.75, 0.72), (0.1, 0.8, 0.9))
    paint = np.float32(palette[int(rng.integers(0, len(palette)))])  # BGR: black, red, blue, silver, yellow
    lin = _lin(x)
    lit = paint * np.float32(min(1.0, 0.25 + 1.5 * float(_luma(lin).mean())))
    return _enc(_over(lin, _up(cov, x), lit))


def _exposure(x, level, rng):
    # A dual-conversion-gain HDR sensor, over-exposed: each pixel is read at high gain until it
    # nears its full well, then from the low-gain readout scaled by a calibrated ratio. The ratio
    # is off (too small, and per colour channel), so where pixels switch the tone jumps (a contour
    # seam across smooth gradients), the low-gain part is coarser and noisier, and where the
    # low-gain readout saturates too the highlights land on a flat, tinted, greyish plateau
    # instead of white; the rest is lifted by the over-exposure. A-K: a LUT, clipping and
    # blooming, knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a night profile,
    # an iris stuck open, a sun glint.
    stops = _strength(rng, level, 1.6, 10.0)
    lin = _lin(x) * np.float32(2.0**stops)
    switch = rng.uniform(0.05, 0.12)
    ratio = (rng.uniform(0.4, 0.65) * rng.uniform(0.85, 1.15, 3)).astype(np.float32)  # BGR
    low = np.round(np.minimum(lin, 1.0) * 48.0) / 48.0  # the low-gain readout: coarser, saturating at 1
    low = (low - switch) * ratio + switch
    low = low + rng.normal(0.0, 0.02 + 0.01 * stops, lin.shape).astype(np.float32)
    out = np.where(lin < switch, lin, low)
    return _enc(out)


def _oscillation_psf(amp: float, rng: np.random.Generator) -> np.ndarray:
    """The path of a struck pole's damped swing during the exposure, as a normalised kernel."""
    ang, ell = rng.uniform(0, math.pi), rng.uniform(0.1, 0.35)
    damp, cycles = rng.uniform(0.6, 2.0), rng.uniform(1.5, 4.0)
    s = np.linspace(0.0, 1.0, 400)
    a = amp * np.exp(-damp * s)
    ph = 2.0 * math.pi * cycles * s + rng.uniform(0, 2 * math.pi)
    u, v = a * np.sin(ph), ell * a * np.cos(ph)
    px, py = u * math.cos(ang) - v * math.sin(ang), u * math.sin(ang) + v * math.cos(ang)
    half = int(math.ceil(amp)) + 2
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    np.add.at(k, (np.round(py + half).astype(int), np.round(px + half).astype(int)), 1.0)
    k = _soft(k, 0.5)
    return k / float(k.sum())


def _gaussian_blur(x, level, rng):
    # A passing truck's air blast strikes the sign's pole: it swings in a damped oscillation
    # (a decaying sinusoid, a little elliptical) while the shutter is open, so each point is
    # smeared along that path, densest where the swing turns and where it has died down.
    # A-K: Gaussian, elongated, turbulence, a Lissajous mount, jello, a water film, AF hunting,
    # a swaying sign, diffraction, zoom creep, a twisting pole.
    t = _strength(rng, level, 0.035, 0.16)
    amp = max(0.8, t * _short(x))
    k = _oscillation_psf(amp, rng)
    lin = _lin(x)
    out = cv2.filter2D(lin, -1, k, borderType=cv2.BORDER_REFLECT).reshape(lin.shape)
    return _enc(_soft(out, 0.3 + 0.004 * _short(x)))


def _noise(x, level, rng):
    # A small-pixel sensor at high gain behind the ISP's spatial noise reduction: the finest grain
    # is filtered out but a correlated mottle of a few photosites ("worms") is left in luma,
    # stronger in the darks where the gain is, and a coarser chroma mottle; the stream is the
    # sensor's binned output, at most LAYER px on the shorter side. Noise is added to the signal.
    # A-K: colour grain, Bayer, shot noise with banding, salt and pepper, herringbone, chroma
    # blotches, a wireless link, gain noise, an intensifier, quad-Bayer, radiation hits.
    t = _strength(rng, level, 0.035, 0.17)
    h, w = x.shape[:2]
    sh, sw = (h, w) if min(h, w) <= LAYER else _layer_hw(x)
    luma = _soft(rng.standard_normal((sh, sw)).astype(np.float32), rng.uniform(0.6, 0.9))
    luma = luma / (float(luma.std()) + 1e-6) + 0.35 * rng.standard_normal((sh, sw)).astype(np.float32)
    chroma = _soft(rng.standard_normal((sh, sw, 3)).astype(np.float32), rng.uniform(1.5, 2.5))
    chroma = chroma / (float(chroma.std()) + 1e-6)
    n = luma[:, :, None] + 0.45 * (chroma - chroma.mean(axis=2, keepdims=True))
    n = cv2.resize(n, (w, h), interpolation=cv2.INTER_NEAREST).reshape(x.shape) if (sh, sw) != (h, w) else n
    dark = 1.3 - 0.8 * _luma(x)[:, :, None]
    return x + n * dark * np.float32(t)


def _bead_maps(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Drizzle beads at layer size: (dx, dy) to sample, inside mask, rim and highlight."""
    lh, lw = shape
    dx, dy = np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)
    inside, rim, spec = (np.zeros((lh, lw), np.float32) for _ in range(3))
    for _ in range(int((100 + 640 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))):
        r = min(4.0, 0.6 + rng.gamma(2.0, 0.35 + 0.3 * t))
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        x0, x1 = max(0, int(cx - r - 1)), min(lw, int(cx + r + 2))
        y0, y1 = max(0, int(cy - r - 1)), min(lh, int(cy + r + 2))
        if x1 <= x0 or y1 <= y0:
            continue
        xx, yy = _xy(y1 - y0, x1 - x0)
        ox, oy = xx + x0 - cx, yy + y0 - cy
        d = np.sqrt(ox * ox + oy * oy) / r
        disc = d < 1.0
        mag = rng.uniform(2.0, 3.5)  # a ball lens: an inverted view of about mag times its own size
        dx[y0:y1, x0:x1] = np.where(disc, -ox * (1.0 + mag), dx[y0:y1, x0:x1])
        dy[y0:y1, x0:x1] = np.where(disc, -oy * (1.0 + mag), dy[y0:y1, x0:x1])
        inside[y0:y1, x0:x1] = np.maximum(inside[y0:y1, x0:x1], disc)
        rim[y0:y1, x0:x1] = np.maximum(rim[y0:y1, x0:x1], np.clip(1.0 - abs(d - 0.9) / 0.15, 0.0, 1.0))
        spec[y0:y1, x0:x1] = np.maximum(spec[y0:y1, x0:x1], np.exp(-(ox**2 + (oy + 0.5 * r) ** 2) / 0.15))
    return dx, dy, inside, rim, spec


def _rain(x, level, rng):
    # Drizzle on a hydrophobic-coated housing window: it beads into dense tiny drops, each a ball
    # lens showing an inverted, minified patch of what is around it (so fine detail is scrambled),
    # with a dark rim where light is bent away and a small highlight from the bright sky above;
    # the drizzle dims the light. A-K: streaks, drops on the lens, a wet windshield, drops in
    # flight, headlight-lit rain, truck spray, rivulets, splash crowns, a wet sign, visor drips, a sunshower.
    t = _strength(rng, level, 0.15, 1.0)
    h, w = x.shape[:2]
    lh, lw = _layer_hw(x)
    dx, dy, inside, rim, spec = _bead_maps(rng, (lh, lw), t)
    fy, fx = h / lh, w / lw
    xx, yy = _xy(h, w)
    mx = np.clip(xx + _up(dx, x) * np.float32(fx), 0, w - 1)
    my = np.clip(yy + _up(dy, x) * np.float32(fy), 0, h - 1)
    lin = _lin(x)
    seen = cv2.remap(_soft(lin, 0.4 * fx), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(lin.shape)
    m = _up(_soft(inside, 0.5), x)[:, :, None]
    out = lin * (1.0 - m) + seen * np.float32(0.85) * m
    out = out * (1.0 - 0.55 * _up(_soft(rim, 0.4), x)[:, :, None]) * np.float32(0.92 - 0.2 * t)
    return _enc(out + _up(_soft(spec, 0.4), x)[:, :, None] * np.float32(0.08))


def _awning_mask(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The awning's shade (1 under the fabric) with a billowing edge, and its stripe index (0 or 1)."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    ang = rng.uniform(0, 2 * math.pi)
    u = (xx - lw / 2) * math.cos(ang) + (yy - lh / 2) * math.sin(ang)
    v = -(xx - lw / 2) * math.sin(ang) + (yy - lh / 2) * math.cos(ang)
    side = min(lh, lw)
    edge = rng.uniform(-0.35, 0.25) * side
    for _ in range(int(rng.integers(1, 4))):  # the billow: a few waves along the edge
        edge = edge + rng.uniform(0.02, 0.08) * side * np.sin(v * rng.uniform(0.04, 0.15) + rng.uniform(0, 6.3))
    shade = np.clip((u - edge) / (0.03 * side) + 0.5, 0.0, 1.0)
    period = side * rng.uniform(0.18, 0.4)
    stripe = (np.floor((v + rng.uniform(0, period)) / period) % 2).astype(np.float32)
    return shade, stripe


def _shadow(x, level, rng):
    # A translucent striped awning (or a banner) hangs between the sun and the sign: the shade
    # under it is lit by sunlight through the fabric, so it is coloured by the fabric's
    # transmission, in two alternating stripe colours; its edge is wavy where the fabric billows,
    # softened by the sun's disc, and the weave adds a faint texture. A-K: blinds, an edge, pole
    # or dappling, branches or a truss, a vehicle or cloud, a hood, fan blades, a fence, an
    # overpass, a perforated canopy, another sign's plate, palm fronds.
    t = min(0.95, _strength(rng, level, 0.22, 0.86))
    lh, lw = _layer_hw(x)
    shade, stripe = _awning_mask(rng, (lh, lw))
    cloths = ((0.3, 0.35, 0.95), (0.9, 0.55, 0.25), (0.35, 0.85, 0.4), (0.2, 0.85, 0.95), (0.9, 0.9, 0.88))
    pick = rng.choice(len(cloths), 2, replace=False)
    a, b = (np.float32(cloths[int(i)]) for i in pick)
    trans = (a * (1.0 - stripe[:, :, None]) + b * stripe[:, :, None]) * np.float32(1.0 - t)
    xx, yy = _xy(lh, lw)
    weave = 1.0 + 0.06 * np.sin(xx * 2.2) * np.sin(yy * 2.2)
    trans = trans * weave[:, :, None]
    s = _soft(shade, LAYER * rng.uniform(0.005, 0.015))[:, :, None]
    light = 1.0 - s + s * trans
    return _enc(_lin(x) * _up(_soft(light.astype(np.float32), 0.5), x))


def _flake_layers(rng: np.random.Generator, shape: tuple[int, int], t: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(coverage, shade) per depth bin, far to near: clumps of ellipses, white tops and grey undersides."""
    lh, lw = shape
    bins = []
    for depth, (size, blur, alpha) in enumerate(((0.6, 0.3, 0.95), (1.2, 0.9, 0.85), (2.6, 2.2, 0.6))):
        cov, shade = np.zeros((lh, lw), np.float32), np.zeros((lh, lw), np.float32)
        n = int((2 + 110 * t) * (1.0 - 0.3 * depth) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))
        for _ in range(n):
            cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
            for _ in range(int(rng.integers(2, 6))):  # an aggregate: a few crystals stuck together
                ox, oy = rng.normal(0, 0.7 * size, 2)
                ax = (max(1, round(size * rng.uniform(0.6, 1.3))), max(1, round(size * rng.uniform(0.4, 1.0))))
                c = (round(cx + ox), round(cy + oy))
                ang = rng.uniform(0, 180)
                cv2.ellipse(cov, c, ax, ang, 0, 360, alpha, -1, cv2.LINE_AA)
                cv2.ellipse(shade, c, ax, ang, 0, 360, 0.6, -1, cv2.LINE_AA)  # the grey underside
                top = (c[0], c[1] - max(1, ax[1] // 2))
                cv2.ellipse(shade, top, ax, ang, 0, 360, 1.0, -1, cv2.LINE_AA)  # lit from above
        bins.append((_soft(cov, blur), _soft(shade, blur)))
    return bins


def _snow(x, level, rng):
    # Large aggregate flakes fall in calm air at many depths: irregular clumps of crystals, lit by
    # the overcast from above (white tops, grey undersides); far ones small and sharp, near ones
    # big, soft and translucent (out of focus); the snowfall between lays a light veil.
    # A-K: glow and dots, veil and discs, snow on the sign, frost, lamp-lit flakes, slush, a ground
    # blizzard, a heap on the visor, a porthole in plastered snow, a squall's arcs, hard rime.
    t = _strength(rng, level, 0.05, 1.0)
    lin = _lin(x)
    white = np.float32([0.95, 0.94, 0.92]) * np.float32(min(1.0, 0.5 + 1.2 * float(_luma(lin).mean())))
    veil = np.float32(0.001 + 0.02 * t)
    out = lin * (1.0 - veil) + white * veil
    for cov, shade in _flake_layers(rng, _layer_hw(x), t):
        out = _over(out, np.clip(_up(cov, x), 0.0, 1.0), white * np.clip(_up(shade, x), 0.3, 1.0)[:, :, None])
    return _enc(out)


def _plume(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A steam plume's density at layer size: rising from a source below, spreading, bent by the wind."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    src = rng.uniform(0.1, 0.9) * lw
    rise = (lh - yy) / lh  # 0 at the bottom, 1 at the top
    bend = rng.uniform(-0.6, 0.6) * lw * rise**1.5
    width = min(lh, lw) * (0.1 + rng.uniform(0.2, 0.45) * rise)
    across = (xx - src - bend) / width
    body = np.exp(-0.5 * across**2) * (0.6 + 0.4 * np.clip(1.2 - rise, 0.0, 1.0))
    turb = _billows(rng, (lh, lw), min(lh, lw) * rng.uniform(0.2, 0.45))
    return np.clip(body * (0.1 + 1.4 * turb), 0.0, 1.5).astype(np.float32)


def _haze(x, level, rng):
    # A steam plume (a roadside vent, or a truck's exhaust in the cold) drifts across the sign:
    # condensed droplets, large enough to scatter all colours alike, rise and spread in turbulent
    # billows, a bright neutral white lit by the sky; where dense they scatter the scene's own
    # light too, blurring it. A thin trail of vapour lies over the whole view. A-K: a flat layer,
    # depth, multiple scattering, smoke or dust, mist from below, a plastic sheet, fog, summer
    # aerosol, ice fog, condensation, radiation fog, NO2 smog.
    opacity = min(0.97, _strength(rng, level, 0.02, 0.4))
    tau = -math.log(1.0 - opacity)
    dens = _up(_plume(rng, _layer_hw(x)), x)
    trans = np.exp(-tau * (0.04 + 1.5 * dens)).astype(np.float32)[:, :, None]
    lin = _lin(x)
    scattered = _soft(lin, 0.04 * _short(x))
    behind = lin * trans + scattered * (1.0 - trans) * np.float32(0.5)
    air = np.float32([0.97, 0.96, 0.94]) * np.float32(min(1.0, 0.45 + 1.6 * float(_luma(lin).mean())))
    return _enc(behind + air * (1.0 - trans) * np.float32(0.55))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_l(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "L".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "L", _EFFECTS)
