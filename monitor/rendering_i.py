"""Rendering "I" of the 12 CURE-TSR challenges: written blind, the holdout measured once on 2026-12-01.

H was measured once on 2026-12-01, so A-H have all met the detector and none is blind any more. I
is written without running the detector, the classifier, the image statistics, calibrate or
evaluate on it, to be measured once (fit on the default FIT_RENDERINGS, test on I). It is written
without A-H's helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper,
is shared) and each effect is another physical process, or another way a real camera produces the
condition, than any of A-H (their lines: monitor/rendering_c.py, _d.py, _e.py, _f.py, _g.py, _h.py):

| condition | I |
| --- | --- |
| decolorization | road grime on the sign face: a grey-beige film of traffic dust over the sheeting, patchy, thickest towards the edge the spray reaches, washed thinner in vertical streaks where rain ran off |
| lens_blur | coma of a cheap lens with the sign far off its axis, slightly out of focus: comet-shaped spots (rings of growing size, shifted outwards along one direction) traced from the pupil's rays |
| codec_error | a vector-quantisation codec (Cinepak-like) on a starved link: 2x2 codebook vectors stretched over blocks (V1) or sub-blocks (V4), few entries, some indices corrupt and one codebook entry lost so every block using it turns another colour |
| darkening | a backlit sign: the sun behind it, the auto exposure metering the bright sky, the sign's face lit only by the blue sky in its own shade (more at its top), a veil of glare from the sky lifting the blacks, rising to the sun's side |
| dirty_lens | insects splattered on the housing window (as on a windscreen): dark out-of-focus bodies, translucent yellow-green smears that tint and soften what is behind, tails along the direction of travel |
| exposure | the camera's night profile stuck on in daylight: a digital gain that clips each channel hard (hue shifts), a white balance fixed for warm street lamps (daylight turns blue), the night tone curve lifting the shadows, the long shutter's smear and the gain's noise |
| gaussian_blur | diffraction at a tiny aperture (the iris stopped right down in bright light): an Airy pattern per channel, wider for red than for blue |
| noise | an image intensifier (a starlight camera at dusk): each photon a scintillation of random (exponential) gain spread into the phosphor's spot, at the tube's own resolution, dark events on black |
| rain | rain on the sign's face: the wet sheeting darker and deeper in colour, beaded drops each with the sky's highlight and a dark rim, runoff tracks cleared of beads, the downpour dimming the light |
| shadow | a perforated canopy (a bus shelter's punched metal sheet) between the sun and the sign: shade with a hexagonal grid of elliptic pinhole images of the sun, a soft straight edge where the canopy ends |
| snow | snow plastered on the housing window with its heater thawing a clear porthole in the middle: soft white snow in from the edges, a wet refracting ring along the thaw line, flakes falling in the clear |
| haze | ice fog (diamond dust) on a cold sunny day: neutral extinction patchy in a drifting field, a bright cold-white airlight, crystals catching the sun as sparse glints |

Conventions of I:
- Strength: a nominal value per level, interpolated linearly in its square root from the level-1 to
  the level-5 value, times a jitter from a symmetric beta distribution, 0.72 + 0.56 * Beta(2.5, 2.5)
  (`_strength`, in [0.72, 1.28]). Count, size, placement, colour and kind are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through a pure 2.5 power (A 2.2, B sRGB, C BT.709, D 2.4, E 2.0,
  F 1.8, G 2.6, H 2.3); luminance uses SMPTE 240M's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 96  # px: procedural layers are drawn with the crop's shorter side at this size
_GAMMA = 2.5
_LUM = np.float32([0.087, 0.701, 0.212])  # SMPTE 240M luminance weights, BGR order

# ---------------------------------------------------------------------------------------------
# Helpers of I


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi, linear in the square root, times 0.72 + 0.56 * Beta(2.5, 2.5)."""
    u = (level - 1) / 4.0
    nominal = (math.sqrt(lo) + (math.sqrt(hi) - math.sqrt(lo)) * u) ** 2
    return float(nominal * (0.72 + 0.56 * rng.beta(2.5, 2.5)))


def _lin(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0) ** np.float32(_GAMMA)


def _enc(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0.0, 1.0) ** np.float32(1.0 / _GAMMA)


def _luma(x: np.ndarray) -> np.ndarray:
    return x @ _LUM


def _dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A layer resized to the crop, keeping its channel axis (or its absence)."""
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    out = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)
    return out.reshape(h, w, *layer.shape[2:])


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], scale: float) -> np.ndarray:
    """A smooth random field with zero mean and unit spread, features about `scale` px, at `shape`."""
    lh, lw = shape
    gh, gw = max(2, round(lh / max(scale, 1.0)) + 2), max(2, round(lw / max(scale, 1.0)) + 2)
    f = cv2.resize(rng.normal(0.0, 1.0, (gh, gw)).astype(np.float32), (lw, lh), interpolation=cv2.INTER_CUBIC)
    return (f - f.mean()) / (f.std() + 1e-6)


def _conv(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    return cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT)


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering I: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # Traffic grime settles on the sign's face: a matte film of grey-beige road dust and soot over
    # the retroreflective sheeting, so what the camera sees is part sheeting, part film, and the
    # sign's colours turn to the film's dull grey. The film is patchy, thickest towards the edge
    # that passing traffic sprays, and rain running off has washed it thinner in vertical
    # streaks. A-H: a grey blend, a mixer print, a UV-faded print, sodium light, a lost colour
    # burst, an IR leak, the colour killer, a yellowed window.
    s = _strength(rng, level, 0.06, 0.36)
    lh, lw = _dims(x)
    patch = _smooth_field(rng, (lh, lw), LAYER * rng.uniform(0.2, 0.4))
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    ramp = ((xx / lw - 0.5) * math.cos(ang) + (yy / lh - 0.5) * math.sin(ang)) * rng.uniform(0.3, 0.7)
    cols = cv2.resize(rng.random((1, max(2, lw // 3))).astype(np.float32), (lw, lh), interpolation=cv2.INTER_LINEAR)
    washed = (cols > rng.uniform(0.6, 0.8)).astype(np.float32) * rng.uniform(0.2, 0.45)
    washed = cv2.GaussianBlur(washed, (0, 0), 1.2)
    cover = np.clip(s * (1.0 + 0.25 * patch + ramp) * (1.0 - washed), 0.0, 0.97)
    c = _fit(cover, x)[:, :, None]
    film = np.float32([0.25, 0.28, 0.31]) * np.float32(rng.uniform(0.8, 1.35)) * np.float32(rng.uniform(0.95, 1.05, 3))
    lin = _lin(x)
    # The film scatters light back like a matte grey paint would: its own reflectance, lit as the sign is.
    light = float(np.percentile(_luma(lin), 90)) + 0.05
    return _enc(lin * (1.0 - c) + c * film * min(1.0, light * 1.4))


def _coma_psf(a: float, d: float, ang: float) -> np.ndarray:
    """Spot of a lens with coma `a` px (sagittal circle's radius at the pupil's edge) and defocus `d` px,
    traced from rays through the pupil, the comet's tail pointing along `ang`."""
    n = 64
    py, px = np.mgrid[-1 : 1 : n * 1j, -1 : 1 : n * 1j].astype(np.float32)
    inside = px * px + py * py <= 1.0
    rho2 = (px * px + py * py)[inside]
    cos2, sin2 = (px * px - py * py)[inside], (2 * px * py)[inside]
    ex = a * (2.0 * rho2 + cos2) + d * px[inside]  # Seidel coma: a rho^2 (2 + cos 2theta), a rho^2 sin 2theta
    ey = a * sin2 + d * py[inside]
    ex = ex - a * 1.0  # put the spot's centroid near the chief ray
    ca, sa = math.cos(ang), math.sin(ang)
    rx, ry = ex * ca - ey * sa, ex * sa + ey * ca
    half = int(math.ceil(max(np.abs(rx).max(), np.abs(ry).max()))) + 2
    k = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    np.add.at(k, (np.round(ry + half).astype(int), np.round(rx + half).astype(int)), 1.0)
    k = cv2.GaussianBlur(k, (0, 0), 0.6)
    return k / k.sum()


def _lens_blur(x, level, rng):
    # A cheap wide lens with the sign far off its axis, and a little out of focus: rays through
    # each zone of the pupil land on a circle whose size and shift outwards grow with the zone's
    # radius squared (Seidel coma), so every point becomes a comet with its bright head towards
    # the frame's centre and a flaring tail away from it. A-H: hexagonal and round irises, a
    # tilted plane, a ring PSF, field curvature, diffusion glow, astigmatism, a cracked element.
    t = _strength(rng, level, 0.022, 0.12)
    side = _side(x)
    a = max(0.4, t * side * rng.uniform(0.7, 1.0))
    d = max(0.3, t * side * rng.uniform(0.25, 0.55))
    k = _coma_psf(a, d, rng.uniform(0, 2 * math.pi))
    return _enc(_conv(_lin(x), k))


def _vq(vecs: np.ndarray, k: int, rng: np.random.Generator, iters: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """A k-entry codebook for the vectors (Lloyd's iterations from drawn vectors) and each vector's index."""
    k = max(1, min(k, len(vecs)))
    book = vecs[rng.choice(len(vecs), size=k, replace=False)].copy()
    idx = np.zeros(len(vecs), int)
    for _ in range(iters):
        idx = ((vecs[:, None, :] - book[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        sums = np.zeros_like(book)
        np.add.at(sums, idx, vecs)
        cnt = np.bincount(idx, minlength=k)[:, None]
        book = np.where(cnt > 0, sums / np.maximum(cnt, 1), book)
    idx = ((vecs[:, None, :] - book[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    return book, idx


def _cells(yuv: np.ndarray, c: int) -> np.ndarray:
    """The mean of each c x c cell of a (H, W, 3) array whose sides are multiples of 2c."""
    h, w = yuv.shape[:2]
    return yuv.reshape(h // c, c, w // c, c, 3).mean(axis=(1, 3))


def _to_vectors(cell: np.ndarray) -> np.ndarray:
    """Cinepak-like vectors (4 luma of a 2x2 cell group, its mean U and V) of a cell image."""
    gh, gw = cell.shape[0] // 2, cell.shape[1] // 2
    g = cell.reshape(gh, 2, gw, 2, 3).transpose(0, 2, 1, 3, 4).reshape(gh * gw, 4, 3)
    return np.concatenate([g[:, :, 0], g[:, :, 1:].mean(axis=1)], axis=1)


def _from_vectors(v: np.ndarray, gh: int, gw: int, c: int) -> np.ndarray:
    """The (2c gh, 2c gw, 3) YUV image of vectors laid out gh x gw, each value over c x c px."""
    y = v[:, :4].reshape(gh, gw, 2, 2).transpose(0, 2, 1, 3).reshape(2 * gh, 2 * gw)
    uv = np.repeat(np.repeat(v[:, 4:].reshape(gh, gw, 2), 2, axis=0), 2, axis=1)
    cell = np.concatenate([y[:, :, None], uv], axis=2)
    return np.repeat(np.repeat(cell, c, axis=0), c, axis=1)


def _codec_error(x, level, rng):
    # A vector-quantisation codec (Cinepak-like) on a starved link: each block is coded as one
    # codebook vector (four luma values of a 2x2 grid and one colour) stretched over the block
    # (V1), or, where the rate allows, as four vectors over its quarters (V4). A small codebook
    # leaves blocky, banded patches of a few colours; corrupt indices put wrong entries in
    # places, and a lost codebook update leaves one entry stale: every block using it turns
    # another colour. A-H: displaced blocks, DCT quantisation and lost slices, MCU desync, wrong
    # motion vectors, a lost restart interval, stride faults, a wavelet, lost packets concealed.
    t = _strength(rng, level, 0.2, 1.0)
    h, w = x.shape[:2]
    b = max(2, 2 * round(_side(x) / rng.uniform(34.0, 44.0) * (0.7 + 0.6 * t)))  # a block, in px, even
    ph, pw = math.ceil(h / b) * b, math.ceil(w / b) * b
    pad = cv2.copyMakeBorder(x, 0, ph - h, 0, pw - w, cv2.BORDER_REPLICATE).reshape(ph, pw, 3)
    lum = _luma(pad)
    yuv = np.stack([lum, pad[:, :, 0] - lum, pad[:, :, 2] - lum], axis=2)
    k = max(3, round(48 * 0.07**t))
    c1 = b // 2
    v1 = _to_vectors(_cells(yuv, c1))
    book1, i1 = _vq(v1, k, rng)
    gh, gw = ph // b, pw // b
    out = _from_vectors(book1[i1], gh, gw, c1)
    if b >= 4 and c1 % 2 == 0:  # V4 where the block's V1 error is largest, as far as the rate allows
        c4 = c1 // 2
        v4 = _to_vectors(_cells(yuv, c4))  # laid out 2gh x 2gw
        book4, i4 = _vq(v4, k, rng)
        fine = _from_vectors(book4[i4], 2 * gh, 2 * gw, c4)
        err = np.abs(out - yuv)[:, :, 0].reshape(gh, b, gw, b).mean(axis=(1, 3))
        share = max(0.0, 0.45 - 0.45 * t)
        use = (err >= np.quantile(err, 1.0 - share)) & (share > 0) if err.size > 1 else np.zeros_like(err, bool)
        m = np.repeat(np.repeat(use, b, axis=0), b, axis=1)[:, :, None]
        out = np.where(m, fine, out)
    n = gh * gw
    bad = rng.random(n) < 0.1 * t  # corrupt indices: a random entry of the codebook
    stale = int(rng.integers(0, len(book1)))  # one entry whose update was lost
    wrong = book1[stale].copy()
    wrong[4:] = rng.normal(0.0, 0.18, 2)
    wrong[:4] = np.clip(wrong[:4] + rng.normal(0.0, 0.1), 0.0, 1.0)
    lost = (i1 == stale) & (rng.random() < min(1.0, 0.4 + 0.6 * t))
    if bad.any() or lost.any():
        rep = book1[rng.integers(0, len(book1), n)]
        rep[lost] = wrong
        fix = bad | lost
        patch = _from_vectors(rep, gh, gw, c1)
        m = np.repeat(np.repeat(fix.reshape(gh, gw), b, axis=0), b, axis=1)[:, :, None]
        out = np.where(m, patch, out)
    yl, u, v = out[:, :, 0], out[:, :, 1], out[:, :, 2]
    bb, rr = yl + u, yl + v
    gg = (yl - _LUM[0] * bb - _LUM[2] * rr) / _LUM[1]
    return np.clip(np.stack([bb, gg, rr], axis=2)[:h, :w], 0.0, 1.0)


def _darkening(x, level, rng):
    # The low sun stands behind the sign: the auto exposure meters the bright sky around it, so
    # the sign's face, in its own shade, is exposed far too short; all that lights it is the
    # blue sky in front (more at the face's top, which sees more of it), and the bright sky and
    # the sun just outside the frame leave a veil of glare that lifts the blacks and rises
    # towards the sun's side. A-H: a LUT, under-exposure and vignette, shot noise, dusk, a stuck
    # ND, a flickering lamp, a smoked dome, one distant lamp.
    stops = _strength(rng, level, 1.0, 5.2)
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = np.clip(0.5 + (xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang), 0.0, 1.0)
    sky = np.float32([1.0, 0.8, 0.6]) * np.float32(rng.uniform(0.93, 1.07, 3))  # skylight: blue
    # A vertical face in shade sees the sky above it, the darker ground below: lit more at the top.
    dome = (1.35 - 0.7 * (yy / max(h - 1, 1)) ** rng.uniform(0.8, 1.3))[:, :, None]
    # The bright sky behind the sign overfills the lens: a veil of glare over the whole frame, set
    # by the sky the exposure is metered on (so not by how dark the sign is), rising to the sun's side.
    veil = rng.uniform(0.005, 0.012) + (ramp**2) * rng.uniform(0.006, 0.02)
    flare = veil[:, :, None] * np.float32([0.9, 0.95, 1.0])
    lin = _lin(x)
    return _enc(lin * sky * dome * np.float32(2.0**-stops) + flare)


def _bug_layers(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Insect splats at layer size: (body opacity, smear thickness) in [0, 1]."""
    lh, lw = shape
    body = np.zeros((lh, lw), np.float32)
    smear = np.zeros((lh, lw), np.float32)
    side = min(lh, lw)
    travel = rng.uniform(0, 2 * math.pi)  # the direction the window moved through the air
    deg = math.degrees(travel)
    for _ in range(int(rng.integers(2, 5) + 20 * t)):
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        r = side * rng.uniform(0.04, 0.09) * (0.7 + 0.7 * t)
        ax = (max(1, round(r * rng.uniform(1.8, 3.0))), max(1, round(r * rng.uniform(1.0, 1.5))))
        cv2.ellipse(smear, (round(cx), round(cy)), ax, deg + rng.normal(0, 15), 0, 360, rng.uniform(0.5, 1.0), -1)
        tail = r * rng.uniform(2.0, 5.0)
        end = (round(cx - tail * math.cos(travel)), round(cy - tail * math.sin(travel)))
        cv2.line(smear, (round(cx), round(cy)), end, rng.uniform(0.3, 0.6), max(1, round(r * 0.5)), cv2.LINE_AA)
        br = max(1, round(r * rng.uniform(0.45, 0.8)))
        cv2.ellipse(body, (round(cx), round(cy)), (br, max(1, round(br * 0.6))), rng.uniform(0, 180), 0, 360, 1.0, -1)
    return body, smear


def _dirty_lens(x, level, rng):
    # Insects hit the housing window (a vehicle-mounted or windy mast camera) and burst: each
    # leaves a dark body and a translucent smear of its fluid, yellow-green, drawn out in a tail
    # along the direction of travel. Close to the lens all of it is out of focus; the smear
    # absorbs blue and scatters, softening what is behind it. A-H: dark blobs, smudges and grit,
    # dust shadows and grime, mud, pollen, hair or salt, a fingerprint or a bird dropping, a cobweb.
    t = _strength(rng, level, 0.25, 1.1)
    lh, lw = _dims(x)
    body, smear = _bug_layers(rng, (lh, lw), t)
    defocus = rng.uniform(0.8, 1.6)
    body = np.clip(cv2.GaussianBlur(body, (0, 0), defocus) * 1.3, 0.0, 1.0) * rng.uniform(0.8, 0.95)
    smear = np.clip(cv2.GaussianBlur(smear, (0, 0), defocus + 0.8), 0.0, 1.0)
    b, s = _fit(body, x)[:, :, None], _fit(smear, x)[:, :, None]
    lin = _lin(x)
    soft = cv2.GaussianBlur(lin, (0, 0), 0.02 * _side(x) + 0.5).reshape(lin.shape)
    tint = np.float32([0.12, 0.6, 0.55]) * np.float32(rng.uniform(0.85, 1.1, 3))  # absorbs blue: yellow-green
    seen = lin * (1.0 - s) + soft * tint * s + s * tint * 0.12 * float(lin.mean())
    return _enc(seen * (1.0 - b) + b * np.float32([0.01, 0.012, 0.015]))


def _exposure(x, level, rng):
    # The scheduled switch to the day profile failed: the night profile (a long shutter, a high
    # digital gain, a tone curve that lifts the shadows, a white balance fixed for warm street
    # lamps, so daylight comes out blue) runs in daylight. The digital gain works
    # on the sensor's data after the ADC, so every channel that over-ranges clips hard on its own
    # and colours shift towards their brightest primary and then white; the long shutter smears
    # the swaying view a little, and the gain lifts the sensor's noise. A-H: a LUT, clipping and
    # blooming, knee and smear, the sun, AE overshoot, WDR, headlights on sheeting, a flash.
    stops = _strength(rng, level, 0.9, 4.0)
    side = _side(x)
    lin = _lin(x)
    length = max(1.0, side * rng.uniform(0.015, 0.04))
    ang = rng.uniform(0, math.pi)
    n = int(math.ceil(length)) * 2 + 1
    k = np.zeros((n, n), np.float32)
    c = n // 2
    cv2.line(
        k,
        (round(c - length * math.cos(ang) / 2), round(c - length * math.sin(ang) / 2)),
        (round(c + length * math.cos(ang) / 2), round(c + length * math.sin(ang) / 2)),
        1.0,
        1,
        cv2.LINE_AA,
    )
    lin = _conv(lin, k / k.sum())
    wb = np.float32([1.75, 1.0, 0.6]) * np.float32(rng.uniform(0.92, 1.08, 3))  # white balance fixed for warm lamps
    y = lin * wb * np.float32(2.0**stops)
    y = y + rng.normal(0.0, 1.0, y.shape).astype(np.float32) * np.sqrt(y + 0.002) * np.float32(0.03 * stops)
    y = np.clip(y, 0.0, 1.0)  # hard, per channel
    e = _enc(y)
    lift = 0.1 + 0.05 * stops  # the night curve: shadows lifted most
    return e + (1.0 - e) * e * np.float32(lift) * (1.0 - e)


def _j1(z: np.ndarray) -> np.ndarray:
    """Bessel J1 by its integral (1/pi) int_0^pi cos(tau - z sin tau) dtau, midpoint rule."""
    tau = (np.arange(48, dtype=np.float32) + 0.5) * np.float32(math.pi / 48)
    return np.cos(tau[None, :] - z.reshape(-1, 1) * np.sin(tau)[None, :]).mean(axis=1).reshape(z.shape)


def _airy(r0: float) -> np.ndarray:
    """The Airy pattern with its first dark ring at r0 px, out to its fourth ring, normalised."""
    half = int(math.ceil(r0 * 3.6)) + 1
    rs = np.linspace(0.0, half * 1.5 + 1.0, 1024, dtype=np.float32)  # the radial profile, finely sampled
    z = rs * np.float32(3.8317 / r0) + np.float32(1e-6)
    prof = (2.0 * _j1(z) / z) ** 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    acc = np.zeros_like(xx)
    for oy in (-1 / 3, 0.0, 1 / 3):  # each pixel integrates the pattern: 3 x 3 samples across it
        for ox in (-1 / 3, 0.0, 1 / 3):
            acc += np.interp(np.hypot(xx + ox, yy + oy), rs, prof).astype(np.float32)
    return acc / acc.sum()


def _gaussian_blur(x, level, rng):
    # Bright light and a fixed small sensor: the iris closes to a pinhole-like f-number and the
    # lens becomes diffraction-limited. Each point spreads into an Airy pattern (a core and faint
    # rings) whose size grows with the wavelength, so red blurs more than green and blue. A-H:
    # Gaussian, elongated, turbulence, a Lissajous mount, jello, a water film, focus hunting, a
    # swaying sign.
    t = _strength(rng, level, 0.032, 0.15)
    side = _side(x)
    lin = _lin(x)
    base = max(0.6, t * side)  # first dark ring for green (540 nm)
    out = np.empty_like(lin)
    for ch, lam in enumerate((460.0, 540.0, 620.0)):
        out[:, :, ch] = _conv(np.ascontiguousarray(lin[:, :, ch]), _airy(base * lam / 540.0)).reshape(lin.shape[:2])
    return _enc(out)


def _noise(x, level, rng):
    # A starlight camera with an image intensifier at dusk: photons are few, and each one that
    # frees an electron is multiplied in the microchannel plate with an exponentially distributed
    # gain and lands on the phosphor as a small glowing spot. The tube resolves less than the
    # sensor behind it, so the scintillation has the tube's grain (drawn at layer size, or the
    # crop's if smaller); thermal dark events speckle even black. A-H: colour grain, Bayer, shot
    # noise with banding, salt and pepper with glow, herringbone, chroma blotches, a wireless
    # link, multiplicative gain with sharpening.
    t = _strength(rng, level, 0.08, 1.0)
    h, w = x.shape[:2]
    lin = _lin(x)
    lum = _luma(lin)
    shape = (h, w) if min(h, w) <= LAYER else _dims(x)
    small = cv2.resize(lum, (shape[1], shape[0]), interpolation=cv2.INTER_AREA).reshape(shape)
    photons = 4.5 / (t * t)  # mean events per tube pixel at full white
    dark = 0.004 * photons * rng.uniform(0.5, 1.5)
    counts = rng.poisson(small * photons + dark)
    gain = rng.gamma(np.maximum(counts, 1), 1.0).astype(np.float32) * (counts > 0)
    spot = cv2.GaussianBlur(gain, (0, 0), 0.55)
    seen = spot / np.float32(photons)
    seen = _fit(seen, x)
    chroma = (lin + 0.01) / (lum[:, :, None] + 0.01)
    return _enc(chroma * seen[:, :, None])


def _bead_layer(rng: np.random.Generator, shape: tuple[int, int], t: float):
    """Beaded drops on the sign's face at layer size: (water cover, highlight, rim) in [0, 1]."""
    lh, lw = shape
    side = min(lh, lw)
    cover = np.zeros((lh, lw), np.float32)
    hi = np.zeros((lh, lw), np.float32)
    rim = np.zeros((lh, lw), np.float32)
    n = int(15 + 110 * t)
    xs, ys = rng.uniform(0, lw, n), rng.uniform(0, lh, n)
    rs = side * rng.uniform(0.012, 0.035, n) * (0.8 + 0.5 * t)
    # Runoff tracks: a drop that grew too heavy ran down and took the beads in its path.
    tracks = rng.uniform(0, lw, int(rng.integers(1, 3) + 3 * t))
    tw = side * rng.uniform(0.02, 0.05)
    keep = np.ones(n, bool)
    for tx in tracks:
        keep &= np.abs(xs - tx) > tw
    for cx, cy, r in zip(xs[keep], ys[keep], rs[keep], strict=True):
        ri = max(1, round(r))
        cv2.circle(cover, (round(cx), round(cy)), ri, 1.0, -1, cv2.LINE_AA)
        cv2.circle(rim, (round(cx), round(cy)), ri, 1.0, 1, cv2.LINE_AA)
        cv2.circle(hi, (round(cx - 0.35 * r), round(cy - 0.35 * r)), max(1, round(0.3 * r)), 1.0, -1, cv2.LINE_AA)
    film = np.zeros((lh, lw), np.float32)
    for tx in tracks:
        top = rng.uniform(-0.2, 0.5) * lh
        cv2.line(
            film, (round(tx), round(top)), (round(tx + rng.normal(0, 2)), lh), 1.0, max(1, round(tw * 0.5)), cv2.LINE_AA
        )
    return cover, hi, rim, film


def _rain(x, level, rng):
    # Rain on the sign's face: wet sheeting is darker and deeper in colour (water fills the
    # surface's roughness, less white light comes back from it), drops bead on it, each with
    # a highlight of the bright sky and a dark rim where it bends the light away, runoff tracks
    # are cleared of beads and carry a thin sheen, and the downpour's cloud dims the light.
    # A-H: streaks, drops on the lens, a wet windshield, drops in flight, headlight-lit rain,
    # truck spray, rivulets, splash crowns on the dome.
    t = _strength(rng, level, 0.2, 1.0)
    lh, lw = _dims(x)
    cover, hi, rim, film = _bead_layer(rng, (lh, lw), t)
    cover = cv2.GaussianBlur(cover, (0, 0), 0.5)
    hi = cv2.GaussianBlur(hi, (0, 0), 0.6)
    rim = cv2.GaussianBlur(rim, (0, 0), 0.5)
    film = cv2.GaussianBlur(film, (0, 0), 0.8)
    c, hl, rm, fm = (_fit(v, x)[:, :, None] for v in (cover, hi, rim, film))
    lin = _lin(x)
    wet = lin ** np.float32(1.0 + 0.35 * t) * np.float32(1.0 - 0.25 * t)  # darker, deeper colours
    bead = cv2.GaussianBlur(wet, (0, 0), 0.015 * _side(x) + 0.4).reshape(wet.shape)  # drops as lenses
    out = wet * (1.0 - c) + bead * c * 0.85
    out = out * (1.0 - 0.6 * rm) + hl * 0.7 * t + fm * 0.04 * t
    return _enc(out * np.float32(max(0.35, 1.0 - 0.4 * t)))


def _shadow(x, level, rng):
    # A bus shelter's perforated metal canopy stands between the sun and the sign: its holes are
    # pinholes, so the shade is dotted with a hexagonal grid of images of the sun, ellipses (the
    # sun's light falls on the sign at a slant) with soft rims (the sun is a disc, not a point).
    # The canopy ends in a soft straight edge; the shade is lit by the blue sky. A-H: blinds, an
    # edge, pole or dappling, branches or a truss, a vehicle or cloud, a hood, fan blades, a
    # fence, an overpass.
    t = min(0.95, _strength(rng, level, 0.18, 0.92))
    h, w = x.shape[:2]
    side = _side(x)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    pitch = side * rng.uniform(0.13, 0.22)
    rot = rng.uniform(0, math.pi / 3)
    u = ((xx * math.cos(rot) + yy * math.sin(rot)) / pitch) + rng.uniform(0, 1)
    v = ((-xx * math.sin(rot) + yy * math.cos(rot)) / (pitch * math.sqrt(3) / 2)) + rng.uniform(0, 1)
    row = np.floor(v)
    cu = np.floor(u + 0.5 * (row % 2)) - 0.5 * (row % 2) - u  # offset to the nearest hole in the row (pitch units)
    cv = 0.5 - (v - row)
    stretch, tilt = rng.uniform(1.0, 1.5), rng.uniform(0, math.pi)
    a = cu * math.cos(tilt) + cv * 0.866 * math.sin(tilt)
    bq = -cu * math.sin(tilt) + cv * 0.866 * math.cos(tilt)
    dist = np.sqrt((a / stretch) ** 2 + bq**2)
    rad = rng.uniform(0.18, 0.28)
    spots = np.clip((rad - dist) / 0.08 + 0.5, 0.0, 1.0)
    ang = rng.uniform(0, 2 * math.pi)
    edge_u = (xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang)
    cut = rng.uniform(-0.15, 0.45) * side
    canopy = np.clip((cut - edge_u) / (0.04 * side) + 0.5, 0.0, 1.0)  # 1 under the canopy
    shade = (canopy * (1.0 - spots))[:, :, None]
    sky = np.float32([1.0, 0.88, 0.76])
    lin = _lin(x)
    return _enc(lin * (1.0 - shade) + lin * shade * ((1.0 - t) * sky + 0.04 * t))


def _snow(x, level, rng):
    # Wet snow driven onto the housing window sticks there; the window's heater thaws a clear
    # porthole in its middle, its rim irregular. Out of focus, the snow is a soft bright white
    # (thinner, translucent, near the thaw line); along the line meltwater forms a wet ring
    # that bends and blurs what is seen through it; flakes still fall in the clear.
    # A-H: glow and dots, veil and discs, snow on the sign, frost, lamp-lit flakes, slush, a
    # ground blizzard, a heap on the visor.
    t = _strength(rng, level, 0.14, 0.75)
    lh, lw = _dims(x)
    yy, xx = np.mgrid[0:lh, 0:lw].astype(np.float32)
    cx, cy = lw * rng.uniform(0.35, 0.65), lh * rng.uniform(0.35, 0.65)
    rx, ry = rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15)
    r = np.hypot((xx - cx) / (rx * lw), (yy - cy) / (ry * lh))
    r = r * (1.0 + 0.12 * _smooth_field(rng, (lh, lw), LAYER * 0.25))
    hole = (1.05 - 0.8 * t) * 0.72  # the porthole's radius, in units of the crop
    soft = 0.06 + 0.04 * t
    snow = np.clip((r - hole) / soft, 0.0, 1.0)
    snow = snow * (0.85 + 0.15 * np.clip(_smooth_field(rng, (lh, lw), 6.0) * 0.5 + 0.5, 0, 1))
    ring = np.exp(-(((r - hole + 0.4 * soft) / (0.5 * soft)) ** 2))
    flakes = (rng.random((lh, lw)) < 0.004 + 0.02 * t).astype(np.float32)
    flakes = cv2.GaussianBlur(flakes, (0, 0), 0.8) * 4.0
    sn, rg, fl = (_fit(v, x)[:, :, None] for v in (snow, ring, np.clip(flakes, 0.0, 1.0)))
    lin = _lin(x)
    wet = cv2.GaussianBlur(lin, (0, 0), 0.02 * _side(x) + 0.5).reshape(lin.shape)
    out = lin * (1.0 - rg * 0.8) + wet * rg * 0.8 * 1.1
    out = out * (1.0 - fl * 0.7) + fl * 0.7 * 0.85
    white = np.float32([0.9, 0.88, 0.85]) * np.float32(rng.uniform(0.7, 0.95))
    return _enc(out * (1.0 - sn) + white * sn)


def _haze(x, level, rng):
    # Ice fog on a bright cold day: tiny ice crystals hang in the air, scattering all colours
    # alike (neutral extinction), the fog's density drifting in patches; the airlight is bright
    # and cold white; plate crystals catching the sun flash as sparse glints. A-H: a flat layer,
    # depth, multiple scattering, smoke or dust, mist, a plastic sheet, fog, summer aerosol.
    tau = _strength(rng, level, 0.05, 0.7)
    h, w = x.shape[:2]
    lh, lw = _dims(x)
    field = _fit(np.clip(1.0 + 0.3 * _smooth_field(rng, (lh, lw), LAYER * 0.35), 0.4, 1.6), x)
    trans = np.exp(-tau * field)[:, :, None]
    air = np.float32([0.98, 0.95, 0.9]) * np.float32(rng.uniform(0.4, 0.6))
    glint = (rng.random((lh, lw)) < 0.002 + 0.004 * min(tau, 1.5)).astype(np.float32)
    glint = np.clip(_fit(cv2.GaussianBlur(glint, (0, 0), 0.5) * 3.0, x), 0.0, 1.0)[:, :, None]
    out = _lin(x) * trans + air * (1.0 - trans)
    return _enc(out + glint * 0.5 * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_i(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "I".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "I", _EFFECTS)
