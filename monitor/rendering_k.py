"""Rendering "K" of the 12 CURE-TSR challenges: written blind, measured once (docs/DESIGN.md §5.8).

A-J had all met the detector, so none was blind any more. K was written without running the
detector, the classifier, the image statistics, calibrate or evaluate on it, and measured once on
2026-12-01 (fit on the default FIT_RENDERINGS, test on K), so it is no longer blind either. It is
written without A-J's helpers (only monitor.renderings.apply_effects, the argument check and
uint8 wrapper, is shared) and each effect is another physical process, or another way a real
camera produces the condition, than any of A-J (their lines: monitor/rendering_c.py ... _j.py):

| condition | K |
| --- | --- |
| decolorization | a colour-space mismatch in the recording chain: the camera encodes in a wide gamut whose primaries lie beyond BT.709's (each pushed out by its own amount), the recorder takes the values as BT.709, so every colour shrinks towards the white point with a slight hue twist; sometimes limited range read as full range as well (grey blacks, dim whites) |
| lens_blur | a moulded plastic aspheric lens in the summer heat: its focus drifts (a thermal focus shift) and the defocus disc carries the mould's lathe marks as concentric "onion rings", its light piled towards the centre by under-corrected spherical aberration, a faint halo around it |
| codec_error | an HEVC intra stream with a CABAC error: from the error on, each block of the slice's quadtree is decoded with a wrong intra mode (DC, planar or an angular extrapolation of its top and left neighbours, themselves already wrong) and a misparsed residual (stray cosine basis patterns); the intact part coarsely quantised per block, deblocking off |
| darkening | a storm's shelf cloud passing over: the light falls by stops, more under the thick of the front than at its edge, the storm light green-grey and flat; the auto exposure is clamped at its maximum gain and the temporal noise reduction leaves its noise as a fine mottle |
| dirty_lens | tree sap (or aphid honeydew) dripped on the housing window: sticky amber drops, irregular, out of focus, that absorb the blue, refract and soften what is behind them, with dust grains stuck in them |
| exposure | the low sun glinting off the sign's glossy face: a specular hotspot that blows out and blooms through a soft edge, its stray light lifting the frame, at the brightest a CMOS "black sun" core (the reset sample overflowed) |
| gaussian_blur | the camera's pole twisting in a gust during the exposure: a rotational blur about a centre off the crop (the optical axis), its arc growing with the distance from it, through the lens's own softness |
| noise | ionising radiation (a camera beside a cargo X-ray / gamma scanner): particle hits on single photosites (exponential energies, one colour each) spread by the demosaic, short tracks of slanting particles, over the read noise at the gain |
| rain | a sunshower frozen by a fast shutter: many small sharp drops (an exponential, Marshall-Palmer-like size distribution), each a ball lens showing the bright sky with a dark rim and a glint, the far rain's grey veil |
| shadow | the shadow of palm fronds: arching midribs with combs of narrow leaflets, tapering to the tip, softened by the penumbra and by their swaying, the shade filled with green-tinted light through the canopy |
| snow | hard rime built up on the sign by freezing fog in the wind: white feathery ice growing into the wind, thickest on the windward side, granular and translucent where thin, a few fine flakes in the air |
| haze | photochemical smog: NO2 gas absorbs blue and some green (a brown cast over the view), the smog's fine aerosol scatters a dull brown airlight (single scattering with absorption), its density patchy across the sign |

Conventions of K:
- Strength: a nominal value per level, two thirds linear and one third a sine ease in the level
  (quicker at first), from the level-1 to the level-5 value, times a logistic jitter,
  1 + Logistic(0, 0.06) clipped to [0.72, 1.3] (`_strength`). Count, size, placement, colour and
  kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through the HLG curve (ARIB STD-B67; A 2.2, B sRGB, C BT.709,
  D 2.4, E 2.0, F 1.8, G 2.6, H 2.3, I 2.5, J CIE L*); luminance uses Adobe RGB (1998)'s weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 104  # px: procedural layers are drawn with the crop's shorter side at this size
_LUM = np.float32([0.0753, 0.6273, 0.2974])  # Adobe RGB (1998) luminance weights, BGR order
_HLG_A, _HLG_B, _HLG_C = 0.17883277, 0.28466892, 0.55991073  # ARIB STD-B67

# ---------------------------------------------------------------------------------------------
# Helpers of K


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi, 2/3 linear and 1/3 a sine ease in the level, times a logistic jitter."""
    s = (level - 1) / 4.0
    u = (2.0 * s + math.sin(0.5 * math.pi * s)) / 3.0
    jitter = min(1.3, max(0.72, 1.0 + rng.logistic(0.0, 0.06)))
    return float((lo + (hi - lo) * u) * jitter)


def _lin(x: np.ndarray) -> np.ndarray:
    """HLG signal (0-1) to scene-linear light (0-1)."""
    e = np.clip(x, 0.0, 1.0).astype(np.float32)
    hi = (np.exp((e - _HLG_C) / _HLG_A) + _HLG_B) / 12.0
    return np.where(e <= 0.5, e * e / 3.0, hi).astype(np.float32)


def _enc(y: np.ndarray) -> np.ndarray:
    """Scene-linear light (0-1) to the HLG signal (0-1)."""
    y = np.clip(y, 0.0, 1.0).astype(np.float32)
    hi = _HLG_A * np.log(np.maximum(12.0 * y - _HLG_B, 1e-6)) + _HLG_C
    return np.where(y <= 1.0 / 12.0, np.sqrt(3.0 * y), hi).astype(np.float32)


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


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), max(sigma, 0.3)).reshape(img.shape)


def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:h, 0:w]
    return yy.astype(np.float32), xx.astype(np.float32)


def _field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field in [0, 1] with features about `scale` px across (two octaves)."""
    f = np.zeros(shape, np.float32)
    for k, amp in ((1.0, 1.0), (0.4, 0.45)):
        f += amp * _blur(rng.standard_normal(shape).astype(np.float32), max(scale * k / 2.0, 0.5))
    lo, hi = float(f.min()), float(f.max())
    return (f - lo) / (hi - lo + 1e-6)


def _ramp(h: int, w: int, ang: float) -> np.ndarray:
    """0 -> 1 across an h x w frame along the direction ang."""
    yy, xx = _grid(h, w)
    r = (xx / max(w - 1, 1) - 0.5) * math.cos(ang) + (yy / max(h - 1, 1) - 0.5) * math.sin(ang)
    return np.clip(r + 0.5, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering K: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _gamut_matrix(push: np.ndarray) -> np.ndarray:
    """Linear BT.709 RGB -> RGB of a gamut whose primaries lie beyond BT.709's, each pushed away from
    white by its own factor (imaginary primaries allowed), with the same white."""
    w = np.eye(3) * (1.0 + push)[None, :] - push[None, :] / 3.0  # column i: primary i in BT.709 RGB
    c = np.linalg.solve(w, np.ones(3))  # scaled so that RGB = 1 is white in both
    return np.linalg.inv(w * c[None, :])


def _decolorization(x, level, rng):
    # The camera encodes in a wide gamut (its primaries beyond BT.709's), but the recorder's
    # metadata says BT.709: the values are shown as if they were BT.709 ones, so every colour
    # shrinks towards the white point (neutral stays neutral), unequally per primary, which twists
    # the hues a little. Sometimes the same chain reads limited-range video as full range: grey blacks
    # and dimmed whites. A-J: a grey blend, a mixer print, a UV-faded print, sodium light, a lost
    # colour burst, an IR leak, the colour killer, a yellowed window, road grime, sky glare.
    lost = min(0.95, _strength(rng, level, 0.1, 0.88))  # about the share of chroma lost
    m = _gamut_matrix(lost / (1.0 - lost) * rng.uniform(0.75, 1.25, 3))  # BT.709 RGB -> the wide gamut's RGB
    lin = _lin(x)[:, :, ::-1]  # RGB order for the matrix
    out = np.clip(lin @ m.T.astype(np.float32), 0.0, 1.0)[:, :, ::-1]
    y = _enc(out)
    if rng.random() < 0.35:  # limited range (16-235) taken as full range
        y = np.float32(16.0 / 255.0) + y * np.float32(219.0 / 255.0)
    return np.ascontiguousarray(y, dtype=np.float32)


def _onion_psf(r: float, ripple: float, sa: float, rings: float, phase: float) -> np.ndarray:
    """A defocus disc of radius r px: centre-weighted (spherical aberration), concentric ripples, a faint halo."""
    half = int(math.ceil(1.4 * r)) + 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    d = np.hypot(xx, yy)
    edge = 1.0 / (1.0 + np.exp((d - r) / (0.08 * r + 0.35)))
    body = 0.35 + np.clip(1.0 - (d / max(r, 0.5)) ** 2, 0.0, 1.0) ** sa
    onion = 1.0 + ripple * np.cos(2.0 * math.pi * d * rings / max(r, 0.5) + phase)
    halo = 0.015 * np.exp(-d / max(0.5 * r, 0.5))
    k = edge * body * onion + halo
    return (k / k.sum()).astype(np.float32)


def _lens_blur(x, level, rng):
    # A moulded plastic aspheric lens warmed by the sun in its housing: the plastic swells and
    # its index falls, so the focus drifts off the sign (a thermal focus shift). The defocus
    # disc shows the mould's lathe marks as concentric "onion rings"; under-corrected spherical
    # aberration piles the light towards the centre of the disc, and the plastic's scatter adds a
    # faint halo. A-J: hexagonal and round irises, a tilted plane, a ring PSF, field curvature,
    # diffusion glow, astigmatism, a cracked element, coma, a scratched dome.
    t = _strength(rng, level, 0.02, 0.11)
    r = max(0.7, t * _side(x))
    k = _onion_psf(r, rng.uniform(0.25, 0.5), rng.uniform(0.6, 1.6), rng.uniform(2.0, 3.5), rng.uniform(0, 2 * math.pi))
    lin = _lin(x)
    return _enc(cv2.filter2D(lin, -1, k, borderType=cv2.BORDER_REPLICATE).reshape(lin.shape))


def _quadtree(rng: np.random.Generator, y: int, x: int, size: int, split: float) -> list[tuple[int, int, int]]:
    """The blocks (y, x, size) of one coding tree unit in z-order, split at random down to 4 px."""
    if size > 4 and rng.random() < split:
        half = size // 2
        out = []
        for dy, dx in ((0, 0), (0, half), (half, 0), (half, half)):
            out += _quadtree(rng, y + dy, x + dx, half, split * 0.8)
        return out
    return [(y, x, size)]


def _refs(rec: np.ndarray, y: int, x: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference samples (2b + 1, 3) above and left of a block, index 0 the corner; grey where none exist."""
    h, w = rec.shape[:2]
    cols = np.clip(np.arange(x - 1, x + 2 * b), 0, w - 1)
    rows = np.clip(np.arange(y - 1, y + 2 * b), 0, h - 1)
    top = rec[y - 1, cols] if y > 0 else None
    left = rec[rows, x - 1] if x > 0 else None
    grey = np.full((2 * b + 1, 3), 0.5, np.float32)
    if top is None and left is None:
        return grey, grey
    if top is None:
        top = np.repeat(left[1:2], 2 * b + 1, axis=0)
    if left is None:
        left = np.repeat(top[1:2], 2 * b + 1, axis=0)
    return top.astype(np.float32), left.astype(np.float32)


def _predict(top: np.ndarray, left: np.ndarray, b: int, mode: int, slope: float) -> np.ndarray:
    """HEVC-like intra prediction of a b x b block: 0 DC, 1 planar, 2 angular from the top, 3 from the left."""
    if mode == 0:
        return np.broadcast_to(np.concatenate([top[1 : b + 1], left[1 : b + 1]]).mean(axis=0), (b, b, 3)).copy()
    i, j = np.mgrid[0:b, 0:b].astype(np.float32)
    if mode == 1:
        tr, bl = top[b + 1 if b + 1 < len(top) else -1], left[b + 1 if b + 1 < len(left) else -1]
        hor = (b - 1 - j)[..., None] * left[1 : b + 1][:, None, :] + (j + 1)[..., None] * tr
        ver = (b - 1 - i)[..., None] * top[1 : b + 1][None, :, :] + (i + 1)[..., None] * bl
        return ((hor + ver) / (2.0 * b)).astype(np.float32)
    if mode == 3:  # from the left: the same as from the top with the block transposed
        return _predict(left, top, b, 2, slope).transpose(1, 0, 2)
    ext = np.concatenate([left[:0:-1], top])  # left samples bottom-up, the corner, the top samples
    pos = np.clip(1.0 + j + (i + 1.0) * slope + 2 * b, 0.0, len(ext) - 1.001)
    p0 = np.floor(pos).astype(np.int32)
    f = (pos - p0)[..., None]
    return (ext[p0] * (1.0 - f) + ext[p0 + 1] * f).astype(np.float32)


def _garbage(rng: np.random.Generator, b: int, amp: float) -> np.ndarray:
    """A misparsed residual: one or two stray 2-D cosine basis patterns, luma with a little chroma."""
    i, j = np.mgrid[0:b, 0:b].astype(np.float32)
    res = np.zeros((b, b, 3), np.float32)
    for _ in range(int(rng.integers(1, 3))):
        u, v = rng.integers(0, 4, 2)
        pat = np.cos(math.pi * (2 * i + 1) * u / (2 * b)) * np.cos(math.pi * (2 * j + 1) * v / (2 * b))
        res += pat[..., None] * (rng.normal(0.0, amp) + rng.normal(0.0, 0.3 * amp, 3)).astype(np.float32)
    return res


def _decode_slice(rec, blocks, start, t, rng):
    """Blocks from `start` on decoded with wrong intra modes and residuals, in order, into rec."""
    for y, x, b in blocks[start:]:
        top, left = _refs(rec, y, x, b)
        mode = int(rng.choice(4, p=[0.2, 0.2, 0.3, 0.3]))
        pred = _predict(top, left, b, mode, rng.uniform(-1.0, 1.0))
        pred = pred + _garbage(rng, b, 0.04 + 0.08 * t) + rng.normal(0.0, 0.015 + 0.03 * t, 3).astype(np.float32)
        rec[y : y + b, x : x + b] = np.clip(pred, 0.0, 1.0)


def _codec_error(x, level, rng):
    # An HEVC intra stream on a lossy link: a bit error desynchronises the arithmetic (CABAC)
    # decoder, and from there to the end of the slice every block of the quadtree is decoded with
    # a wrong intra mode (flat DC, planar, or an angular extrapolation of the samples above or to
    # the left, themselves already wrong, so the smears propagate) and a misparsed residual (stray
    # cosine patterns, a colour offset). The rest is coarsely quantised per block, deblocking off.
    # A-J: displaced blocks, DCT quantisation and lost slices, MCU desync, wrong motion vectors, a
    # lost restart interval, stride faults, a wavelet, lost packets concealed, VQ, DPCM.
    t = _strength(rng, level, 0.15, 0.85)
    h, w = x.shape[:2]
    small = x if min(h, w) <= LAYER else _to(x, *_dims(x))
    sh, sw = small.shape[:2]
    ctu = 32 if min(sh, sw) >= 48 else 16
    ph, pw = math.ceil(sh / ctu) * ctu, math.ceil(sw / ctu) * ctu
    rec = cv2.copyMakeBorder(small, 0, ph - sh, 0, pw - sw, cv2.BORDER_REFLECT).reshape(ph, pw, 3)
    q = 0.15 + 0.55 * t  # share of each block's detail the coarse quantiser removes
    means = cv2.resize(
        cv2.resize(rec, (pw // 4, ph // 4), interpolation=cv2.INTER_AREA), (pw, ph), interpolation=cv2.INTER_NEAREST
    )
    rec = (rec * (1.0 - q) + means.reshape(rec.shape) * q).astype(np.float32)
    rows = ph // ctu
    r0 = 0
    while r0 < rows:  # slices of one or two CTU rows
        r1 = min(rows, r0 + int(rng.integers(1, 3)))
        blocks = [
            blk for r in range(r0, r1) for c in range(pw // ctu) for blk in _quadtree(rng, r * ctu, c * ctu, ctu, 0.7)
        ]
        share = min(1.0, t * rng.uniform(0.55, 1.0))  # of the slice after the error
        if rng.random() < min(1.0, 0.4 + t):
            _decode_slice(rec, blocks, int(len(blocks) * (1.0 - share)), t, rng)
        r0 = r1
    return np.clip(_to(rec[:sh, :sw], h, w), 0.0, 1.0)


def _darkening(x, level, rng):
    # A storm's shelf cloud passes over: the daylight falls by stops, most under the thick of the
    # front, less towards its edge; the storm light is green-grey and flat (no direct sun, its
    # own glare veiling the shadows). The auto exposure is clamped at its maximum gain: the shot
    # and read noise come up and the temporal noise reduction leaves them as a fine mottle.
    # A-J: a LUT, under-exposure and vignette, shot noise, dusk, a stuck ND, a flickering lamp,
    # a smoked dome, one distant lamp, backlight, a dying IR illuminator.
    stops = _strength(rng, level, 1.0, 5.0)
    h, w = x.shape[:2]
    lin = _lin(x)
    front = _ramp(h, w, rng.uniform(0, 2 * math.pi))
    loss = stops * (1.0 - rng.uniform(0.15, 0.4) * front)
    tint = np.float32([0.92, 1.0, 0.8]) * np.float32(rng.uniform(0.95, 1.05, 3))
    mean = lin.reshape(-1, 3).mean(axis=0)
    flat = lin * np.float32(0.8) + mean * np.float32(0.2)
    y = flat * tint * np.exp2(-loss)[:, :, None].astype(np.float32)
    grain = rng.standard_normal((h, w, 3)).astype(np.float32)
    grain = _blur(grain, 0.6 + 0.004 * _side(x)) * np.float32(1.6)
    grain = grain * np.float32(0.6) + grain.mean(axis=2, keepdims=True) * np.float32(0.4)
    sigma = np.sqrt(np.maximum(y, 0.0) * 0.004 * stops) + 0.003 * stops
    return _enc(y + grain * sigma)


def _sap_layers(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Sap drops at layer size: (thickness in [0, 1], stuck dust in [0, 1])."""
    lh, lw = shape
    side = min(lh, lw)
    thick = np.zeros((lh, lw), np.float32)
    dust = np.zeros((lh, lw), np.float32)
    for _ in range(int(4 + 36 * t)):
        cx, cy = rng.uniform(-0.05, 1.05) * lw, rng.uniform(-0.05, 1.05) * lh
        r = side * rng.uniform(0.05, 0.12) * (0.8 + 0.5 * t)
        drop = np.zeros((lh, lw), np.float32)
        for _ in range(int(rng.integers(1, 4))):  # a drop is a few merged blobs
            ox, oy = rng.normal(0, 0.5 * r, 2)
            ax = (max(1, round(r * rng.uniform(0.5, 1.0))), max(1, round(r * rng.uniform(0.4, 0.9))))
            cv2.ellipse(drop, (round(cx + ox), round(cy + oy)), ax, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
        thick = np.maximum(thick, drop * rng.uniform(0.5, 1.0))
        for _ in range(int(rng.integers(0, 4))):  # dust grains caught in it
            gx, gy = cx + rng.normal(0, 0.5 * r), cy + rng.normal(0, 0.5 * r)
            cv2.circle(
                dust, (round(gx), round(gy)), max(1, round(side * rng.uniform(0.006, 0.015))), 1.0, -1, cv2.LINE_AA
            )
    thick = _blur(thick, 0.02 * side) ** 0.7  # domed drops
    return np.clip(thick, 0.0, 1.0), dust * (thick > 0.05)


def _dirty_lens(x, level, rng):
    # Tree sap (or aphid honeydew) has dripped on the housing window: sticky amber drops, a few
    # blobs merged into each, close to the lens and so out of focus. The sap absorbs the blue
    # (amber), each domed drop refracts and softens what is behind it, and dust grains stuck in
    # the sap show as dark specks. A-J: dark blobs, smudges and grit, dust shadows and grime, mud,
    # pollen, hair or salt, a fingerprint or a bird dropping, a cobweb, insects, water spots.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    lh, lw = _dims(x)
    thick, dust = _sap_layers(rng, (lh, lw), t)
    defocus = rng.uniform(0.8, 1.6)
    thick, dust = _blur(thick, defocus), _blur(dust, defocus)
    gy, gx = np.gradient(thick)
    k = rng.uniform(3.0, 7.0) * min(h / lh, w / lw) * 3.0
    yy, xx = _grid(h, w)
    my = np.clip(yy + _fit(gy.astype(np.float32), x) * np.float32(k), 0, h - 1)
    mx = np.clip(xx + _fit(gx.astype(np.float32), x) * np.float32(k), 0, w - 1)
    lin = _lin(x)
    seen = cv2.remap(_blur(lin, 0.02 * _side(x)), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    seen = seen.reshape(lin.shape)
    th = _fit(thick, x)[:, :, None]
    amber = np.float32([0.25, 0.7, 0.95]) * np.float32(rng.uniform(0.9, 1.1, 3))
    through = seen * np.power(np.clip(amber, 0.05, 1.0), th * np.float32(1.0 + 1.5 * t)) + th * np.float32(0.04)
    m = np.clip(th * 3.0, 0.0, 1.0)
    out = lin * (1.0 - m) + through * m
    return _enc(out * (1.0 - 0.85 * np.clip(_fit(dust, x), 0.0, 1.0))[:, :, None])


def _exposure(x, level, rng):
    # The low sun glints off the sign's glossy face straight into the lens: a specular hotspot
    # far brighter than the scene blows out and blooms through a soft edge, in the sun's warm
    # white, and its stray light in the lens lifts the frame. At the brightest the CMOS sensor's
    # reset sample overflows too and the hotspot's core turns dark ("black sun"). A-J: a LUT,
    # clipping and blooming, knee and smear, the sun, AE overshoot, WDR, headlights, a flash, a
    # night profile, an iris stuck open.
    stops = _strength(rng, level, 0.6, 3.6)
    h, w = x.shape[:2]
    side = _side(x)
    yy, xx = _grid(h, w)
    cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
    rad = side * rng.uniform(0.16, 0.3)
    sq = rng.uniform(0.6, 1.0)
    d2 = ((xx - cx) ** 2 + ((yy - cy) / sq) ** 2) / (rad * rad)
    peak = 0.04 * 4.0**stops
    glint = peak * (np.exp(-0.5 * d2) + 0.12 * np.exp(-0.5 * d2 / 9.0))
    sun = np.float32([0.88, 0.96, 1.0])
    lin = _lin(x)
    raw = lin * np.float32(1.0 + 0.25 * stops) + glint[:, :, None] * sun + np.float32(0.01 * stops)
    excess = np.maximum(raw - 1.0, 0.0)
    raw = raw + _blur(excess, 0.05 * side) * np.float32(0.25)  # bloom into the neighbours
    core = np.clip((glint - 5.0) / 2.0, 0.0, 1.0)[:, :, None]  # black sun where the reset sample overflowed
    y = np.minimum(raw, 1.0) * (1.0 - core * 0.9)
    return _enc(y)


def _gaussian_blur(x, level, rng):
    # A gust twists the camera's pole during the exposure: the frame turns about the optical
    # axis (off the crop, somewhere in the full frame) at an even speed, so each point is
    # smeared along an arc that grows with its distance from that centre; the lens's own
    # softness adds a little Gaussian blur. A-J: Gaussian, elongated, turbulence, a Lissajous
    # mount, jello, a water film, focus hunting, a swaying sign, diffraction, zoom creep.
    t = _strength(rng, level, 0.05, 0.18)
    h, w = x.shape[:2]
    side = _side(x)
    dist = side * rng.uniform(0.6, 1.4)
    ang = rng.uniform(0, 2 * math.pi)
    cx, cy = w / 2 + dist * math.cos(ang), h / 2 + dist * math.sin(ang)
    theta = t * side / dist  # rad: the arc at the crop's centre is t of its side
    n = int(min(25, max(5, math.ceil(theta * (dist + side) * 0.8))))
    lin = _lin(x)
    acc = np.zeros_like(lin)
    for a in np.linspace(-0.5, 0.5, n) * math.degrees(theta):
        mat = cv2.getRotationMatrix2D((cx, cy), float(a), 1.0)
        acc += cv2.warpAffine(lin, mat, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).reshape(
            lin.shape
        )
    return _enc(_blur(acc / n, 0.35 + 0.18 * t * side))


def _noise(x, level, rng):
    # A camera beside a cargo X-ray / gamma scanner: scattered radiation deposits charge in
    # single photosites (exponential energies, each hit in one colour), which the demosaic
    # spreads into a small cross; slanting particles leave short tracks; the read noise at the
    # gain lies under it all. The stream is the sensor's binned output: at most LAYER px on the
    # shorter side. A-J: colour grain, Bayer, shot noise with banding, salt and pepper,
    # herringbone, chroma blotches, a wireless link, multiplicative gain, an intensifier, quad-Bayer.
    t = _strength(rng, level, 0.12, 1.0)
    h, w = x.shape[:2]
    lin = _lin(x)
    sh, sw = (h, w) if min(h, w) <= LAYER else _dims(x)
    hits = np.where(rng.random((sh, sw, 3)) < 0.01 + 0.07 * t, rng.exponential(0.05 + 0.2 * t, (sh, sw, 3)), 0.0)
    hits = hits.astype(np.float32)
    cross = np.float32([[0.0, 0.3, 0.0], [0.3, 1.0, 0.3], [0.0, 0.3, 0.0]])
    hits = cv2.filter2D(hits, -1, cross, borderType=cv2.BORDER_REFLECT).reshape(sh, sw, 3)
    tracks = np.zeros((sh, sw, 3), np.float32)
    for _ in range(int((1 + 12 * t) * sh * sw / 1000.0 * rng.uniform(0.7, 1.3))):
        x0, y0 = rng.uniform(0, sw), rng.uniform(0, sh)
        ln, a = rng.uniform(2.0, 4.0 + 8.0 * t), rng.uniform(0, 2 * math.pi)
        col = tuple(float(c) for c in rng.dirichlet((1.0, 1.0, 1.0)) * rng.exponential(0.4 + 0.6 * t) * 2.0)
        end = (round(x0 + ln * math.cos(a)), round(y0 + ln * math.sin(a)))
        cv2.line(tracks, (round(x0), round(y0)), end, col, 1, cv2.LINE_AA)
    read = rng.normal(0.0, 0.006 + 0.03 * t, (sh, sw, 3)).astype(np.float32)
    per = _to(hits + tracks + read, h, w, nearest=True)
    return _enc(lin + per)


def _drop_layers(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Frozen drops at layer size: (body, rim, glint) in [0, 1]."""
    lh, lw = shape
    body = np.zeros((lh, lw), np.float32)
    rim = np.zeros((lh, lw), np.float32)
    glint = np.zeros((lh, lw), np.float32)
    n = int((5 + 90 * t) * lh * lw / LAYER**2 * rng.uniform(0.8, 1.2))
    tilt = 90.0 + rng.normal(0, 12.0)
    for _ in range(n):
        cx, cy = round(rng.uniform(0, lw)), round(rng.uniform(0, lh))
        r = min(5.0, 0.5 + rng.exponential(0.5 + 0.7 * t))  # Marshall-Palmer-like: many small, few large
        ax = (max(1, round(r * rng.uniform(1.0, 1.8))), max(1, round(r)))  # a little stretched in its fall
        cv2.ellipse(body, (cx, cy), ax, tilt, 0, 360, rng.uniform(0.7, 1.0), -1, cv2.LINE_AA)
        cv2.ellipse(rim, (cx, cy), ax, tilt, 0, 360, 1.0, 1, cv2.LINE_AA)
        glint[min(lh - 1, max(0, cy - ax[1] // 2)), cx % lw] = 1.0
    return body, rim, glint


def _rain(x, level, rng):
    # A sunshower: rain falling in bright light, frozen by the fast shutter the light calls for.
    # Each drop is sharp and small (many tiny, a few large: a Marshall-Palmer-like exponential
    # size distribution), a ball lens that shows the bright sky behind the camera, a dark rim
    # where the light is bent away, a glint of the sun; the far rain lays a grey veil. A-J:
    # streaks, drops on the lens, a wet windshield, drops in flight, headlight-lit rain, truck
    # spray, rivulets, splash crowns, a wet sign, visor drips.
    t = _strength(rng, level, 0.15, 1.0)
    lh, lw = _dims(x)
    body, rim, glint = _drop_layers(rng, (lh, lw), t)
    body, rim, glint = _blur(body, 0.45), _blur(rim, 0.4), _blur(glint, 0.5) * 2.0
    b, rm, g = (_fit(v, x)[:, :, None] for v in (body, rim, glint))
    lin = _lin(x)
    sky = np.float32([0.36, 0.35, 0.33]) * np.float32(rng.uniform(0.85, 1.1))
    veil = min(0.5, 0.01 + 0.07 * t)
    out = lin * (1.0 - veil) + sky * np.float32(veil * 0.7)
    out = out * (1.0 - 0.85 * b) + (0.85 * b) * sky
    out = out * (1.0 - 0.6 * rm)
    return _enc(np.minimum(out + g * np.float32(0.8), 1.0))


def _frond_mask(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Palm fronds as shadow (1) at layer size: arching midribs with combs of leaflets, hard-edged."""
    lh, lw = shape
    side = min(lh, lw)
    m = np.zeros((lh, lw), np.float32)
    for _ in range(int(rng.integers(2, 4))):
        p0 = np.array([rng.uniform(-0.2, 1.2) * lw, rng.uniform(-0.2, 0.4) * lh])
        a = rng.uniform(0, 2 * math.pi)
        span = side * rng.uniform(0.9, 1.6)
        p2 = p0 + span * np.array([math.cos(a), abs(math.sin(a)) + 0.3])
        p1 = (p0 + p2) / 2 + rng.normal(0, 0.25 * span, 2)  # the arch
        s = np.linspace(0.0, 1.0, 26)[:, None]
        pts = (1 - s) ** 2 * p0 + 2 * (1 - s) * s * p1 + s * s * p2
        cv2.polylines(m, [np.round(pts).astype(np.int32)], False, 1.0, max(1, round(side * 0.02)), cv2.LINE_AA)
        spread = math.radians(rng.uniform(40, 70))
        leaf = side * rng.uniform(0.3, 0.5)
        lw_px = max(1, round(side * rng.uniform(0.03, 0.055)))
        for k in range(1, len(pts) - 1):
            tx, ty = pts[k + 1] - pts[k - 1]
            base = math.atan2(ty, tx)
            ln = leaf * (1.0 - 0.7 * s[k, 0])  # tapering to the tip
            for sgn in (-1.0, 1.0):
                e = pts[k] + ln * np.array([math.cos(base + sgn * spread), math.sin(base + sgn * spread)])
                cv2.line(
                    m, tuple(np.round(pts[k]).astype(int)), tuple(np.round(e).astype(int)), 1.0, lw_px, cv2.LINE_AA
                )
    return m


def _shadow(x, level, rng):
    # The sun stands behind a palm: its fronds throw their shadow on the sign, arching midribs
    # with a comb of narrow leaflets on each side, tapering to the tip, softened by the penumbra
    # (the sun's disc) and by their swaying in the wind during the exposure; the shade is filled
    # by light through the canopy, green-tinted. A-J: blinds, an edge, pole or dappling, branches
    # or a truss, a vehicle or cloud, a hood, fan blades, a fence, an overpass, a perforated
    # canopy, another sign's plate.
    t = min(0.95, _strength(rng, level, 0.3, 0.88))
    lh, lw = _dims(x)
    m = _frond_mask(rng, (lh, lw))
    sway = max(1, round(LAYER * rng.uniform(0.01, 0.04)))
    k = np.zeros((2 * sway + 1, 2 * sway + 1), np.float32)
    a = rng.uniform(0, math.pi)
    cv2.line(k, (round(sway - sway * math.cos(a)), round(sway - sway * math.sin(a))),
             (round(sway + sway * math.cos(a)), round(sway + sway * math.sin(a))), 1.0, 1)  # fmt: skip
    m = cv2.filter2D(m, -1, k / max(float(k.sum()), 1e-6), borderType=cv2.BORDER_REFLECT)
    m = np.clip(_blur(m, LAYER * rng.uniform(0.006, 0.02)) * 1.2, 0.0, 1.0)
    s = _fit(m, x)[:, :, None]
    fill = np.float32([0.8, 1.0, 0.85]) * np.float32(rng.uniform(0.95, 1.05, 3))
    lin = _lin(x)
    return _enc(lin * (1.0 - s) + lin * s * fill * np.float32(1.0 - t))


def _snow(x, level, rng):
    # Freezing fog in a steady wind builds hard rime on the sign: white, granular ice feathers
    # that grow into the wind, thickest on the windward side and thinning across the face,
    # translucent where thin; a few fine flakes drift in the air. A-J: glow and dots, veil and
    # discs, snow on the sign, frost, lamp-lit flakes, slush, a ground blizzard, a heap on the
    # visor, a porthole in plastered snow, a squall's arcs.
    t = _strength(rng, level, 0.15, 1.0)
    lh, lw = _dims(x)
    wind = rng.uniform(0, 2 * math.pi)
    windward = _ramp(lh, lw, wind + math.pi)  # 1 on the side the wind comes from
    ln = max(3, round(LAYER * rng.uniform(0.08, 0.16)))
    k = np.zeros((2 * ln + 1, 2 * ln + 1), np.float32)
    cv2.line(k, (ln, ln), (round(ln + ln * math.cos(wind)), round(ln + ln * math.sin(wind))), 1.0, 1)
    grains = rng.random((lh, lw)).astype(np.float32)
    feathers = cv2.filter2D(grains, -1, k / float(k.sum()), borderType=cv2.BORDER_REFLECT)
    feathers = (feathers - feathers.mean()) / (feathers.std() + 1e-6)
    cover = windward * 1.3 + 0.18 * feathers + 0.1 * (grains - 0.5) - (1.35 - 0.92 * t)
    rime = np.clip(cover * 2.5, 0.0, 1.0) * min(1.0, 0.55 + 0.5 * t)
    flakes = np.zeros((lh, lw), np.float32)
    for _ in range(int(5 + 60 * t)):
        cv2.circle(
            flakes, (int(rng.integers(0, lw)), int(rng.integers(0, lh))), 1, rng.uniform(0.5, 1.0), -1, cv2.LINE_AA
        )
    r, f = _fit(_blur(rime, 0.6), x)[:, :, None], _fit(_blur(flakes, 0.5), x)[:, :, None]
    lin = _lin(x)
    ice = np.float32([0.93, 0.92, 0.9]) * np.float32(min(1.0, float(_luma(lin).mean()) * 1.4 + 0.45))
    out = lin * (1.0 - 0.9 * r) + ice * (0.9 * r)
    out = out * (1.0 - 0.06 * t) + np.float32(0.06 * t) * ice  # the freezing fog's light veil
    return _enc(out * (1.0 - f) + f * np.float32(0.9))


def _haze(x, level, rng):
    # Photochemical smog: NO2 gas absorbs blue and some green, so the view behind it turns
    # brown; the smog's fine aerosol scatters sunlight towards the camera, and since part of the
    # light is absorbed on its way (single scattering with absorption) the airlight is a dull
    # brown too. The smog's density is patchy across the sign. A-J: a flat layer, depth,
    # multiple scattering, smoke or dust, mist from below, a plastic sheet, fog, summer aerosol,
    # ice fog, condensation.
    opacity = min(0.97, _strength(rng, level, 0.12, 0.8))
    tau = -math.log(1.0 - opacity)
    h, w = x.shape[:2]
    lh, lw = _dims(x)
    dens = 0.5 + 1.0 * _field(rng, (lh, lw), LAYER * rng.uniform(0.3, 0.7))
    d = _fit(dens.astype(np.float32), x)[:, :, None]
    scat = np.float32([1.0, 1.0, 1.0]) * np.float32(rng.uniform(0.9, 1.1))
    gas = np.float32([1.7, 0.7, 0.1]) * np.float32(rng.uniform(0.8, 1.2))
    ext = scat + gas
    trans = np.exp(-tau * d * ext / 1.6).astype(np.float32)
    lin = _lin(x)
    bright = min(1.0, float(_luma(lin).mean()) * rng.uniform(1.3, 2.0) + 0.03)
    sunlit = np.float32(bright) * np.float32([0.8, 0.95, 1.05])  # a low, warm sun
    air = sunlit * (scat / ext) * (1.0 - trans)
    return _enc(lin * trans + air)


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_k(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "K".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "K", _EFFECTS)
