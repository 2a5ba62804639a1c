"""Per-stream replay of scripts/wire_loro_check.sh, offline and in seconds: issue 11's through-pipeline
figure (leave one rendering out, 24 streams, 15-frame episodes between 20 clear frames) without the
broker, the producer or the scorer, to iterate on per-stream baselines (calibration/baseline.py).

What is the same as the pipeline: the calibration files the check script made (DIR/cal_A.yaml,
DIR/cal_B.yaml), the stream schedule (its synth'd test set DIR/test_<R>, dealt to the streams by
pipelines.producers.cure_sequences / cure_gaps exactly as `produce replay --levels 0,3,4,5 --gap 20
--streams 24` deals it), the decisions and alerts (pipelines.alerting.CalibratedHook.decide, the path
`score` runs after the image statistics, with the deployment file's `alerts:` and `baseline:`), and
the judge (calibration.episodes through the `check` command's figures).
What differs: each frame's feature row comes from scripts/loro_wire_experiment.py's cache (the same
test chunk's frame, rendered by the same rendering with another random draw, through JPEG q90 and
scored by the same model), not from the synth'd frame itself. The per-stream figures therefore match
the pipeline's in distribution, not frame for frame. Measured (2026-11-30, episodes met of 864,
A -> B / B -> A, replay vs pipeline): baselines off 634 / 655 vs 642 / 665; the first baselines-on
642 / 662 vs 651 / 670, with the same whole streams lost; the defaults now 722 / 736 vs 717 / 729;
per condition within 6 episodes of 72 but for dirty lens with the defaults A -> B (26 vs 14; why,
not looked into).

With --sets (since 2026-12-01) the feature rows are the check's own test frames instead, through
JPEG q90 and scored by the check's model (scripts/reference_naming_experiment.py extract, about 4
minutes for D-M): the pipeline's frames, frame for frame. Measured against the pipeline's figures of
66b3162 with the same calibration (cal_ABC.yaml), D-M: 5,998 against 6,001 episodes met (G 776 / 777,
I 619 / 621, the other eight equal), M's mean delay and both per-frame AUROCs equal to the 4th
digit, 0 false alerts in both; about 7 s per direction.

    python scripts/stream_replay_experiment.py --sets /work/refnaming --wlc /work/m-check --directions "ABC-M"

The cache's feature rows are computed once (109 s here; memory in use rose by ~7 GB while the
3.4 GB cache loaded) and kept in --features (a small .npz); later runs take seconds (5-9 s per
direction).

    python scripts/stream_replay_experiment.py --dir /work/loro2 --wlc /work/streams-wlc \\
        --features /tmp/streams-feats.npz [--config cfg.yaml] [--out figs.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loro_wire_experiment import LEVELS, load_sides  # noqa: E402
from loro_wire_experiment import fit as fit_sides  # noqa: E402
from loro_wire_experiment import test as per_frame_test  # noqa: E402
from wire_loro_table import cell, totals  # noqa: E402

from calibration.calibration_file import load_calibration  # noqa: E402
from calibration.detector import Detector  # noqa: E402
from calibration.episodes import FrameTruth, evaluate_episodes, stuck_alerts, warmup_totals  # noqa: E402
from calibration.settings import CalibrationConfig  # noqa: E402
from cli.check_command import auroc_figures, check_figures, verdicts_from  # noqa: E402
from monitor.challenge_types import WIRE_NAMES  # noqa: E402
from monitor.cure_tsr import read_manifest  # noqa: E402
from pipelines.alerting import CalibratedHook  # noqa: E402
from pipelines.config import load_config  # noqa: E402
from pipelines.producers import cure_gaps, cure_sequences, deal_sequences  # noqa: E402
from pipelines.wire import GroundTruth, Origin, ScoreRecord, alert_to_dict  # noqa: E402

SIDES = ("cA", "cB", "tA", "tB")
CODE_OF = {name: code for code, name in WIRE_NAMES.items()}
CHUNK_BASE = 90000  # scripts/wire_loro_sets.py names test chunk c's frames 9000c_kkkkk
STREAMS, GAP = 24, 20  # scripts/wire_loro_check.sh: produce replay --streams 24 --gap 20


def side_features(
    folder: Path, seed: int, feats: Path, renderings: tuple[str, ...]
) -> dict[str, dict[str, np.ndarray]]:
    """Per side of the cache (c<R>, t<R> for each rendering): feature rows x and the frames' codes,
    levels, groups (tracks); kept in `feats`, computed for the sides it lacks (loro_wire_experiment)."""
    keys = ("x", "codes", "levels", "groups")
    have = dict(np.load(feats, allow_pickle=False)) if feats.exists() else {}
    missing = tuple(r for r in renderings if f"c{r}_x" not in have)
    if missing:
        t0 = time.time()
        _, sides = load_sides(Path("unused: the caches exist"), seed, folder, missing)
        for t, v in sides.items():
            have |= {f"{t}_{k}": v[k].astype(str) if k == "groups" else np.asarray(v[k]) for k in keys}
            print(f"{t}: {len(v['x'])} feature rows, {time.time() - t0:.0f} s", flush=True)
        np.savez(feats, **have)
    return {f"{p}{r}": {k: have[f"{p}{r}_{k}"] for k in keys} for r in renderings for p in "ct"}


def parse_directions(text: str) -> list[tuple[str, str]]:
    """'A-B AB-C' -> [("A", "B"), ("AB", "C")]: the fit renderings, the tested one."""
    out = []
    for d in text.split():
        fit_r, _, test_r = d.partition("-")
        if not fit_r or len(test_r) != 1 or test_r in fit_r:
            raise SystemExit(f"--directions: {d!r} is not FIT-TEST (e.g. A-B or AB-C)")
        out.append((fit_r, test_r))
    return out


def cache_index(row: dict[str, str], n_test: int) -> int:
    """A synth'd test frame (its manifest row) -> the index of the same chunk frame, condition and
    level in the cache's test side (clean frames first, then code 1..12 x LEVELS blocks of n_test)."""
    src = Path(row["source"]).stem  # 9000c_kkkkk: chunk c's frame k = test frame 15 c + k
    chunk, k = int(src.split("_")[0]) - CHUNK_BASE, int(src.split("_")[1])
    code, level = CODE_OF[_wire_name(row["challenge"])], int(row["level"])
    block = 0 if code == 0 else 1 + (code - 1) * len(LEVELS) + LEVELS.index(level)
    return block * n_test + chunk * 15 + k


def _wire_name(folder: str) -> str:
    from monitor.cure_tsr import challenge_code

    return WIRE_NAMES[challenge_code(folder)]


def schedule(
    test_dir: Path, n_test: int | None, shuffle: int | None = None
) -> dict[str, list[tuple[int, GroundTruth]]]:
    """Stream -> (row index, ground truth) of each frame it plays, as `produce replay` deals them
    (with `--shuffle SEED`: shuffle). n_test: the rows are the cache's test side (cache_index);
    None: they are the set's own frames in the order of their manifest's file names
    (scripts/reference_naming_experiment.py extract)."""
    manifest = read_manifest(test_dir / "manifest.csv")
    own = {f: i for i, f in enumerate(sorted(manifest))}

    def index(rel_path: str) -> int:
        return own[rel_path] if n_test is None else cache_index(manifest[rel_path], n_test)

    seqs = cure_sequences(test_dir, None, [0, 3, 4, 5], None)
    gaps = cure_gaps(test_dir, seqs, GAP)

    def rel(p: Path) -> str:
        return Path(p).resolve().relative_to(test_dir.resolve()).as_posix()

    plans: dict[str, list[tuple[int, GroundTruth]]] = {}
    for i, plan in enumerate(deal_sequences(seqs, STREAMS, shuffle)):
        frames: list[tuple[int, GroundTruth]] = []
        for j, s in enumerate(plan):
            parts = ([gaps[s.name]] if j > 0 and s.name in gaps else []) + [s]
            for part in parts:
                frames += [(index(rel(p)), t) for p, t in zip(part.paths, part.truths, strict=True)]
        plans[f"replay-{i}"] = frames
    return plans


def clean_schedule(side: dict, chunk: int, frames: int = 1275) -> dict[str, list[tuple[int, GroundTruth]]]:
    """Streams of clean frames only: each a `chunk`-frame run of the side's clean frames (data order,
    as the test chunks are cut) cycled for `frames` frames, as long as a check stream. On the
    calibration side these are the clear stretches a per-stream detector's settings may be tuned on
    (any alert there is false), never the test side's."""
    clean = np.flatnonzero(side["codes"] == 0)
    none = GroundTruth("none", 0)
    return {
        f"clean-{c}": [(int(clean[c * chunk + i % chunk]), none) for i in range(frames)]
        for c in range(len(clean) // chunk)
    }


def clean_check(cal_path: Path, side: dict, cfg, chunk: int) -> dict:
    """Alerts and onsets-worth of alerts on clean-only streams of one side (clean_schedule)."""
    hook = CalibratedHook(Detector(None, load_calibration(cal_path)), cfg.alerts, cfg.baseline)
    alerts = []
    plans = clean_schedule(side, chunk)
    for stream, plan in plans.items():
        alerts += replay_stream(hook, side["x"], stream, plan)[1]
    raised = [a for a in alerts if a["state"] == "raised"]
    return {"streams": len(plans), "frames": sum(len(p) for p in plans.values()), "false_alerts": len(raised)}


def replay_stream(hook: CalibratedHook, x: np.ndarray, stream: str, plan: list, batch: int = 64):
    """One stream's frames through the hook's decision path -> (truth rows, alert dicts, records)."""
    rows, alerts, records = [], [], []
    for start in range(0, len(plan), batch):
        part = plan[start : start + batch]
        recs = []
        for j, (_, truth) in enumerate(part):
            seq = start + j
            t_ns = seq * 33_333_333  # 30 frames/s
            recs.append(
                ScoreRecord(
                    stream,
                    seq,
                    0.0,
                    0.0,
                    (0.0, 0.0, 0.0, 0.0),
                    "replay",
                    t_ns,
                    t_ns,
                    t_ns,
                    "replay",
                    Origin("frames", 0, seq),
                    truth,
                )  # fmt: skip
            )
        alerts += [alert_to_dict(a) for a in hook.decide(recs, x[[i for i, _ in part]])]
        rows += [FrameTruth(r.seq, r.truth.challenge, r.truth.level) for r in recs]
        records += recs
    return rows, alerts, records


def run_direction(cal, test: dict, test_dir: Path, cfg, shuffle: int | None = None) -> tuple[dict, dict]:
    """One direction: the calibration, the test side's schedule -> (check figures, per-stream detail)."""
    hook = CalibratedHook(Detector(None, cal), cfg.alerts, cfg.baseline)
    n_test = None if test.get("own") else int((test["codes"] == 0).sum())
    rows, alerts, detail = {}, [], {}
    for stream, plan in schedule(test_dir, n_test, shuffle).items():
        rows[stream], a, recs = replay_stream(hook, test["x"], stream, plan)
        alerts += a
        detail[stream] = recs
    outcomes = evaluate_episodes(rows, alerts)
    stuck = stuck_alerts(rows, alerts)
    fig = check_figures(outcomes, stuck)
    records = [r for recs in detail.values() for r in recs]
    fig.update(auroc_figures(records))
    fig.update(warmup_totals(outcomes, verdicts_from(records)))
    fig["atypical_streams"] = len({a["stream"] for a in alerts if a["state"] == "atypical"})
    fig["stuck_clear"] = 20
    per_stream = defaultdict(lambda: {"met": 0, "episodes": 0, "false": 0})
    for o in outcomes:
        p = per_stream[o.stream]
        if o.clear:
            p["false"] += o.raised
        elif o.level >= 3:
            p["episodes"] += 1
            p["met"] += int(o.ok)
    return fig, {"per_stream": dict(per_stream), "outcomes": outcomes, "alerts": alerts}


def misnamed(outcomes: list) -> dict[str, dict[str, int]]:
    """Per condition, what its missed episodes (levels 3-5) were named first ("-": no alert)."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        if not o.clear and o.level >= 3 and not o.ok:
            out[o.expected][o.named or "-"] += 1
    return {c: dict(sorted(n.items(), key=lambda kv: -kv[1])) for c, n in sorted(out.items())}


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, help="scripts/loro_wire_experiment.py's --dir (its cache)")
    ap.add_argument(
        "--sets",
        type=Path,
        help="instead of --dir/--features: scripts/reference_naming_experiment.py extract's OUT (the check's own "
        "test frames, through JPEG q90, scored by the check's model: the pipeline's frames, frame for frame)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shuffle", type=int, metavar="SEED", help="as `produce replay --shuffle SEED` (default: sorted)")
    ap.add_argument("--wlc", type=Path, required=True, help="scripts/wire_loro_check.sh's OUT_DIR (sets, cal_*.yaml)")
    ap.add_argument("--features", type=Path, help="the cache's feature rows (.npz, made when missing)")
    ap.add_argument("--config", type=Path, help="deployment YAML (alerts:, baseline:) as passed to `score`")
    ap.add_argument("--out", type=Path, help="JSON: both directions' check figures and per-stream detail")
    ap.add_argument("--clean-check", action="store_true", help="also: false alerts on clean calibration streams")
    ap.add_argument(
        "--directions",
        default="A-B B-A",
        help="FIT-TEST renderings, e.g. 'AB-C AC-B BC-A' (the check's cal_<FIT>.yaml and test_<TEST> in --wlc)",
    )
    ap.add_argument(
        "--refit",
        action="store_true",
        help="fit each calibration from the cache's calibration side of the fit rendering (the code as it is now) "
        "instead of reading the check's cal_<R>.yaml; also prints the per-frame mean AUROC L3-5 on the test side",
    )
    return ap.parse_args()


def direction_sides(args: argparse.Namespace, directions: list) -> dict:
    """The feature rows each direction needs: the check's own frames (--sets) or the cache's (--dir)."""
    if args.sets is not None:
        if args.refit or args.clean_check:
            raise SystemExit("--sets: --refit and --clean-check need the cache (--dir, --features)")
        return {f"t{t}": {**dict(np.load(args.sets / f"test_{t}.npz")), "own": True} for _, t in directions}
    if args.dir is None or args.features is None:
        raise SystemExit("give --sets, or --dir and --features")
    return side_features(args.dir, args.seed, args.features, tuple(sorted({r for d in directions for r in "".join(d)})))


def direction_calibration(args: argparse.Namespace, sides: dict, fit_r: str, test_r: str, cfg) -> object:
    """The check's calibration for FIT, or (--refit) one fit now from the cache, with its per-frame figures."""
    if not args.refit:
        return load_calibration(args.wlc / f"cal_{fit_r}.yaml")
    t0 = time.time()
    cal = fit_sides([sides[f"c{r}"] for r in fit_r], "replay", CalibrationConfig(), args.seed)
    per_frame = per_frame_test(cal, sides[f"t{test_r}"], cfg.alerts)
    low = {c: r["auroc"] for c, r in per_frame["rows"].items() if r["auroc"] < 0.95}
    key = f"{fit_r}-{test_r}"
    print(f"{key}: refit in {time.time() - t0:.0f} s; per-frame mean AUROC L3-5 {per_frame['mean_auroc_3_5']}")
    print(f"{key}: conditions under 0.95: {low}", flush=True)
    return cal


def print_tables(figs: dict) -> None:
    head = " | ".join(f"{d.replace('-', ' -> ')}: met L3/L4/L5 (of 24 each), mean delay" for d in figs)
    print(f"| condition | {head} |\n| --- |" + " --- |" * len(figs))
    for code in range(1, 13):
        print(f"| {WIRE_NAMES[code]} | " + " | ".join(cell(f, WIRE_NAMES[code]) for f in figs.values()) + " |")
    for d, f in figs.items():
        print(f"{d.replace('-', ' -> ')}: {totals(f)}")


def main() -> None:
    args = parse_args()
    directions = parse_directions(args.directions)
    sides = direction_sides(args, directions)
    cfg = load_config(args.config)
    if args.clean_check:
        for fit_r in ("A", "B"):  # clean frames are the same in both renderings' sides
            for chunk in (15, 45):
                r = clean_check(args.wlc / f"cal_{fit_r}.yaml", sides[f"c{fit_r}"], cfg, chunk)
                print(f"clean calibration streams, calibration {fit_r}, {chunk}-frame views: {r}", flush=True)
    figs, out = {}, {}
    for fit_r, test_r in directions:
        key = f"{fit_r}-{test_r}"
        t0 = time.time()
        cal = direction_calibration(args, sides, fit_r, test_r, cfg)
        figs[key], detail = run_direction(cal, sides[f"t{test_r}"], args.wlc / f"test_{test_r}", cfg, args.shuffle)
        out[key] = {"figures": figs[key], "per_stream": detail["per_stream"]}
        ps = detail["per_stream"]
        met = sorted(p["met"] for p in ps.values())
        false = {s: p["false"] for s, p in ps.items() if p["false"]}
        print(f"{key}: {time.time() - t0:.0f} s; met per stream {met}; false alerts {false}", flush=True)
        print(f"{key}: missed episodes named {misnamed(detail['outcomes'])}", flush=True)
    print_tables(figs)
    if args.out:
        args.out.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
