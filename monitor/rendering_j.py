"""Rendering "J" of the 12 CURE-TSR challenges: written blind, the holdout measured once on 2026-12-01.

I was measured once on 2026-12-01, so A-I have all met the detector and none is blind any more. J
is written without running the detector, the classifier, the image statistics, calibrate or
evaluate on it, to be measured once (fit on the default FIT_RENDERINGS, test on J). It is written
without A-I's helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper,
is shared) and each effect is another physical process, or another way a real camera produces the
condition, than any of A-I (their lines: monitor/rendering_c.py, _d.py, _e.py, _f.py, _g.py, _h.py,
_i.py):

| condition | J |
| --- | --- |
| decolorization | sky glare on the sign's glossy overlaminate: the bright overcast sky mirrored in the face (Fresnel, rising towards the grazing edge, a broad bright patch where the brightest sky is seen), a white sheen over the colours |
| lens_blur | a dome window scratched and hazed by its wiper: the dome's meniscus defocuses (a disc) and the fine parallel scratches scatter light into a long streak across them |
| codec_error | a DPCM line codec (a cheap encoder's differential coding along the rows, predictor reset to grey at each resync point) on a noisy link: slope overload smearing edges to the right, bit errors that shift and offset the rest of a row's segment until the next resync, segments whose resync word was lost left grey |
| darkening | night with the camera's IR illuminator dying and the day/night switch stuck in colour mode: a weak off-centre beam with its LED ring, most of it blocked by the IR-cut filter; what passes is half grey and reddish (red paint as bright as white in the near infrared), the LEDs' red glow reflected in the window, the gain's noise |
| dirty_lens | dried water spots on the window: out-of-focus discs of mineral residue with a brighter coffee-ring rim, milky, scattering the scene's light |
| exposure | the iris stuck wide open in sunlight: the raw data clips at a full well below the pipeline's white, so after the white balance the highlights turn pink; the wide-open lens's glow and veiling glare |
| gaussian_blur | a PTZ camera's zoom creeping during the exposure: copies at a range of magnifications averaged (a radial blur growing away from the optical axis) through the zoom lens's softness |
| noise | a quad-Bayer sensor at high gain: shot and heavy-tailed read noise on 2x2 same-colour groups, filled in from the group's nearest sites, amplified into colour speckle by the colour-correction matrix |
| rain | water dripping from the housing's visor: big out-of-focus drops hanging from the top edge that refract (invert) what is behind them, bright drips falling below them, rainy overcast dimming |
| shadow | the shadow of another sign's plate and post, and of overhead wires, thrown on the sign: a polygon or disc with a penumbra, a slanted post band, thin soft lines, sky-blue fill |
| snow | a snow squall in a wind eddy: flakes swirling round a vortex drawn as curved arcs by the shutter (near ones thick and soft), the white of the squall's air veiling the scene |
| haze | condensation fog inside the housing: fine droplets on the window's inner face, thickest at its cold edges, forward-scattering the scene's light into a coloured corona (red rings wider than blue) and into a veil of the scene's own mean colour |

Conventions of J:
- Strength: a nominal value per level, three quarters linear and one quarter logarithmic in the
  level, from the level-1 to the level-5 value, times a gamma-distributed jitter, Gamma(30, 1/30)
  clipped to [0.7, 1.35] (`_strength`). Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through the CIE L* curve (A 2.2, B sRGB, C BT.709, D 2.4, E 2.0,
  F 1.8, G 2.6, H 2.3, I 2.5); luminance uses DCI-P3's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 112  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.0793, 0.6917, 0.2290])  # DCI-P3 luminance weights, BGR order
_KAPPA = np.float32(903.3)  # CIE L*: L = 903.3 Y below Y = 0.008856, 116 Y^(1/3) - 16 above

# ---------------------------------------------------------------------------------------------
# Helpers of J


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi, 3/4 linear and 1/4 logarithmic in the level, times a gamma jitter."""
    u = 0.75 * (level - 1) / 4.0 + 0.25 * math.log(level) / math.log(5.0)
    jitter = min(1.35, max(0.7, rng.gamma(30.0, 1.0 / 30.0)))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """CIE L* (0-1) to relative luminance."""
    v = np.clip(x, 0.0, 1.0) * np.float32(100.0)
    return np.where(v > 8.0, ((v + 16.0) / np.float32(116.0)) ** 3, v / _KAPPA).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Relative luminance to CIE L* (0-1)."""
    y = np.clip(y, 0.0, 1.0)
    v = np.where(y > 0.008856, np.float32(116.0) * np.cbrt(y) - 16.0, _KAPPA * y)
    return (v * np.float32(0.01)).astype(np.float32)


def _luma(x: np.ndarray) -> np.ndarray:
    return x @ _LUM


def _dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _to(layer: np.ndarray, h: int, w: int, nearest: bool = False) -> np.ndarray:
    """A layer resized to h x w, keeping its channel axis (or its absence)."""
    if layer.shape[:2] == (h, w):
        return layer
    if nearest:
        mode = cv2.INTER_NEAREST
    else:
        mode = cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR
    return cv2.resize(layer, (w, h), interpolation=mode).reshape(h, w, *layer.shape[2:])


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    return _to(layer, x.shape[0], x.shape[1])


def _blotches(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """Soft random blotches in [0, 1], about `scale` px across: blurred uniform noise, stretched."""
    f = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), max(scale / 2.5, 0.5))
    lo, hi = float(f.min()), float(f.max())
    return (f - lo) / (hi - lo + 1e-6)


def _filter(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REPLICATE).reshape(img.shape)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.float32), xx.astype(np.float32)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering J: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # The sign's face is a glossy overlaminate: it mirrors the bright overcast sky behind the
    # camera. The mirrored light is white and adds to the colours the sheeting returns, so they
    # wash out towards a pale sheen; the reflectance rises towards the edge seen at the more
    # grazing angle (Fresnel), and the brightest part of the sky shows as a broad patch. A-I:
    # a grey blend, a mixer print, a UV-faded print, sodium light, a lost colour burst, an IR
    # leak, the colour killer, a yellowed window, road grime.
    s = _strength(rng, level, 0.025, 0.2)
    h, w = x.shape[:2]
    yy, xx = _grid(h, w)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = np.clip(0.5 + (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang), 0.0, 1.0)
    fresnel = 0.55 + 0.45 * ramp ** rng.uniform(1.5, 3.0)
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    rad = _side(x) * rng.uniform(0.35, 0.7)
    patch = np.exp(-(((xx - cx) ** 2 + ((yy - cy) * rng.uniform(0.6, 1.4)) ** 2) / (2 * rad * rad)))
    sheen = np.clip(s * (fresnel + rng.uniform(0.3, 0.7) * patch), 0.0, 0.95)[:, :, None]
    lin = _lin(x)
    sky = np.float32([1.0, 0.97, 0.93]) * np.float32(rng.uniform(0.97, 1.03, 3))  # overcast: faintly blue
    level_sky = float(np.percentile(_luma(lin), 85)) * rng.uniform(1.0, 1.4) + 0.08
    return _enc(lin * (1.0 - 0.6 * sheen) + sheen * sky * np.float32(min(level_sky, 1.0)))


def _dome_psf(r: float, streak: float, share: float, ang: float) -> np.ndarray:
    """A defocus disc of radius r px plus a share of light scattered into a streak of length `streak` px along ang."""
    half = int(math.ceil(max(r, streak))) + 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    sub = np.zeros_like(xx)
    for o in (-0.25, 0.25):  # 2 x 2 samples per pixel: an anti-aliased disc
        for p in (-0.25, 0.25):
            sub += (np.hypot(xx + o, yy + p) <= r).astype(np.float32)
    disc = sub / max(float(sub.sum()), 1e-6)
    along = xx * math.cos(ang) + yy * math.sin(ang)
    across = -xx * math.sin(ang) + yy * math.cos(ang)
    line = np.exp(-np.abs(along) / max(streak / 3.0, 0.5)) * np.exp(-0.5 * (across / max(0.45 * r, 0.6)) ** 2)
    line = line / float(line.sum())
    k = (1.0 - share) * disc + share * line
    return (k / k.sum()).astype(np.float32)


def _lens_blur(x, level, rng):
    # A dome window in front of the lens, worn by its wiper: the dome is a thick meniscus, so a
    # lens focused for the bare window is a little out of focus through it (a disc); the wiper
    # has left fine scratches all in one direction, which scatter light across themselves into
    # a long soft streak through every bright point. A-I: hexagonal and round irises, a tilted
    # plane, a ring PSF, field curvature, diffusion glow, astigmatism, a cracked element, coma.
    t = _strength(rng, level, 0.02, 0.1)
    side = _side(x)
    r = max(0.6, t * side)
    streak = min(0.45 * side, r * rng.uniform(2.5, 5.0))
    share = min(0.6, 0.18 + 2.2 * t) * rng.uniform(0.8, 1.0)
    k = _dome_psf(r, streak, share, rng.uniform(0, math.pi))
    return _enc(_filter(_lin(x), k))


def _dpcm(sig: np.ndarray, q: float, top: int, seg: int, reset: float) -> np.ndarray:
    """Closed-loop DPCM codes (in units of q, within +-top) along the rows, predictor reset every `seg` px."""
    h, w = sig.shape
    codes = np.zeros((h, w), np.float32)
    pred = np.full(h, reset, np.float32)
    for j in range(w):  # along the row: the predictor is the decoder's own previous value
        if j % seg == 0:
            pred[:] = reset
        c = np.clip(np.round((sig[:, j] - pred) / q), -top, top)
        codes[:, j] = c
        pred = pred + c * q
    return codes


def _undpcm(codes: np.ndarray, q: float, seg: int, reset: float) -> np.ndarray:
    h, w = codes.shape
    n = math.ceil(w / seg)
    pad = np.zeros((h, n * seg), np.float32)
    pad[:, :w] = codes
    return (reset + q * np.cumsum(pad.reshape(h, n, seg), axis=2)).reshape(h, n * seg)[:, :w]


def _codec_error(x, level, rng):
    # A cheap encoder codes each row differentially (DPCM): each pixel as the quantised
    # difference from the decoder's previous one, in a few bits, the predictor reset to grey at
    # each resync point along the row. Few bits overload on steep edges (they smear to the right
    # in steps, each segment ramping up from grey); a bit error on the noisy link shifts the
    # codes and offsets the rest of that row's segment, until the next resync, and a lost resync
    # word leaves its segment at the decoder's reset value (grey). A-I: displaced
    # blocks, DCT quantisation and lost slices, MCU desync, wrong motion vectors, a lost restart
    # interval, stride faults, a wavelet, lost packets concealed, vector quantisation.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    small = x if min(h, w) <= LAYER else _to(x, *_dims(x))
    sh, sw = small.shape[:2]
    lum = _luma(small)
    chans = [(lum, 0.5), (small[:, :, 0] - lum, 0.0), (small[:, :, 2] - lum, 0.0)]
    q = 0.01 + 0.05 * t
    top = max(1, round((0.18 - 0.1 * t) / q))  # fewer bits a code as the rate falls: the slope it can follow
    seg = int(rng.integers(12, 28))
    bad_rows = np.flatnonzero(rng.random(sh) < min(0.9, 0.05 + 0.6 * t))
    errs = [
        (int(r), int(rng.integers(0, sw)), int(rng.integers(1, 3 + round(5 * t))), rng.normal(0.0, 1.0 + 2.0 * t, 3))
        for r in bad_rows
    ]
    # Segments whose resync word was lost: the decoder holds its reset value (grey) to the next one.
    nseg = math.ceil(sw / seg)
    lost = np.repeat(rng.random((sh, nseg)) < 0.12 * t * t, seg, axis=1)[:, :sw]
    out = []
    for ch, (sig, reset) in enumerate(chans):
        qc = q * (1.0 if ch == 0 else 1.6)
        codes = _dpcm(sig, qc, top, seg, reset)
        codes[lost] = 0.0
        for r, e, k, off in errs:  # each corrupt row: codes slipped by k, an offset, until the segment ends
            end = min(sw, (e // seg + 1) * seg)
            codes[r, e:end] = np.concatenate([codes[r, e + k : end], np.zeros(min(k, end - e), np.float32)])[: end - e]
            codes[r, e] += np.float32(np.round(off[ch] * (3.0 if ch == 0 else 2.0)))
        out.append(_undpcm(codes, qc, seg, reset))
    yl, u, v = out
    bgr = np.stack([yl + u, np.zeros_like(yl), yl + v], axis=2)
    bgr[:, :, 1] = (yl - _LUM[0] * bgr[:, :, 0] - _LUM[2] * bgr[:, :, 2]) / _LUM[1]
    return np.clip(_to(bgr.astype(np.float32), h, w), 0.0, 1.0)


def _darkening(x, level, rng):
    # Night, and the camera's IR illuminator is dying: its LED ring throws a weak beam, brightest
    # off the frame's centre where it is aimed, with the ring's own brighter annulus. Worse, the
    # day/night switch is stuck in colour mode, so the IR-cut filter blocks most of that light;
    # what passes is near its red edge, where paint reflects by its pigment, not its colour (a red
    # border as bright as white): half grey, a little red; the LEDs' own glow, reflected in the window, lays a faint red haze over the
    # frame. The gain, at its top, adds noise. A-I: a LUT, under-exposure and vignette,
    # shot noise, dusk, a stuck ND, a flickering lamp, a smoked dome, one distant lamp, backlight.
    stops = _strength(rng, level, 0.5, 3.5)
    h, w = x.shape[:2]
    side = _side(x)
    yy, xx = _grid(h, w)
    cx, cy = rng.uniform(0.0, 1.0) * w, rng.uniform(0.0, 1.0) * h
    d = np.hypot(xx - cx, yy - cy) / (side * rng.uniform(0.28, 0.5))
    ring_r = rng.uniform(0.3, 0.6)
    beam = 0.08 + 1.3 * np.exp(-0.5 * d * d) + 0.25 * np.exp(-(((d - ring_r) / 0.12) ** 2))
    lin = _lin(x)
    # Paint pigments (red ones most) reflect near infrared well, inks and dark paint less: seen in
    # the near infrared, a red border is about as bright as white.
    refl = (0.8 * lin[:, :, 2] + 0.2 * _luma(lin))[:, :, None]
    ir = min(0.9, 0.45 + 0.1 * stops)
    near_ir = lin * (1.0 - ir) + refl * ir * np.float32([0.75, 0.9, 1.3])
    y = near_ir * beam[:, :, None] * np.float32(2.0**-stops)
    # The LEDs' own glow reflected inside the housing window: a faint red haze, strongest at their side.
    ang = rng.uniform(0, 2 * math.pi)
    side_ramp = np.clip(0.5 + (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang), 0.0, 1.0)
    glow = (0.3 + 0.7 * side_ramp**2) * rng.uniform(0.006, 0.014)
    y = y + glow[:, :, None] * np.float32([0.25, 0.35, 1.0])
    noise = rng.normal(0.0, 1.0, y.shape).astype(np.float32)
    y = y + noise * (np.sqrt(y * 0.002) + 0.0015 * (1.0 + stops))
    return _enc(y)


def _spot_layers(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Dried water spots at layer size: (film, rim) opacities in [0, 1]."""
    lh, lw = shape
    side = min(lh, lw)
    film = np.zeros((lh, lw), np.float32)
    rim = np.zeros((lh, lw), np.float32)
    n = int(4 + 40 * t)
    for _ in range(n):
        cx, cy = rng.uniform(-0.05, 1.05) * lw, rng.uniform(-0.05, 1.05) * lh
        r = side * rng.uniform(0.03, 0.11)
        ax = (max(1, round(r)), max(1, round(r * rng.uniform(0.75, 1.0))))
        rot = rng.uniform(0, 180)
        cv2.ellipse(film, (round(cx), round(cy)), ax, rot, 0, 360, rng.uniform(0.15, 0.4), -1, cv2.LINE_AA)
        thick = max(1, round(r * rng.uniform(0.12, 0.25)))
        cv2.ellipse(rim, (round(cx), round(cy)), ax, rot, 0, 360, rng.uniform(0.6, 1.0), thick, cv2.LINE_AA)
        # Coffee ring: the residue is thickest on the side the drop dried towards.
        a0 = rng.uniform(0, 360)
        cv2.ellipse(rim, (round(cx), round(cy)), ax, rot, a0, a0 + 120, 1.0, thick + 1, cv2.LINE_AA)
    return np.clip(film, 0.0, 0.6), np.clip(rim, 0.0, 1.0)


def _dirty_lens(x, level, rng):
    # Drops dried on the housing window and left their dissolved minerals behind: each a faint
    # milky disc with a rim of white residue, thicker on one side (the coffee-ring effect). Close
    # to the lens they are out of focus; the residue scatters the light that falls on it, so the
    # spots show as pale, soft rings over a softened view. A-I: dark blobs, smudges and grit, dust
    # shadows and grime, mud, pollen, hair or salt, a fingerprint or a bird dropping, a cobweb, insects.
    t = _strength(rng, level, 0.2, 1.0)
    lh, lw = _dims(x)
    film, rim = _spot_layers(rng, (lh, lw), t)
    defocus = rng.uniform(0.7, 1.5)
    a = cv2.GaussianBlur(np.clip(film + rim * 0.8, 0.0, 0.9), (0, 0), defocus)
    a = _fit(a * np.float32(min(1.0, 0.7 + 0.4 * t)), x)[:, :, None]
    lin = _lin(x)
    glow = cv2.GaussianBlur(lin, (0, 0), 0.05 * _side(x) + 0.5).reshape(lin.shape)
    milk = glow * np.float32(1.2) + np.float32(0.25) * float(_luma(lin).mean() + 0.1)
    return _enc(lin * (1.0 - a) + a * milk * np.float32([0.98, 0.99, 1.0]))


def _exposure(x, level, rng):
    # The iris motor has failed with the iris wide open in sunlight. The sensor's photodiodes
    # fill: the raw data clips at a full well set a little below the level the pipeline takes
    # as white, so after the white balance's gains (red and blue above green) clipped
    # highlights come out pink rather than white. Wide open, the lens glows around bright
    # parts (spherical aberration) and its veiling glare lifts the blacks. A-I: a LUT, clipping
    # and blooming, knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a night profile.
    stops = _strength(rng, level, 0.6, 3.0)
    lin = _lin(x)
    wb = np.float32([1.55, 1.0, 1.85]) * np.float32(rng.uniform(0.95, 1.05, 3))  # B, G, R gains
    raw = lin / wb * np.float32(2.0**stops)
    glow = cv2.GaussianBlur(raw, (0, 0), 0.04 * _side(x) + 0.6).reshape(raw.shape)
    raw = raw * 0.82 + glow * 0.18 + np.float32(rng.uniform(0.01, 0.03) * (2.0**stops) * float(raw.mean()) / 4)
    full = np.float32(rng.uniform(0.42, 0.58))
    y = np.minimum(raw, full) * wb
    return _enc(y)


def _gaussian_blur(x, level, rng):
    # A PTZ camera's zoom motor creeps during the exposure: the image is the average of copies
    # magnified from 1 to 1 + z about the optical axis (a radial blur, none on the axis, growing
    # away from it), seen through the long zoom lens's own softness. A-I: Gaussian, elongated,
    # turbulence, a Lissajous mount, jello, a water film, focus hunting, a swaying sign, diffraction.
    t = _strength(rng, level, 0.025, 0.11)
    h, w = x.shape[:2]
    side = _side(x)
    lin = _lin(x)
    z = t * rng.uniform(1.0, 1.8)
    cx, cy = rng.uniform(0.0, 1.0) * (w - 1), rng.uniform(0.0, 1.0) * (h - 1)
    n = int(min(24, max(5, math.ceil(z * side * 0.7))))
    acc = np.zeros_like(lin)
    for i in range(n):
        m = 1.0 + z * i / (n - 1)
        mat = np.float32([[m, 0.0, cx * (1.0 - m)], [0.0, m, cy * (1.0 - m)]])
        acc += cv2.warpAffine(lin, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(
            lin.shape
        )
    soft = max(0.3, 0.32 * t * side)
    return _enc(cv2.GaussianBlur(acc / n, (0, 0), soft).reshape(lin.shape))


# The colour-correction matrix (rows: output B, G, R from raw B, G, R): what amplifies raw noise into colour.
_CCM = np.float32([[1.55, -0.35, -0.2], [-0.25, 1.5, -0.25], [-0.15, -0.45, 1.6]])


def _noise(x, level, rng):
    # A quad-Bayer sensor at high gain: each 2x2 group of pixels shares one colour filter
    # (groups in a Bayer order), each pixel has its own shot noise and a heavy-tailed
    # (Laplace) read noise. The ISP fills each colour in from the nearest pixel of that colour's
    # group, so noise comes in small clumps, and the colour-correction matrix (large off-diagonal
    # terms) turns the channels' independent noise into colour speckle. The stream is the
    # sensor's binned output: at most LAYER px on the shorter side. A-I: colour grain, Bayer,
    # shot noise with banding, salt and pepper, herringbone, chroma blotches, a wireless link,
    # multiplicative gain, an intensifier.
    t = _strength(rng, level, 0.1, 1.0)
    h, w = x.shape[:2]
    lin = _lin(x)
    sh, sw = (h, w) if min(h, w) <= LAYER else _dims(x)
    ph, pw = math.ceil(sh / 4) * 4, math.ceil(sw / 4) * 4
    small = cv2.copyMakeBorder(_to(lin, sh, sw), 0, ph - sh, 0, pw - sw, cv2.BORDER_REFLECT).reshape(ph, pw, 3)
    full = 45.0 / t**1.2  # electrons at full scale
    raw = small / np.float32([1.6, 1.0, 1.9])  # before white balance
    yy, xx = np.mgrid[0:ph, 0:pw]
    gy, gx = (yy // 2) % 2, (xx // 2) % 2
    site = np.where((gy == 0) & (gx == 0), 1, np.where((gy == 1) & (gx == 1), 1, np.where(gy == 0, 2, 0)))
    # Quad-Bayer groups: G at (0,0) and (1,1) of the 4x4 tile, R at (0,1), B at (1,0) (in 2x2 group units).
    e = np.take_along_axis(raw, site[:, :, None], axis=2)[:, :, 0] * full
    n = rng.normal(0.0, 1.0, e.shape) * np.sqrt(np.maximum(e, 0.0)) + rng.laplace(0.0, 1.5 + 2.5 * t, e.shape)
    n = (n / full).astype(np.float32)
    tile_y, tile_x = yy - yy % 4 + yy % 2, xx - xx % 4 + xx % 2
    per = np.zeros((ph, pw, 3), np.float32)
    for ch, (oy, ox) in ((0, (2, 0)), (2, (0, 2))):
        per[:, :, ch] = n[tile_y + oy, tile_x + ox]
    # G has two groups in the tile: the top-left one for the top half, the bottom-right one below.
    g_off = np.where(yy % 4 < 2, 0, 2)
    per[:, :, 1] = n[tile_y + g_off, tile_x + g_off]
    per = (per * np.float32([1.6, 1.0, 1.9])) @ _CCM.T
    per = _to(per[:sh, :sw], h, w, nearest=True)
    return _enc(lin + per)


def _drip_layers(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Drops hanging from the visor and drips below them at layer size: (drop mask, shift y, shift x, drips)."""
    lh, lw = shape
    side = min(lh, lw)
    mask = np.zeros((lh, lw), np.float32)
    sy = np.zeros((lh, lw), np.float32)
    sx = np.zeros((lh, lw), np.float32)
    drips = np.zeros((lh, lw), np.float32)
    yy, xx = _grid(lh, lw)
    n = int(4 + 8 * t)
    xs = np.sort(rng.uniform(0, lw, n))
    for cx in xs:
        r = side * rng.uniform(0.06, 0.12) * (0.8 + 0.5 * t)
        cy = rng.uniform(-0.3, 0.5) * r
        dy, dx = (yy - cy) / (r * 1.25), (xx - cx) / r  # a drop hangs elongated
        rr = dy * dy + dx * dx
        inside = rr < 1.0
        mask = np.maximum(mask, inside * np.clip((1.0 - rr) * 4.0, 0.0, 1.0))
        # A drop is a ball lens: what is seen through it is inverted about its centre.
        sy = np.where(inside, -2.0 * (yy - cy) * rng.uniform(0.6, 0.9), sy)
        sx = np.where(inside, -2.0 * (xx - cx) * rng.uniform(0.6, 0.9), sx)
        for _ in range(int(rng.integers(1, 3) + 6 * t)):  # drips falling from it
            y0 = rng.uniform(0.1, 0.9) * lh
            ln = lh * rng.uniform(0.06, 0.2)
            xd = round(cx + rng.normal(0, 0.3 * r))
            cv2.line(drips, (xd, round(y0)), (xd, round(y0 + ln)), rng.uniform(0.5, 1.0), 1, cv2.LINE_AA)
    return mask, sy, sx, drips


def _rain(x, level, rng):
    # Rain runs off the camera housing's sun visor and drips from its front edge: big drops hang
    # along the top of the view, out of focus, each a small ball lens that shows what is behind
    # it inverted and blurred; drips fall from them as bright streaks (lit by the sky) in the
    # shutter time; the rain's overcast dims the scene. A-I: streaks, drops on the lens, a wet
    # windshield, drops in flight, headlight-lit rain, truck spray, rivulets, splash crowns, a wet sign.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    lh, lw = _dims(x)
    mask, sy, sx, drips = _drip_layers(rng, (lh, lw), t)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)
    drips = cv2.GaussianBlur(drips, (0, 0), 0.7)
    fy, fx = h / lh, w / lw
    yy, xx = _grid(h, w)
    my = np.clip(yy + _fit(sy, x) * np.float32(fy), 0, h - 1).astype(np.float32)
    mx = np.clip(xx + _fit(sx, x) * np.float32(fx), 0, w - 1).astype(np.float32)
    lin = _lin(x) * np.float32(1.0 - 0.45 * min(t, 1.2))
    seen = cv2.remap(lin, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(lin.shape)
    seen = cv2.GaussianBlur(seen, (0, 0), 0.02 * _side(x) + 0.5).reshape(lin.shape) * np.float32(0.85) + 0.03
    m, dr = _fit(mask, x)[:, :, None], _fit(drips, x)[:, :, None]
    out = lin * (1.0 - m) + seen * m
    return _enc(out * (1.0 - 0.6 * dr) + dr * 0.6 * np.float32([0.8, 0.78, 0.75]))


def _plate_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Another sign's plate and post, and overhead wires, as shadow (1) at layer size, hard-edged."""
    lh, lw = shape
    side = min(lh, lw)
    m = np.zeros((lh, lw), np.float32)
    cx, cy = rng.uniform(0.1, 0.9) * lw, rng.uniform(0.1, 0.9) * lh
    r = side * rng.uniform(0.4, 0.75)
    kind = int(rng.integers(0, 4))
    if kind == 0:
        cv2.circle(m, (round(cx), round(cy)), round(r), 1.0, -1, cv2.LINE_AA)
    else:
        sides = (3, 4, 8)[kind - 1]
        a0 = rng.uniform(0, 2 * math.pi)
        a = a0 + np.arange(sides) * 2 * math.pi / sides
        sq = rng.uniform(0.7, 1.0)  # foreshortened on the sign
        pts = np.stack([cx + r * np.cos(a), cy + r * sq * np.sin(a)], axis=1)
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1.0, cv2.LINE_AA)
    slant = rng.normal(0, 0.3)
    pw = max(1, round(side * rng.uniform(0.06, 0.12)))
    cv2.line(m, (round(cx), round(cy)), (round(cx + slant * lh * 2), round(cy + lh * 2)), 1.0, pw, cv2.LINE_AA)
    for _ in range(int(rng.integers(0, 3))):  # overhead wires
        y0, y1 = rng.uniform(0, lh), rng.uniform(0, lh)
        cv2.line(m, (-2, round(y0)), (lw + 2, round(y1)), 1.0, max(1, round(side * 0.015)), cv2.LINE_AA)
    return m


def _shadow(x, level, rng):
    # The sun stands behind a neighbouring sign (a disc, triangle, square or octagon on its post)
    # and overhead wires: their shadows fall on this sign, a penumbra softening the edges (the
    # sun is a disc, the plate some way off), the shade filled by the blue sky. A-I: blinds, an
    # edge, pole or dappling, branches or a truss, a vehicle or cloud, a hood, fan blades, a
    # fence, an overpass, a perforated canopy.
    t = min(0.95, _strength(rng, level, 0.28, 0.9))
    lh, lw = _dims(x)
    m = _plate_mask(rng, (lh, lw))
    m = cv2.GaussianBlur(m, (0, 0), LAYER * rng.uniform(0.01, 0.035) + 0.3)
    s = _fit(m, x)[:, :, None]
    sky = np.float32([1.0, 0.86, 0.72]) * np.float32(rng.uniform(0.95, 1.05, 3))
    lin = _lin(x)
    return _enc(lin * (1.0 - s) + lin * s * sky * np.float32(1.0 - t))


def _snow(x, level, rng):
    # A snow squall: behind the sign the wind forms an eddy, and the flakes swirl round its
    # centre; in the shutter time each flake draws a short arc of that circle, near flakes thick
    # and out of focus, far ones thin. The squall's snow-filled air is bright white and veils the
    # scene. A-I: glow and dots, veil and discs, snow on the sign, frost, lamp-lit flakes, slush,
    # a ground blizzard, a heap on the visor, a porthole in plastered snow.
    t = _strength(rng, level, 0.1, 1.0)
    lh, lw = _dims(x)
    side = min(lh, lw)
    vx, vy = rng.uniform(-0.5, 1.5) * lw, rng.uniform(-0.5, 1.5) * lh
    spin = 1.0 if rng.random() < 0.5 else -1.0
    layers = np.zeros((lh, lw), np.float32)
    for thick, count, blur in ((1, 8 + 220 * t, 0.4), (2, 1 + 24 * t, 1.2)):
        k = int(count)
        px, py = rng.uniform(0, lw, k), rng.uniform(0, lh, k)
        rad = np.hypot(px - vx, py - vy) + 1.0
        th0 = np.arctan2(py - vy, px - vx)
        sweep = spin * side * rng.uniform(0.03, 0.09, k) * thick / rad  # arc length / radius
        steps = np.linspace(0.0, 1.0, 6)
        th = th0[:, None] + sweep[:, None] * steps[None, :]
        pts = np.stack([vx + rad[:, None] * np.cos(th), vy + rad[:, None] * np.sin(th)], axis=2)
        lay = np.zeros((lh, lw), np.float32)
        cv2.polylines(lay, list(np.round(pts).astype(np.int32)), False, 1.0, thick, cv2.LINE_AA)
        layers = np.maximum(layers, cv2.GaussianBlur(lay, (0, 0), blur) * rng.uniform(0.7, 1.0))
    flakes = _fit(np.clip(layers * 1.3, 0.0, 1.0), x)[:, :, None]
    white = np.float32([0.92, 0.9, 0.88]) * np.float32(rng.uniform(0.8, 1.0))
    veil = min(0.6, 0.01 + 0.22 * t)
    lin = _lin(x)
    out = lin * (1.0 - veil) + white * veil * 0.8
    return _enc(out * (1.0 - flakes) + white * flakes)


def _corona(r: float, lam: float) -> np.ndarray:
    """Forward scattering of fine droplets: a core and a bright ring of radius r * lam / 550 px, normalised."""
    rr = max(0.8, r * lam / 550.0)
    half = int(math.ceil(rr * 1.6)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    d = np.hypot(xx, yy)
    k = np.exp(-0.5 * (d / (0.45 * rr)) ** 2) + 0.6 * np.exp(-0.5 * ((d - rr) / (0.15 * rr + 0.4)) ** 2)
    return (k / k.sum()).astype(np.float32)


def _haze(x, level, rng):
    # The housing cooled overnight and the air inside it condensed on the window's inner face:
    # fine droplets, thickest at the window's cold edges and thinnest in the middle (warmed by
    # the camera). They scatter the scene's light forwards into a corona around every point
    # (a ring wider for red than blue, by diffraction) and into a veil of the scene's mean colour.
    # A-I: a flat layer, depth, multiple scattering, smoke or dust, mist from below, a plastic
    # sheet, fog, summer aerosol, ice fog.
    opacity = min(0.97, _strength(rng, level, 0.13, 0.93))  # of the thickest part, edge-on
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    lh, lw = _dims(x)
    yy, xx = _grid(lh, lw)
    cx, cy = rng.uniform(0.3, 0.7) * lw, rng.uniform(0.3, 0.7) * lh
    d = np.hypot((xx - cx) / lw, (yy - cy) / lh) * 2.0
    cover = np.clip(0.3 + 1.1 * d + 0.25 * (_blotches(rng, (lh, lw), LAYER * 0.2) - 0.5), 0.3, 1.6)
    trans = np.exp(-tau * _fit(cover, x))[:, :, None]
    lin = _lin(x)
    r = _side(x) * rng.uniform(0.04, 0.08)
    veil = np.empty_like(lin)
    for ch, lam in enumerate((460.0, 540.0, 620.0)):
        veil[:, :, ch] = _filter(np.ascontiguousarray(lin[:, :, ch]), _corona(r, lam)).reshape(h, w)
    # The droplets are lit by the scene's own light coming in through the window: its mean colour.
    ambient = np.clip(lin.reshape(-1, 3).mean(axis=0) * rng.uniform(1.0, 1.3) + 0.1, 0.0, 1.0)
    scattered = 0.35 * veil + 0.65 * ambient.astype(np.float32)
    return _enc(lin * trans + scattered * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_j(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "J".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "J", _EFFECTS)
