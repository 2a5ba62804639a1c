#!/usr/bin/env python3
"""How strong are renderings A-R of the 12 challenges, per level, by neutral measures only?

Renderings C-R (monitor/rendering_c.py, _d.py, _e.py, _f.py, _g.py, _h.py, _i.py, _j.py, _k.py, _l.py, _m.py, _n.py, _o.py, _p.py, _q.py, _r.py) were written blind to the
project's detector, classifier and image statistics, so their strengths are compared with the
others' by two measures that know nothing of them, on the 64 px copy of each crop (the size the
detector sees):
  MAD:   mean absolute difference from the clean crop, 0-255 grey levels over the 3 channels;
  SLOSS: structure loss, 1 - the structure term of SSIM (local correlation in 7 x 7 windows of the
         grey copies): how much of the crop's pattern the effect destroyed, blind to brightness.
For each challenge, rendering and level it prints the mean over the crops and the 10th-90th
percentile spread of MAD (one draw per crop), and the mean SLOSS.

Usage: python scripts/rendering_strength.py [--n 60] [--levels 1,3,5] [--renderings A,B,C,D,E,F,G,H,I,J,K,L,M,N,O,P,Q,R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.challenges import apply_rendering  # noqa: E402
from monitor.cure_tsr import CHALLENGE_TYPES, list_images, load_image  # noqa: E402
from monitor.renderings import RENDERINGS, check_renderings  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"
SIDE = 64  # px: the detector's copy of a frame


def small(img: np.ndarray) -> np.ndarray:
    """The crop at SIDE x SIDE (area averaging when shrinking)."""
    shrink = min(img.shape[:2]) >= SIDE
    return cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images of the same shape, in grey levels."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _grey(img: np.ndarray) -> np.ndarray:
    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return g.astype(np.float32)


def structure_loss(a: np.ndarray, b: np.ndarray) -> float:
    """1 - the structure term of SSIM between the SIDE px grey copies of two images (0: same pattern)."""
    x, y = _grey(small(a)), _grey(small(b))
    mx, my = cv2.blur(x, (7, 7)), cv2.blur(y, (7, 7))
    cov = cv2.blur(x * y, (7, 7)) - mx * my
    sx = np.sqrt(np.maximum(cv2.blur(x * x, (7, 7)) - mx * mx, 0.0))
    sy = np.sqrt(np.maximum(cv2.blur(y * y, (7, 7)) - my * my, 0.0))
    c = (0.03 * 255) ** 2 / 2
    return float(1.0 - ((cov + c) / (sx * sy + c)).mean())


def sample_crops(data: Path, n: int, seed: int) -> list[np.ndarray]:
    paths = list_images(data)
    if not paths:
        raise SystemExit(f"{data}: no images")
    pick = np.random.default_rng(seed).choice(len(paths), size=min(n, len(paths)), replace=False)
    return [load_image(paths[i]) for i in sorted(pick)]


def measure(crops: list[np.ndarray], code: int, level: int, rendering: str, seed: int) -> dict:
    """MAD (mean, p10, p90) and mean SLOSS of one challenge, level and rendering over the crops."""
    mads, losses = [], []
    for i, img in enumerate(crops):
        out = apply_rendering(img, code, level, np.random.default_rng([seed, i, code, level]), rendering)
        mads.append(mean_abs_diff(small(out), small(img)))
        losses.append(structure_loss(out, img))
    p10, p90 = np.percentile(mads, (10, 90))
    return {"mad": float(np.mean(mads)), "p10": float(p10), "p90": float(p90), "sloss": float(np.mean(losses))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--n", type=int, default=60, help="number of crops")
    ap.add_argument("--levels", default="1,2,3,4,5")
    ap.add_argument("--renderings", default=",".join(RENDERINGS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        fams = check_renderings(args.renderings.split(","))
        levels = [int(v) for v in args.levels.split(",")]
    except ValueError as e:
        raise SystemExit(f"--renderings/--levels: {e}") from None
    crops = sample_crops(Path(args.data), args.n, args.seed)
    print(f"{len(crops)} crops at {SIDE} px; per rendering: MAD mean [p10-p90] / structure loss")
    print(f"{'challenge':15s} {'L':>2s}  " + "  ".join(f"{f:^24s}" for f in fams))
    for code in range(1, 13):
        for level in levels:
            cells = []
            for fam in fams:
                m = measure(crops, code, level, fam, args.seed)
                cells.append(f"{m['mad']:5.1f} [{m['p10']:5.1f}-{m['p90']:5.1f}] / {m['sloss']:.2f}")
            print(f"{CHALLENGE_TYPES[code]:15s} {level:2d}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
