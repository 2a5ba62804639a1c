#!/usr/bin/env python3
"""Write tests/data/features_golden.npz: the image statistics of 48 prepared 64x64 frames, the
reference tests/test_features_golden.py holds calibration/features.py's faster code to.

Frames: real BelgiumTSC crops of many sizes through JPEG q90 as the consumer decodes them, 24 of
them degraded first (monitor.challenges.apply_rendering: every condition code 1-12, levels 1-5,
renderings A and B, fixed seed), one grey-scale crop, one uniform grey and one black frame. The npz
keeps the prepared uint8 batch itself, so the test does not depend on the resize or the renderings.

Rerun only when a statistic's definition changes on purpose (and say so in the commit): the point
of the file is that speed work reproduces the statistics it was written from.

Usage: python scripts/features_golden.py [--out tests/data/features_golden.npz]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calibration.features import FEATURE_NAMES, features_from_resized, native_log_side  # noqa: E402
from monitor.challenges import apply_rendering  # noqa: E402
from monitor.codec import WireEncoding  # noqa: E402
from monitor.preprocess import prepare_frames  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "belgiumtsc"
OUT = ROOT / "tests" / "data" / "features_golden.npz"


def golden_frames(seed: int = 13) -> list[np.ndarray]:
    """48 frames as the consumer decodes them: 45 crops (24 degraded) and 3 synthetic ones."""
    paths = sorted(DATA.rglob("*.png"))
    rng = np.random.default_rng(seed)
    picks = sorted(rng.choice(len(paths), 45, replace=False))
    crops = [cv2.imread(str(paths[i])) for i in picks]
    frames = []
    for i, c in enumerate(crops):
        if i < 24:  # codes 1..12 twice, rendering A then B, levels cycling 1..5
            c = apply_rendering(c, i % 12 + 1, i % 5 + 1, rng, rendering="AB"[i // 12])
        frames.append(c)
    frames[-1] = cv2.cvtColor(frames[-1], cv2.COLOR_BGR2GRAY)
    frames = WireEncoding("jpeg", 90).roundtrip(frames)
    frames.append(np.full((80, 96, 3), 128, np.uint8))
    frames.append(np.zeros((64, 64, 3), np.uint8))
    frames.append(cv2.resize(crops[0], (300, 240), interpolation=cv2.INTER_CUBIC))  # a large one
    return frames


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    frames = golden_frames()
    batch = prepare_frames(frames)
    log_side = native_log_side(frames)
    feats = features_from_resized(batch, log_side)
    np.savez_compressed(args.out, batch=batch, log_side=log_side, features=feats, names=np.array(FEATURE_NAMES))
    print(f"wrote {args.out}: {feats.shape[0]} frames x {feats.shape[1]} statistics, {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
