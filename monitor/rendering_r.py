"""Rendering "R" of the 12 CURE-TSR challenges: the next holdout, written blind, NOT measured.

A-Q have all met the detector (Q was measured once on 2026-12-02), so R is the next blind one. R
is written without running the detector, the classifier, the image statistics, calibrate or
evaluate on it, to be measured once (fit on the default FIT_RENDERINGS, test on R). It is written
without A-Q's helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper,
is shared) and each effect is another physical process, or another way a real camera or the real
world produces the condition, than any of A-Q (their lines: monitor/rendering_c.py ... _q.py):

| condition | R |
| --- | --- |
| decolorization | a low-bit-rate H.264 encoder whose rate control starves the chroma (the chroma QP offset at its top, a wide dead zone in the quantiser): the 4:2:0 chroma's 4 x 4 transform blocks lose every coefficient under the dead zone, so pale colours vanish and strong ones keep a weaker, blocky remnant bled over the edges by the player's chroma upsampling; the luma keeps its bits |
| lens_blur | the lens out of focus with part of its entrance pupil blocked by something right in front of it (the housing's parked wiper arm, a sunshield's bent lip): each defocus spot is the pupil's unblocked part, a disc with a chord cut off, so the blur is one-sided and the image shifts away from the obstruction (the split-image rangefinder's principle); the edge's faint diffraction streak, the field vignetted towards it |
| codec_error | a motion-JPEG camera whose quantisation tables (the DQT segment sent with every frame) lose bytes on the link: the decoder reads every entry from the loss on from a byte further along in zig-zag order (the last ones from the next table's or the frame header's bytes), so from some frequency on each is scaled by another frequency's step (ringing, block-periodic stripes, boosted colours, blocks' brightness thrown off where the DC entry slips); luma and chroma slip at places of their own |
| darkening | night, and a CCTV camera's highlight compensation (HLC, meant to mask headlights for number plates) taking the sign's retroreflective face for a light source: the exposure falls by stops, part made up with gain (its shot and read noise), and the brightest parts are masked to a flat dark grey, the mask grown round them and soft-edged |
| dirty_lens | a vandal's felt-tip marker tag on the housing window: a few looping strokes of dye ink (black, blue, red or green), out of focus, absorbing by colour (Beer-Lambert, the dye's own absorption per channel), darker where the ink pooled at the strokes' ends; the dried ink scatters a little light |
| exposure | a car's windscreen throwing the low sun onto the sign: a skewed trapezoid of reflected sunlight, soft-edged by the sun's disc, on part of the sign, while the auto exposure, metered on the shaded street, has the sign stops too bright already; through the ISP's hard shoulder into clipping |
| gaussian_blur | a sign loose on its single post, swinging about the post (a yaw oscillation) during the exposure: the plate, already turned from the camera, turns further and back, so its image stretches and squeezes sideways about the post's line (foreshortening and the nearer edge's perspective): a horizontal blur nil along the post and growing towards the plate's edges; the lens's own softness |
| noise | a single-photon (SPAD) camera in dim light: each frame the sum of 255 binary sub-frames, so the counts are binomial, quantised and saturating; the ISP inverts the saturation (-log(1 - k/(n + 1))) and gains it up (sparse speckle in the darks, grain in the compressed highlights), optical crosstalk fires neighbours, a few hot diodes count dark events; at the camera's own pixels |
| rain | rain on the windscreen of a vehicle at speed (a dashcam, the wipers off): the airflow pushes the drops up and outwards from the screen's middle, each a refracting bead dragging a thin trail and a few beads behind it ("tadpoles"), out of focus, dark-rimmed, the sky's highlight on their tops; the rainy overcast dims the view |
| shadow | the shadow of a distant ridge or treeline at sunset climbing the sign: a soft penumbra (the low sun's disc passing behind a far edge, its visible share a circular segment), the skyline's bumps in its edge; in the shade only the blue sky's light, in the sun the low sun's warm light |
| snow | wind-driven snow packed into a chain-link fence between the camera and the sign: the mesh's diamonds outlined in white along the wires' windward side, clumps at the crossings, some cells filled, all out of focus (the fence is near the lens), the dark PVC-coated wire bare elsewhere, the snow granular; a few flakes falling beyond |
| haze | advection fog driven over the road by the wind: the fog in streamers, long filaments stretched along the wind (anisotropic value noise), so the veil's density changes strongly across the sign; a cool grey-white airlight, the dense streamers a little brighter, the scene under them dimmer and softened by forward scattering |

Conventions of R:
- Strength: a nominal value per level, from the level-1 to the level-5 value along an arctangent
  ease (atan(2 s) / atan(2)) in the level, times a Cauchy jitter, 1 + 0.045 * Cauchy(0, 1)
  clipped to [0.76, 1.26] (`_strength`). Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px (64) and resized to the crop.
- Light acts in linear values through Blackmagic's DaVinci Intermediate curve (the code range 0-1
  taken as its codes from linear 0 to linear 1, its linear toe included; A 2.2, B sRGB, C BT.709,
  D 2.4, E 2.0, F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*, K HLG, L PQ, M S-Log3, N ARRI LogC3, O V-Log,
  P F-Log, Q Log3G10); luminance uses ECI RGB v2's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye on contact sheets, never by the
  project's detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 64  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.077669, 0.602029, 0.320302])  # ECI RGB v2 luminance weights, BGR order
# DaVinci Intermediate: a, b, c (the log part), m (the linear toe's slope), the toe's end in linear and in code
_DA, _DB, _DC, _DM = 0.0075, 7.0, 0.07329248, 10.44426855
_LIN_CUT, _LOG_CUT = 0.00262409, 0.02740668
_ATAN_K = 2.0  # the strength law's arctangent ease
_CAUCHY_SCALE, _JIT_LO, _JIT_HI = 0.045, 0.76, 1.26  # the Cauchy jitter's scale and clip


def _di_enc(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, np.float64)
    return np.where(y <= _LIN_CUT, y * _DM, (np.log2(np.maximum(y + _DA, 1e-12)) + _DB) * _DC)


def _di_dec(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return np.where(v <= _LOG_CUT, v / _DM, np.exp2(v / _DC - _DB) - _DA)


_R1 = float(_di_enc(np.float64(1.0)))  # the code of linear 1 (linear 0 is code 0)

# ---------------------------------------------------------------------------------------------
# Helpers of R


def _short(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi along an arctangent ease in the level, times a clipped Cauchy jitter."""
    s = (level - 1) / 4.0
    u = math.atan(_ATAN_K * s) / math.atan(_ATAN_K)
    jitter = min(_JIT_HI, max(_JIT_LO, 1.0 + _CAUCHY_SCALE * float(rng.standard_cauchy())))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """Signal (0-1, the DaVinci Intermediate codes of linear 0-1) to linear light (0-1)."""
    return np.clip(_di_dec(np.clip(np.asarray(x, np.float64), 0.0, 1.0) * _R1), 0.0, None).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Linear light (0-1) to the signal (0-1)."""
    return (_di_enc(np.clip(np.asarray(y, np.float64), 0.0, 1.0)) / _R1).astype(np.float32)


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


def _to_layer(x: np.ndarray) -> np.ndarray:
    """The crop at the camera's own pixels (the sign about LAYER px across)."""
    lh, lw = _layer_hw(x)
    mode = cv2.INTER_AREA if lh < x.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(x, (lw, lh), interpolation=mode).reshape(lh, lw, 3)


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.3)).reshape(img.shape)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return xx.astype(np.float32), yy.astype(np.float32)


def _octaves(rng: np.random.Generator, shape: tuple[int, int], along: float, across: float, angle: float = 0.0):
    """Value noise in [0, 1] of three octaves, its cells `along` px long at `angle` and `across` px wide."""
    lh, lw = shape
    xx, yy = _grid(lh, lw)
    total = np.zeros((lh, lw), np.float32)
    for octave in range(3):
        f = 2.0**octave
        a = (xx * math.cos(angle) + yy * math.sin(angle)) * f / along
        b = (-xx * math.sin(angle) + yy * math.cos(angle)) * f / across
        a, b = a - a.min() + 1.0, b - b.min() + 1.0
        table = rng.standard_normal((int(b.max()) + 3, int(a.max()) + 3)).astype(np.float32)
        total += cv2.remap(table, a, b, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT) / np.float32(f)
    return (total - total.min()) / (float(total.max() - total.min()) + 1e-6)


def _over(base: np.ndarray, alpha: np.ndarray, colour: np.ndarray) -> np.ndarray:
    a = alpha if alpha.ndim == 3 else alpha[:, :, None]
    return base * (1.0 - a) + colour * a


def _dct(n: int) -> np.ndarray:
    """The orthonormal n-point DCT-II matrix."""
    k, i = np.mgrid[0:n, 0:n]
    m = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] *= math.sqrt(0.5)
    return m.astype(np.float32)


def _blockwise(plane: np.ndarray, n: int, code) -> np.ndarray:
    """A plane through n x n DCT blocks (edge-padded), `code` applied to the (by, bx, n, n) coefficients."""
    h, w = plane.shape
    by, bx = -(-h // n), -(-w // n)
    pad = np.pad(plane, ((0, by * n - h), (0, bx * n - w)), mode="edge")
    d = _dct(n)
    coef = d @ pad.reshape(by, n, bx, n).transpose(0, 2, 1, 3) @ d.T
    back = d.T @ code(coef).astype(np.float32) @ d
    return back.transpose(0, 2, 1, 3).reshape(by * n, bx * n)[:h, :w]


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering R: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # A low-bit-rate H.264 encoder whose rate control starves the chroma (the chroma QP offset at
    # its top, the quantiser's rounding offset lowered into a wide dead zone): the 4:2:0 chroma
    # planes, coded as 4 x 4 transform blocks, lose every coefficient smaller than the dead zone, so
    # pale colours vanish and strong ones keep a weaker, blocky remnant bled over the edges by the
    # player's chroma upsampling; the luma keeps its bits (a light quantisation only). On the
    # signal, at the camera's pixels. A-Q: a grey blend, a mixer print, UV fading, sodium and
    # mercury light, a lost burst, an IR leak, the colour killer, a yellowed window, grime, sky
    # glare, a gamut mismatch, dew, a fooled multi-zone white balance, a long coax, bleached filter
    # dyes, a broadcast legaliser.
    t = _strength(rng, level, 0.3, 1.0)
    h, w = x.shape[:2]
    cam = _to_layer(x)
    ycc = cv2.cvtColor(np.ascontiguousarray(cam), cv2.COLOR_BGR2YCrCb)
    u, v = np.mgrid[0:4, 0:4]
    weight = (1.0 + 0.3 * (u + v)).astype(np.float32)  # the scaling list: coarser high frequencies
    dead = rng.uniform(0.05, 0.12)  # the rounding offset (H.264's reference encoder: 1/6 for inter)

    def quantise(step):
        return lambda c: np.sign(c) * np.floor(np.abs(c) / step + dead) * step

    qc = np.float32(0.05 + 1.2 * t**2.5 * rng.uniform(0.85, 1.15)) * weight
    lh, lw = ycc.shape[:2]
    ch, cw = max(1, lh // 2), max(1, lw // 2)
    out = np.empty_like(ycc)
    for c in (1, 2):
        sub = cv2.resize(ycc[:, :, c] - 0.5, (cw, ch), interpolation=cv2.INTER_AREA).reshape(ch, cw)
        rec = _blockwise(sub, 4, quantise(qc))
        out[:, :, c] = 0.5 + cv2.resize(rec, (lw, lh), interpolation=cv2.INTER_LINEAR).reshape(lh, lw)
    out[:, :, 0] = _blockwise(ycc[:, :, 0], 4, quantise(np.float32(0.02 + 0.08 * t**3) * weight))
    err = cv2.cvtColor(out, cv2.COLOR_YCrCb2BGR) - cam
    return np.clip(x + cv2.resize(err, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape), 0.0, 1.0)


def _cut_pupil(r: float, cut: float, phi: float) -> np.ndarray:
    """The defocus spot of a pupil of radius r px with a chord cut off: `cut` of its diameter, from direction phi."""
    half = int(math.ceil(r)) + 2
    n = 2 * half + 1
    yy, xx = np.mgrid[0 : 4 * n, 0 : 4 * n].astype(np.float32)
    xx, yy = (xx - 2 * n + 0.5) / 4.0, (yy - 2 * n + 0.5) / 4.0
    disc = (xx * xx + yy * yy) <= r * r
    toward = xx * math.cos(phi) + yy * math.sin(phi)
    spot = (disc & (toward <= r * (1.0 - 2.0 * cut))).astype(np.float32)
    # the obstruction's straight edge diffracts a faint streak across itself (along phi)
    across = np.abs(-xx * math.sin(phi) + yy * math.cos(phi))
    streak = ((across < 0.5) & (np.abs(toward) < 1.6 * r)).astype(np.float32) * np.float32(0.08)
    k = cv2.resize(spot + streak, (n, n), interpolation=cv2.INTER_AREA)
    return k / float(k.sum())


def _lens_blur(x, level, rng):
    # The lens out of focus with part of its entrance pupil blocked by something right in front of
    # it (the housing's parked wiper arm, or a sunshield's lip bent down): every defocus spot is the
    # pupil's unblocked part, a disc with a chord cut off (a "D"), so the blur is one-sided and the
    # image shifts away from the obstruction (the split-image rangefinder's principle); its straight
    # edge diffracts a faint streak, and the field towards it is vignetted. In linear light. A-Q:
    # hexagonal, round, heptagonal and rhombic irises, a tilted plane, a ring PSF, field
    # curvature, glow, astigmatism, a cracked element, coma, a scratched dome, onion rings, a filter
    # stack, spherochromatism, trefoil, an anamorphic adapter.
    t = _strength(rng, level, 0.02, 0.1)
    h, w = x.shape[:2]
    s = _short(x)
    r = max(1.8, t * s)
    cut = rng.uniform(0.3, 0.55)
    phi = -math.pi / 2 + rng.normal(0.0, 0.6)  # mostly from above (image y grows downwards)
    k = _cut_pupil(r, cut, phi)
    lin = cv2.filter2D(_lin(x), -1, k, borderType=cv2.BORDER_REFLECT).reshape(x.shape)
    xx, yy = _grid(h, w)
    toward = ((xx - w / 2.0) * math.cos(phi) + (yy - h / 2.0) * math.sin(phi)) / s
    vignette = 1.0 - 0.35 * cut * np.clip(0.5 + toward, 0.0, 1.2)
    return _enc(lin * (vignette / float(vignette.mean()))[:, :, None])


_JPEG_LUMA = np.float32(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ]
)
_JPEG_CHROMA = np.full((8, 8), 99, np.float32)
_JPEG_CHROMA[:4, :4] = [[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99]]


# The bytes after a DQT segment: a baseline frame header (SOF0: 64 x 64 px, 3 components, 4:2:0)
# and the start of the standard luma DC Huffman table's segment (DHT).
_AFTER_DQT = np.array(
    [0xFF, 0xC0, 0, 17, 8, 0, 64, 0, 64, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]
    + [0xFF, 0xC4, 0, 31, 0, 0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
)


def _dqt(base: np.ndarray, quality: float) -> np.ndarray:
    """The IJG scaling of a base quantisation table to a quality (1-100), entries 1-255."""
    scale = 5000.0 / quality if quality < 50 else 200.0 - 2.0 * quality
    return np.clip(np.floor((base * scale + 50.0) / 100.0), 1, 255).astype(np.int64)


def _zigzag() -> np.ndarray:
    """The JPEG zig-zag order: the flat (row-major) index of each of the 64 entries in the order sent."""
    cells = sorted((u + v, u if (u + v) % 2 else v, u * 8 + v) for u in range(8) for v in range(8))
    return np.array([c[2] for c in cells])


def _slipped(table: np.ndarray, after: np.ndarray, start: int, lost: int) -> np.ndarray:
    """A table as read from a DQT segment that lost `lost` bytes at zig-zag position `start`: every
    entry from there on is read from the byte `lost` places on, the last ones from the bytes after it."""
    zz = _zigzag()
    sent = np.concatenate([table.ravel()[zz], after])
    read = sent[:64].copy()
    read[start:] = sent[start + lost : 64 + lost]
    out = np.empty(64, np.int64)
    out[zz] = np.maximum(read, 1)
    return out.reshape(8, 8)


def _codec_error(x, level, rng):
    # A motion-JPEG camera whose quantisation tables (the DQT segment it sends with every frame)
    # arrive with bytes lost from the segment: the encoder quantised with the right tables, the
    # decoder reads every entry from the loss on from the byte some places further in zig-zag order
    # (the last ones from the next table's or the frame header's bytes), so from some frequency on
    # each comes back scaled by another frequency's step: mostly too strong (ringing, stripes and
    # checks repeating block by block, the colours boosted, every block's brightness thrown off
    # where the DC entry slips), the highest ones too weak; luma and chroma tables slip at places of
    # their own, more bytes and earlier the worse the link. At the camera's pixels, on the signal.
    # A-Q: displaced blocks, DCT, MCU errors, MVs, a lost restart, a stride, wavelets,
    # concealment, VQ, DPCM, HEVC intra, mid-GOP, SVC, weighted prediction, a tiled read, AV1 loop
    # filters, a progressive JPEG cut off.
    t = _strength(rng, level, 0.05, 1.0)
    h, w = x.shape[:2]
    cam = _to_layer(x)
    ycc = cv2.cvtColor(np.ascontiguousarray(cam), cv2.COLOR_BGR2YCrCb) * np.float32(255.0) - np.float32(128.0)
    quality = rng.uniform(25.0, 60.0)  # the camera's own setting
    tables = [_dqt(base, quality) for base in (_JPEG_LUMA, _JPEG_CHROMA)]
    lost = min(50, 1 + round(3.0 * t + 17.0 * t**3))  # bytes lost from the segment, at its own place in each table
    # the luma table is followed by the chroma table's id byte and entries, the chroma table by the frame header
    after = [np.concatenate([[1], tables[1].ravel()[_zigzag()]]), _AFTER_DQT]
    starts = rng.integers(0, 20, 2) * (1.0 - 0.8 * min(t, 1.0))  # the slip comes earlier, the worse the link
    bad = [_slipped(q, a, round(p), lost) for q, a, p in zip(tables, after, starts, strict=True)]

    def dequant(good, wrong):
        return lambda c: np.round(c / good.astype(np.float32)) * wrong.astype(np.float32)

    lh, lw = cam.shape[:2]
    out = np.empty_like(ycc)
    out[:, :, 0] = _blockwise(ycc[:, :, 0], 8, dequant(tables[0], bad[0]))
    ch, cw = max(1, lh // 2), max(1, lw // 2)
    for c in (1, 2):
        sub = cv2.resize(ycc[:, :, c], (cw, ch), interpolation=cv2.INTER_AREA).reshape(ch, cw)
        rec = _blockwise(sub, 8, dequant(tables[1], bad[1]))
        out[:, :, c] = cv2.resize(rec, (lw, lh), interpolation=cv2.INTER_LINEAR).reshape(lh, lw)
    dec = cv2.cvtColor(np.clip((out + 128.0) / 255.0, 0.0, 1.0).astype(np.float32), cv2.COLOR_YCrCb2BGR)
    err = cv2.resize(dec - cam, (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)
    return np.clip(x + err, 0.0, 1.0)


def _darkening(x, level, rng):
    # Night, and a CCTV camera's highlight compensation (HLC, meant to mask oncoming headlights for
    # the number plates) taking the sign's retroreflective face, lit by the traffic, for a light
    # source: the exposure falls by stops (part made up with gain, its noise with it), and where
    # the signal is near the top of its range the camera masks it down to a dark grey, the mask
    # grown round the bright parts and soft-edged. In linear values. A-Q: a LUT, under-exposure,
    # shot noise, dusk, a stuck iris, a failing street light, a smoked dome, a distant lamp, a
    # backlit sign, a dying IR lamp, a storm, an eclipse, a variable ND, failing tubes, low beams,
    # wildfire smoke, an electrochromic window.
    stops = _strength(rng, level, 0.7, 3.8)
    s = _short(x)
    lin = _lin(x)
    gain = np.float32(2.0 ** (stops * rng.uniform(0.35, 0.55)))
    lin = lin * np.float32(2.0**-stops) * gain
    y = _luma(lin)
    top = float(np.percentile(y, 99.5)) + 1e-4
    thr = max(0.45, 0.97 - 0.2 * stops * rng.uniform(0.85, 1.15))  # the HLC level, relative to the brightest
    mask = np.clip((y / top - thr) / 0.06, 0.0, 1.0)
    grow = max(1, round(s * rng.uniform(0.02, 0.05)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    mask = _blur(mask, 0.02 * s + 0.3)[:, :, None]
    masked = lin * np.float32(0.02) + np.float32(rng.uniform(0.03, 0.06))  # a flat dark grey
    lin = lin * (1.0 - mask) + masked * mask
    sigma = np.sqrt(0.0004 * gain * lin + (0.0015 * gain) ** 2)  # shot and read noise at the gain
    lin = lin + rng.standard_normal(x.shape).astype(np.float32) * sigma.astype(np.float32)
    return _enc(np.maximum(lin, 0.0))


def _tag(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: a marker tag's ink (0-1 coverage, pooled darker where the pen stopped)."""
    lh, lw = shape
    ink = np.zeros((lh, lw), np.float32)
    strokes = 1 + int(rng.random() < 0.3 + 0.7 * t) + int(rng.random() < 0.8 * t) + int(rng.random() < 0.5 * t)
    for k in range(4):  # four strokes' draws always, the first `strokes` drawn (nested over levels)
        p = np.array([rng.uniform(0.2, 0.8) * lw, rng.uniform(0.2, 0.8) * lh])
        heading, freq, phase = rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 0.45), rng.uniform(0, 6)
        amp = rng.uniform(0.25, 0.45)
        wobble = rng.normal(0.0, 0.08, 200)
        width = max(1, round(LAYER * rng.uniform(0.05, 0.08) * (0.8 + 0.5 * t)))
        if k >= strokes:
            continue
        pts = [p.copy()]
        for i in range(int(40 + 150 * t)):
            heading += amp * math.sin(freq * i + phase) + wobble[i]  # the hand's loops
            p = p + LAYER * 0.03 * np.array([math.cos(heading), math.sin(heading)])
            pts.append(p.copy())
        line = np.round(np.array(pts)).astype(np.int32)
        cv2.polylines(ink, [line], False, 0.75, width, cv2.LINE_AA)
        for end in (line[0], line[-1]):  # the ink pooled where the pen was set down and lifted
            cv2.circle(ink, (int(end[0]), int(end[1])), width, 1.0, -1, cv2.LINE_AA)
    return ink


def _dirty_lens(x, level, rng):
    # A vandal's felt-tip marker tag on the housing window: a few looping strokes of dye ink (black,
    # blue, red or green), out of focus, which absorb by colour (Beer-Lambert: the dye's own
    # absorption in each channel), so they darken and tint what is behind them; darker where the
    # pen paused and the ink pooled; the dried ink's rough face scatters a little of the scene's
    # light. A-Q: blobs, smudges and grit, dust and grime, mud, pollen, a hair or salt, a
    # fingerprint or dropping, a cobweb, insects, water spots, sap, spray paint, a biofilm, a dirty
    # cloth, wet leaves, slime trails, wildfire ash.
    t = _strength(rng, level, 0.12, 0.8)
    ink = _tag(rng, _layer_hw(x), t)
    dens = _fit(_blur(ink, LAYER * rng.uniform(0.012, 0.025)), x)[:, :, None]
    dyes = (
        np.float32([1.1, 1.1, 1.0]),  # BGR absorption: black
        np.float32([0.15, 0.9, 1.2]),  # blue: passes blue
        np.float32([1.1, 0.9, 0.1]),  # red: passes red
        np.float32([0.9, 0.2, 1.0]),  # green
    )
    eps = dyes[int(rng.choice(4, p=(0.5, 0.2, 0.15, 0.15)))]
    load = np.float32(1.5 + 3.75 * t)
    lin = _lin(x)
    scatter = lin.mean(axis=(0, 1)) * np.float32(0.3) + np.float32(0.01)
    seen = lin * np.exp(-eps * load * dens) + scatter * np.clip(dens * 0.02 * load, 0.0, 0.1)
    return _enc(seen)


def _windscreen(rng: np.random.Generator, h: int, w: int, s: float) -> np.ndarray:
    """The patch of sun a car's windscreen throws on the sign: a skewed trapezoid, soft by the sun's disc."""
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    half_w, half_h = s * rng.uniform(0.35, 0.6), s * rng.uniform(0.15, 0.28)
    top = rng.uniform(0.6, 0.85)  # the screen narrows towards its roof edge
    quad = np.float32([[-top, -1], [top, -1], [1, 1], [-1, 1]]) * np.float32([half_w, half_h])
    a = rng.uniform(-0.5, 0.5)
    rot = np.float32([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    shear = np.float32([[1.0, rng.uniform(-0.4, 0.4)], [0.0, 1.0]])
    pts = quad @ (rot @ shear).T + np.float32([cx, cy])
    patch = np.zeros((h, w), np.float32)
    cv2.fillPoly(patch, [np.round(pts * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    return _blur(patch, s * rng.uniform(0.03, 0.07))


def _exposure(x, level, rng):
    # A car's windscreen (waiting at the lights, or parked) throwing the sun onto the sign: the
    # curved glass reflects the low sun as a skewed trapezoid of light with soft edges (the sun's
    # disc), a second sun on part of the sign; the auto exposure, metered on the shaded street,
    # is already high, so the sign rises by stops and the patch blows out through the ISP's
    # shoulder. In linear values. A-Q: a LUT, clipping, knee and smear, the sun, AE overshoot, WDR,
    # headlights, a flash, a night profile, an open iris, a glint, a DCG seam, halation, snow
    # bounce, sense-up, a global shutter, a black-level clamp.
    stops = _strength(rng, level, 0.75, 4.2)
    h, w = x.shape[:2]
    patch = _windscreen(rng, h, w, _short(x))[:, :, None]
    lin = _lin(x) * np.float32(2.0 ** (0.75 * stops))
    # the sun the glass throws, over the shade's light the exposure was set for
    reflect = np.float32(rng.uniform(1.5, 3.0) * 2.0 ** (0.4 * stops))
    lin = lin * (1.0 + reflect * patch * np.float32([1.0, 1.0, 0.96]))
    return _enc(lin / (1.0 + lin**6) ** (1.0 / 6.0) * np.float32(1.04))  # the ISP's shoulder, a hard one


def _gaussian_blur(x, level, rng):
    # A sign loose on its single post, swinging about the post in the wind (a yaw oscillation)
    # during the exposure: the plate, already turned away from the camera, turns further and back,
    # so its image stretches and squeezes sideways about the post's line (foreshortening, with the
    # perspective of the nearer edge): a horizontal blur, nil along the post and growing towards
    # the plate's edges; the lens's own softness. In linear light. A-Q: Gaussian, elongated,
    # turbulence, a Lissajous mount, jello, a water film, AF hunting, a swaying sign, diffraction,
    # zoom creep, a twisting pole, a struck pole, a jolt, a passing car, an interlaced chain, a
    # PTZ pan, a VMS transcode.
    amp = _strength(rng, level, 0.07, 0.7)  # the swing's amplitude, rad
    h, w = x.shape[:2]
    s = _short(x)
    rest = rng.uniform(0.4, 0.8) * (1 if rng.random() < 0.5 else -1)  # the plate's turn at rest
    k = rng.uniform(0.05, 0.15)  # the plate's half width over its distance (perspective)
    xc, half = w / 2.0 + rng.normal(0.0, 0.06) * w, 0.5 * s
    phase, span = rng.uniform(0, 2 * math.pi), rng.uniform(1.2, 3.0)
    xx, yy = _grid(h, w)
    u, v = (xx - xc) / half, (yy - h / 2.0) / half
    lin = _lin(x)
    acc = np.zeros_like(lin)
    reach = amp * abs(math.tan(rest)) * 0.5 * w  # about the farthest a pixel moves, px
    n = int(np.clip(reach * 1.5, 8, 40))
    for ph in np.linspace(phase, phase + span, n):
        th = float(np.clip(rest + amp * math.sin(ph), -1.35, 1.35))  # short of edge-on
        plate = u / np.maximum(math.cos(th) - k * u * math.sin(th), 0.1)  # where on the plate
        depth = 1.0 + k * plate * math.sin(th)
        depth0 = 1.0 + k * plate * math.sin(rest)
        mx = xc + plate * math.cos(rest) / depth0 * half
        my = h / 2.0 + v * depth / depth0 * half
        acc += cv2.remap(lin, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).reshape(x.shape)  # fmt: skip
    gap = max(1, round(reach * span / math.pi / n))  # the samples' spacing, filled in along the swing
    acc = cv2.blur(acc, (2 * gap + 1, 1), borderType=cv2.BORDER_REPLICATE).reshape(x.shape)
    return _enc(_blur(acc / np.float32(n), 0.35 + 0.004 * s))


def _binomial_quantile(u: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    """Binomial(n, p) counts by the inverse distribution function of uniforms u (more p, same u: more counts)."""
    p = np.clip(p.astype(np.float64), 1e-9, 1.0 - 1e-9)
    logp, logq = np.log(p), np.log1p(-p)
    count = np.zeros(p.shape, np.float64)
    cdf = np.zeros(p.shape, np.float64)
    for k in range(n + 1):
        log_comb = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        cdf += np.exp(log_comb + k * logp + (n - k) * logq)
        count += cdf < u
    return np.minimum(count, n)


def _noise(x, level, rng):
    # A single-photon (SPAD) camera in dim light: each frame is the sum of n binary sub-frames (a
    # pixel either saw a photon in one or not), so the counts are binomial, quantised and
    # saturating (the highlights compressed and grainy, the darks sparse speckle); the ISP inverts
    # the saturation (-log(1 - k/(n + 1))) and gains the result up; optical crosstalk fires
    # neighbours, and a few hot diodes count dark events. At the camera's own pixels, per colour
    # channel. A-Q: colour grain, Bayer, shot noise and banding, salt and pepper, herringbone,
    # blotches, a wireless link, gain noise, an intensifier, quad-Bayer, radiation, NR mottle, SDI
    # bit errors, RGB-IR, dark current, film-grain synthesis, a dithered low bit depth.
    starve = _strength(rng, level, 0.9, 6.0)  # stops of light short of the diodes' best level
    cam = _to_layer(x)
    n = 255  # binary sub-frames per frame
    flux = np.float32(3.5 * 2.0**-starve)  # photons per sub-frame at linear white
    u = rng.random(cam.shape)
    dark = np.where(rng.random(cam.shape[:2]) < 0.005, rng.uniform(0.05, 0.3), 0.0005)[:, :, None]
    lam = _lin(cam) * flux + dark.astype(np.float32)
    counts = _binomial_quantile(u, n, 1.0 - np.exp(-lam))
    around = cv2.blur(counts.astype(np.float32), (3, 3), borderType=cv2.BORDER_REFLECT) * 9.0 - counts
    counts = np.minimum(counts + np.floor(around / 8.0 * rng.uniform(0.02, 0.05) + rng.random(cam.shape)), n)
    est = -np.log1p(-counts / (n + 1.0))
    lin = (est - 0.0005) / flux
    err = _enc(np.maximum(lin, 0.0)) - cam
    h, w = x.shape[:2]
    err = cv2.resize(err.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR).reshape(x.shape)
    return np.clip(x + err, 0.0, 1.0)


def _tadpoles(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """At layer size: the water's height on a windscreen at speed: drops' heads and the trails behind them."""
    lh, lw = shape
    height = np.zeros((lh, lw), np.float32)
    centre = rng.uniform(-0.5, 1.5) * lw  # the windscreen's middle: the airflow parts about it
    for _ in range(int((6 + 24 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))):
        x0, y0 = rng.uniform(0, lw), rng.uniform(0, lh)
        ang = -math.pi / 2 + 0.9 * float(np.clip((x0 - centre) / lw, -1.0, 1.0)) + rng.normal(0.0, 0.15)
        r = LAYER * (0.015 + 0.035 * rng.random() ** 1.5) * (0.8 + 0.4 * t)
        trail = r * rng.uniform(3.0, 10.0)
        dx, dy = math.cos(ang), math.sin(ang)
        tail = (round(x0 - trail * dx), round(y0 - trail * dy))
        cv2.line(height, (round(x0), round(y0)), tail, 0.35, max(1, round(0.5 * r)), cv2.LINE_AA)
        for f in rng.uniform(0.3, 1.0, int(rng.integers(0, 3))):  # beads left along the trail
            bead = (round(x0 - f * trail * dx), round(y0 - f * trail * dy))
            cv2.circle(height, bead, max(1, round(0.45 * r)), 0.6, -1, cv2.LINE_AA)
        axes = (max(1, round(1.3 * r)), max(1, round(r)))
        cv2.ellipse(height, (round(x0), round(y0)), axes, math.degrees(ang), 0, 360, 1.0, -1, cv2.LINE_AA)
    return height


def _rain(x, level, rng):
    # Rain on the windscreen of a vehicle at speed (a dashcam behind it, the wipers off): the
    # airflow pushes the drops up and outwards from the screen's middle, each drop a refracting
    # bead dragging a thin trail of water and a few beads behind it ("tadpoles"), all out of
    # focus; the heads' rims dark, the sky's highlight on their tops, the rainy overcast dimming
    # the view. A-Q: streaks, drops on the lens, a windshield and its wiper, drops in flight,
    # headlight-lit rain, spray, rivulets, splashes, a wet sign, visor drips, a sunshower, drizzle
    # beads, freezing rain, sheets, an overpass edge, PWM-lit dashes, a daytime downpour.
    t = _strength(rng, level, 0.12, 0.85)
    h, w = x.shape[:2]
    s = _short(x)
    height = _blur(_tadpoles(rng, _layer_hw(x), t), LAYER * 0.012)
    # the slopes per layer px (about 0.3 at a drop's edge), brought to the crop
    gx = _fit(cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT) / np.float32(8.0), x)
    gy = _fit(cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT) / np.float32(8.0), x)
    height = _fit(height, x)
    xx, yy = _grid(h, w)
    bend = np.float32(s / LAYER * rng.uniform(6.0, 10.0))  # a drop's lens shifts the view a few layer px
    seen = cv2.remap(x, xx - bend * gx, yy - bend * gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    cover = np.clip(height * 2.5, 0.0, 1.0)[:, :, None]
    lin = _lin(x) * (1.0 - cover) + _lin(_blur(seen.reshape(x.shape), 0.015 * s + 0.3)) * cover
    slope = np.sqrt(gx * gx + gy * gy)[:, :, None]
    lin = lin * (1.0 - np.clip(slope * 1.5, 0.0, 0.6))  # the rims bend the light away: dark
    glint = np.clip(-gy * 3.0, 0.0, 1.0)[:, :, None] ** 2 * np.float32(0.3)  # the sky on the heads' tops
    return _enc(lin * np.float32(1.0 - 0.2 * min(t, 1.0)) + np.float32(0.02 * t) + glint)


def _ridge_light(rng: np.random.Generator, h: int, w: int, t: float) -> np.ndarray:
    """The share of the low sun's disc seen past a distant ridge or treeline, over the crop (0 shade .. 1 sun)."""
    s = float(max(min(h, w), 4))
    xx, yy = _grid(h, w)
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)
    prof = np.zeros(w, np.float32)
    for octave in range(5):  # the skyline's profile: a few octaves of random bumps
        knots = rng.standard_normal(2 ** (octave + 2) + 1).astype(np.float32)
        prof += np.interp(xs, np.linspace(0.0, 1.0, knots.size), knots).astype(np.float32) / 2.0**octave
    cover = min(1.0, (0.12 + 0.9 * t) * rng.uniform(0.85, 1.15))  # how far up the shade has climbed
    edge = h * (1.0 - cover) + rng.normal(0.0, 0.15) * (xx - w / 2.0) + prof[None, :] * np.float32(0.1 * s)
    d = np.clip((edge - yy) / (s * rng.uniform(0.01, 0.06)), -1.0, 1.0)  # +1: the whole disc above the ridge
    seen = (np.arccos(-d) + d * np.sqrt(1.0 - d * d)) / math.pi  # a disc's share above a straight edge
    return seen if rng.random() < 0.8 else seen[::-1]  # sometimes an eave's edge above instead


def _shadow(x, level, rng):
    # The shadow of a distant ridge or treeline at sunset, climbing the sign: a soft penumbra (the
    # low sun's disc passing behind a far edge, its visible share a circular segment), the skyline's
    # bumps in its edge; in the shade only the blue sky's light, in the sun the low sun's warm
    # light. In linear light. A-Q: blinds, an edge or dapples, branches, a vehicle, a hood, fan
    # blades, a fence, an overpass, a perforated canopy, a sign plate, palm fronds, an awning, a
    # facade, netting, bunting, a corrugated roof, a smoke plume.
    t = _strength(rng, level, 0.2, 0.8)
    h, w = x.shape[:2]
    sun_share = _ridge_light(rng, h, w, t)[:, :, None]
    sky = np.float32(rng.uniform(0.3, 0.45) + 0.35 * max(0.0, 1.0 - 1.2 * t))  # the sky's share of the light
    sun, blue = np.float32([0.7, 0.9, 1.0]), np.float32([1.0, 0.85, 0.7])  # BGR: the low sun, the sky
    full = sun * (1.0 - sky) + blue * sky
    light = (sun * (1.0 - sky) * sun_share + blue * sky) / float(full @ _LUM)
    return _enc(_lin(x) * light)


def _lattice(rng: np.random.Generator, shape: tuple[int, int], t: float) -> tuple[np.ndarray, np.ndarray]:
    """At layer size: a chain-link fence's wires and the snow packed into it (coverage, 0-1)."""
    lh, lw = shape
    xx, yy = _grid(lh, lw)
    pitch = LAYER * rng.uniform(0.28, 0.42)
    ang = math.pi / 4 + rng.normal(0.0, 0.08)
    a = (xx * math.cos(ang) + yy * math.sin(ang)) / pitch + rng.uniform(0, 1)
    b = (-xx * math.sin(ang) + yy * math.cos(ang)) / pitch + rng.uniform(0, 1)
    a, b = a - np.floor(a.min()), b - np.floor(b.min())  # cell indices from 0
    fa, fb = a - np.floor(a), b - np.floor(b)
    da, db = np.minimum(fa, 1.0 - fa) * pitch, np.minimum(fb, 1.0 - fb) * pitch  # px to the nearest wire
    wire = np.clip(1.0 - np.minimum(da, db) / 0.7, 0.0, 1.0)
    cells = rng.random((int(a.max()) + 2, int(b.max()) + 2))  # per cell: when the snow fills it
    knots = rng.random(cells.shape)  # per crossing: its clump's size
    cells2 = rng.random(cells.shape)  # per cell: when snow sticks along its wires
    drift = rng.uniform(0.5, 1.0)  # the wind's angle to the wires: how much lands on the second set
    # snow on the wires' windward side, clumps at the crossings, whole cells packed
    ridge = 0.012 + 0.09 * t
    windward = ((fa < ridge) | (fb < ridge * drift)) & (cells2[a.astype(int), b.astype(int)] < 0.25 + 0.75 * t)
    clump_r = pitch * (0.03 + 0.14 * t) * (0.5 + knots[np.round(a).astype(int), np.round(b).astype(int)])
    clump = np.sqrt(da**2 + db**2) < clump_r
    filled = cells[a.astype(int), b.astype(int)] < 0.12 * t * t
    return wire, (windward | clump | filled).astype(np.float32)


def _snow(x, level, rng):
    # Wind-driven snow packed into a chain-link fence (or the wire guard over the camera) between
    # the camera and the sign: the mesh's diamonds outlined in white along the wires' windward side,
    # clumps at the crossings, some cells filled, all out of focus (the fence is near the lens); the
    # PVC-coated wires dark where bare, the snow granular, a few flakes falling beyond, the snowy
    # air's flat light. In linear light. A-Q: glow and dots, veil and discs, a cap, frost,
    # lamp-lit flakes, slush, a ground blizzard, a visor heap, a porthole, squall arcs, rime,
    # aggregates, a plough's spray, streaks from the focus of expansion, graupel, a laden branch,
    # a heated window.
    t = _strength(rng, level, 0.08, 0.8)
    hw = _layer_hw(x)
    wire, packed = _lattice(rng, hw, t)
    grain = _octaves(rng, hw, LAYER * 0.06, LAYER * 0.06)
    defocus = LAYER * rng.uniform(0.03, 0.05)
    wire = _fit(_blur(wire, defocus), x)[:, :, None]
    packed = _fit(_blur(packed, defocus), x)[:, :, None]
    white = np.float32([0.92, 0.92, 0.9]) * _fit(0.8 + 0.2 * grain, x)[:, :, None]
    lin = _lin(x) * np.float32(1.0 - 0.1 * t) + np.float32(0.01 * t)
    lin = _over(lin, np.clip(wire * 0.35, 0.0, 1.0), np.float32([0.02, 0.03, 0.02]))  # PVC-coated, dark green
    h, w = x.shape[:2]
    flakes = (rng.random((h, w)) < 0.003 + 0.01 * t).astype(np.float32)
    flakes = _blur(flakes, 0.008 * _short(x) + 0.4)[:, :, None] * np.float32(2.5)
    lin = _over(lin, np.clip(flakes, 0.0, 0.8), np.float32([0.85, 0.85, 0.85]))
    return _enc(_over(lin, np.clip(packed * 0.97, 0.0, 1.0), white))


def _haze(x, level, rng):
    # Advection fog driven over the road by the wind: the fog comes in streamers, long filaments
    # stretched along the wind and drifting past during the exposure, so its density, and with it
    # the veil, changes strongly across the sign; a cool grey-white airlight, the dense streamers a
    # little brighter (lit from above), the scene under them dimmer and softened (forward
    # scattering). In linear light. A-Q: a flat layer, depth, multiple scattering, smoke or dust,
    # mist, a plastic sheet, fog by a low sun, aerosol, ice fog, condensation, inner fog, NO2
    # smog, a steam plume, sea salt, lamp-lit fog, a tunnel, crepuscular mist, LED-lit dusk fog.
    opacity = min(0.95, _strength(rng, level, 0.015, 0.16))
    tau = -math.log(1.0 - opacity)
    s = _short(x)
    wind = rng.normal(0.0, 0.25) + (math.pi / 2 if rng.random() < 0.15 else 0.0)
    field = _octaves(rng, _layer_hw(x), LAYER * rng.uniform(0.8, 1.6), LAYER * rng.uniform(0.1, 0.2), wind)
    dens = _fit(0.25 + 1.5 * field**1.6, x)[:, :, None]
    trans = np.exp(-tau * dens).astype(np.float32)
    air = np.float32([0.86, 0.84, 0.8]) * np.float32(rng.uniform(0.7, 0.9)) * (0.9 + 0.15 * dens)
    lin = _lin(x)
    soft = _blur(lin, 0.02 * s)
    lin = lin * trans + soft * (1.0 - trans) * np.float32(0.35)  # forward-scattered scene light
    return _enc(lin * np.float32(1.0 - 0.2 * opacity) + air * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_r(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "R".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "R", _EFFECTS)
