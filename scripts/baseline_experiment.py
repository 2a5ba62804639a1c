"""Per-stream baselines, measured offline (no broker): the demo's episodes judged with and without them.

One stream per test sign: the frames of ONE BelgiumTSC test track cycled, as a fixed camera would
see one sign; 20 clear frames between 15-frame episodes of each of the 12 conditions at levels 3-5
(rendering B, monitor.renderings), every frame through the wire's JPEG (monitor.codec). Scored by a
quick model trained on the demo split's training tracks and a quick calibration on its calibration
tracks (rendering A), as the demo makes them; decisions and alerts by pipelines.alerting.CalibratedHook,
episodes judged as the demo does (cli.demo_outcomes: exactly one alert naming the condition within
10 frames; clear episodes must raise nothing). Extra streams are atypical from frame 0: the sign with
a wide off-sign border, and the sign under a permanent mild haze.

    python scripts/baseline_experiment.py --data ../shared/data/belgiumtsc --streams 6 --out /tmp/bw
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calibration.episodes import evaluate_episodes  # noqa: E402
from calibration.settings import BaselineConfig  # noqa: E402
from cli.demo_outcomes import Row  # noqa: E402
from monitor.challenges import apply_rendering  # noqa: E402
from monitor.codec import WireEncoding  # noqa: E402
from monitor.cure_tsr import load_image  # noqa: E402
from pipelines.config import Config  # noqa: E402
from pipelines.wire import CHALLENGE_NAMES, Origin, ScoreRecord  # noqa: E402

CONDITIONS = [CHALLENGE_NAMES[c] for c in range(1, 13)]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "belgiumtsc"))
    p.add_argument("--out", default="/tmp/baseline_experiment")
    p.add_argument("--streams", type=int, default=6, help="test tracks replayed (one stream each)")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmups", default="300,60", help="baseline warm-ups to measure (comma-separated)")
    return p.parse_args(argv)


def model_and_calibration(args, cfg: Config, split, out: Path):
    """The demo's quick model and calibration (cached in --out)."""
    import monitor
    from calibration.calibration_file import load_calibration, save_calibration
    from cli.demo_calibration import prepare_model, quick_calibration

    model_path, cal_path = out / "demo-model.pt", out / "calibration.yaml"
    if not model_path.exists():
        prepare_model(cfg, args, split, out, Path(args.data))
    scorer = monitor.load_model(str(model_path), device="cpu")
    if cal_path.exists():
        return scorer, load_calibration(cal_path, model_id=scorer.model_id)
    cal = quick_calibration(scorer, split.calibration, cfg, seed=args.seed)
    save_calibration(cal_path, cal)
    return scorer, cal


def schedule(sign: list[np.ndarray], rng: np.random.Generator, view=None) -> tuple[list, list[tuple[str, int]]]:
    """Frames and their truth (challenge, level): 20 clear, then 15 of a condition, for every
    condition and level 3-5 in a shuffled order. `view`: a permanent change of the camera's view."""
    episodes = [(c, lv) for c in CONDITIONS for lv in (3, 4, 5)]
    rng.shuffle(episodes)
    frames, truth, i = [], [], 0
    for ch, lv in episodes:
        for part, n in (("none", 20), (ch, 15)):
            for _ in range(n):
                im = sign[i % len(sign)]
                im = view(im) if view else im
                frames.append(im if part == "none" else apply_rendering(im, part, lv, rng, rendering="B"))
                truth.append((part, 0 if part == "none" else lv))
                i += 1
    return WireEncoding().roundtrip(frames), truth


def records(scorer, stream: str, frames: list, batch: int = 256) -> list[ScoreRecord]:
    out = []
    for s in range(0, len(frames), batch):
        chunk = frames[s : s + batch]
        r = scorer.score(chunk)
        for j, im in enumerate(chunk):
            q = s + j
            out.append(
                ScoreRecord(
                    stream, q, float(r.score[j]), float(r.recon[j]), tuple(r.layer_cos[j]), scorer.model_id,
                    q * 33_000_000, 0, 0, "replay", Origin("signwatch.frames", 0, q), image=im,
                )
            )  # fmt: skip
    return out


def replay(det, cfg: Config, streams: dict, baseline: BaselineConfig | None) -> dict:
    """All streams through one hook, in batches of 64 per stream; episode outcomes and atypical events."""
    from pipelines.alerting import CalibratedHook

    hook = CalibratedHook(det, cfg.alerts, baseline)
    alerts, rows = [], defaultdict(list)
    for name, (recs, truth) in streams.items():
        for s in range(0, len(recs), 64):
            for a in hook(recs[s : s + 64]):
                alerts.append({"stream": a.stream, "alert_id": a.alert_id, "state": a.state, **_fields(a)})
        for r, (ch, lv) in zip(recs, truth, strict=True):
            rows[name].append(Row(r.seq, ch, lv, bool(r.is_anomalous), str(r.condition), float(r.anomaly), r.score))
    outcomes = evaluate_episodes(rows, [a for a in alerts if a["state"] in ("raised", "updated", "cleared")])
    return {"outcomes": outcomes, "alerts": alerts}


def _fields(a) -> dict:
    return {"condition": a.condition, "frames": a.frames, "message": a.message}


def summarise(res: dict) -> dict:
    per: dict = defaultdict(lambda: {"met": 0, "episodes": 0})
    false_alerts, clear = 0, 0
    for o in res["outcomes"]:
        if o.clear:
            clear += 1
            false_alerts += o.raised
            continue
        k = o.challenge
        per[k]["episodes"] += 1
        per[k]["met"] += bool(o.ok)
    atyp = [(a["stream"], a["alert_id"]) for a in res["alerts"] if a["state"] == "atypical"]
    open_at_end = _open_at_end(res["alerts"])
    return {"per_condition": dict(per), "clear_episodes": clear, "false_alerts": false_alerts,
            "atypical_events": atyp, "open_at_end": open_at_end}  # fmt: skip


def _open_at_end(alerts: list) -> list:
    state = {}
    for a in alerts:
        if a["state"] in ("raised", "cleared"):
            state[a["alert_id"]] = a["state"]
    return sorted(k for k, v in state.items() if v == "raised")


def build_streams(args, scorer, split) -> dict:
    rng = np.random.default_rng(args.seed)
    streams = {}
    tracks = sorted(split.test, key=lambda t: -len(t.paths))[: args.streams]
    for i, t in enumerate(tracks):
        sign = [load_image(p) for p in t.paths]
        frames, truth = schedule(sign, rng)
        streams[f"sign{i}"] = (records(scorer, f"sign{i}", frames), truth)
    sign = [load_image(p) for p in tracks[0].paths]

    def border(im):  # the crop set far too wide: the sign is a third of the frame
        h, w = im.shape[:2]
        return cv2.copyMakeBorder(im, h, h, w, w, cv2.BORDER_REFLECT)

    def haze(im):  # a permanent mild haze on the camera
        return apply_rendering(im, "haze", 2, np.random.default_rng(7), rendering="B")

    for name, view in (("border", border), ("haze2", haze)):
        frames, truth = schedule(sign, rng, view)
        streams[name] = (records(scorer, name, frames), truth)
    return streams


def main(argv=None) -> int:
    from calibration.detector import Detector
    from cli.demo_tracks import split_tracks

    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = Config()
    split = split_tracks(args.data, seed=args.seed)
    scorer, cal = model_and_calibration(args, cfg, split, out)
    det = Detector(scorer, cal)
    streams = build_streams(args, scorer, split)
    # off: fleet decisions only; atypical_only: baselines off, the atypical view judged (the default
    # before issue 11's per-stream work); on_warmupW: baselines on (the default now) with that warm-up.
    figures = {
        "off": summarise(replay(det, cfg, streams, BaselineConfig(enabled=False, atypical=False))),
        "atypical_only": summarise(replay(det, cfg, streams, BaselineConfig(enabled=False))),
    }
    for w in (int(v) for v in args.warmups.split(",")):
        b = BaselineConfig(enabled=True, warmup=w, memory=max(w, 60))
        figures[f"on_warmup{w}"] = summarise(replay(det, cfg, streams, b))
    text = json.dumps(figures, indent=1, sort_keys=True)
    (out / "figures.json").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
