#!/usr/bin/env python3
"""Per-part cost of the calibrated hook's image statistics (calibration/features.py, issue 13) and
of the frame preparation every frame goes through (monitor/preprocess.py): this worktree's code
against a reference revision's, side by side in one run.

On the first N BelgiumTSC crops' prepared 64x64 copies (monitor.preprocess.prepare_frames), the
statistics are computed on consecutive slices of each batch size, one thread (OpenCV and BLAS),
best of --repeat passes, in CPU time of this process (a shared machine's waits left out); each part's time is measured by wrapping the module's part functions.
Preparation: prepare_frames on the raw crops (the consumer's resize, in every frame's decode) and
to_model_input on the prepared copies (the model's input), in chunks of 64.

Usage: python scripts/features_speed.py [--ref main] [--frames 1024] [--batches 16 64 256]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: the consumer's setting (run_monitor.py)

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import calibration.features as current  # noqa: E402
import monitor.preprocess as current_pre  # noqa: E402
from cli.cputime import cpu_timed  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "belgiumtsc"
PARTS = (
    "_planes",
    "_exposure_and_colour",
    "_sharpness_and_noise",
    "_blocks_and_layout",
    "_light_versus_colour",
    "_hidden_conditions",
)


def load_reference(rev: str, file: str = "calibration/features.py") -> ModuleType:
    """A module's file as it is at git revision `rev`, imported under another name."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{file}"], capture_output=True, text=True, check=True
    ).stdout
    name = Path(file).stem + "_ref"
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def part_times(mod: ModuleType, batch: np.ndarray, size: int, repeat: int) -> dict[str, float]:
    """us per frame of each part (and 'total') over consecutive slices of `size` frames, best of `repeat`."""
    best: dict[str, float] = {}
    originals = {p: getattr(mod, p) for p in PARTS if hasattr(mod, p)}
    for _ in range(repeat):
        acc: dict[str, float] = {}
        for p, fn in originals.items():
            setattr(mod, p, cpu_timed(fn, p, acc))
        try:
            t = time.process_time()
            for i in range(0, len(batch), size):
                mod.features_from_resized(batch[i : i + size])
            acc["total"] = time.process_time() - t
        finally:
            for p, fn in originals.items():
                setattr(mod, p, fn)
        for k, v in acc.items():
            best[k] = min(best.get(k, np.inf), v * 1e6 / len(batch))
    return best


def preparation_times(pre: ModuleType, crops: list[np.ndarray], repeat: int) -> tuple[float, float]:
    """us per frame of prepare_frames on the raw crops and of to_model_input on the prepared copies,
    in chunks of 64, best of `repeat` each."""
    best = [np.inf, np.inf]
    prepared = pre.prepare_frames(crops)
    for _ in range(repeat):
        for j, (fn, data) in enumerate(((pre.prepare_frames, crops), (pre.to_model_input, prepared))):
            t = time.process_time()
            for i in range(0, len(crops), 64):
                fn(data[i : i + 64])
            best[j] = min(best[j], time.process_time() - t)
    return best[0] * 1e6 / len(crops), best[1] * 1e6 / len(crops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="main", help="git revision to compare with (default main)")
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    crops = [cv2.imread(str(p)) for p in sorted(DATA.rglob("*.png"))[: args.frames]]
    batch = current_pre.prepare_frames(crops)
    ref = load_reference(args.ref)
    print(f"{len(batch)} frames, us per frame (best of {args.repeat}), reference {args.ref} -> this worktree")
    for size in args.batches:
        before, after = part_times(ref, batch, size, args.repeat), part_times(current, batch, size, args.repeat)
        print(f"batch {size}:")
        for k in (*PARTS, "total"):
            b, a = before.get(k), after.get(k)
            fmt = lambda v: "   -" if v is None else f"{v:6.1f}"  # noqa: E731
            ratio = f"{b / a:5.2f}x" if b and a else ""
            print(f"  {k:22s} {fmt(b)} -> {fmt(a)}  {ratio}")
    before = preparation_times(load_reference(args.ref, "monitor/preprocess.py"), crops, args.repeat)
    after = preparation_times(current_pre, crops, args.repeat)
    for k, b, a in zip(("prepare_frames", "to_model_input"), before, after, strict=True):
        print(f"{k:24s} {b:6.1f} -> {a:6.1f}  {b / a:5.2f}x  (us per frame, chunks of 64)")


if __name__ == "__main__":
    main()
