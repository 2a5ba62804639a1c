"""Rendering "O" of the 12 CURE-TSR challenges: the next holdout, written blind, NOT measured.

A-N are measured or written already, so O is the next blind one. O is written without running the
detector, the classifier, the image statistics, calibrate or evaluate on it, to be measured once
(fit on the default FIT_RENDERINGS, test on O). It is written without A-N's helpers (only
monitor.renderings.apply_effects, the argument check and uint8 wrapper, is shared) and each effect
is another physical process, or another way a real camera or the real world produces the
condition, than any of A-N (their lines: monitor/rendering_c.py ... _n.py):

| condition | O |
| --- | --- |
| decolorization | a long, poorly terminated coaxial run of an analogue CCTV camera: the cable attenuates the chroma subcarrier far more than the luma (the colours wash out), its limited chroma bandwidth smears what is left sideways, the chroma arrives late (a Y/C delay: colour shifted off the edges) and the differential phase twists the hue a little |
| lens_blur | a cheap fast lens wide open and out of focus, with spherochromatism: each colour has its own defocus disc and profile (green focused best, blue's disc widest with a bright rim, red's soft-centred), so edges get purple and green fringes |
| codec_error | a hardware decoder writing its frame in a tiled memory layout (tiles of 16 x 8 px on a 64 px sign) that the display path reads as linear from some slice on: the band's rows are rebuilt from short strips of tile rows from elsewhere, the chroma plane's tiles (another size) out of step with the luma's |
| darkening | night with the sign lit only by a passing vehicle's low beams: their cut-off (a sharp line, stepped up towards the kerb side) leaves the top of the sign in the dark, the lit part falls off sideways from the beam's hotspot in the halogen's warm colour, the gain's noise rising |
| dirty_lens | wet leaves and fluff stuck to the housing window after a storm: one to three lobed leaf shapes (green, autumn yellow or brown) in from the edges, out of focus, translucent in their colour with a darker midrib, plus small seed fluff specks |
| exposure | a CCTV camera's slow-shutter (sense-up) frame accumulation stuck on in daylight: several frames summed (the exposure up by stops), each displaced a little by the mount's shake so faint discrete copies show, through the ISP's per-channel soft knee into clipping |
| gaussian_blur | an interlaced analogue camera through a bandwidth-limited chain: the luma's horizontal bandwidth cut by the cable and the digitiser's filter (a windowed-sinc low pass with a faint ringing), and the field-blend deinterlacer halving the vertical resolution again |
| noise | a CMOS sensor in a sun-heated enclosure at high gain: dark current's shot noise (Poisson, on a dark signal subtracted as black level, so grain even in the blacks, more towards the hot side), photon shot noise at few electrons, and random telegraph pixels blinking between two levels |
| rain | rain pouring off an overpass's (or a gantry's) edge above the camera: a curtain of thick wavering streams falling in front of the lens, breaking into drops, each refracting what is behind it with a bright highlight, fine rain streaks behind, the view dimmed |
| shadow | bunting strung across the street between the sun and the sign: rows of triangular pennants on sagging ropes, translucent fabric casting coloured shade (opaque plastic ones dark), the ropes' thin lines, softened by the penumbra and the wind's sway, the sky's blue in the shade |
| snow | a graupel shower (snow pellets): dense small opaque white pellets falling fast as short streaks with bright heads, some bouncing off the housing at odd angles, near ones bigger and softer, the air greyed |
| haze | diesel haze in a road tunnel: the soot-laden air scatters the tunnel's row of ceiling luminaires (high-pressure sodium, or LED white) into a veil brightest towards the lamps above, its density drifting; the sign lit by the same lamps |

Conventions of O:
- Strength: a nominal value per level, from the level-1 to the level-5 value along an exponential
  ease ((e^(0.8 s) - 1) / (e^0.8 - 1)) in the level, times a Gumbel jitter, 1 + 0.07 * (Gumbel(0,
  1) - Euler's gamma), clipped to [0.74, 1.3] (`_strength`). Count, size, placement, colour and kind
  are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through Panasonic's V-Log curve (the code range 0-1 taken as the
  V-Log codes from linear 0 to linear 1, its linear toe included; A 2.2, B sRGB, C BT.709, D 2.4,
  E 2.0, F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*, K HLG, L PQ, M S-Log3, N ARRI LogC3); luminance uses
  Adobe Wide Gamut RGB's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 68  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.016875, 0.724938, 0.258187])  # Adobe Wide Gamut RGB luminance weights, BGR order
# Panasonic V-Log: cut (linear), b, c, d; toe slope and offset
_CUT, _B, _C, _D, _TS, _TO = 0.01, 0.00873, 0.241514, 0.598206, 5.6, 0.125


def _vlog_enc(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return np.where(y >= _CUT, _C * np.log10(np.maximum(y + _B, 1e-9)) + _D, _TS * y + _TO)


def _vlog_dec(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.where(v >= _TS * _CUT + _TO, np.power(10.0, (v - _D) / _C) - _B, (v - _TO) / _TS)


_V0, _V1 = float(_vlog_enc(np.float64(0.0))), float(_vlog_enc(np.float64(1.0)))  # the code range's ends

# ---------------------------------------------------------------------------------------------
# Helpers of O


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi along an exponential ease in the level, times a Gumbel jitter."""
    s = (level - 1) / 4.0
    u = (math.exp(0.8 * s) - 1.0) / (math.exp(0.8) - 1.0)
    jitter = min(1.3, max(0.74, 1.0 + 0.07 * (float(rng.gumbel(0.0, 1.0)) - 0.5772)))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the V-Log codes of linear 0-1) to linear light (0-1)."""
    return np.clip(_vlog_dec(_V0 + np.asarray(x, np.float64) * (_V1 - _V0)), 0.0, None).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    y = np.clip(np.asarray(y, np.float64), 0.0, 1.0)
    return ((_vlog_enc(y) - _V0) / (_V1 - _V0)).astype(np.float32)


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
    """A smooth random field in [0, 1]: white noise on a coarse grid, upsampled bicubically."""
    lh, lw = shape
    gh, gw = max(2, round(lh / max(scale, 1.0)) + 2), max(2, round(lw / max(scale, 1.0)) + 2)
    f = cv2.resize(rng.random((gh, gw)).astype(np.float32), (lw, lh), interpolation=cv2.INTER_CUBIC)
    return (f - f.min()) / (float(f.max() - f.min()) + 1e-6)


def _over(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = img.shape[:2]
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(img.shape)


def _dx(img: np.ndarray) -> np.ndarray:
    """The horizontal central difference, half of [-1, 0, 1], replicated at the borders."""
    return (cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=1, borderType=cv2.BORDER_REPLICATE) * 0.5).reshape(img.shape)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering O: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A long, badly terminated coaxial run of an analogue camera: the cable's loss rises with the
    # frequency, so the chroma subcarrier is attenuated far more than the luma (colours wash out),
    # the chroma's bandwidth is cut (smeared sideways), it arrives late (a Y/C delay) and the
    # differential phase twists the hue a little. Video is carried gamma-encoded: this acts on the
    # signal. A-N: a grey blend, a mixer print, UV fading, sodium and mercury light, a lost burst,
    # an IR leak, the colour killer, a yellowed window, grime, sky glare, a gamut mismatch, dew,
    # a fooled multi-zone white balance.
    t = min(0.97, _strength(rng, level, 0.34, 0.9))
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    s = _short(x)
    chroma = ycc[:, :, 1:] - np.float32(0.5)
    kw = max(1, round(1 + t * 0.22 * s * rng.uniform(0.7, 1.2)))
    chroma = cv2.blur(chroma, (kw, 1), borderType=cv2.BORDER_REPLICATE).reshape(chroma.shape)
    chroma = _shift(chroma, t * 0.08 * s * rng.uniform(0.6, 1.2), 0.0)
    phi = float(rng.normal(0.0, 0.35)) * t
    cr, cb = chroma[:, :, 0], chroma[:, :, 1]
    rot = np.stack([cr * math.cos(phi) - cb * math.sin(phi), cr * math.sin(phi) + cb * math.cos(phi)], axis=2)
    gain = np.float32(max(0.02, 1.0 - t * rng.uniform(0.9, 1.05)))
    luma = cv2.blur(ycc[:, :, :1], (max(1, round(0.3 * kw)), 1)).reshape(*ycc.shape[:2], 1)
    out = np.concatenate([luma, rot * gain + np.float32(0.5)], axis=2).astype(np.float32)
    return np.clip(cv2.cvtColor(out, cv2.COLOR_YCrCb2BGR), 0.0, 1.0)


def _disc_psf(r: float, rim: float) -> np.ndarray:
    """An antialiased defocus disc of radius r px; rim > 0 piles light at its edge, rim < 0 at its centre."""
    half = int(math.ceil(r)) + 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    d = np.hypot(xx, yy)
    base = np.clip(r + 0.5 - d, 0.0, 1.0)
    k = base * np.clip(1.0 + rim * (d / max(r, 0.5)) ** 2, 0.05, None)
    return (k / max(float(k.sum()), 1e-6)).astype(np.float32)


def _lens_blur(x, level, rng):
    # A cheap fast lens wide open and out of focus, with spherochromatism: the spherical aberration
    # differs with the wavelength, so each colour has its own disc and profile (green focused best,
    # blue's disc widest and bright-rimmed, over-corrected; red's soft-centred, under-corrected), and
    # edges get purple and green fringes. A-N: hexagonal, round, heptagonal and rhombic irises, a
    # tilted plane, a ring PSF, field curvature, glow, astigmatism, a cracked element, coma, a
    # scratched dome, onion rings, a thicker filter stack's four-way split.
    t = _strength(rng, level, 0.02, 0.085)
    r = max(0.6, t * _short(x))
    lin = _lin(x)
    spec = ((1.55, 0.9), (1.0, 0.0), (1.25 * rng.uniform(0.95, 1.1), -0.6))  # BGR: (radius factor, rim)
    out = [
        cv2.filter2D(lin[:, :, c], -1, _disc_psf(r * f, rim), borderType=cv2.BORDER_REPLICATE)
        for c, (f, rim) in enumerate(spec)
    ]
    return _enc(np.stack(out, axis=2))


def _tiled_read(h: int, w: int, start: int, tw: int, th: int) -> tuple[np.ndarray, np.ndarray]:
    """Source rows and columns of a linear read of memory laid out in tw x th tiles, from row `start`."""
    rows, cols = np.mgrid[start:h, 0:w]
    a = (rows - start) * w + cols
    per_row = -(-w // tw)
    tile, o = a // (tw * th), a % (tw * th)
    sy = start + (tile // per_row) * th + o // tw
    sx = (tile % per_row) * tw + o % tw
    return np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)


def _codec_error(x, level, rng):
    # A hardware decoder writes its frame in a tiled memory layout (as NV12 "tiled" formats do);
    # from some slice on the display path reads it as linear, so the band's rows are rebuilt from
    # short strips of tile rows from elsewhere, and the chroma plane, tiled at another size, is out
    # of step with the luma. Codec work is on the signal. A-N: displaced blocks, DCT, MCU errors, MVs,
    # a lost restart, a stride, wavelets, concealment, VQ, DPCM, HEVC intra, mid-GOP, SVC, weighted
    # prediction.
    t = min(1.0, _strength(rng, level, 0.15, 0.62))
    h, w = x.shape[:2]
    s = _short(x)
    tw, th = max(2, round(s / 4.0)), max(1, round(s / 8.0))
    rows = max(1, round(h * t * rng.uniform(0.75, 1.15)))
    start = (int(rng.integers(0, max(1, h - rows + 1))) // th) * th
    stop = min(h, start + rows)
    ycc = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_BGR2YCrCb)
    out = ycc.copy()
    sy, sx = _tiled_read(h, w, start, tw, th)
    out[start:stop, :, 0] = ycc[sy, sx, 0][: stop - start]
    cy, cx = _tiled_read(h, w, start, max(2, tw // 2), th * 2)
    out[start:stop, :, 1:] = ycc[cy, cx, 1:][: stop - start]
    return np.clip(cv2.cvtColor(out, cv2.COLOR_YCrCb2BGR), 0.0, 1.0)


def _darkening(x, level, rng):
    # Night, the sign lit only by a passing vehicle's low beams: their asymmetric cut-off (a sharp
    # line, stepped up towards the kerb side) leaves the sign's top in the dark, the lit part falls
    # off sideways from the beam's hotspot, in the halogen's warm colour; the gain's noise rises.
    # A-N: a LUT, under-exposure, shot noise, dusk, a stuck iris, a failing street light, a smoked
    # dome, a distant lamp, a backlit sign, a dying IR lamp, a storm, an eclipse, a variable ND,
    # failing tubes at nightfall.
    stops = _strength(rng, level, 0.7, 5.2)
    h, w = x.shape[:2]
    xx, yy = _xy(h, w)
    s = _short(x)
    kerb = 1.0 if rng.random() < 0.5 else -1.0
    u = kerb * (xx / max(w - 1, 1) - 0.5)  # -0.5 on the traffic side, 0.5 on the kerb side
    cut = h * rng.uniform(0.25, 0.75) - np.where(u > rng.uniform(-0.2, 0.2), s * rng.uniform(0.1, 0.3), 0.0)
    edge = np.clip((yy - cut) / (0.04 * s) + 0.5, 0.0, 1.0)
    spot = np.exp(-(((xx - w * rng.uniform(0.2, 0.8)) / (s * rng.uniform(0.6, 1.2))) ** 2))
    beam = (edge * (0.45 + 0.55 * spot)).astype(np.float32)[:, :, None]
    halogen = np.float32([0.62, 0.86, 1.0])  # BGR
    dark = np.float32(2.0**-stops)
    light = dark * (0.22 + beam * halogen * np.float32(2.0 ** (stops * rng.uniform(0.35, 0.55))))
    lin = _lin(x) * light
    sd = np.sqrt(lin * 0.004 + 0.00002) * np.float32(0.4 + 0.25 * stops)
    return _enc(np.maximum(lin + rng.standard_normal(x.shape).astype(np.float32) * sd, 0.0))


def _leaf(rng: np.random.Generator, shape: tuple[int, int], size: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: one leaf's coverage and its darker midrib, lobed, reaching in from an edge."""
    lh, lw = shape
    side = float(min(lh, lw))
    edge = int(rng.integers(0, 4))
    along = rng.uniform(0.1, 0.9)
    cx, cy = [(along * lw, 0.0), (along * lw, lh), (0.0, along * lh), (lw, along * lh)][edge]
    ang = rng.uniform(0, 2 * math.pi)
    theta = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    length, width = size * side * rng.uniform(1.0, 1.5), size * side * rng.uniform(0.45, 0.7)
    lobes = 1.0 + 0.12 * np.sin(theta * int(rng.integers(3, 8)) + rng.uniform(0, 6))
    px, py = length * np.cos(theta) * lobes, width * np.sin(theta) * np.abs(np.sin(theta / 2)) ** 0.3 * lobes
    pts = np.stack([cx + px * math.cos(ang) - py * math.sin(ang), cy + px * math.sin(ang) + py * math.cos(ang)], 1)
    cover = np.zeros((lh, lw), np.float32)
    cv2.fillPoly(cover, [np.round(pts).astype(np.int32)], 1.0, cv2.LINE_AA)
    rib = np.zeros((lh, lw), np.float32)
    end = (round(cx + length * math.cos(ang)), round(cy + length * math.sin(ang)))
    cv2.line(rib, (round(cx - length * math.cos(ang)), round(cy - length * math.sin(ang))), end, 1.0, 2, cv2.LINE_AA)
    return cover, rib * cover


def _dirty_lens(x, level, rng):
    # Wet leaves and fluff stuck to the housing window after a storm: lobed leaf shapes in from the
    # edges, out of focus, translucent in their colour with a darker midrib; small seed fluff. A-N:
    # blobs, smudges and grit, dust and grime, mud, pollen, a hair or salt, a fingerprint or dropping,
    # a cobweb, insects, water spots, sap, spray paint, a biofilm, a dirty cloth's wipe.
    t = _strength(rng, level, 0.3, 0.75)
    hw = _layer_hw(x)
    cover, tint = np.zeros(hw, np.float32), np.zeros((*hw, 3), np.float32)
    kinds = (np.float32([0.2, 0.6, 0.25]), np.float32([0.1, 0.55, 0.8]), np.float32([0.12, 0.28, 0.45]))
    for i in range(int(rng.integers(1, 4))):
        c, rib = _leaf(rng, hw, t * (1.0 if i == 0 else rng.uniform(0.45, 0.8)))
        colour = kinds[int(rng.integers(0, 3))] * np.float32(rng.uniform(0.8, 1.1))
        new = np.clip(c - cover, 0.0, 1.0)[:, :, None]
        tint += new * colour * (1.0 - 0.5 * rib[:, :, None])
        cover = np.maximum(cover, c)
    fluff = (rng.random(hw) < 0.002 * (0.3 + t)).astype(np.float32)
    fluff = np.clip(_soft(fluff, 0.8) * 5.0, 0.0, 0.6)
    sigma = LAYER * rng.uniform(0.02, 0.04)
    a = _up(_soft(cover, sigma), x)[:, :, None]
    tint = _up(_soft(tint, sigma), x) / np.maximum(a, 1e-3)
    lin = _lin(x)
    behind = _soft(lin, 0.05 * _short(x)) * tint * np.float32(0.3) + tint * np.float32(0.04)
    seen = _over(lin * (1.0 - a) + behind * a, _up(fluff, x), np.float32([0.8, 0.82, 0.85]))
    return _enc(seen)


def _exposure(x, level, rng):
    # A CCTV camera's slow-shutter ("sense-up") frame accumulation stuck on in daylight: several
    # frames summed (the exposure up by stops), each displaced a little by the mount's shake, so
    # faint discrete copies show; the ISP's soft knee per channel into clipping. A-N: a LUT,
    # clipping, knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a night profile, an
    # open iris, a glint, a DCG seam, halation, a snow field's bounce.
    stops = _strength(rng, level, 0.95, 4.6)
    lin = _lin(x)
    n = int(rng.integers(3, 6))
    # the mount's shake is in sensor pixels: at least about one whatever the crop's size
    shake = max(1.2, 0.03 * _short(x)) * (0.6 + 0.3 * stops)
    acc = sum(_shift(lin, *rng.normal(0.0, shake, 2)) for _ in range(n - 1)) + lin
    raw = acc / np.float32(n) * np.float32(2.0**stops)
    knee = np.float32(rng.uniform(0.5, 0.65))
    over = np.maximum(raw - knee, 0.0)
    return _enc(np.where(raw > knee, knee + (1.0 - knee) * np.tanh(over / (1.0 - knee)), raw))


def _sinc_lowpass(fc: float) -> np.ndarray:
    """A Hann-windowed sinc low pass with cutoff fc (cycles/px): the chain's horizontal bandwidth."""
    half = max(1, int(math.ceil(1.6 / max(fc, 1e-3))))
    n = np.arange(-half, half + 1, dtype=np.float64)
    k = np.sinc(2 * fc * n) * (0.5 + 0.5 * np.cos(math.pi * n / (half + 1)))
    return (k / k.sum()).astype(np.float32)[None, :]


def _gaussian_blur(x, level, rng):
    # An interlaced analogue camera through a bandwidth-limited chain: the luma's horizontal
    # bandwidth cut by the cable and the digitiser's anti-alias filter (a windowed-sinc low pass
    # with a faint ringing) and the field-blend deinterlacer halving the vertical resolution again.
    # A-N: Gaussian, elongated, turbulence, a Lissajous mount, jello, a water film, AF hunting, a
    # swaying sign, diffraction, zoom creep, a twisting pole, a struck pole, a jolt, a passing car.
    t = _strength(rng, level, 0.045, 0.3)
    h, w = x.shape[:2]
    s = _short(x)
    fc = 0.5 / (1.0 + t * s * rng.uniform(0.8, 1.2))
    out = cv2.filter2D(x, -1, _sinc_lowpass(fc), borderType=cv2.BORDER_REPLICATE).reshape(x.shape)
    lines = max(2, round(h / (1.0 + 0.8 * t * s * rng.uniform(0.8, 1.2))))
    out = cv2.resize(out, (w, lines), interpolation=cv2.INTER_AREA)
    out = cv2.resize(out.reshape(lines, w, -1), (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)
    return np.clip(_soft(out, 0.25 + 0.1 * t * s), 0.0, 1.0)


def _noise(x, level, rng):
    # A CMOS sensor in a sun-heated enclosure at high gain: dark current's shot noise (Poisson on a
    # dark signal, subtracted as the black level, so grain even in the blacks and more towards the
    # hot side), photon shot noise at few electrons, and random telegraph pixels blinking between two
    # levels. A-N: colour grain, Bayer, shot noise and banding, salt and pepper, herringbone,
    # blotches, a wireless link, gain noise, an intensifier, quad-Bayer, radiation, NR mottle, SDI
    # bit errors, RGB-IR subtraction.
    g = _strength(rng, level, 0.18, 1.8)
    h, w = x.shape[:2]
    lin = _lin(x)
    scale = 1.0 / (0.03 * g)  # electrons per unit of linear light at this gain
    xx, _ = _xy(h, w)
    hot = 1.0 + 1.5 * rng.uniform(0.2, 1.0) * (xx / max(w - 1, 1) if rng.random() < 0.5 else 1.0 - xx / max(w - 1, 1))
    dark = (0.02 * g * scale * hot).astype(np.float32)[:, :, None]
    electrons = rng.poisson(lin * scale + dark).astype(np.float32) - dark
    out = electrons / np.float32(scale)
    rts = rng.random((h, w, 1)) < 0.012 * g
    flip = rng.random((h, w, 1)) < 0.5
    out = out + (rts & flip).astype(np.float32) * np.float32(0.15 * g) * rng.uniform(0.5, 1.0, (h, w, 1))
    return _enc(np.maximum(out, 0.0))


def _streams(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: the curtain of water streams pouring from above, wavering, breaking into drops."""
    lh, lw = shape
    xx, yy = _xy(lh, lw)
    n = int(2 + 9 * t * rng.uniform(0.8, 1.2))
    x0 = rng.uniform(0, lw, (n, 1, 1)).astype(np.float32)
    width = rng.uniform(0.6, 2.4, (n, 1, 1)).astype(np.float32) * np.float32(0.7 + 0.6 * t)
    amp, lam, ph = rng.uniform(0.3, 2.0, (n, 1, 1)), rng.uniform(6, 20, (n, 1, 1)), rng.uniform(0, 6, (n, 1, 1))
    centre = x0 + amp * np.sin(yy[None] / lam + ph)
    core = np.clip(1.0 - np.abs(xx[None] - centre) / width, 0.0, 1.0)
    breakup = rng.uniform(0.3, 1.0, (n, 1, 1)) * lh
    drops = 0.5 + 0.5 * np.sin(yy[None] * rng.uniform(0.8, 1.4, (n, 1, 1)) + ph)
    core = core * np.where(yy[None] < breakup, 1.0, drops**4)
    return np.clip(core.max(axis=0), 0.0, 1.0).astype(np.float32)


def _rain(x, level, rng):
    # Rain pouring off an overpass's (or a gantry's) edge above the camera: a curtain of thick
    # wavering streams falling in front of the lens, breaking into drops lower down, each refracting
    # what is behind it with a bright highlight, fine rain streaks behind, the view dimmed. A-N:
    # streaks, drops on the lens, a windshield, drops in flight, headlight-lit rain, spray,
    # rivulets, splashes, a wet sign, visor drips, a sunshower, drizzle beads, freezing rain, sheets.
    t = _strength(rng, level, 0.1, 0.8)
    hw = _layer_hw(x)
    water = _soft(_streams(rng, hw, t), 0.6)
    fine = (rng.random(hw) < 0.03 * (0.4 + t)).astype(np.float32)
    fine = cv2.filter2D(fine, -1, np.full((7, 1), 1 / 7, np.float32)) * np.float32(3.0)
    h, w = x.shape[:2]
    xx, yy = _xy(h, w)
    wu = _up(water, x)
    bend = _dx(wu) * np.float32(0.25 * _short(x))
    lin = cv2.remap(_lin(x), xx - bend, yy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(x.shape)
    lin = lin * np.float32(1.0 - 0.3 * t)
    grey = np.float32([0.6, 0.58, 0.56]) * np.float32(0.4 + 0.5 * float(_luma(lin).mean()))
    lin = _over(lin, np.clip(_up(_soft(fine, 0.4), x) * 0.5 * (0.3 + t), 0.0, 0.8), grey)
    lin = _over(lin, wu * np.float32(0.35 + 0.25 * t), grey * np.float32(1.2))
    highlight = np.clip(_dx(wu), 0.0, None) * np.float32(1.5)
    return _enc(lin + highlight[:, :, None] * np.float32(0.5))


def _bunting(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: the pennants' and ropes' shade (0 clear, 1 opaque) and the light's colour through them."""
    lh, lw = shape
    side = float(min(lh, lw))
    shade, colour = np.zeros((lh, lw), np.float32), np.ones((lh, lw, 3), np.float32)
    fabrics = ([0.3, 0.3, 1.0], [0.3, 0.95, 1.0], [1.0, 0.55, 0.3], [0.4, 0.9, 0.4], [0.95, 0.95, 0.95])
    for _ in range(1 + int(t > 0.35) + int(rng.random() < t)):
        y0, sag, tilt = rng.uniform(-0.1, 0.6) * lh, rng.uniform(0.05, 0.3) * side, rng.uniform(-0.3, 0.3)
        size = side * (0.35 + 0.55 * t) * rng.uniform(0.8, 1.2)
        xs = np.arange(rng.uniform(-size, 0), lw + size, size * rng.uniform(1.05, 1.5))
        rope = y0 + tilt * (xs - lw / 2) + sag * (1.0 - ((xs - lw / 2) / (lw / 2 + 1e-3)) ** 2)
        cv2.polylines(shade, [np.stack([xs, rope], 1).round().astype(np.int32)], False, 1.0, 1, cv2.LINE_AA)
        for px, py in zip(xs, rope, strict=True):
            tri = np.int32([[px, py], [px + size, py + tilt * size], [px + size / 2, py + size * 1.2]])
            fab = np.float32(fabrics[int(rng.integers(0, 5))])
            opaque = rng.random() < 0.3
            cv2.fillPoly(shade, [tri], 1.0 if opaque else 0.75, cv2.LINE_AA)
            cv2.fillPoly(colour, [tri], (0.0, 0.0, 0.0) if opaque else tuple(float(c) for c in fab), cv2.LINE_AA)
    return shade, colour


def _shadow(x, level, rng):
    # Bunting strung across the street between the sun and the sign: rows of triangular pennants on
    # sagging ropes, translucent fabric casting coloured shade (opaque plastic ones dark), the ropes'
    # thin lines, softened by the penumbra and the wind's sway; the sky's blue fills the shade. A-N:
    # blinds, an edge or dapples, branches, a vehicle, a hood, fan blades, a fence, an overpass, a
    # perforated canopy, a sign plate, palm fronds, an awning, a facade, a scaffold's netting.
    t = min(1.0, _strength(rng, level, 0.3, 1.0))
    shade, colour = _bunting(rng, _layer_hw(x), t)
    sway = max(1, round(LAYER * rng.uniform(0.02, 0.06)))
    shade = _soft(cv2.blur(shade, (sway, 1)), 0.7)
    colour = _soft(cv2.blur(colour, (sway, 1)), 0.7)
    depth = np.float32(min(0.95, 0.75 + 0.25 * t))
    sky = np.float32([0.16, 0.12, 0.09])
    sun = (1.0 - depth * shade[:, :, None]) + depth * shade[:, :, None] * colour * np.float32(0.35)
    light = sun + sky * shade[:, :, None]
    return _enc(_lin(x) * _up(light.astype(np.float32), x))


def _graupel(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: snow pellets as short bright streaks with round heads, some bouncing askew."""
    lh, lw = shape
    n = int((12 + 220 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))
    layer = np.zeros((lh, lw), np.float32)
    fall = math.pi / 2 + rng.normal(0.0, 0.15)
    for _ in range(n):
        near = rng.random() ** 2.5
        px, py = rng.uniform(0, lw), rng.uniform(0, lh)
        ang = fall if rng.random() > 0.15 else rng.uniform(0, 2 * math.pi)  # bounced off the housing
        ln = (2.0 + 7.0 * near) * rng.uniform(0.6, 1.2)
        tail = (round(px - ln * math.cos(ang)), round(py - ln * math.sin(ang)))
        cv2.line(layer, (round(px), round(py)), tail, 0.45 + 0.2 * near, 1, cv2.LINE_AA)
        cv2.circle(layer, (round(px), round(py)), int(1 + 1.8 * near), 0.8 + 0.2 * near, -1, cv2.LINE_AA)
    return np.clip(_soft(layer, 0.45), 0.0, 1.0)


def _snow(x, level, rng):
    # A graupel shower (snow pellets): dense small opaque white pellets falling fast as short
    # streaks with bright round heads, a share bouncing off the housing at odd angles, the air
    # greyed. A-N: glow and dots, veil and discs, a cap, frost, lamp-lit flakes, slush, a ground
    # blizzard, a visor heap, a porthole, squall arcs, rime, aggregate flakes, a plough's spray,
    # streaks from the focus of expansion.
    t = _strength(rng, level, 0.08, 0.62)
    pellets = _up(_graupel(rng, _layer_hw(x), t), x)
    lin = _lin(x)
    air = np.float32([0.7, 0.7, 0.68]) * np.float32(0.5 + 0.3 * float(_luma(lin).mean()))
    veiled = _over(lin, np.full(x.shape[:2], 0.3 * t, np.float32), air)
    return _enc(_over(veiled, np.clip(pellets * (0.75 + 0.3 * t), 0.0, 0.97), np.float32([0.95, 0.96, 0.96])))


def _haze(x, level, rng):
    # Diesel haze in a road tunnel: the soot-laden air scatters the tunnel's row of ceiling
    # luminaires (high-pressure sodium or LED white) into a veil brightest towards the lamps above,
    # each lamp a glow, the density drifting; the sign is lit by the same lamps. A-N: a flat layer,
    # depth, multiple scattering, smoke or dust, mist, a plastic sheet, fog by a low sun, aerosol,
    # ice fog, condensation, inner fog, NO2 smog, a steam plume, sea-salt haze, lamp-lit dusk fog.
    opacity = min(0.95, _strength(rng, level, 0.07, 0.58))
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    xx, yy = _xy(h, w)
    s = _short(x)
    spacing, phase = s * rng.uniform(0.5, 1.2), rng.uniform(0, 1)
    lamp_x = (np.round(xx / spacing - phase) + phase) * spacing  # the nearest luminaire in the row
    d2 = ((xx - lamp_x) ** 2 + (yy + s * rng.uniform(0.1, 0.4)) ** 2) / (s * 0.35) ** 2
    glow = (0.45 + 0.35 * (1.0 - yy / max(h - 1, 1)) + 0.6 / (1.0 + d2)).astype(np.float32)[:, :, None]
    lamps = (np.float32([0.3, 0.62, 1.0]), np.float32([1.0, 0.96, 0.9]))
    colour = lamps[int(rng.random() < 0.45)] * np.float32(rng.uniform(0.5, 0.75))
    dens = _up(_field(rng, _layer_hw(x), LAYER * rng.uniform(0.3, 0.7)), x)
    trans = np.exp(-tau * (0.75 + 0.5 * dens)).astype(np.float32)[:, :, None]
    grime = np.float32([0.9, 0.92, 0.95])  # BGR: soot absorbs a little more blue
    lin = _lin(x) * (0.8 + 0.2 * colour / colour.max()) * grime
    return _enc(lin * trans + glow * colour * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_o(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "O".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "O", _EFFECTS)
