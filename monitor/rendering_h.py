"""Rendering "H" of the 12 CURE-TSR challenges: written blind, the holdout measured once on 2026-12-01.

G was measured once on 2026-11-30, so A-G have all met the detector and none is blind any more. H
is written without running the detector, the classifier, the image statistics, calibrate or
evaluate on it, to be measured once (fit on the default FIT_RENDERINGS, test on H). It is written
without A-G's helpers (only monitor.renderings.apply_effects, the argument check and uint8 wrapper,
is shared) and each effect is another physical process, or another way a real camera produces the
condition, than any of A-G (their lines: monitor/rendering_c.py, _d.py, _e.py, _f.py, _g.py):

| condition | H |
| --- | --- |
| decolorization | a yellowed (UV-aged) polycarbonate housing window eats the blue, and the camera's grey-world white balance pulls the cast back, squeezing the blue-yellow axis; the aged window's haze dulls what is left |
| lens_blur | a cracked front element: the two halves of the lens, slightly tilted against each other, form two defocused images offset along the crack |
| codec_error | an H.264 stream losing packets, concealed spatially: lost macroblock rows filled by repeating the row above (vertical smears), some mis-decoded blocks as stray DCT basis patterns |
| darkening | night under one distant lamp off to the side: little light, falling off across the sign (inverse square and cosine), an LED's cool tint, coarse 8-bit steps in the shadows |
| dirty_lens | a cobweb on the housing window: out-of-focus radial threads and a spiral lit by the scene's light, dust beads caught on them |
| exposure | a flash (another camera's, or an amber beacon) caught by the rolling shutter: a band of rows blown out with soft edges in the flash's colour, the rest lifted by the auto exposure |
| gaussian_blur | a sign swaying on its post in the wind, averaged by the camera's temporal noise reduction (a recursive filter): copies along a random walk with exponentially falling weights |
| noise | a photon-starved sensor at high gain with the ISP's sharpening: multiplicative gain noise (gamma-distributed), crisped by an unsharp mask into hard grain |
| rain | drops hitting the camera's dome and splashing: crowns of small droplets around blurred impact spots, each refracting what is behind it, overcast dimming |
| shadow | an overpass's deck edge with its railing: a hard straight shadow with a comb of baluster shadows, warm light bounced from the road lifting it |
| snow | snow heaped on the housing's visor: an out-of-focus white overhang hanging into the top of the frame, small grey flakes backlit by the overcast sky |
| haze | summer aerosol haze: extinction that falls with the wavelength (blue lost first, an Angstrom exponent), blue-grey airlight of the sky, the optical depth graded across the sign |

Conventions of H:
- Strength: a nominal value per level, linear from the level-1 to the level-5 value, times a
  normal jitter of 12 % clipped to +-30 % (`_strength`). Count, size, placement, colour and kind
  are drawn too.
- Sizes are fractions of the crop's shorter side; procedural layers are drawn with the shorter
  side at LAYER px and resized to the crop.
- Light acts in linear values through a pure 2.3 power (A 2.2, B sRGB, C BT.709, D 2.4, E 2.0,
  F 1.8, G 2.6); luminance uses BT.601's weights.
- Deterministic for a given numpy Generator state; nothing else is random. Strengths were set by
  neutral measures only (scripts/rendering_strength.py) and by eye, never by the project's
  detector, classifier or image statistics.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from monitor.renderings import apply_effects

LAYER = 80  # px: procedural layers are drawn with the crop's shorter side at this size
_GAMMA = 2.3
_LUM = np.float32([0.114, 0.587, 0.299])  # BT.601 luminance weights, BGR order

# ---------------------------------------------------------------------------------------------
# Helpers of H


def _side(x: np.ndarray) -> float:
    return float(max(min(x.shape[:2]), 4))


def _strength(rng: np.random.Generator, level: int, lo: float, hi: float) -> float:
    """Level 1 -> lo, level 5 -> hi linearly, times a normal jitter of 12 % clipped to +-30 %."""
    return float((lo + (hi - lo) * (level - 1) / 4.0) * (1.0 + np.clip(rng.normal(0.0, 0.12), -0.3, 0.3)))


def _lin(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0) ** np.float32(_GAMMA)


def _enc(y: np.ndarray) -> np.ndarray:
    return np.clip(y, 0.0, 1.0) ** np.float32(1.0 / _GAMMA)


def _dims(x: np.ndarray) -> tuple[int, int]:
    h, w = x.shape[:2]
    f = LAYER / max(min(h, w), 1)
    return max(2, round(h * f)), max(2, round(w * f))


def _fit(layer: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A layer resized to the crop (area averaging when shrinking keeps thin threads' weight)."""
    h, w = x.shape[:2]
    if layer.shape[:2] == (h, w):
        return layer
    out = cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if layer.shape[0] > h else cv2.INTER_LINEAR)
    return out.reshape(h, w, *layer.shape[2:])


def _shift(img: np.ndarray, dx: float, dy: float) -> np.ndarray:
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _disc(r: float) -> np.ndarray:
    """A uniform defocus disc of radius r px, anti-aliased at its edge."""
    half = int(math.ceil(r)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    k = np.clip(r + 0.5 - np.hypot(xx, yy), 0.0, 1.0)
    return k / k.sum()


# ---------------------------------------------------------------------------------------------
# The 12 effects of rendering H: float32 BGR (H, W, 3) in [0, 1], level 1..5, rng -> same.


def _decolorization(x, level, rng):
    # Polycarbonate yellows under UV: the window in front of the lens absorbs blue (and some
    # green), so everything turns yellow; the camera's grey-world white balance then scales the
    # channels back to a neutral mean, which cannot restore the blue-yellow difference the
    # window took away. The aged window also scatters a little light, dulling colour further.
    # A-G: a grey blend, a mixer print, a UV-faded print, sodium light, a lost colour burst, an
    # IR leak, the colour killer.
    s = _strength(rng, level, 0.3, 0.95)
    lin = _lin(x)
    trans = np.float32([1.0 - 0.97 * s, 1.0 - 0.35 * s * rng.uniform(0.8, 1.2), 1.0])  # B, G, R
    seen = lin * trans
    gains = seen.reshape(-1, 3).mean(axis=0) + 1e-4
    balanced = seen * (gains.mean() / gains) * np.float32(lin.mean() / (seen.mean() + 1e-4))
    lum = (balanced @ _LUM)[:, :, None]
    dull = 0.85 * s * rng.uniform(0.85, 1.15)  # the aged window's scatter mixes the colours
    out = balanced + (lum - balanced) * min(dull, 0.9)
    veil = 0.05 * s * float(lum.mean())
    return _enc(out * (1.0 - 0.05 * s) + veil)


def _lens_blur(x, level, rng):
    # A crack across the front element: the two halves no longer share a focus and are tilted
    # against each other, so the scene is imaged twice (a part of the light through each half),
    # offset along the line across the crack, each copy defocused. A-G: hexagonal and round
    # irises, a tilted plane, a ring PSF, field curvature, diffusion glow, astigmatism.
    t = _strength(rng, level, 0.025, 0.12)
    side = _side(x)
    lin = _lin(x)
    r1 = max(0.5, t * side * rng.uniform(0.6, 1.0))
    r2 = max(0.5, t * side * rng.uniform(0.8, 1.3))
    ang = rng.uniform(0, 2 * math.pi)
    off = t * side * rng.uniform(0.6, 1.1)
    dx, dy = off * math.cos(ang), off * math.sin(ang)
    a = cv2.filter2D(_shift(lin, -dx * 0.5, -dy * 0.5), -1, _disc(r1), borderType=cv2.BORDER_REFLECT)
    b = cv2.filter2D(_shift(lin, dx * 0.5, dy * 0.5), -1, _disc(r2), borderType=cv2.BORDER_REFLECT)
    w = rng.uniform(0.35, 0.65)
    return _enc(w * a + (1.0 - w) * b)


def _basis(u: int, v: int) -> np.ndarray:
    """The 8x8 DCT basis function (u, v), in [-1, 1]."""
    i = np.arange(8, dtype=np.float32)
    return np.outer(np.cos((2 * i + 1) * v * math.pi / 16), np.cos((2 * i + 1) * u * math.pi / 16))


def _codec_error(x, level, rng):
    # Packets of an H.264 stream are lost; the decoder conceals a lost macroblock row spatially
    # by repeating the last good row of pixels downwards (vertical smears), and corrupt residual
    # data leaves single blocks with a stray DCT basis pattern and a wrong DC. The frame is
    # coded at 16 px macroblocks on the crop's own grid. A-G: displaced blocks, DCT quantisation
    # and lost slices, MCU desync, wrong motion vectors, lost restart interval, stride faults,
    # wavelet at low bit rate.
    t = _strength(rng, level, 0.1, 0.6)
    h, w = x.shape[:2]
    out = x.copy()
    mb = max(4, round(_side(x) / 8))  # a macroblock: 1/8 of the shorter side (16 px at 128)
    rows, cols = math.ceil(h / mb), math.ceil(w / mb)
    lost = np.zeros(rows * cols, bool)  # in raster order: a packet carries a run of macroblocks
    budget = max(1, round(t * (rows - 1) * cols))
    while rows > 1 and lost.sum() < budget:  # a crop one macroblock high has no row above to repeat
        start, run = int(rng.integers(cols, rows * cols)), int(rng.integers(2, 2 * cols + 1))
        lost[start : start + run] = True
    for i in np.flatnonzero(lost):  # raster order, so a smear runs on down through lost blocks below
        y0, x0 = (i // cols) * mb, (i % cols) * mb
        out[y0 : y0 + mb, x0 : x0 + mb] = out[y0 - 1 : y0, x0 : x0 + mb]  # repeat the last row above
    n_bad = int(rng.poisson(t * rows * cols * 0.2))
    for _ in range(n_bad):
        y0, x0 = int(rng.integers(0, rows)) * mb, int(rng.integers(0, cols)) * mb
        blk = out[y0 : y0 + mb, x0 : x0 + mb]
        pat = cv2.resize(
            _basis(int(rng.integers(1, 8)), int(rng.integers(1, 8))), (mb, mb), interpolation=cv2.INTER_NEAREST
        )
        amp, dc = rng.uniform(0.1, 0.35), rng.normal(0.0, 0.15, 3).astype(np.float32)
        blk[:] = np.clip(blk + (amp * pat[: blk.shape[0], : blk.shape[1], None] + dc), 0.0, 1.0)
    return out


def _darkening(x, level, rng):
    # Night, one lamp some way off to the side: the light on the sign is far below what the
    # camera wants, falls off across the sign (inverse square of the distance, cosine of the
    # incidence), has an LED's cool tint, and a linear 8-bit readout leaves few steps in what
    # little signal there is. A-G: a LUT, under-exposure and vignette, shot noise, dusk, a stuck
    # ND, a flickering lamp, a smoked dome.
    stops = _strength(rng, level, 1.0, 5.0)
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    d = rng.uniform(0.6, 1.3) * _side(x)  # the lamp's distance from the crop's centre, along ang
    lx, ly = w / 2 + d * math.cos(ang), h / 2 + d * math.sin(ang)
    z = 0.3 * d  # the lamp's height off the sign's plane: light arrives at a grazing angle
    dist2 = (xx - lx) ** 2 + (yy - ly) ** 2 + z * z
    fall = (z / np.sqrt(dist2)) / dist2 * (d * d + z * z) ** 1.5 / z  # cosine over inverse square, 1 at the centre
    tint = np.float32([1.0, 0.93, 0.78]) * np.float32(rng.uniform(0.93, 1.07, 3))
    y = _lin(x) * fall[:, :, None] * tint * np.float32(2.0**-stops)
    # The sensor's data quantised linearly in 8 bits: few steps in the shadows once encoded.
    return _enc(np.round(y * 255.0) / np.float32(255.0))


def _web_layer(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """Threads of a cobweb (radial spokes and a spiral) with dust beads, in [0, 1], at layer size."""
    lh, lw = shape
    web = np.zeros((lh, lw), np.float32)
    cx, cy = rng.uniform(-0.2, 1.2) * lw, rng.uniform(-0.2, 1.2) * lh
    reach = rng.uniform(0.8, 1.6) * max(lh, lw)
    spokes = int(rng.integers(7, 14))
    a0 = rng.uniform(0, 2 * math.pi)
    for k in range(spokes):
        a = a0 + 2 * math.pi * k / spokes + rng.normal(0, 0.12)
        end = (round(cx + reach * math.cos(a)), round(cy + reach * math.sin(a)))
        cv2.line(web, (round(cx), round(cy)), end, rng.uniform(0.6, 1.0), 1, cv2.LINE_AA)
    turns = 3 + 6 * t  # more silk as the web is older
    th = np.linspace(0, 2 * math.pi * turns, int(400 * turns), dtype=np.float32)
    rad = reach * (0.08 + 0.92 * th / th[-1]) * (1 + 0.05 * np.sin(th * spokes))
    pts = np.stack([cx + rad * np.cos(th + a0), cy + rad * np.sin(th + a0)], axis=1)
    cv2.polylines(web, [np.round(pts).astype(np.int32)], False, 0.7, 1, cv2.LINE_AA)
    beads = np.argwhere(web > 0.3)
    if len(beads):
        for i in rng.choice(len(beads), size=min(len(beads), int(10 + 120 * t)), replace=False):
            cv2.circle(web, (int(beads[i][1]), int(beads[i][0])), int(rng.integers(1, 3)), 1.0, -1, cv2.LINE_AA)
    return web


def _dirty_lens(x, level, rng):
    # A spider has spun a web across the housing window, close to the lens and so out of focus:
    # the silk threads and the dust beads caught on them scatter the scene's light towards the
    # camera (a bright, soft, slightly grey web), and block a little of what is behind them.
    # A-G: dark blobs, smudges and grit, dust shadows and grime, mud, pollen, hair or salt,
    # fingerprint or bird dropping.
    t = _strength(rng, level, 0.1, 0.8)
    lh, lw = _dims(x)
    web = _web_layer(rng, (lh, lw), t)
    web = cv2.GaussianBlur(web, (0, 0), rng.uniform(0.6, 1.4) + 1.2 * t)
    web = np.clip(web * rng.uniform(1.5, 2.5), 0.0, 1.0) * (0.12 + 0.45 * t)
    m = _fit(web, x)[:, :, None]
    lin = _lin(x)
    light = float(lin.mean()) * 0.5 + 0.45  # silk lit by the scene's and the sky's light
    glow = cv2.GaussianBlur(m, (0, 0), 0.05 * _side(x)).reshape(m.shape) * 0.3 * t
    out = lin * (1.0 - 0.6 * m) + m * light * np.float32([0.92, 0.95, 1.0]) + glow * light
    return _enc(out)


def _exposure(x, level, rng):
    # A flash fires while the rolling shutter reads the frame: the rows exposed during it get
    # far more light (a band blown out, its edges softened by the flash's duration against the
    # row time), in the flash's colour (white xenon or an amber beacon), and the auto exposure,
    # metering the bright frames, has lifted everything a little. A-G: a LUT, clipping and
    # blooming, knee and smear, the sun, AE overshoot, WDR, headlights on sheeting.
    t = _strength(rng, level, 0.6, 5.2)
    h = x.shape[0]
    yn = (np.arange(h, dtype=np.float32) + 0.5) / h
    c, half = rng.uniform(-0.1, 1.1), rng.uniform(0.2, 0.55)
    soft = rng.uniform(0.08, 0.25)
    band = np.clip((half - np.abs(yn - c)) / soft + 0.5, 0.0, 1.0)
    band = band * band * (3 - 2 * band)
    colour = np.float32([1.0, 1.0, 1.0]) if rng.random() < 0.5 else np.float32([0.35, 0.75, 1.0])
    gain = 2.0 ** (0.35 * t) + band[:, None, None] * (2.0**t - 1.0) * colour
    y = _lin(x) * gain + band[:, None, None] * 0.04 * t * colour  # the flash lights the air too
    return _enc(y / (1.0 + 0.15 * np.maximum(y - 1.0, 0.0)))  # the sensor clips, softly


def _gaussian_blur(x, level, rng):
    # A sign on a springy post sways in the wind; the camera's temporal noise reduction, a
    # recursive filter, averages the last frames with weights falling off exponentially, so the
    # sign is the weighted sum of copies along its random-walk path, through the lens's slight
    # blur. A-G: Gaussian, elongated, turbulence, a Lissajous mount, jello, a water film,
    # focus hunting.
    t = _strength(rng, level, 0.012, 0.075)
    side = _side(x)
    lin = _lin(x)
    n = 14
    alpha = rng.uniform(0.2, 0.35)  # the recursive filter's weight of the newest frame
    steps = rng.normal(0.0, t * side / math.sqrt(3.0), (n, 2))
    path = np.cumsum(steps, axis=0) - steps[0]
    acc, wsum = np.zeros_like(lin), 0.0
    for i in range(n):
        wi = alpha * (1 - alpha) ** i
        acc += wi * _shift(lin, float(path[i, 0]), float(path[i, 1]))
        wsum += wi
    out = cv2.GaussianBlur(acc / wsum, (0, 0), max(0.3, 0.35 * t * side))
    return _enc(out)


def _noise(x, level, rng):
    # Few photons and a high gain: each pixel's signal is multiplied by a random gain (gamma
    # distributed, the excess noise of an amplifying sensor), and the ISP's unsharp mask, tuned
    # for daylight, crisps that grain into hard specks. Channels share most of the noise (the
    # ISP's luma path) with a little chroma. A-G: colour grain, Bayer, shot noise with
    # banding, salt and pepper with glow, herringbone, chroma blotches, a wireless link.
    t = _strength(rng, level, 0.12, 0.8)
    h, w = x.shape[:2]
    lin = _lin(x)
    k = 1.0 / (t * t)  # gamma shape: the gain's relative spread is t
    luma = rng.gamma(k, 1.0 / k, (h, w)).astype(np.float32)[:, :, None]
    chroma = rng.gamma(4 * k, 1.0 / (4 * k), (h, w, 3)).astype(np.float32)
    y = lin * luma * chroma + rng.normal(0.0, 0.01 * t, (h, w, 1)).astype(np.float32)
    e = _enc(y)
    soft = cv2.GaussianBlur(e, (0, 0), 1.0)
    return np.clip(e + rng.uniform(0.5, 0.9) * (e - soft), 0.0, 1.0)


def _splash(rng: np.random.Generator, shape: tuple[int, int], t: float) -> np.ndarray:
    """Water thickness of splash crowns (an impact spot ringed by droplets), in [0, 1], at layer size."""
    lh, lw = shape
    water = np.zeros((lh, lw), np.float32)
    side = min(lh, lw)
    for _ in range(int(rng.integers(1, 3) + 6 * t)):
        cx, cy = rng.uniform(0, lw), rng.uniform(0, lh)
        r = side * rng.uniform(0.06, 0.14)
        cv2.circle(water, (round(cx), round(cy)), max(1, round(r * 0.5)), rng.uniform(0.5, 0.9), -1, cv2.LINE_AA)
        for _ in range(int(rng.integers(6, 14))):
            a, d = rng.uniform(0, 2 * math.pi), r * rng.uniform(0.8, 2.0)
            rad = max(1, round(side * rng.uniform(0.01, 0.035)))
            cv2.circle(water, (round(cx + d * math.cos(a)), round(cy + d * math.sin(a))), rad, 1.0, -1, cv2.LINE_AA)
    return water


def _rain(x, level, rng):
    # Rain hits the camera's dome and splashes: each impact leaves a thin spread spot ringed by
    # the crown's droplets. Water on the dome, out of focus, refracts (shifts and blurs) what is
    # behind it and sends a highlight from the sky; the rain's overcast dims the scene.
    # A-G: streaks, drops on the lens, a wet windshield, drops in flight, headlight-lit rain,
    # truck spray, rivulets.
    t = _strength(rng, level, 0.25, 1.3)
    lh, lw = _dims(x)
    water = cv2.GaussianBlur(_splash(rng, (lh, lw), t), (0, 0), 0.8)
    gy, gx = np.gradient(water)
    h, w = x.shape[:2]
    m, gx, gy = _fit(water, x), _fit(gx, x), _fit(gy, x)
    lin = _lin(x) * np.float32(max(0.3, 1.0 - 0.4 * t))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    k = 0.5 * _side(x) * rng.uniform(0.8, 1.2)  # refraction: crop px of shift per unit of slope
    bent = cv2.remap(lin, xx - k * gx, yy - k * gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    bent = cv2.GaussianBlur(bent, (0, 0), 0.02 * _side(x) + 0.3)
    mm = np.clip(m * 1.5, 0.0, 1.0)[:, :, None]
    glint = np.clip(-gy - gx, 0.0, None)[:, :, None] * 0.8 * t  # the sky's highlight on the drops
    return _enc(lin * (1.0 - mm) + bent * mm * 0.9 + glint)


def _shadow(x, level, rng):
    # The sign stands under an overpass: the deck's edge casts a hard straight shadow (the sun is
    # small: a narrow penumbra) and the railing on top of it a comb of baluster shadows, while
    # light bounced from the sunlit road, warm, lifts the shadow from below. A-G: blinds, an
    # edge, pole or dappling, branches or a truss, a vehicle or cloud, a hood, fan blades, a fence.
    t = _strength(rng, level, 0.3, 0.95)
    h, w = x.shape[:2]
    side = _side(x)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(-0.5, 0.5)
    u = (xx - w / 2) * math.sin(ang) + (yy - h / 2) * math.cos(ang)  # across the edge, down
    v = (xx - w / 2) * math.cos(ang) - (yy - h / 2) * math.sin(ang)  # along it
    edge = rng.uniform(-0.3, 0.2) * side  # the edge crosses the sign: part lit, part shaded
    pen = max(0.5, 0.012 * side)
    deck = np.clip((edge - u) / pen + 0.5, 0.0, 1.0)  # 1 in the deck's shadow
    rail_h = rng.uniform(0.2, 0.4) * side
    pitch, bar = rng.uniform(0.12, 0.22) * side, rng.uniform(0.3, 0.5)
    comb = ((np.mod(v + rng.uniform(0, pitch), pitch) / pitch) < bar).astype(np.float32)
    in_rail = np.clip((edge + rail_h - u) / pen + 0.5, 0.0, 1.0) * (1.0 - deck)
    rail = cv2.GaussianBlur(in_rail * comb, (0, 0), pen * 0.6)
    shade = np.clip(deck + rail, 0.0, 1.0)[:, :, None]
    bounce = np.float32([0.75, 0.9, 1.0]) * (0.15 + 0.1 * np.clip(u / side + 0.5, 0.0, 1.0))[:, :, None]
    lin = _lin(x)
    lit_in_shadow = (1.0 - t) + t * bounce
    return _enc(lin * (1.0 - shade) + lin * lit_in_shadow * shade)


def _snow(x, level, rng):
    # Snow heaped on the housing's sun visor hangs over its front edge into the top of the frame,
    # so close to the lens it is a soft white lobe; snow still falling is seen against the bright
    # overcast sky, so flakes are grey specks, and the snowy light is flat and cold.
    # A-G: glow and dots, veil and discs, snow on the sign, frost, lamp-lit flakes, slush, a
    # ground blizzard.
    t = _strength(rng, level, 0.1, 0.75)
    lh, lw = _dims(x)
    xs = np.linspace(0, 1, lw, dtype=np.float32)
    edge = t * 0.45 + 0.06 * np.sin(2 * math.pi * xs * rng.uniform(0.7, 2.0) + rng.uniform(0, 6))
    edge += 0.04 * np.sin(2 * math.pi * xs * rng.uniform(3, 6) + rng.uniform(0, 6))
    yn = (np.arange(lh, dtype=np.float32) + 0.5)[:, None] / lh
    heap = (yn < edge[None, :]).astype(np.float32)
    heap = cv2.GaussianBlur(heap, (0, 0), rng.uniform(3.0, 6.0))
    flakes = (rng.random((lh, lw)) < 0.01 + 0.06 * t).astype(np.float32)
    flakes = cv2.GaussianBlur(flakes, (0, 0), 0.7) * rng.uniform(1.5, 2.5)
    lin = _lin(x) * np.float32([1.0, 0.97, 0.93]) * np.float32(1.0 - 0.15 * t)
    hp, fl = _fit(heap, x)[:, :, None], np.clip(_fit(flakes, x), 0.0, 0.8)[:, :, None]
    white = np.float32([0.92, 0.9, 0.86]) * rng.uniform(0.85, 1.0)
    out = lin * (1.0 - fl * 0.6) + fl * 0.6 * 0.25  # grey specks against the sky
    out = out * (1.0 - 0.25 * t) + 0.25 * t * white * 0.6  # a little snowy airlight
    return _enc(out * (1.0 - hp) + white * hp)


def _haze(x, level, rng):
    # Summer aerosol haze: the fine particles' extinction falls with the wavelength (an Angstrom
    # exponent near 2), so blue is lost first and the sign looks yellowed through it, while the
    # airlight, the sky's light scattered towards the camera, is blue-grey. The sign's plane is
    # not square to the view: the optical depth grows across it.
    # A-G: a flat layer, depth, multiple scattering, smoke or dust, mist, a plastic sheet, fog.
    tau = _strength(rng, level, 0.05, 0.8)
    h, w = x.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    ramp = ((xx / w - 0.5) * math.cos(ang) + (yy / h - 0.5) * math.sin(ang)) * rng.uniform(0.3, 0.6)
    alpha = rng.uniform(1.6, 2.4)  # fine summer aerosol (smog) particles: between dust (~0) and air (4)
    lam = np.float32([450.0, 550.0, 610.0])  # nm: B, G, R
    beta = (lam / 550.0) ** np.float32(-alpha)
    depth = (tau * (1.0 + ramp))[:, :, None]
    trans = np.exp(-depth * beta)
    air = np.float32([1.0, 0.8, 0.6]) * rng.uniform(0.5, 0.72)
    return _enc(_lin(x) * trans + air * (1.0 - trans))


# The 12 effects in CURE-TSR code order (1 decolorization ... 12 haze; monitor.renderings.apply_effects).
_EFFECTS = (
    _decolorization, _lens_blur, _codec_error, _darkening, _dirty_lens, _exposure,
    _gaussian_blur, _noise, _rain, _shadow, _snow, _haze,
)  # fmt: skip


def apply_h(img: np.ndarray, challenge: int | str, level: int, rng: np.random.Generator) -> np.ndarray:
    """One CURE-TSR challenge (code 1-12 or name) at level 1-5 in rendering "H".

    uint8 BGR or grey in, same shape and dtype out; deterministic for the Generator's state;
    a one-line ValueError for a bad argument (monitor.renderings.apply_effects).
    """
    return apply_effects(img, challenge, level, rng, "H", _EFFECTS)
