#!/usr/bin/env python3
"""How different are renderings A and B of the 12 challenges, for the detector's image statistics?

For ~100 real crops: calibration.features.image_features of the clean crops and of each challenge
in rendering A and in rendering B at one level. Per challenge it prints, in clean-frame standard
deviations per feature (z units):
  A-clean, B-clean: RMS over features of (family mean - clean mean) / clean std (how far each
                    family moves the features away from clean);
  A-B:              RMS over features of (mean A - mean B) / clean std;
  max |A-B|:        the largest single-feature gap, and that feature's name.
Optionally writes a contact sheet: rows = challenges, columns = clean, A L3, B L3, A L5, B L5.

Usage: python scripts/rendering_check.py [--n 100] [--level 3] [--sheet /tmp/renderings_sheet.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.features import FEATURE_NAMES, image_features  # noqa: E402
from monitor.challenges import apply_rendering  # noqa: E402
from monitor.cure_tsr import CHALLENGE_TYPES, list_images, load_image  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"


def sample_crops(data: Path, n: int, seed: int) -> list[np.ndarray]:
    paths = list_images(data)
    pick = np.random.default_rng(seed).choice(len(paths), size=min(n, len(paths)), replace=False)
    return [load_image(paths[i]) for i in sorted(pick)]


def family_distances(crops: list[np.ndarray], level: int, seed: int) -> list[dict]:
    clean = image_features(crops).astype(np.float64)
    mu, sd = clean.mean(0), clean.std(0) + 1e-6
    rows = []
    for code in range(1, 13):
        means = {}
        for fam in ("A", "B"):
            rng = np.random.default_rng([seed, code, ord(fam)])
            feats = image_features([apply_rendering(c, code, level, rng, fam) for c in crops])
            means[fam] = (feats.astype(np.float64).mean(0) - mu) / sd
        gap = means["A"] - means["B"]
        rms = lambda v: float(np.sqrt(np.mean(v * v)))  # noqa: E731
        rows.append(
            {
                "challenge": CHALLENGE_TYPES[code],
                "A_clean": rms(means["A"]),
                "B_clean": rms(means["B"]),
                "A_B": rms(gap),
                "max_gap": float(np.abs(gap).max()),
                "max_feature": FEATURE_NAMES[int(np.abs(gap).argmax())],
            }
        )
    return rows


def contact_sheet(crops: list[np.ndarray], out: Path, seed: int, cell: int = 96) -> None:
    """Per crop a block of rows = challenges x columns (clean, A L3, B L3, A L5, B L5), side by side."""
    blocks = []
    for i, img in enumerate(crops):
        rows = []
        for code in range(1, 13):
            tiles = [img]
            for level in (3, 5):
                for fam in ("A", "B"):
                    tiles.append(apply_rendering(img, code, level, np.random.default_rng([seed, i, code, level]), fam))
            tiles = [
                cv2.resize(
                    t, (cell, cell), interpolation=cv2.INTER_AREA if min(t.shape[:2]) > cell else cv2.INTER_LINEAR
                )
                for t in tiles
            ]
            row = np.concatenate(tiles, axis=1)
            cv2.putText(row, CHALLENGE_TYPES[code][:10], (2, 11), cv2.FONT_HERSHEY_PLAIN, 0.8, (0, 255, 255), 1)
            rows.append(row)
        blocks.append(np.concatenate(rows, axis=0))
        blocks.append(np.full((blocks[-1].shape[0], 8, 3), 255, np.uint8))
    sheet = np.concatenate(blocks[:-1], axis=1)
    header = np.full((16, sheet.shape[1], 3), 255, np.uint8)
    for j, name in enumerate(("clean", "A L3", "B L3", "A L5", "B L5") * len(crops)):
        cv2.putText(header, name, (j * cell + (j // 5) * 8 + 4, 12), cv2.FONT_HERSHEY_PLAIN, 0.9, (0, 0, 0), 1)
    cv2.imwrite(str(out), np.concatenate([header, sheet], axis=0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--n", type=int, default=100, help="number of crops")
    ap.add_argument("--level", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sheet", help="write a contact sheet PNG here (3 crops)")
    ap.add_argument("--sheet-crops", default="", help="comma-separated crop paths under --data for the sheet")
    args = ap.parse_args(argv)
    crops = sample_crops(Path(args.data), args.n, args.seed)
    if args.sheet:
        chosen = (
            [load_image(Path(args.data) / p) for p in args.sheet_crops.split(",")] if args.sheet_crops else crops[:3]
        )
        contact_sheet(chosen, Path(args.sheet), args.seed)
        print(f"contact sheet: {args.sheet}")
    print(
        f"{len(crops)} crops, level {args.level}; distances in clean-frame standard deviations (RMS over "
        f"{len(FEATURE_NAMES)} features)"
    )
    print(f"{'challenge':15s} {'A-clean':>8s} {'B-clean':>8s} {'A-B':>8s} {'max|A-B|':>9s}  feature")
    for r in family_distances(crops, args.level, args.seed):
        print(
            f"{r['challenge']:15s} {r['A_clean']:8.2f} {r['B_clean']:8.2f} {r['A_B']:8.2f} {r['max_gap']:9.2f}  "
            f"{r['max_feature']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
