"""Clean frame folders for scripts/wire_loro_check.sh: the leave-one-rendering-out figure of issue 11
measured through the real pipeline, on the same track-wise split as scripts/loro_wire_experiment.py.

Writes, as symbolic links to the BelgiumTSC crops (nothing is copied):
- OUT/calib_clean/<class>/<track>_<frame>.png: the calibration tracks of `splits(seed)`, as they are;
- OUT/test_clean/<class>/<chunk>_<frame>.png: the test tracks' frames in data order (the order the
  offline harness cuts its episodes from), cut into `--chunks` chunks of `--frames` frames. Each
  chunk is one "track" for `synth`, so `produce replay` plays it as one sequence: one 15-frame
  episode per condition and level, the same frames as the offline harness's episode of that index.
  A chunk lies in the class folder of its first frame (the sign header is nominal when a chunk
  crosses a class boundary, as the harness's episodes do).
With --model and no file there, trains the 20-epoch model on the training tracks first, as the
offline harness does (same seed, same tracks).

    .venv/bin/python scripts/wire_loro_sets.py --out runs/wirecheck [--model runs/loro/model.pt]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loro_wire_experiment import splits  # noqa: E402

from monitor.cure_tsr import track_of  # noqa: E402


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(src.resolve())


def write_calibration(paths: list[Path], out: Path) -> int:
    for p in paths:
        link(p, out / p.parent.name / p.name)
    return len(paths)


def write_test_chunks(paths: list[Path], out: Path, chunks: int, frames: int) -> int:
    """The first chunks x frames test frames, in data order, as `chunks` pseudo-tracks."""
    if len(paths) < chunks * frames:
        raise SystemExit(f"--chunks {chunks} x --frames {frames}: the test side has only {len(paths)} frames")
    for c in range(chunks):
        part = paths[c * frames : (c + 1) * frames]
        for k, p in enumerate(part):
            link(p, out / part[0].parent.name / f"{90000 + c:05d}_{k:05d}.png")
    return chunks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder for calib_clean/ and test_clean/")
    ap.add_argument("--seed", type=int, default=0, help="the track-wise split's seed (default 0)")
    ap.add_argument("--chunks", type=int, default=24, help="test episodes per condition and level (default 24)")
    ap.add_argument("--frames", type=int, default=15, help="frames per episode (default 15)")
    ap.add_argument("--model", type=Path, help="train the offline harness's model here when missing")
    args = ap.parse_args()
    train, calib, test = splits(args.seed)
    if args.model is not None and not args.model.exists():
        from monitor.train import train_model

        train_model(train, [track_of(p) for p in train], args.model, epochs=20, seed=args.seed)
    n = write_calibration(calib, args.out / "calib_clean")
    c = write_test_chunks(test, args.out / "test_clean", args.chunks, args.frames)
    print(
        f"calib_clean: {n} frames of {len({track_of(p) for p in calib})} tracks; test_clean: {c} chunks of {args.frames}"
    )


if __name__ == "__main__":
    main()
