"""Cheap image statistics that see what GradCon's one-sided score misses (docs/DESIGN.md §5).

Every frame is first resized to a fixed 64x64 BGR copy, and then all statistics are computed for
the whole batch at once (in chunks of 64 frames stacked into one tall image, with numpy and OpenCV;
no per-frame Python work besides the resize). Each
statistic is aimed at a physical effect, so it should also respond to rain or blur that no
generator drew (table below).

Scale. The 64x64 copy makes means, fractions and profiles independent of the crop's size, but not
the statistics of detail per pixel (SCALE_DEPENDENT): a small clean sign is upsampled and looks
blurred, a large one is averaged down and looks sharp and "noisy" in fine structure. Measured by
scripts/scale_check.py on the 1,236 clean BelgiumTSC crops through JPEG q90 (short sides 45 / 77 /
172 px at the 10th / 50th / 90th percentile), correlation with log(short side): lap_logvar +0.78,
fine_coarse +0.83, noise_sigma +0.83, speck_bright +0.77, speck_dark +0.74, chroma_noise +0.25;
and on one sign seen from two distances (250 tracks whose largest crop is >= 1.5x the smallest),
those 8 statistics differ by 0.89 clean standard deviations (mean of the per-statistic medians).
So the frame's native short side is returned too, as the last column `log_side` (`native_sizes`:
the size before a reduced-scale decode; default the frame's own), and the detector removes each
scale-dependent statistic's linear dependence on it, fitted on the clean calibration frames
(calibration.detector.SizeCorrection): correlations then -0.00..+0.03 on tracks the fit did not
see, and the same sign at two distances differs by 0.42. Computing these statistics at the crop's
own scale instead (resized to min(short side, 128), never upsampled) was measured too: it cut the
correlations less evenly (noise_sigma -0.21, fine_coarse +0.16, block statistics up to +0.75 if
computed there as well), left the same sign at two distances 0.67 apart, and costs up to 4x the
pixels; so the 64x64 copy stays.

| name | effect it measures | conditions it separates |
| --- | --- | --- |
| bright_mean, bright_std | exposure level and spread | darkening, exposure, haze |
| clip_high, clip_low | saturated / crushed pixel fractions | exposure, darkening |
| contrast | 5-95 % brightness range | haze, darkening |
| dark_channel | per-pixel min over colours (haze veil lifts it) | haze, snow, exposure |
| sat_mean, sat_std | colourfulness | decolorization, haze |
| blue_ratio, red_ratio | colour cast | rain (blue gradient), haze (grey) |
| lap_logvar | log variance of the Laplacian (sharpness) | blur, noise |
| fine_coarse | log ratio of Laplacian energy at 64 px vs 32 px (sharpness independent of content) | blur vs noise |
| noise_sigma | Immerkaer noise estimate (log) | noise, snow, rain |
| speck_bright, speck_dark | isolated pixels far from their 3x3 neighbourhood | snow, noise, rain drops |
| vertical_energy, coherence | share of horizontal-gradient energy and structure-tensor coherence | rain streaks (near vertical) |
| chroma_noise | high-frequency colour variation (grey noise has none, colour noise has) | noise vs snow/rain |
| block_edge | gradient energy on an 8-px grid vs off it | codec error (block artefacts) |
| block_var_spread, smooth_blocks | spread of local (8x8) contrast; share of flat blocks | dirty lens blobs, shadow bands, haze |
| row_profile, col_profile | variance of row/column mean brightness (banding) | shadow (venetian blinds) |
| center_border | brightness centre minus border | haze (radial), dirty lens, vignetting |
| achromatic_edges | log-luminance edge energy over chromaticity edge energy | shadow, dirty lens (they change light, not colour) |
| banding | strongest straight band pattern: log-luma profiles along 7 directions (-45..45 deg), quadratic trend removed | shadow (venetian blinds) |
| flat_windows | share of 4x4 luma windows that are exactly flat (std under 1/4 grey level), on no fixed grid | codec error (concealed and DC-only blocks) |
| light_split | variance of log-luminance within each saturated hue, at 32x32 | shadow (one paint under two lights) |
| grey_edge_share | share of strong log-luminance edges with no chromaticity edge, at 32x32 | dirty lens (grime's edges are edges of light); haze, rain |
| block_seams | luma steps held straight at one place for 3 rows (columns), relative to all steps, on no fixed grid | codec error (block edges of quantised, lost or displaced blocks) |
| thin_dark | share of pixels in dark details under 5 px wide (black top-hat, 5x5 disc, 13 grey levels deep) | rain (streak gaps, drop rims) vs dirty lens and veils |
| log_side | not an effect: log of the native short side, the covariate of the size correction | none (left out of the detector's distance) |

flat_windows, light_split and grey_edge_share were written for the conditions the others hardly saw (issue 11 item 4), each for
the condition's physics rather than for one rendering of it. Single-statistic AUROC, clean crops
against levels 3-5 through JPEG q90, rendering A / B (300 calibration-side crops, docs/DESIGN.md
§5.3): flat_windows on codec error 0.92 / 0.92 (block_edge: 0.46 / 0.44, its lost blocks are not on
the 64-px 8-grid), light_split on shadow 0.92 / 0.88 (banding: 0.84 / 0.73), grey_edge_share on
dirty lens 0.89 / 0.71 (achromatic_edges: 0.71 / 0.64).
block_seams (issue 11, codec error B -> A) on codec error, screened on the calibration tracks of
scripts/wire_loro_check.sh's sets (554 clean frames against 200 per level, JPEG q90, /tmp one-off script):
levels 3 / 4 / 5 0.77 / 0.84 / 0.88 in A, 0.82 / 0.89 / 0.92 in B; blur, noise and snow lower it (AUROC 0.01-0.12
at level 4), so it separates codec error in a direction no other condition takes.
thin_dark (issue 11, rain; 200 crops of the
calibration tracks of the seed-0 split, same protocol): rain 0.99 / 0.81 (speck_dark 0.72 / 0.55, vertical_energy
0.87 / 0.51, coherence 0.75 / 0.29), and rain above dirty lens 1.00 / 0.87.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import cv2
import numpy as np

from monitor.preprocess import PREPARED_SIZE, prepare_frames

FEATURE_SIZE = PREPARED_SIZE

FEATURE_NAMES: tuple[str, ...] = (
    "bright_mean",
    "bright_std",
    "clip_high",
    "clip_low",
    "contrast",
    "dark_channel",
    "sat_mean",
    "sat_std",
    "blue_ratio",
    "red_ratio",
    "lap_logvar",
    "fine_coarse",
    "noise_sigma",
    "speck_bright",
    "speck_dark",
    "vertical_energy",
    "coherence",
    "chroma_noise",
    "block_edge",
    "block_var_spread",
    "smooth_blocks",
    "row_profile",
    "col_profile",
    "center_border",
    "achromatic_edges",
    "banding",
    # issue 11 item 4 (appended so other statistics can be added before them without reordering)
    "flat_windows",
    "light_split",
    "grey_edge_share",
    "block_seams",
    "thin_dark",
    "log_side",
)
# Not an image statistic: log of the frame's native short side, the covariate the detector
# regresses the statistics on (calibration.detector.SizeCorrection) and leaves out of its distance.
SIDE_FEATURE = "log_side"
# The statistics that measure detail per pixel, so depend on the scale they are computed at: the
# ones _sharpness_and_noise computes. The detector corrects these for the crop's size; the others
# are means, fractions and profiles of the 64x64 copy (scripts/scale_check.py: correlations with
# size there come from which signs are large in the data, not from the resize).
SCALE_DEPENDENT: tuple[str, ...] = (
    "lap_logvar",
    "fine_coarse",
    "noise_sigma",
    "speck_bright",
    "speck_dark",
    "vertical_energy",
    "coherence",
    "chroma_noise",
)

_EPS = 1e-6


def resize_batch(frames: Sequence[np.ndarray] | np.ndarray, size: int = FEATURE_SIZE) -> np.ndarray:
    """Frames (uint8 BGR or grey, any size) -> (N, size, size, 3) uint8 BGR: the frames' prepared
    copies (monitor.preprocess.prepare_frames), the same the model's input is made from."""
    for i, f in enumerate(frames):
        dtype = np.asarray(f).dtype
        if dtype != np.uint8:  # as_uint8_image would rescale uint16 and float frames; these are refused
            raise ValueError(f"frame {i} has dtype {dtype}, expected uint8")
    return prepare_frames(frames, size)


_K_LAP = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)
# Immerkaer (1996): this kernel cancels smooth image structure up to second order, leaving noise
# (computed exactly in integers by _int_laplacian, as the Laplacian of full-size planes is).
_K_NOISE = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)

# Hot path (issue 13: the calibrated hook's cost per frame). What makes it fast, measured by
# scripts/features_speed.py: a batch is cut into chunks of _CHUNK frames, so a chunk's float planes
# stay near the core (in one piece, a batch of 256 cost about 1.4x a batch of 64 per frame; chunks
# of 32 cost more than 64 in calls, 128 no less); every plane is made once, contiguous (cv2.split,
# not strided channel views), and a float plane of uint8 levels is a conversion and one float32
# multiply in place (_unit: bit-identical to the table lookup cv2.LUT(u8, _UNIT), and 0.7 us per
# frame against its 1.3 for a 64x64 plane; a lookup stays for the log table); differences of
# shifted views and row sums are OpenCV calls on the 2-D tall image (numpy's shifted 3-D slices
# cost 3-4x more); counts of a condition are sums of its uint8 view.
# tests/test_features_golden.py holds the statistics to the ones the plain numpy code gave.
# Issue 13, second pass (features_speed.py --ref main, 1,024 crops, chunks of 64: 137.2 -> 103.5
# us per frame, 2026-12-01): what is exact in integers is computed
# in uint8 / int16 (3x3 filters of the levels, flat windows, centre and channel sums), where a
# plane seen as one 1-D array makes every shift one contiguous pass (_int_laplacian, _windows4);
# sums of squares of contiguous tiles are np.vecdot (BLAS dots), with the tiles' rims zeroed in
# place instead of strided interior views; and few float planes are held at once: every MB more
# alive per chunk measurably slowed all parts (and holding many temporaries pushed glibc's heap
# over its trim threshold: page faults on every chunk). bright_std and the row / column profiles
# keep numpy's float32 summation order: their values are differences of nearly equal sums.
_CHUNK = 64
_LEVEL = np.arange(256, dtype=np.float32)
_UNIT = _LEVEL * (1.0 / 255.0)  # level -> float32 in [0, 1], as uint8 * (1 / 255)
_LOG_UNIT = np.log(_UNIT + 0.02)  # level -> the log-luminance _light_versus_colour reads


def _unit(u8: np.ndarray) -> np.ndarray:
    """uint8 levels -> float32 level * float32(1 / 255), the same bits as cv2.LUT(u8, _UNIT)."""
    out = u8.astype(np.float32)
    out *= np.float32(1.0 / 255.0)
    return out


def _filt_full(tall: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """3x3 float32 filter of a tall image, every pixel (the tiles' outer rows mixed with the next)."""
    return cv2.filter2D(tall, cv2.CV_32F, kernel, borderType=cv2.BORDER_REPLICATE)


def _row_sums(tall: np.ndarray, n: int) -> np.ndarray:
    """(N*S, W) uint8 tall image -> (N, S) int32 sums of each tile's rows (exact)."""
    return cv2.reduce(tall, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n, -1)


def _dx(tall: np.ndarray, n: int, step: int = 1, op: Callable = cv2.subtract) -> np.ndarray:
    """(N*S, S) tall image -> (N, S, S-step) differences a[:, x+step] - a[:, x] of each tile
    (op=cv2.absdiff: their absolute values)."""
    return op(tall[:, step:], tall[:, :-step]).reshape(n, tall.shape[0] // n, -1)


def _count(mask: np.ndarray) -> np.ndarray:
    """Number of True per image of an (N, ...) bool array: row sums of its bytes (count_nonzero with
    an axis converts every element to an integer first)."""
    u8 = np.ascontiguousarray(mask).view(np.uint8).reshape(len(mask), -1)
    return cv2.reduce(u8, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[:, 0].astype(np.int64)


def _msq(x: np.ndarray) -> np.ndarray:
    """Mean square per image of (N, A, B) or (N, A) -> (N,), without copying strided views."""
    if x.ndim == 3:
        return np.einsum("ijk,ijk->i", x, x) / (x.shape[1] * x.shape[2])
    return np.einsum("ij,ij->i", x, x) / x.shape[1]


_BAND_ANGLES = np.radians(np.arange(-45, 46, 15))
_BAND_BINS = 32


def _band_matrices(s: int) -> tuple[np.ndarray, np.ndarray]:
    """(s*s, angles*bins) averaging matrix: pixel -> bin of its coordinate across the band
    direction; and the (bins, bins) projector that removes a quadratic trend from a profile."""
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64) - (s - 1) / 2.0
    mats = []
    for ang in _BAND_ANGLES:
        t = (yy * np.cos(ang) + xx * np.sin(ang)).ravel()
        inside = np.abs(t) < 0.95 * s / 2  # corners make short, noisy bins
        b = np.clip(((t + s / 2) / s * _BAND_BINS).astype(int), 0, _BAND_BINS - 1)
        a = np.zeros((s * s, _BAND_BINS))
        a[np.flatnonzero(inside), b[inside]] = 1.0
        mats.append(a / np.maximum(a.sum(0, keepdims=True), 1.0))
    u = np.linspace(-1, 1, _BAND_BINS)
    v = np.stack([np.ones_like(u), u, u * u], axis=1)
    proj = np.eye(_BAND_BINS) - v @ np.linalg.pinv(v)
    return np.concatenate(mats, axis=1).astype(np.float32), proj.T.astype(np.float32)


def _band_halves(s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The band profiles' matrices folded on the frame's vertical midline (hot path: half the
    multiply-adds). The angles come in mirror pairs (-a, a) (and 0 is its own mirror): a's matrix
    is -a's with x flipped. With u = L + flip(L) and d = L - flip(L) of a log-luma image L, both
    determined by their left halves, profile_a(L) = (profile_a(u) + profile_a(d)) / 2 and
    profile_-a(L) = (profile_a(u) - profile_a(d)) / 2. The angle 0's bins are rows: its profile is
    the image's row sums times an (s, bins) matrix, a seventh of the multiply-adds taken out of the
    large products (moves banding by at most 1.2e-6 on the 1,236 BelgiumTSC crops).
    Returns the (s*s/2, 3*bins) matrices for u and d (angles 15, 30, 45), the (s, bins) one for the
    row sums, and the (bins, bins) trend projector."""
    amat, proj = _band_matrices(s)
    a = amat.reshape(s, s, len(_BAND_ANGLES), _BAND_BINS)
    left, right = a[:, : s // 2], a[:, : s // 2 - 1 : -1]  # right: mirrored onto the left half
    mid = len(_BAND_ANGLES) // 2  # the angle 0
    m_u = (0.5 * (left + right))[:, :, mid + 1 :].reshape(s * s // 2, -1)
    m_d = (0.5 * (left - right))[:, :, mid + 1 :].reshape(s * s // 2, -1)
    rows = a[:, :, mid]  # (s, s, bins): the same weights along each row
    assert (rows == rows[:, :1]).all()
    return np.ascontiguousarray(m_u), np.ascontiguousarray(m_d), np.ascontiguousarray(rows[:, 0]), proj


_BAND_CACHE: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
_FRAME_INDEX: dict[tuple[int, int], np.ndarray] = {}  # (N, S) -> (N*S, S) uint8 image of each pixel's frame


class _Planes(NamedTuple):
    """The batch's planes the statistics are computed from (N frames of S x S), each (N*S, S): the
    frames stacked into one tall image, so pointwise work and 3x3 filters are one OpenCV call."""

    n: int
    s: int
    tall: np.ndarray  # float32 luma in [0, 1]
    g: np.ndarray  # (N, S, S) view of tall
    flat: np.ndarray  # (N, S*S) view of tall
    g8: np.ndarray  # uint8 luma
    b8: np.ndarray  # uint8 colour planes
    gr8: np.ndarray
    r8: np.ndarray
    mx8: np.ndarray  # uint8 max / min over the colours
    mn8: np.ndarray


def _planes(batch: np.ndarray) -> _Planes:
    n, s = batch.shape[0], batch.shape[1]
    big = batch.reshape(n * s, s, 3)
    g8 = cv2.cvtColor(big, cv2.COLOR_BGR2GRAY)
    tall = _unit(g8)
    g = tall.reshape(n, s, s)
    b8, gr8, r8 = cv2.split(big)
    mx8, mn8 = cv2.max(cv2.max(b8, gr8), r8), cv2.min(cv2.min(b8, gr8), r8)
    return _Planes(n, s, tall, g, g.reshape(n, -1), g8, b8, gr8, r8, mx8, mn8)


def _grey_histograms(p: _Planes) -> np.ndarray:
    """(N, 256) int64 histogram of each frame's uint8 luma: one 2-D histogram (luma, frame index)."""
    key = (p.n, p.s)
    if key not in _FRAME_INDEX:
        _FRAME_INDEX[key] = np.repeat(np.arange(p.n, dtype=np.uint8), p.s * p.s).reshape(p.n * p.s, p.s)
    hist = cv2.calcHist([p.g8, _FRAME_INDEX[key]], [0, 1], None, [256, p.n], [0, 256, 0, p.n])
    return hist.T.astype(np.int64)  # counts up to S*S: exact in float32


def _exposure_and_colour(p: _Planes) -> dict[str, np.ndarray]:
    """Brightness level, spread, clipping and contrast; colourfulness and colour cast."""
    n, flat = p.n, p.flat
    f: dict[str, np.ndarray] = {}
    mean = flat.mean(1)
    f["bright_mean"] = mean
    f["bright_std"] = np.sqrt(np.maximum(_msq(flat) - mean**2, 0.0))
    npx = flat.shape[1]
    # One 256-bin histogram per frame gives the clipped fractions and the percentiles without sorting.
    hist = _grey_histograms(p)
    cum = np.cumsum(hist, axis=1)
    f["clip_high"] = np.sqrt(hist[:, 250:].sum(1) / npx)  # sqrt spreads a tail that is mostly ~0
    f["clip_low"] = np.sqrt(hist[:, :6].sum(1) / npx)
    p5 = np.count_nonzero(cum <= 0.05 * npx, axis=1)  # first grey level whose cdf passes 5 %
    p95 = np.count_nonzero(cum <= 0.95 * npx, axis=1)
    f["contrast"] = (p95 - p5) * (1.0 / 255.0)
    f["dark_channel"] = _row_sums(p.mn8, n).sum(1) / (255.0 * npx)  # integer sums: exact
    f.update(_saturation(p))
    # Integer channel sums: exact, as float64 sums of the levels were.
    tot = np.stack([_row_sums(c, n).sum(1, dtype=np.int64) for c in (p.b8, p.gr8, p.r8)], axis=1) + _EPS
    f["blue_ratio"] = tot[:, 0] / tot.sum(1)
    f["red_ratio"] = tot[:, 2] / tot.sum(1)
    return f


def _saturation(p: _Planes) -> dict[str, np.ndarray]:
    """Colourfulness: mean and std of (max - min) / (max + 0.05) over the colours, in [0, 1] (+0.05:
    dark pixels have no reliable hue). Made from the uint8 levels as (max - min) / (max + 12.75):
    4 float passes instead of 7 (two float planes made and subtracted); the quotients differ from
    the [0, 1] ones by float32 rounding; the mean square is a BLAS dot (sat_mean, sat_std move by
    at most 1.2e-7, 7.6e-7 on the 1,236 crops)."""
    sat = cv2.subtract(p.mx8, p.mn8).astype(np.float32)
    den = p.mx8.astype(np.float32)
    den += np.float32(0.05 * 255.0)
    sat /= den
    sat = sat.reshape(p.n, -1)
    sat_mean = sat.mean(1)
    return {"sat_mean": sat_mean, "sat_std": np.sqrt(np.maximum(np.vecdot(sat, sat) / sat.shape[1] - sat_mean**2, 0.0))}


def _sharpness_and_noise(p: _Planes) -> dict[str, np.ndarray]:
    """Laplacian energy at two scales, the noise estimate, isolated specks; rain streaks'
    direction; colour noise (relative to the luma's Laplacian energy)."""
    n, s, tall = p.n, p.s, p.tall
    f: dict[str, np.ndarray] = {}
    px = (s - 2) ** 2  # each tile's interior
    # The 3x3 filters of the luma in exact int16 levels (_int_laplacian), each tile's rim zeroed
    # so whole-tile sums and counts are the interior's; the levels' 1/255 applied to the sums.
    lap16, noise16 = (_zero_rims(a, n) for a in _int_laplacian(p.g8.astype(np.int16), noise=True))
    # The pixel minus the mean of its 8 neighbours is -(3 lap + noise) / 8 (3 _K_LAP + _K_NOISE is 1
    # on the 8 neighbours, -8 at the centre): over 0.12 (in [0, 1]) when 3 lap + noise < -244.8
    # levels, i.e. <= -245; one pass over the two filters' outputs instead of a third filter.
    # Integer thresholds: against a Python float numpy would compare in float64 (6x the time).
    resid = lap16 * np.int16(3)  # within 3 * 8 * 255 + 16 * 255: int16
    resid += noise16
    f["speck_bright"] = np.sqrt(_count((resid <= -245).reshape(n, -1)) / px)
    f["speck_dark"] = np.sqrt(_count((resid >= 245).reshape(n, -1)) / px)
    del resid
    lap_var = _sumsq(lap16.astype(np.float32), n) / (255.0**2 * px) + 1e-7  # the Laplacian's mean is ~0
    f["lap_logvar"] = np.log(lap_var)
    h = s // 2
    g2 = cv2.resize(tall, (h, n * h), interpolation=cv2.INTER_AREA)  # 2x2 means; tiles stay aligned
    lap2_var = _sumsq(_zero_rims(_filt_full(g2, _K_LAP), n), n) / (h - 2) ** 2 + 1e-7
    f["fine_coarse"] = np.log(lap_var / lap2_var)
    np.abs(noise16, out=noise16)  # row sums under 2^24: exact in float32
    m = cv2.reduce(noise16, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32F).reshape(n, s).sum(1) / (255.0 * px)
    f["noise_sigma"] = np.log(m * (np.sqrt(np.pi / 2) / 6.0) + 1e-5)
    jxx, jyy, jxy = _structure_tensor(tall, n)
    f["vertical_energy"] = jxx / (jxx + jyy + _EPS)
    f["coherence"] = np.sqrt((jxx - jyy) ** 2 + 4 * jxy**2) / (jxx + jyy + _EPS)
    # Colour noise: Laplacian energy of the opponent channels (R-G, B-G) relative to the luma's;
    # both planes stacked into one image of 2N tiles.
    opp = np.empty((2 * n * s, s), dtype=np.int16)
    np.subtract(p.r8, p.gr8, out=opp[: n * s], dtype=np.int16)
    np.subtract(p.b8, p.gr8, out=opp[n * s :], dtype=np.int16)
    lap = _zero_rims(_int_laplacian(opp)[0], 2 * n).astype(np.float32)
    chroma = _sumsq(lap, 2 * n).reshape(2, n) / (255.0**2 * px)
    f["chroma_noise"] = np.log(chroma[0] + chroma[1] + 1e-7) - np.log(lap_var)
    return f


def _int_laplacian(a: np.ndarray, noise: bool = False) -> tuple[np.ndarray, ...]:
    """The 3x3 Laplacian (_K_LAP) of a tall int16 image of levels (|values| <= 255), exact in int16,
    at every pixel whose 3x3 neighbourhood is in the image (the others 0; the tiles' rims mix with
    the next tile and are dropped by the caller); with noise, also the Immerkaer kernel _K_NOISE
    (the second difference across, then down). The image seen as one 1-D array: a shift by 1 is a
    step across a column, by S one down a row, so each difference is one pass over contiguous int16
    (cheaper than float32 3x3 filter2D on a 64-px-wide image, which pays per row)."""
    s = a.shape[1]
    v = a.ravel()
    m = v.size - 2 * s - 2  # centres s + 1 .. size - s - 2
    d = v[1:] - v[:-1]
    d2x = d[1:] - d[:-1]  # centred at i + 1
    d = v[s:] - v[:-s]
    d2y = d[s:] - d[:-s]  # centred at i + s
    del d
    lap = _ends_zeroed(v, s + 1, m)
    np.add(d2x[s : s + m], d2y[1 : 1 + m], out=lap[s + 1 : s + 1 + m])
    if not noise:
        return (lap.reshape(a.shape),)
    del d2y
    e = d2x[s:] - d2x[:-s]
    out = _ends_zeroed(v, s + 1, m)
    np.subtract(e[s:], e[:-s], out=out[s + 1 : s + 1 + m])  # centred at i + s + 1
    return lap.reshape(a.shape), out.reshape(a.shape)


def _ends_zeroed(like: np.ndarray, start: int, length: int) -> np.ndarray:
    """An empty array like `like` whose elements outside [start, start + length) are 0 (cheaper
    than zeroing all of it when the middle is written next)."""
    out = np.empty_like(like)
    out[:start], out[start + length :] = 0, 0
    return out


def _structure_tensor(tall: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) sums of gx^2, gy^2 and gx gy over each tile's interior, gx and gy the central
    differences (the same float32 subtraction a [-1, 0, 1] filter makes): both stored as (N*S, S-2)
    images of the same layout (column x - 1 for the pixel x), each tile's first and last row zeroed,
    so the sums are dots of contiguous rows."""
    s = tall.shape[1]
    gx = cv2.subtract(tall[:, 2:], tall[:, :-2])  # large across vertical streaks
    gy = np.empty_like(gx)
    cv2.subtract(tall[2:, 1:-1], tall[:-2, 1:-1], dst=gy[1:-1])  # rows 0 and N*S-1 zeroed below
    for a in (gx, gy):
        tiles = a.reshape(n, s, s - 2)
        tiles[:, 0], tiles[:, -1] = 0.0, 0.0
    gx, gy = gx.reshape(n, -1), gy.reshape(n, -1)
    return np.vecdot(gx, gx), np.vecdot(gy, gy), np.vecdot(gx, gy)


def _zero_rims(full: np.ndarray, n: int) -> np.ndarray:
    """A (N*S, S) tall image with each tile's outer rows and columns set to 0 (in place), so a sum
    over the whole tile is one over its interior."""
    s = full.shape[1]
    tiles = full.reshape(n, s, s)
    tiles[:, 0], tiles[:, -1] = 0.0, 0.0
    full[:, 0], full[:, -1] = 0.0, 0.0
    return full


def _sumsq(a: np.ndarray, n: int) -> np.ndarray:
    """(N,) sums of squares of the N tiles of a contiguous tall image: one BLAS dot per tile
    (np.vecdot: a third of einsum's time). Not for bright_std: its float32 sum must stay einsum's
    (a uniform frame's spread is the rounding of mean square minus squared mean)."""
    t = a.reshape(n, -1)
    return np.vecdot(t, t)


def _blocks_and_layout(p: _Planes, mean: np.ndarray) -> dict[str, np.ndarray]:
    """Block-grid artefacts, local contrast of 8x8 blocks, banding of rows and columns, centre
    against border (`mean`: each frame's mean brightness)."""
    n, s, tall, g = p.n, p.s, p.tall, p.g
    f: dict[str, np.ndarray] = {}
    # Block grid: neighbour differences across 8-px block boundaries vs inside blocks, on the uint8
    # luma (exact integers; the last row of each tile's dy is the step into the next tile, dropped).
    # uint16 sums: at most S * 255.
    dx = cv2.absdiff(p.g8[:, 1:], p.g8[:, :-1]).reshape(n, s, s - 1).sum(1, dtype=np.uint16)  # (N, S-1)
    dy_all = np.empty((n * s, s), dtype=np.uint8)
    cv2.absdiff(p.g8[1:], p.g8[:-1], dst=dy_all[:-1])
    dy = _row_sums(dy_all, n)[:, :-1]  # (N, S-1): row i is between rows i and i+1
    on = np.zeros(s - 1, dtype=bool)
    on[7::8] = True
    edge_on = (dx[:, on].mean(1) + dy[:, on].mean(1)) / (255.0 * s)
    edge_off = (dx[:, ~on].mean(1) + dy[:, ~on].mean(1)) / (255.0 * s)
    f["block_edge"] = np.log((edge_on + 1e-4) / (edge_off + 1e-4))

    nb = (s // 8) ** 2
    bm = cv2.resize(tall, (s // 8, n * s // 8), interpolation=cv2.INTER_AREA).reshape(n, nb)
    bsq = cv2.resize(cv2.multiply(tall, tall), (s // 8, n * s // 8), interpolation=cv2.INTER_AREA).reshape(n, nb)
    bvar = np.maximum(bsq - bm * bm, 0.0)  # (N, 64) local contrast of 8x8 blocks
    lbv = np.log(bvar + 1e-6)
    f["block_var_spread"] = lbv.std(1)
    med = np.partition(bvar, nb // 2, axis=1)[:, nb // 2 : nb // 2 + 1]
    f["smooth_blocks"] = np.count_nonzero(bvar < 0.05 * med + 1e-6, axis=1) / nb
    # float32 means as numpy makes them: these profiles' energies are small differences of large
    # means, so another summation order moves row_profile by up to 1e-4 (measured on 3,636 frames).
    rows = g.mean(2)  # (N, S)
    cols = g.mean(1)
    f["row_profile"] = _banding(rows)
    f["col_profile"] = _banding(cols)
    q = s // 4
    # The centre's mean from exact integer row sums of the uint8 luma (no copy of the strided block).
    centre = _row_sums(p.g8[:, q : s - q], n)[:, q : s - q].sum(1) / (255.0 * (s - 2 * q) ** 2)
    border = (mean * s * s - centre * (s - 2 * q) ** 2) / (s * s - (s - 2 * q) ** 2)
    f["center_border"] = centre - border
    return f


def _light_versus_colour(p: _Planes) -> dict[str, np.ndarray]:
    """Edges in log-luminance against edges in chromaticity; straight bands in log-luminance."""
    n, s = p.n, p.s
    f: dict[str, np.ndarray] = {}
    # Shadow and grime change how much light arrives, not its colour: their edges are in
    # log-luminance only. Sign edges (red/white, blue/white) change chromaticity as well.
    ll = cv2.LUT(p.g8, _LOG_UNIT)  # log(luma + 0.02)

    def edge_energy(a: np.ndarray) -> np.ndarray:
        """Mean squared neighbour difference down rows plus across columns, each tile's own: the
        across-columns differences are contiguous tiles; the steps into the next tile zeroed."""
        dy = np.empty_like(a)
        cv2.subtract(a[1:], a[:-1], dst=dy[:-1])
        dy.reshape(n, s, s)[:, -1] = 0.0
        return (_sumsq(dy, n) + _sumsq(_dx(a, n), n)) / (s * (s - 1))

    e_l = edge_energy(ll)
    # Chromaticity r, g; the levels made float first (numpy's uint8 / float32 converts per element).
    r, g = p.r8.astype(np.float32), p.gr8.astype(np.float32)
    # Sums of integers: exact, as the uint8 -> float32 adds were; converted first, added in place
    # (cv2.add with a dtype conversion takes a slow generic path).
    tot_px = cv2.add(p.b8.astype(np.float32), g)
    cv2.add(tot_px, r, dst=tot_px)
    tot_px += 3.0
    e_c = edge_energy(r / tot_px) + edge_energy(g / tot_px)
    f["achromatic_edges"] = np.log(e_l + 1e-6) - np.log(e_c + 1e-6)
    f["banding"] = _band_strength(ll.reshape(n, s, s))
    return f


def _band_strength(ll: np.ndarray) -> np.ndarray:
    """Log of the strongest band pattern's energy: (N, S, S) log-luma -> (N,) (see _band_halves)."""
    n, s = ll.shape[0], ll.shape[1]
    if s not in _BAND_CACHE:
        _BAND_CACHE[s] = _band_halves(s)
    m_u, m_d, m_rows, proj = _BAND_CACHE[s]
    # The right half mirrored onto the left by one flip of the tall image: numpy's sum with a
    # reversed 3-D view cost twice as much (2.7 against 1.2 us per frame for u and d; same values).
    tall = ll.reshape(n * s, s)
    left, right = tall[:, : s // 2], cv2.flip(tall, 1)[:, : s // 2]
    pu = (cv2.add(left, right).reshape(n, -1) @ m_u).reshape(n, -1, _BAND_BINS)  # angles 15, 30, 45
    pd = (cv2.subtract(left, right).reshape(n, -1) @ m_d).reshape(n, -1, _BAND_BINS)
    p0 = (cv2.reduce(tall, 1, cv2.REDUCE_SUM).reshape(n, s) @ m_rows)[:, None]  # angle 0
    prof = np.concatenate([pu - pd, p0, pu + pd], axis=1)  # -45..45 in any order
    resid = prof @ proj
    return np.log(resid.var(axis=2).max(axis=1) + 1e-6)


def _chunk_features(batch: np.ndarray) -> dict[str, np.ndarray]:
    """Every image statistic of (N, S, S, 3) uint8 BGR frames, by name."""
    p = _planes(batch)
    f = _exposure_and_colour(p)
    f.update(_sharpness_and_noise(p))
    f.update(_blocks_and_layout(p, f["bright_mean"]))
    f.update(_light_versus_colour(p))
    f.update(_hidden_conditions(batch, p))
    return f


def features_from_resized(batch: np.ndarray, log_side: np.ndarray | None = None) -> np.ndarray:
    """(N, S, S, 3) uint8 BGR -> (N, len(FEATURE_NAMES)) float32 statistics.

    log_side: (N,) log of each frame's native short side (native_log_side); None: log S."""
    n, s = batch.shape[0], batch.shape[1]
    out = np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32)
    if n == 0:
        return out
    if s % 8 or batch.shape[2] != s:
        raise ValueError(f"resized frames must be square with a side divisible by 8, got {batch.shape[1:3]}")
    batch = np.ascontiguousarray(batch)
    stats = [k for k in FEATURE_NAMES if k != SIDE_FEATURE]
    cols = [FEATURE_NAMES.index(k) for k in stats]
    for i in range(0, n, _CHUNK):  # each frame's statistics are its own: chunks change no value
        f = _chunk_features(batch[i : i + _CHUNK])
        out[i : i + _CHUNK, cols] = np.stack([f[k] for k in stats], axis=1)
    side = np.full(n, np.log(s)) if log_side is None else np.asarray(log_side, dtype=np.float64)
    out[:, FEATURE_NAMES.index(SIDE_FEATURE)] = side
    return out


def native_log_side(frames: Sequence[np.ndarray] | np.ndarray, native_sizes: Sequence | None = None) -> np.ndarray:
    """(N,) log of each frame's native short side: native_sizes[i] = (h, w) of the frame before any
    reduced-scale decode; None: the frames' own shapes."""
    if native_sizes is None:
        return np.log([max(min(np.shape(f)[:2]), 1) for f in frames]).astype(np.float64)
    if len(native_sizes) != len(frames):
        raise ValueError(f"native_sizes has {len(native_sizes)} entries for {len(frames)} frames")
    hw = np.asarray(native_sizes, dtype=np.float64)
    if hw.shape != (len(frames), 2) or not (hw >= 1).all():
        raise ValueError(
            f"native_sizes must be (h, w) pairs of at least 1 px, got {np.asarray(native_sizes).tolist()}"[:200]
        )
    return np.log(hw.min(axis=1))


def _banding(p: np.ndarray) -> np.ndarray:
    """Log energy of a brightness profile after removing its 8-px running mean (so slow gradients
    and the sign's own shape count less than regular bands)."""
    c = np.cumsum(cv2.copyMakeBorder(p, 0, 0, 4, 4, cv2.BORDER_REPLICATE), axis=1)  # np.pad's "edge", 12x faster
    smooth = (c[:, 8:] - c[:, :-8])[:, : p.shape[1]] / 8.0
    return np.log(((p - smooth) ** 2).mean(1) + 1e-6)


def image_features(frames: Sequence[np.ndarray] | np.ndarray, native_sizes: Sequence | None = None) -> np.ndarray:
    """Frames (uint8 BGR or grey, any size) -> (N, len(FEATURE_NAMES)) float32.

    native_sizes: (h, w) per frame before a reduced-scale decode (the log_side covariate); None:
    the frames' own shapes."""
    batch = resize_batch(frames)  # first: it refuses frames that are not uint8
    return features_from_resized(batch, native_log_side(frames, native_sizes))


# ---------------------------------------------------------------------------------------------
# Statistics for the conditions the ones above hardly see (issue 11 item 4): codec error, shadow,
# dirty lens. Each is written for the condition's physics, not for one rendering of it, and was
# kept only when it separated both renderings (monitor/challenges.py and monitor/renderings.py)
# from clean crops through the JPEG q90 wire (docs/DESIGN.md §5.3).

_HUE_BINS = 8  # a power of 2 (_light_split takes the bin modulo it with a mask)


def _flat_windows(p: _Planes) -> np.ndarray:
    """Share of 4x4 luma windows that are exactly flat. A codec that lost a block conceals it
    with one colour (its DC, grey, a smear) and coarse quantisation leaves DC-only blocks; a camera
    frame, even after JPEG q90, keeps sensor noise and texture in every window. The grid of the
    lost blocks is not the 64-px grid, so the windows slide everywhere (no grid assumed).

    Flat means a luma std under a quarter grey level. On the uint8 levels x of a window, 256 x its
    variance is D = 16 sum x^2 - (sum x)^2 = the sum over its pairs of (x_i - x_j)^2, and the
    threshold is D < 16: all 16 levels equal (D = 0), or all but one equal and that one a level
    away (D = 15; two a level away give 28). So a window is flat when max - min <= 1 and its sum
    modulo 16 is 0, 1 or 15: uint8 work only, the sum allowed to wrap. The same windows as the
    float32 box filters of the luma and its square counted (all 1,236 BelgiumTSC crops), in a
    fifth of the time."""
    n, s = p.n, p.s
    lo, hi, total = _windows4(p.g8.ravel(), s)
    flat = cv2.subtract(hi, lo) <= 1
    total += 1  # sums 15, 0, 1 (mod 16) -> 0, 1, 2
    flat &= (total & 15) <= 2
    # Window i has its top-left pixel at i; kept: those around the pixels 4 px in from the tile's
    # edges, as before (top-left 2 px in), none of which wraps into the next row or tile.
    kept = _padded(flat, n * s * s).reshape(n, s, s)[:, 2 : s - 6, 2 : s - 6]
    return _count(kept) / (s - 8) ** 2


def _padded(a: np.ndarray, size: int) -> np.ndarray:
    """1-D array a, zeros appended up to `size` elements."""
    out = np.zeros(size, dtype=a.dtype)
    out[: len(a)] = a
    return out


def _windows4(flat: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum, maximum and wrapping uint8 sum over the 4x4 window whose top-left pixel is at i of
    a uint8 plane of s-px rows seen as one 1-D array (length L - 3 s - 3): a shift by 1 along it is
    a step across a column, by s one down a row, so every op is one pass over contiguous memory
    (numpy's ops on column-shifted 2-D views cost 6x more, and cv2.add saturates). Windows that
    start within 3 px of a row's end wrap into the next row; the caller drops them."""

    def four(a: np.ndarray, step: int, op: Callable) -> np.ndarray:
        two = op(a[step:], a[:-step])
        return op(two[2 * step :], two[: -2 * step])

    return tuple(four(four(flat, 1, op), s, op) for op in (np.minimum, np.maximum, np.add))


class _Half(NamedTuple):
    """The half-size float planes the colour statistics of this block read: N frames of H x H
    stacked into (N*H, H) images, in [0, 1]."""

    n: int
    h: int
    b: np.ndarray
    g: np.ndarray
    r: np.ndarray
    rgb_sum: np.ndarray  # b + g + r
    luma: np.ndarray  # 0.114 b + 0.587 g + 0.299 r


def _half_planes(batch: np.ndarray) -> _Half:
    """Shadows and lens grime are large; at half size their statistics cost a quarter. Planes split
    once and made floats by table lookup (hot path: strided channel views cost several times more)."""
    n, s = batch.shape[0], batch.shape[1]
    h = s // 2
    half = cv2.resize(batch.reshape(n * s, s, 3), (h, n * h), interpolation=cv2.INTER_AREA)
    b, g, r = (_unit(c) for c in cv2.split(half))
    return _Half(n, h, b, g, r, b + g + r, 0.114 * b + 0.587 * g + 0.299 * r)


def _light_split(x: _Half) -> np.ndarray:
    """Log of the variance of log-luminance among pixels of the same chromatic hue (8 hue bins of
    saturated pixels, weighted by size), at half size. A sign's paint has one brightness per colour
    under even light; a shadow edge or band multiplies the light on part of it, which splits one
    hue into a lit and a shadowed brightness without changing the hue (chromaticity r, g is
    invariant to the light's level). Neutral pixels are left out: black and white differ in
    brightness by design."""
    n, h = x.n, x.h
    tot = x.rgb_sum + 0.03
    dr, dg = x.r / tot - 1.0 / 3.0, x.g / tot - 1.0 / 3.0
    ok = (dr * dr + dg * dg > 0.10**2) & (tot > 0.12)  # saturated and not too dark for a hue
    # The hue only of the pixels that count (same values on a subset). Their positions found once
    # and gathered from each plane: three boolean indexings cost 3.2 us per frame, more than the
    # arctan2. The bins are 0.._HUE_BINS (the last one is a full turn), so `& (_HUE_BINS - 1)` is
    # the `% _HUE_BINS` of a power of 2, cheaper on int64.
    at = np.flatnonzero(ok)
    hue = np.arctan2(dg.ravel()[at], dr.ravel()[at])
    hue = ((hue + np.pi) * (_HUE_BINS / (2 * np.pi))).astype(np.int64) & (_HUE_BINS - 1)
    ll = np.log(x.luma.ravel()[at] + 0.02)
    frame = np.repeat(np.arange(n), _count(ok.reshape(n, -1)))  # the frame of each selected pixel, in order
    idx = frame * _HUE_BINS + hue
    cnt, s1, s2 = (
        np.bincount(idx, weights=w, minlength=n * _HUE_BINS).reshape(n, _HUE_BINS) for w in (None, ll, ll * ll)
    )
    var = np.maximum(s2 / np.maximum(cnt, 1) - (s1 / np.maximum(cnt, 1)) ** 2, 0.0)
    w = np.where(cnt >= 0.03 * h * h, cnt, 0.0)  # hues covering under 3 % of the crop are edges and noise
    return np.log((var * w).sum(1) / np.maximum(w.sum(1), 1.0) + 1e-3)


def _grey_edge_share(x: _Half) -> np.ndarray:
    """Share of strong log-luminance edges (|dx| + |dy| > 0.25) with next to no chromaticity edge,
    at half size. The edges of grime, smudges and spots on the lens are edges of light (a
    brownish-grey veil or blot over everything behind it); a sign's own strong edges are mostly
    between paints of different colour."""
    tot = x.rgb_sum + 0.06
    r, g = x.r / tot, x.g / tot
    ll = np.log(x.luma + 0.03)

    def grad(a: np.ndarray) -> np.ndarray:
        """|central x difference| + |central y difference| of a (N*H, H) tall image, both stored
        at the pixel they are centred on: (N*H, H-2), columns 1..H-2, each tile's first and last
        row not an interior one. 2-D OpenCV calls: the same float32 sums as numpy's over the
        strided 3-D interiors, at lower cost."""
        gy = np.empty_like(a)
        cv2.absdiff(a[2:], a[:-2], dst=gy[1:-1])
        gy[0], gy[-1] = 0.0, 0.0  # outside every interior, but defined
        return cv2.add(cv2.absdiff(a[:, 2:], a[:, :-2]), gy[:, 1:-1])

    def interior(t: np.ndarray) -> np.ndarray:
        return t.reshape(x.n, x.h, -1)[:, 1:-1]

    strong = grad(ll) > 0.25
    chroma = grad(r)
    cv2.add(chroma, grad(g), dst=chroma)
    grey = strong & (chroma < 0.02)
    return _count(interior(grey)) / (_count(interior(strong)) + 5.0)


_SEAM_RUN = 3  # rows (columns) a step must hold, at the same place, to count as a straight seam


def _neighbours(a: np.ndarray, out: np.ndarray, down_rows: bool) -> tuple[np.ndarray, ...]:
    """Each inner pixel's neighbour before, itself and its neighbour after, down the rows
    (down_rows) or along them, as shifted views of a 2-D image a, and the part of `out` (same
    shape) at those pixels. The rest of `out`, its first and last row (column), is set to 0:
    outside every position kept, but defined."""
    if down_rows:
        out[0], out[-1] = 0, 0
        return a[:-2], a[1:-1], a[2:], out[1:-1]
    out[:, 0], out[:, -1] = 0, 0
    return a[:, :-2], a[:, 1:-1], a[:, 2:], out[:, 1:-1]


def _step2(d8: np.ndarray, across_cols: bool) -> np.ndarray:
    """A step, twice: 2 d[i] - d[i-1] - d[i+1] of the neighbour differences d8, across columns
    (rows), in int16 (within -510..510: exact). Adds and subtracts of shifted views: cheaper than
    a 3-tap cv2.filter2D (measured), the same integers."""
    d = d8.astype(np.int16)
    step2 = np.empty_like(d)
    before, centre, after, out = _neighbours(d, step2, down_rows=not across_cols)
    cv2.add(centre, centre, dst=out)
    cv2.subtract(out, before, dst=out)
    cv2.subtract(out, after, dst=out)
    return step2


def _held(step2: np.ndarray, down_rows: bool) -> np.ndarray:
    """The step held for _SEAM_RUN (3) rows (down_rows) or columns: the minimum over them, at the
    centre one (an erosion along the seam). Two cv2.min of shifted views: cheaper than cv2.erode
    with a 3x1 kernel (measured), the same integers."""
    held = np.empty_like(step2)
    before, centre, after, out = _neighbours(step2, held, down_rows)
    cv2.min(before, centre, dst=out)
    cv2.min(out, after, dst=out)
    return held


def _seam_share(d8: np.ndarray, n: int, across_cols: bool) -> np.ndarray:
    """(N,) mean seam step over mean step, for the uint8 absolute luma differences d8 of a tall image
    of N tiles: (N*S, S-1) across columns, or (N*S, S) across rows (each tile's last row the step
    into the next tile, left out). In integers, exactly: the float luma is the uint8 level / 255, so
    a step, its minimum over a run and the means are the integer ones / 255 (one pass of OpenCV
    each, instead of float temporaries; _step2 makes 2x the step, halved in the mean)."""
    s, k = d8.shape[0] // n, _SEAM_RUN
    held = cv2.max(_held(_step2(d8, across_cols), down_rows=across_cols), 0)
    # Positions whose step and run stay inside the tile: the first and last column (row) of d8
    # have no neighbour on one side, the first and last row (column) of a tile no run around them.
    row_sums = cv2.reduce(held[:, 1:-1], 1, cv2.REDUCE_SUM, dtype=cv2.CV_32F).reshape(n, s)  # integers < 2^24
    d_sums = cv2.reduce(d8, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n, s)
    if across_cols:
        seam, total = row_sums[:, 1:-1].sum(1, dtype=np.float64), d_sums.sum(1)
    else:
        seam, total = row_sums[:, 1 : s - 2].sum(1, dtype=np.float64), d_sums[:, :-1].sum(1)
    m, run_len = s - 3, s - k + 1  # the steps' and the runs' lengths
    mean_seam = seam / (2 * 255.0 * m * run_len)
    return mean_seam / (total / (255.0 * s * (s - 1)) + _EPS)


def _block_seams(p: _Planes) -> np.ndarray:
    """Log of the luma steps that form short straight seams, relative to all luma steps. Lossy coding
    codes blocks separately: coarse quantisation, a lost or displaced block all leave steps along
    the block's side, on a grid of any size and phase (the codec's blocks are not the 64-px copy's
    8 px). A step is the part of a neighbour difference above the mean of the two beside it (a ramp
    or texture has none); a seam is such a step held at the same column for _SEAM_RUN rows (or row,
    for columns), as a block edge is and a sign's curved or slanted edges are not. Blur and noise
    lower it (fewer steps; more steps everywhere), so it points in a direction of its own."""
    n, g8 = p.n, p.g8
    across_cols = cv2.absdiff(g8[:, 1:], g8[:, :-1])
    across_rows = np.empty_like(g8)
    cv2.absdiff(g8[1:], g8[:-1], dst=across_rows[:-1])
    across_rows[-1] = 0  # the last tile's step into nothing: left out, but defined
    return np.log(_seam_share(across_cols, n, True) + _seam_share(across_rows, n, False) + 1e-4)


_THIN_KERNEL = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
_THIN_DEPTH = 13  # grey levels (0.05 of full scale) a dark detail must lie under its surroundings


# _disc5 reads the disc as a 5 x 3 rectangle (rows -1..1) and a 1 x 5 column (its top and bottom).
assert (_THIN_KERNEL == np.pad(np.ones((3, 5), np.uint8), ((1, 1), (0, 0))) | np.pad([[1]] * 5, ((0, 0), (2, 2)))).all()


def _disc5(a: np.ndarray, op: Callable) -> np.ndarray:
    """The maximum (op=cv2.max: a dilation) or minimum (cv2.min: an erosion) of a 2-D uint8 image
    over the 5x5 disc _THIN_KERNEL, for the pixels 2 px or more inside the image: (H-4, W-4), row
    i the pixel at i+2. Runs of shifted views (5 = 2 + 2 + 1 across, 3 down for the rectangle, 5
    down for the column): the same integers as cv2.morphologyEx with the disc, in 0.7x the time."""
    across2 = op(a[:, :-1], a[:, 1:])
    across4 = op(across2[:, :-2], across2[:, 2:])
    across5 = op(across4[:, :-1], a[:, 4:])  # column j: the pixels j..j+4
    rect = op(op(across5[:-2], across5[1:-1]), across5[2:])  # row i: centred on i+1
    col = a[:, 2:-2]
    down2 = op(col[:-1], col[1:])
    down4 = op(down2[:-2], down2[2:])
    down5 = op(down4[:-1], col[4:])  # row i: centred on i+2
    return op(rect[1:-1], down5)


def _thin_dark(p: _Planes) -> np.ndarray:
    """Share of pixels in dark details under 5 px wide at 64x64 (the luma's black top-hat, 5x5 disc,
    at least 13 grey levels deep). Rain puts thin structure over the whole sign in any rendering of
    it: the gaps between bright streaks, the dark refracting rims of drops on the lens; a dirty lens
    and a veil smooth such detail away instead. Added because rain's direction statistics
    (vertical_energy, coherence) see streaks only and did not transfer to drops (module docstring)."""
    n, s = p.n, p.s
    # The black top-hat: closing (a dilation, then an erosion) minus the luma, 4 px in: the closing
    # reaches 2 + 2 px, so no pixel kept reads the next tile (tall row i: the pixel at i + 4).
    hat = cv2.subtract(_disc5(_disc5(p.g8, cv2.max), cv2.min), p.g8[4:-4, 4:-4])
    rows = cv2.reduce((hat >= _THIN_DEPTH).view(np.uint8), 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S)[:, 0]
    # Padded to N*S rows, tile t's kept rows are t*S .. t*S + S-9.
    rows = np.concatenate([rows, np.zeros(8, rows.dtype)]).reshape(n, s)[:, : s - 8]
    return rows.sum(1) / (s - 8) ** 2


def _hidden_conditions(batch: np.ndarray, p: _Planes) -> dict[str, np.ndarray]:
    """The statistics aimed at codec error, shadow, dirty lens and rain."""
    x = _half_planes(batch)
    return {
        "flat_windows": _flat_windows(p),
        "light_split": _light_split(x),
        "grey_edge_share": _grey_edge_share(x),
        "block_seams": _block_seams(p),
        "thin_dark": _thin_dark(p),
    }
