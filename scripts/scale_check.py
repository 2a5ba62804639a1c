#!/usr/bin/env python3
"""How much do the detector's image statistics follow the crop's size? (issue 11, docs/DESIGN.md §5)

On every clean crop of ../shared/data/belgiumtsc, passed through the producers' JPEG q90 wire:
  corr      Pearson correlation of each statistic with log(native short side);
  corr_cor  the same after the calibration's size correction (calibration.detector.fit_size_correction),
            fitted on half of the tracks and applied to the other half (so it is not in-sample);
  same_sign one physical sign seen at two distances: per track whose largest crop is at least
            RATIO times its smallest, the |difference| between those two crops' statistics in clean
            standard deviations, median over the tracks, raw and after the size correction (a
            scale-aware statistic keeps it small);
  halved    for crops with a short side >= 2 * MIN_SIDE: the crop and its half-size copy (area
            resize, then the wire), the same median |difference|. Not a far sign: the copy keeps the
            big crop's blur in sign units, so statistics of a 64 px copy barely see the change.

Usage: python scripts/scale_check.py [--data DIR] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.detector import fit_size_correction  # noqa: E402
from calibration.features import FEATURE_NAMES, SCALE_DEPENDENT, SIDE_FEATURE, image_features  # noqa: E402
from monitor.codec import WireEncoding  # noqa: E402
from monitor.cure_tsr import list_images, load_image, split_by_track, track_of  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"
MIN_SIDE = 48
RATIO = 1.5
STATS = [k for k in FEATURE_NAMES if k != SIDE_FEATURE]
SIDE = FEATURE_NAMES.index(SIDE_FEATURE)
FINE = [FEATURE_NAMES.index(k) for k in SCALE_DEPENDENT]


def corr(x: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of x (N, D) with u (N,)."""
    xc, uc = x - x.mean(0), u - u.mean()
    return (xc * uc[:, None]).sum(0) / (np.sqrt((xc**2).sum(0) * (uc**2).sum()) + 1e-12)


def cross_corrected(x: np.ndarray, paths: list[Path]) -> np.ndarray:
    """x with the size correction fitted on the other half of the tracks (two-fold, by track)."""
    a, _ = split_by_track(paths, 0.5, seed=0)
    in_a = np.isin(np.array([str(p) for p in paths]), [str(p) for p in a])
    out = np.empty_like(x)
    for fit_on in (in_a, ~in_a):
        out[~fit_on] = fit_size_correction(x[fit_on], SIDE, FINE).apply(x[~fit_on])
    return out


def track_pairs(paths: list[Path], sides: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices (smallest, largest crop) of each track whose largest short side >= RATIO x its smallest."""
    by_track: dict[str, list[int]] = {}
    for i, p in enumerate(paths):
        by_track.setdefault(track_of(p), []).append(i)
    pairs = [(min(ix, key=lambda i: sides[i]), max(ix, key=lambda i: sides[i])) for ix in by_track.values()]
    pairs = [(a, b) for a, b in pairs if sides[b] >= RATIO * sides[a]]
    return np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])


def median_gap(xa: np.ndarray, xb: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """Median over rows of |xa - xb| per statistic column (STATS), in units of sd."""
    cols = [FEATURE_NAMES.index(k) for k in STATS]
    return np.median(np.abs(xa[:, cols] - xb[:, cols]), 0) / sd


def two_sizes(crops: list[np.ndarray], wire: WireEncoding) -> tuple[np.ndarray, np.ndarray]:
    """Statistics of the big crops and of their half-size copies, both through the wire."""
    big = [c for c in crops if min(c.shape[:2]) >= 2 * MIN_SIDE]
    half = [cv2.resize(c, (c.shape[1] // 2, c.shape[0] // 2), interpolation=cv2.INTER_AREA) for c in big]
    return features_as_sent(big, wire), features_as_sent(half, wire)


def features_as_sent(crops: list[np.ndarray], wire: WireEncoding) -> np.ndarray:
    """Statistics of crops through the wire, with their sizes as sent (the round trip may decode at a reduced scale)."""
    return image_features(wire.roundtrip(crops), [c.shape[:2] for c in crops]).astype(np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    paths = list_images(args.data)
    wire = WireEncoding("jpeg", 90)
    crops = [load_image(p) for p in paths]
    x = features_as_sent(crops, wire)
    cols = [FEATURE_NAMES.index(k) for k in STATS]
    u = x[:, SIDE]
    sides = np.exp(u)
    print(f"{len(crops)} crops, {len({track_of(p) for p in paths})} tracks; short side px at 10/50/90 %: "
          f"{np.percentile(sides, [10, 50, 90]).round().astype(int).tolist()}")  # fmt: skip
    c_raw = corr(x[:, cols], u)
    c_cor = corr(cross_corrected(x, paths)[:, cols], u)
    sd = x[:, cols].std(0) + 1e-9
    fit = fit_size_correction(x, SIDE, FINE)
    xc = fit.apply(x)
    small, large = track_pairs(paths, sides)
    t_raw, t_cor = median_gap(x[small], x[large], sd), median_gap(xc[small], xc[large], sd)
    xb, xh = two_sizes(crops, wire)
    h_raw, h_cor = median_gap(xb, xh, sd), median_gap(fit.apply(xb), fit.apply(xh), sd)
    print(f"same sign: {len(small)} tracks whose largest crop is >= {RATIO} x the smallest; "
          f"halved: {len(xb)} crops with a short side >= {2 * MIN_SIDE} px")  # fmt: skip
    print(f"{'statistic':18s} {'corr':>6s} {'corrected':>9s}   same_sign {'corrected':>9s}   halved {'corrected':>9s}")
    rows = {}
    for i, k in enumerate(STATS):
        rows[k] = {"corr": c_raw[i], "corr_cor": c_cor[i], "same_sign": t_raw[i], "same_sign_cor": t_cor[i]}
        rows[k].update({"halved": h_raw[i], "halved_cor": h_cor[i]})
        print(
            f"{k:18s} {c_raw[i]:+6.2f} {c_cor[i]:+9.2f}   {t_raw[i]:9.2f} {t_cor[i]:9.2f}   {h_raw[i]:6.2f} {h_cor[i]:9.2f}"
        )
    fine = [STATS.index(k) for k in SCALE_DEPENDENT]
    summary = {
        "mean_abs_corr": float(np.abs(c_raw).mean()),
        "mean_abs_corr_cor": float(np.abs(c_cor).mean()),
        "mean_abs_corr_scale_dependent": float(np.abs(c_raw[fine]).mean()),
        "mean_abs_corr_scale_dependent_cor": float(np.abs(c_cor[fine]).mean()),
        "same_sign_scale_dependent": float(np.mean(t_raw[fine])),
        "same_sign_scale_dependent_cor": float(np.mean(t_cor[fine])),
        "halved_scale_dependent": float(np.mean(h_raw[fine])),
        "halved_scale_dependent_cor": float(np.mean(h_cor[fine])),
    }
    print(" ".join(f"{k} {v:.3f}" for k, v in summary.items()))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, default=float))


if __name__ == "__main__":
    main()
