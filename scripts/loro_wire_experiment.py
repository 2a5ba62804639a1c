"""Leave-one-rendering-out through the producers' JPEG wire, offline, with a cache: the figure of
issue 11 (docs/DESIGN.md §5), fast enough to iterate on the image statistics and the detector.

Protocol (seed S): the real crops of ../shared/data/belgiumtsc are split track-wise into a test
side (30 % of the tracks) and the rest; the rest is split again into the model's training tracks
and the calibration tracks. Each calibration and test track is rendered with every condition at
levels 2-5 in rendering A (monitor.challenges) and, separately, in rendering B (monitor.renderings),
every frame (clean ones too) passed through JPEG q90 as the producers send it. Directions:
fit on calibration tracks x rendering A, test on test tracks x rendering B (A->B), the reverse,
and fit on both renderings (what a deployment ships) tested on each. No test track is in any fit.

The first run renders, JPEG-round-trips and scores every frame and caches the decoded frames and
the scorer's outputs (DIR/cache_S.pkl); later runs only recompute the image statistics and the
calibration, so a change to calibration/ is measured in about a minute.

    .venv/bin/python scripts/loro_wire_experiment.py --model runs/loro/model.pt --dir runs/loro
    (trains a 20-epoch model on the training tracks first when --model does not exist)
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.alerts import alert_rules  # noqa: E402
from calibration.calibrate import fit_calibration  # noqa: E402
from calibration.detector import Detector, feature_matrix  # noqa: E402
from calibration.episode_replay import episode_figures, episode_replay  # noqa: E402
from calibration.features import image_features  # noqa: E402
from calibration.metrics import auroc  # noqa: E402
from calibration.settings import AlertConfig, CalibrationConfig  # noqa: E402
from monitor.challenge_types import CONDITION_NAMES, FOLDER_NAMES  # noqa: E402
from monitor.challenges import apply_rendering  # noqa: E402
from monitor.codec import WireEncoding  # noqa: E402
from monitor.cure_tsr import list_images, load_image, split_by_track, track_of  # noqa: E402
from monitor.renderings import RENDERINGS  # noqa: E402
from monitor.scorer import ScoreResult  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "belgiumtsc"
LEVELS = (2, 3, 4, 5)


def splits(seed: int) -> tuple[list[Path], list[Path], list[Path]]:
    """(model training, calibration, test) paths, split by track."""
    rest, test = split_by_track(list_images(DATA), 0.3, seed=seed)
    train, calib = split_by_track(rest, 0.45 / 0.7, seed=seed + 1)
    return train, calib, test


def render_side(scorer, paths: list[Path], rendering: str, rng_seed: int, wire: WireEncoding) -> dict:
    """Clean frames and every condition x level of `paths` in one rendering, through the wire, scored."""
    imgs = [load_image(p) for p in paths]
    tracks = [track_of(p) for p in paths]
    rng = np.random.default_rng(rng_seed)
    frames, codes, levels, groups = list(wire.roundtrip(imgs)), [0] * len(imgs), [0] * len(imgs), list(tracks)
    sizes = [im.shape[:2] for im in imgs] * (
        1 + 12 * len(LEVELS)
    )  # as sent: the round trip may decode large crops at a reduced scale
    for code in range(1, 13):
        for lv in LEVELS:
            frames += wire.roundtrip([apply_rendering(im, code, lv, rng, rendering) for im in imgs])
            codes += [code] * len(imgs)
            levels += [lv] * len(imgs)
            groups += tracks
    parts = [scorer.score(frames[i : i + 512]) for i in range(0, len(frames), 512)]
    scores = ScoreResult(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("score", "recon", "layer_cos")))
    return {
        "frames": frames,
        "sizes": sizes,
        "scores": scores,
        "codes": np.array(codes),
        "levels": np.array(levels),
        "groups": np.array(groups),
    }


# Per rendering: the random seeds of its calibration and test sides (seed 0: 11/21 for A, 12/22 for B).
SIDE_SEEDS = {r: (11 + i, 21 + i) for i, r in enumerate(RENDERINGS)}  # A 11/21, B 12/22, C 13/23, ...


def build_cache(model: Path, seed: int, path: Path, renderings: tuple[str, ...] = ("A", "B")) -> dict:
    """Render, round-trip and score the calibration and test sides of `renderings`; pickle them to path."""
    import monitor

    scorer = monitor.load_model(model, device="cpu")
    _, calib, test = splits(seed)
    wire = WireEncoding("jpeg", 90)
    sides, t0 = {"model_id": scorer.model_id}, time.time()
    for rend in renderings:
        for tag, ps, rs in ((f"c{rend}", calib, SIDE_SEEDS[rend][0]), (f"t{rend}", test, SIDE_SEEDS[rend][1])):
            sides[tag] = render_side(scorer, ps, rend, rs + 100 * seed, wire)
            print(f"{tag}: {len(sides[tag]['frames'])} frames, {time.time() - t0:.0f} s", flush=True)
    with open(path, "wb") as f:
        pickle.dump(sides, f, protocol=pickle.HIGHEST_PROTOCOL)
    return sides


def load_sides(model: Path, seed: int, folder: Path, renderings: tuple[str, ...]) -> tuple[str, dict]:
    """(model id, side tag -> side with its feature rows): A and B from DIR/cache_S.pkl, any other
    rendering R from DIR/cache_S_R.pkl (each built when missing). Frames are dropped once their
    statistics are computed, so memory holds one cache file's frames at a time."""
    files = {r: f"cache_{seed}.pkl" if r in "AB" else f"cache_{seed}_{r}.pkl" for r in RENDERINGS}
    model_id, out = "", {}
    for name in dict.fromkeys(files[r] for r in renderings):
        path = folder / name
        if path.exists():
            with open(path, "rb") as f:
                sides = pickle.load(f)
        else:
            sides = build_cache(model, seed, path, tuple(r for r in renderings if files[r] == name))
        model_id = sides.pop("model_id")
        for tag in list(sides):
            if tag[1] in renderings:
                out[tag] = with_features(sides.pop(tag))
                out[tag].pop("frames")
    return model_id, out


def directions(renderings: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    """(fit sides, test side): A->B and B->A, and with three or more renderings each one left out of a
    fit on all the others (AB->C, AC->B, BC->A)."""
    out = [(("cA",), "tB"), (("cB",), "tA")]
    if len(renderings) >= 3:
        out += [(tuple(f"c{r}" for r in renderings if r != t), f"t{t}") for t in reversed(renderings)]
    return out


def with_features(side: dict) -> dict:
    side = dict(side)
    side["x"] = feature_matrix(side["scores"], image_features(side["frames"], side.get("sizes")))
    return side


def fit(sides: list[dict], model_id: str, cc: CalibrationConfig, seed: int):
    """fit_calibration on the clean frames of the first side and the challenged frames of all."""
    first = sides[0]
    clean = first["codes"] == 0
    x = np.concatenate([s["x"][s["codes"] > 0] for s in sides])
    cat = {k: np.concatenate([s[k][s["codes"] > 0] for s in sides]) for k in ("codes", "levels", "groups")}
    return fit_calibration(
        first["x"][clean], first["groups"][clean], x, cat["codes"], cat["levels"], cat["groups"],
        model_id=model_id, fpr=cc.fpr, confidence=cc.confidence, method=cc.method,
        min_confidence=cc.min_confidence, min_level=cc.min_level, seed=seed,
    )  # fmt: skip


def test(cal, side: dict, alert_cfg: AlertConfig) -> dict:
    alert_cfg = alert_rules(alert_cfg, cal)  # as `score` runs this calibration
    ref = alert_cfg.evidence_ref if alert_cfg.evidence else None
    det = Detector(None, cal).detect_features(side["x"], None, evidence_ref=ref)
    c, lv = side["codes"], side["levels"]
    clean = c == 0
    clean_rows = (det.anomaly[clean], det.is_anomalous[clean], det.condition[clean])
    rows = {}
    for code in range(1, 13):
        name = CONDITION_NAMES[code]
        au, met, eps, false = [], 0, 0, 0
        for level in (3, 4, 5):
            sel = (c == code) & (lv == level)
            au.append(auroc(det.anomaly[clean], det.anomaly[sel]))
            runs = episode_replay(clean_rows, (det.anomaly[sel], det.is_anomalous[sel], det.condition[sel]), alert_cfg)
            f = episode_figures(runs, name)
            met, eps, false = met + f["met"], eps + f["episodes"], false + f["false_alerts"]
        hi = (c == code) & (lv >= 3)
        flagged = hi & det.is_anomalous
        rows[FOLDER_NAMES[code]] = {
            "auroc": round(float(np.mean(au)), 3),
            "detected": round(float(np.mean(det.is_anomalous[hi])), 2),
            "named": round(float(np.mean(det.condition[flagged] == name)), 2) if flagged.any() else None,
            "met": met,
            "episodes": eps,
            "false_alerts": false,
        }
    return {
        "mean_auroc_3_5": round(float(np.mean([r["auroc"] for r in rows.values()])), 4),
        "met": sum(r["met"] for r in rows.values()),
        "episodes": sum(r["episodes"] for r in rows.values()),
        "false_alerts": sum(r["false_alerts"] for r in rows.values()),
        "clean_false_alarm_rate": round(float(np.mean(det.is_anomalous[clean])), 4),
        "threshold": round(float(cal.threshold.threshold), 3),
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--dir", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=20, help="when the model has to be trained first")
    ap.add_argument("--out", type=Path, help="JSON of the figures (default DIR/loro_S.json)")
    ap.add_argument(
        "--renderings", default="A,B", help="A,B (the first cache) or A,B,C (leave each out of a fit on the others)"
    )
    ap.add_argument("--directions", help="only these FIT-TEST pairs, e.g. 'ABC-D' (its renderings are loaded)")
    args = ap.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    if not args.model.exists():
        from monitor.train import train_model

        train, _, _ = splits(args.seed)
        train_model(train, [track_of(p) for p in train], args.model, epochs=args.epochs, seed=args.seed)
    t0 = time.time()
    renderings = tuple(args.renderings.split(","))
    if args.directions:
        pairs = [d.split("-") for d in args.directions.split()]
        wanted = [(tuple(f"c{r}" for r in fit_r), f"t{test_r}") for fit_r, test_r in pairs]
        renderings = tuple(sorted({r for fit_r, test_r in pairs for r in fit_r + test_r}))
    else:
        wanted = directions(renderings)
    model_id, sides = load_sides(args.model, args.seed, args.dir, renderings)
    print(f"sides and image statistics: {time.time() - t0:.0f} s", flush=True)
    cc, alert_cfg = CalibrationConfig(), AlertConfig()
    out = {}
    for fit_on, test_on in wanted:
        key = "+".join(t[1] for t in fit_on) + "->" + test_on[1]
        r = test(fit([sides[t] for t in fit_on], model_id, cc, args.seed), sides[test_on], alert_cfg)
        out[key] = r
        print(
            f"{key:6s} mean AUROC L3-5 {r['mean_auroc_3_5']:.3f}  met {r['met']}/{r['episodes']}  "
            f"false alerts {r['false_alerts']}  clean FA {r['clean_false_alarm_rate']:.4f}  thr {r['threshold']}",
            flush=True,
        )
        for name, row in r["rows"].items():
            print(f"    {name:15s} {row}")
    (args.out or args.dir / f"loro_{args.seed}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
