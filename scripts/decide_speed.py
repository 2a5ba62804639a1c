#!/usr/bin/env python3
"""Per-part CPU cost of the calibrated hook's decisions (pipelines.alerting.CalibratedHook.decide,
issue 13: everything after the image statistics, on the consumer's main thread): this worktree's code
against a reference revision's, side by side in one run, and a check that both annotate the same
records, raise the same alert events and end with the same per-stream baselines (names, flags and
events exactly; numbers equal to 1e-9 relative).

Input: a calibration file (default /work/final-abcd/cal_ABC.yaml) and feature rows of a rendering it
was not fit on (default the test side tD of scripts/loro_wire_experiment.py's cached rows, the .npz
scripts/stream_replay_experiment.py keeps). 24 streams, each `--frames` frames long: clean stretches
of --clear frames (default 20: a run of 20 consecutive clean rows of one track, cycled when longer)
between 15-frame episodes of one condition at level 3, 4 or 5 (consecutive rows of that block). The streams are interleaved as the consumer sees them:
batches of 64-256 records, each a run of 1-12 consecutive frames of one stream after another, every
stream in its seq order. Baselines on and evidence on (the `baseline:` and `alerts:` defaults, as
`score` passes them).

Measured: CPU time of this process (time.process_time), one thread (BLAS and torch), best of
--repeat passes, us per frame. `total` is a pass without instrumentation; the parts come from a pass
with each part's function wrapped in a timer (that pass's own total is `timed total`, and `rest`
is what of it the parts leave: the hook's loop, record annotation, _with_baseline's own work).

The reference's modules are imported from `git show REV:path` of the packages the decisions use
(calibration/, pipelines/, monitor/) in a temp dir, under their own names for the time of the
import, so each side runs its own code throughout.

Usage: python scripts/decide_speed.py [--ref HEAD] [--frames 900] [--repeat 3] [--clear 20]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy: the consumer's setting (run_monitor.py)

import argparse  # noqa: E402
import importlib  # noqa: E402
import math  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType, SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli.cputime import cpu_timed  # noqa: E402

PACKAGES = ("calibration", "pipelines", "monitor")
MODULES = ("calibration.calibration_file", "calibration.detector", "pipelines.alerting", "pipelines.wire")
STREAMS, CLEAR, EPISODE = 24, 20, 15
# label -> (module, class, method): the parts of decide timed on their own (a missing one: "-").
PARTS = {
    "detect_features": ("calibration.detector", "Detector", "detect_features"),
    "fleet_units": ("calibration.baseline", "BaselineBank", "fleet_units"),
    "baseline updates": ("calibration.baseline", "BaselineBank", "update_units"),
    "tracker.observe": ("calibration.alerts", "AlertTracker", "observe"),
}
FLOAT_FIELDS = ("anomaly", "confidence")
EXACT_FIELDS = ("stream", "seq", "is_anomalous", "condition", "change_onset")


def _drop_packages() -> dict[str, ModuleType]:
    """Take the project's packages out of sys.modules (returned, to put back)."""
    gone = {k: m for k, m in sys.modules.items() if k.split(".")[0] in PACKAGES}
    for k in gone:
        del sys.modules[k]
    return gone


def load_side(rev: str | None) -> SimpleNamespace:
    """The decision path's modules: this worktree's (rev None) or git revision `rev`'s, each with
    its own imports (the reference's import each other, not this worktree's)."""
    if rev is None:
        return SimpleNamespace(**{m.rsplit(".", 1)[1]: importlib.import_module(m) for m in MODULES}, sys=None)
    tmp = Path(tempfile.mkdtemp())
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, *PACKAGES], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=tar, check=True)
    saved = _drop_packages()
    sys.path.insert(0, str(tmp))
    try:
        mods = {m.rsplit(".", 1)[1]: importlib.import_module(m) for m in MODULES}
        own = {k: m for k, m in sys.modules.items() if k.split(".")[0] in PACKAGES}
    finally:
        sys.path.remove(str(tmp))
        _drop_packages()
        sys.modules.update(saved)
    return SimpleNamespace(**mods, sys=own)


def _module(side: SimpleNamespace, name: str) -> ModuleType:
    return side.sys[name] if side.sys is not None else importlib.import_module(name)


# -- input -------------------------------------------------------------------------------------


def _runs(mask: np.ndarray, length: int) -> list[int]:
    """Starts of the length-long runs of consecutive True rows, non-overlapping."""
    idx = np.flatnonzero(mask)
    return [int(i) for i in idx[::length] if i + length <= len(mask) and mask[i : i + length].all()]


def stream_rows(codes: np.ndarray, levels: np.ndarray, frames: int, seed: int, clear: int = CLEAR) -> list[list[int]]:
    """Each stream's feature-row indices: `clear` clean rows (a run of CLEAR consecutive ones of one
    sign, cycled), then an EPISODE of one condition at level 3-5, and so on (as
    scripts/stream_replay_experiment.py's schedule, shorter)."""
    rng = np.random.default_rng(seed)
    clean = _runs(codes == 0, CLEAR)
    episodes = [r for c in range(1, 13) for lv in (3, 4, 5) for r in _runs((codes == c) & (levels == lv), EPISODE)]
    plans = []
    for _ in range(STREAMS):
        rows: list[int] = []
        while len(rows) < frames:
            c0 = clean[rng.integers(len(clean))]
            e0 = episodes[rng.integers(len(episodes))]
            # one sign's clean run, cycled when longer (as stream_replay_experiment.clean_schedule)
            rows += [c0 + i % CLEAR for i in range(clear)] + list(range(e0, e0 + EPISODE))
        plans.append(rows[:frames])
    return plans


def batches(plans: list[list[int]], seed: int) -> list[list[tuple[int, int, int]]]:
    """(stream, seq, row) batches of 64-256 records, runs of 1-12 frames of each stream in turn."""
    rng = np.random.default_rng(seed + 1)
    pos = [0] * len(plans)
    out: list[list[tuple[int, int, int]]] = []
    s = 0
    while any(p < len(plan) for p, plan in zip(pos, plans, strict=True)):
        size, batch = int(rng.integers(64, 257)), []
        while len(batch) < size and any(p < len(plan) for p, plan in zip(pos, plans, strict=True)):
            take = int(rng.integers(1, 13))
            for _ in range(take):
                if pos[s] < len(plans[s]):
                    batch.append((s, pos[s], plans[s][pos[s]]))
                    pos[s] += 1
            s = (s + 1) % len(plans)
        out.append(batch)
    return out


def make_records(wire: ModuleType, batch: list[tuple[int, int, int]]) -> list:
    """The batch's ScoreRecords (scorer fields unused by decide: zero), as the replay builds them."""
    recs = []
    for s, seq, _ in batch:
        t_ns = seq * 33_333_333  # 30 frames/s
        stream = f"cam-{s}"
        recs.append(
            wire.ScoreRecord(
                stream,
                seq,
                0.0,
                0.0,
                (0.0, 0.0, 0.0, 0.0),
                "bench",
                t_ns,
                t_ns,
                t_ns,
                "bench",
                wire.Origin("frames", s, seq),
            )
        )
    return recs


# -- running -----------------------------------------------------------------------------------


def run_pass(side: SimpleNamespace, cal_path: Path, x: np.ndarray, work: list) -> tuple[float, list, list, dict]:
    """One pass of all batches through a fresh hook -> (CPU seconds in decide, records, alerts, the
    baselines' end state: BaselineBank.export's streams)."""
    from pipelines.config import load_config  # the defaults: alerts (evidence on), baseline (on)

    cfg = load_config(None)
    cal = side.calibration_file.load_calibration(cal_path)
    hook = side.alerting.CalibratedHook(side.detector.Detector(None, cal), cfg.alerts, cfg.baseline)
    inputs = [(make_records(side.wire, b), x[[r for _, _, r in b]]) for b in work]
    alerts, cpu = [], 0.0
    for recs, xb in inputs:
        t = time.process_time()
        alerts += hook.decide(recs, xb)
        cpu += time.process_time() - t
    return cpu, [r for recs, _ in inputs for r in recs], alerts, hook.bank.export()["streams"]


def timed_pass(side: SimpleNamespace, cal_path: Path, x: np.ndarray, work: list) -> dict[str, float]:
    """A pass with each part wrapped in a timer -> CPU seconds by part ('timed total' included)."""
    acc: dict[str, float] = {}
    originals = []
    for label, (mod, cls, meth) in PARTS.items():
        klass = getattr(_module(side, mod), cls, None)
        fn = getattr(klass, meth, None) if klass is not None else None
        if fn is not None:
            originals.append((klass, meth, fn))
            setattr(klass, meth, cpu_timed(fn, label, acc))
    try:
        acc["timed total"] = run_pass(side, cal_path, x, work)[0]
    finally:
        for klass, meth, fn in originals:
            setattr(klass, meth, fn)
    acc["rest"] = acc["timed total"] - sum(v for k, v in acc.items() if k in PARTS)
    return acc


# -- checking ----------------------------------------------------------------------------------


def _close(a, b, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def compare_baselines(ref: dict, cur: dict, rel: float = 1e-9) -> list[str]:
    """Differences between two passes' per-stream baselines (their exported state): numbers equal to
    `rel` of the largest magnitude of the same entry, everything else exactly."""
    bad = [] if ref.keys() == cur.keys() else ["baselines of other streams"]
    for s in ref.keys() & cur.keys():
        for k, a in ref[s].items():
            b = cur[s][k]
            if isinstance(a, list) and a and isinstance(a[0], (float, list)):
                x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
                scale = max(float(np.abs(x).max(initial=0.0)), 1e-300)
                if x.shape != y.shape or float(np.abs(x - y).max(initial=0.0)) > rel * scale:
                    bad.append(f"baseline {s} {k}")
            elif not (_close(a, b, rel) if isinstance(a, float) else a == b):
                bad.append(f"baseline {s} {k}: {a!r} vs {b!r}")
    return bad


def compare(ref: tuple[list, list, dict], cur: tuple[list, list, dict]) -> list[str]:
    """Differences between two passes' annotated records, alert events and baselines (empty: the same)."""
    (rr, ra, rb), (cr, ca, cb) = ref, cur
    bad = [f"{len(rr)} vs {len(cr)} records"] if len(rr) != len(cr) else []
    for a, b in zip(rr, cr, strict=False):
        for f in EXACT_FIELDS:
            if getattr(a, f) != getattr(b, f) or type(getattr(a, f)) is not type(getattr(b, f)):
                bad.append(f"{a.stream}/{a.seq} {f}: {getattr(a, f)!r} vs {getattr(b, f)!r}")
        bad += [f"{a.stream}/{a.seq} {f}" for f in FLOAT_FIELDS if not _close(getattr(a, f), getattr(b, f))]
    if len(ra) != len(ca):
        bad.append(f"{len(ra)} vs {len(ca)} alert events")
    for a, b in zip(ra, ca, strict=False):
        da, db = asdict(a), asdict(b)
        for k in da:
            same = _close(da[k], db[k]) if isinstance(da[k], float) else da[k] == db[k]
            if not same:
                bad.append(f"alert {a.alert_id} {a.state} {k}: {da[k]!r} vs {db[k]!r}")
    return bad + compare_baselines(rb, cb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--calibration", type=Path, default=Path("/work/final-abcd/cal_ABC.yaml"))
    ap.add_argument("--features", type=Path, default=Path("/tmp/s11-feats.npz"))
    ap.add_argument("--side", default="tD", help="the cache's side whose rows are played (default tD)")
    ap.add_argument("--frames", type=int, default=900, help="frames per stream (24 streams)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--clear", type=int, default=CLEAR, help=f"clean frames between episodes (default {CLEAR})")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    data = np.load(args.features)
    x = data[f"{args.side}_x"]
    work = batches(
        stream_rows(data[f"{args.side}_codes"], data[f"{args.side}_levels"], args.frames, args.seed, args.clear),
        args.seed,
    )
    n = sum(len(b) for b in work)
    sides = {"ref": load_side(args.ref), "cur": load_side(None)}
    best: dict[str, dict[str, float]] = {k: {} for k in sides}
    outputs = {}
    for _ in range(args.repeat):  # the sides alternate: a busy moment of the machine hits both
        for k, side in sides.items():
            cpu, recs, alerts, baselines = run_pass(side, args.calibration, x, work)
            outputs[k] = (recs, alerts, baselines)
            parts = {"total": cpu, **timed_pass(side, args.calibration, x, work)}
            for p, v in parts.items():
                best[k][p] = min(best[k].get(p, np.inf), v * 1e6 / n)
    ra = outputs["ref"][1]
    print(
        f"{n} frames, {len(work)} batches, {STREAMS} streams; {len(ra)} alert events "
        f"({sum(a.state == 'raised' for a in ra)} raised); us per frame (best of {args.repeat}), "
        f"reference {args.ref} -> this worktree"
    )
    for p in ("total", "timed total", *PARTS, "rest"):
        b, a = best["ref"].get(p), best["cur"].get(p)
        fmt = lambda v: "     -" if v is None else f"{v:6.1f}"  # noqa: E731
        ratio = f"{b / a:5.2f}x" if b and a else ""
        print(f"  {p:18s} {fmt(b)} -> {fmt(a)}  {ratio}")
    bad = compare(outputs["ref"], outputs["cur"])
    print("records, alert events, baselines: " + ("the same" if not bad else f"{len(bad)} DIFFERENCES"))
    for line in bad[:20]:
        print("  " + line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
