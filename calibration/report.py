"""Evaluation report: JSON + Markdown summary + ROC curves drawn with OpenCV.

Contents: AUROC per challenge type x level for recon, gradient, combined (the authors' score) and
`anomaly` (the calibrated detector); detection rate at the calibrated threshold; false-alarm rate
on the clean frames; the condition confusion matrix on detected frames; ROC curves as PNG; and
detection delay on replayed streams (clean frames, then a challenge, then clean again, fed through
the alert state machine: frames from onset to the alert, and whether it named the condition); and,
for a challenge set carrying both renderings, the leave-one-rendering-out table (calibration.loro).

`build_report` works on arrays (the experiment script uses it in memory); `write_report` is what
`run_monitor.py evaluate --report DIR` calls with a model, a CURE-TSR folder and a calibration.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import monitor
from calibration.alerts import AlertTracker, FrameDecision
from calibration.calibrate import features_of_paths
from calibration.calibration_file import load_calibration
from calibration.conditions import UNKNOWN
from calibration.detector import Detector
from calibration.loro import leave_one_rendering_out, loro_json, loro_markdown
from calibration.metrics import auroc, roc_curve
from calibration.settings import AlertConfig, CalibrationConfig
from monitor.challenge_types import CONDITION_NAMES, FOLDER_NAMES
from monitor.cure_tsr import read_cure_tsr
from monitor.scorer import ScoreResult

KINDS = ("recon", "gradient", "combined", "anomaly")
_COLOURS = {"recon": (40, 160, 40), "gradient": (200, 120, 0), "combined": (180, 30, 180), "anomaly": (0, 0, 220)}


def kind_values(scores, anomaly: np.ndarray | None) -> dict[str, np.ndarray]:
    """The value each kind ranks frames by (higher = more anomalous)."""
    out = {
        "recon": np.asarray(scores.recon, dtype=np.float64),
        "gradient": -np.asarray(scores.layer_cos, dtype=np.float64).mean(axis=1),
        "combined": np.asarray(scores.score, dtype=np.float64),
    }
    if anomaly is not None:
        out["anomaly"] = np.asarray(anomaly, dtype=np.float64)
    return out


def replay_delays(
    is_anomalous: np.ndarray,
    condition: np.ndarray,
    codes: np.ndarray,
    levels: np.ndarray,
    alert_cfg: AlertConfig,
    segment: int = 30,
    seed: int = 0,
    anomaly: np.ndarray | None = None,
) -> list[dict]:
    """Replayed streams per challenge type and level: `segment` clean frames, `segment` frames of
    the challenge (in data order, so a sign's frames stay together), `segment` clean frames.
    Returns one row per (type, level) with the mean delay to the alert and what it named.
    anomaly: the frames' anomaly values, which the alert rule's evidence sums (None: 0, no evidence);
    `condition` should then name the suspect frames too (Detector.detect_features(evidence_ref=...))."""
    rng = np.random.default_rng(seed)
    clean_idx = np.flatnonzero(codes == 0)
    rows = []
    if len(clean_idx) < segment:
        return rows
    for code in sorted(set(codes[codes > 0].tolist())):
        for level in sorted(set(levels[codes == code].tolist())):
            idx = np.flatnonzero((codes == code) & (levels == level))
            delays, named, false_alerts, raised = [], [], 0, 0
            replays = max(1, len(idx) // segment)
            for r in range(replays):
                ch = idx[r * segment : (r + 1) * segment]
                pre = rng.choice(clean_idx, segment, replace=False)
                post = rng.choice(clean_idx, segment, replace=False)
                order = np.r_[pre, ch, post]
                tracker = AlertTracker(alert_cfg)
                got = None
                for i, j in enumerate(order):
                    d = FrameDecision(
                        "replay",
                        i,
                        bool(is_anomalous[j]),
                        str(condition[j]),
                        1.0,
                        0.0 if anomaly is None else float(anomaly[j]),
                        i,
                    )
                    for rec in tracker.observe(d):
                        if rec.state == "raised":
                            if i < segment:
                                false_alerts += 1
                            elif got is None:
                                got = (i - segment, rec.condition)
                if got is not None:
                    raised += 1
                    delays.append(got[0])
                    named.append(got[1] == CONDITION_NAMES[int(code)])
            rows.append(
                {
                    "challenge": FOLDER_NAMES[int(code)],
                    "level": int(level),
                    "replays": replays,
                    "alerted": round(raised / replays, 4),
                    "mean_delay_frames": round(float(np.mean(delays)), 2) if delays else None,
                    "named_correctly": round(float(np.mean(named)), 4) if named else None,
                    "false_alerts_before_onset": false_alerts,
                }
            )
    return rows


def build_report(
    scores,
    codes: Sequence[int],
    levels: Sequence[int],
    detection=None,
    threshold: float | None = None,
    alert_cfg: AlertConfig | None = None,
    meta: dict | None = None,
) -> dict[str, Any]:
    """All figures from per-frame arrays. detection: a DetectionResult (or None for raw scores only)."""
    codes = np.asarray(codes, dtype=np.int64)
    levels = np.asarray(levels, dtype=np.int64)
    anomaly = None if detection is None else np.asarray(detection.anomaly)
    values = kind_values(scores, anomaly)
    clean = codes == 0
    if not clean.any():
        raise ValueError("the evaluation data have no clean (ChallengeFree) frames")
    table: list[dict] = []
    for code in sorted(set(codes[~clean].tolist())):
        for level in sorted(set(levels[codes == code].tolist())):
            sel = (codes == code) & (levels == level)
            row: dict[str, Any] = {"challenge": FOLDER_NAMES[int(code)], "level": int(level), "frames": int(sel.sum())}
            for k, v in values.items():
                row[f"auroc_{k}"] = round(auroc(v[clean], v[sel]), 4)
            if detection is not None:
                row["detection_rate"] = round(float(np.mean(detection.is_anomalous[sel])), 4)
            table.append(row)
    report: dict[str, Any] = {
        "meta": dict(meta or {}),
        "clean_frames": int(clean.sum()),
        "challenge_frames": int((~clean).sum()),
        "table": table,
    }
    mean = {}
    for k in values:
        for lv_name, lv in (("levels_3_5", (3, 4, 5)), ("all_levels", (1, 2, 3, 4, 5))):
            rows = [r[f"auroc_{k}"] for r in table if r["level"] in lv]
            if rows:
                # Mean over types of the mean over levels: every challenge type weighs the same.
                per_type = {}
                for r in table:
                    if r["level"] in lv:
                        per_type.setdefault(r["challenge"], []).append(r[f"auroc_{k}"])
                mean[f"{k}_{lv_name}"] = round(float(np.mean([np.mean(v) for v in per_type.values()])), 4)
    report["mean_auroc"] = mean
    if detection is not None:
        report["threshold"] = threshold
        report["false_alarm_rate_clean"] = round(float(np.mean(detection.is_anomalous[clean])), 5)
        report["false_alarms"] = int(detection.is_anomalous[clean].sum())
        hi = (~clean) & (levels >= 3)
        report["detection_rate_levels_3_5"] = round(float(np.mean(detection.is_anomalous[hi])), 4) if hi.any() else None
        truth = np.array([CONDITION_NAMES[int(c)] for c in codes], dtype=object)
        pred = np.asarray(detection.condition, dtype=object)
        det = hi & np.asarray(detection.is_anomalous)
        labels = sorted(set(truth[~clean].tolist()))
        cols = labels + [UNKNOWN]
        matrix = [[int(np.sum(det & (truth == t) & (pred == p))) for p in cols] for t in labels]
        report["confusion_levels_3_5"] = {"true": labels, "predicted": cols, "counts": matrix}
        report["naming_accuracy_levels_3_5"] = round(float(np.mean(pred[det] == truth[det])), 4) if det.any() else None
        report["unknown_share_levels_3_5"] = round(float(np.mean(pred[det] == UNKNOWN)), 4) if det.any() else None
        report["replay"] = replay_delays(
            np.asarray(detection.is_anomalous),
            pred,
            codes,
            levels,
            alert_cfg or AlertConfig(),
            anomaly=np.asarray(detection.anomaly),
        )
        dl = [
            r["mean_delay_frames"] for r in report["replay"] if r["level"] >= 3 and r["mean_delay_frames"] is not None
        ]
        report["mean_alert_delay_frames_levels_3_5"] = round(float(np.mean(dl)), 2) if dl else None
    report["_roc"] = {  # for the PNGs; dropped from the JSON
        FOLDER_NAMES[int(code)]: {k: roc_curve(v[clean], v[(codes == code) & (levels >= 3)]) for k, v in values.items()}
        for code in sorted(set(codes[~clean].tolist()))
        if ((codes == code) & (levels >= 3)).any()
    }
    return report


def draw_roc(curves: dict, title: str, size: int = 420) -> np.ndarray:
    """ROC curves on a white canvas, FPR on x, TPR on y, with a legend of AUC per kind."""
    m = 50
    img = np.full((size + 2 * m, size + 2 * m, 3), 255, np.uint8)
    x0, y0 = m, m + size
    cv2.rectangle(img, (x0, m), (x0 + size, y0), (0, 0, 0), 1)
    for t in np.linspace(0, 1, 6):
        px, py = int(x0 + t * size), int(y0 - t * size)
        cv2.line(img, (px, y0), (px, y0 + 5), (0, 0, 0), 1)
        cv2.line(img, (x0 - 5, py), (x0, py), (0, 0, 0), 1)
        cv2.putText(img, f"{t:.1f}", (px - 10, y0 + 18), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, f"{t:.1f}", (x0 - 32, py + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.line(img, (x0, y0), (x0 + size, m), (190, 190, 190), 1, cv2.LINE_AA)
    for i, (k, c) in enumerate(curves.items()):
        pts = np.stack([x0 + c.fpr * size, y0 - c.tpr * size], axis=1).round().astype(np.int32)
        colour = _COLOURS.get(k, (0, 0, 0))
        cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA)
        area = float(np.trapezoid(c.tpr, c.fpr))
        cv2.putText(
            img,
            f"{k} AUC {area:.3f}",
            (x0 + size - 170, y0 - 15 - 16 * (len(curves) - 1 - i)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.42,
            colour,
            1,
            cv2.LINE_AA,
        )
    cv2.putText(img, title, (x0, m - 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        img,
        "false-alarm rate",
        (x0 + size // 2 - 50, y0 + 38),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.42,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    cv2.putText(img, "detection rate", (4, m - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
    return img


def markdown(report: dict) -> str:
    kinds = [k for k in KINDS if f"{k}_levels_3_5" in report["mean_auroc"]]
    lines = ["# signwatch evaluation", ""]
    for k, v in report.get("meta", {}).items():
        lines.append(f"- {k}: {v}")
    lines += [f"- clean frames: {report['clean_frames']}, challenge frames: {report['challenge_frames']}"]
    if "false_alarm_rate_clean" in report:
        lines += [
            f"- threshold: {report['threshold']:.4f}",
            f"- false-alarm rate on clean frames: {report['false_alarm_rate_clean']:.4%} ({report['false_alarms']} frames)",
            f"- detection rate, levels 3-5: {report['detection_rate_levels_3_5']}",
            f"- condition naming accuracy on detected frames, levels 3-5: {report['naming_accuracy_levels_3_5']} "
            f'("unknown" counts as wrong; share unknown {report["unknown_share_levels_3_5"]}; lens and gaussian blur both count as "blur")',
            f"- mean alert delay on replayed streams, levels 3-5: {report['mean_alert_delay_frames_levels_3_5']} frames",
        ]
    lines += [
        "",
        "## Mean AUROC (mean over challenge types)",
        "",
        "| kind | levels 3-5 | all levels |",
        "| --- | --- | --- |",
    ]
    for k in kinds:
        lines.append(
            f"| {k} | {report['mean_auroc'][f'{k}_levels_3_5']:.3f} | {report['mean_auroc'][f'{k}_all_levels']:.3f} |"
        )
    head = "| challenge | level | " + " | ".join(f"AUROC {k}" for k in kinds)
    sep = "| --- | --- | " + " | ".join("---" for _ in kinds)
    if "false_alarm_rate_clean" in report:
        head += " | detected"
        sep += " | ---"
    lines += ["", "## Per challenge type and level", "", head + " |", sep + " |"]
    for r in report["table"]:
        cells = [f"{r[f'auroc_{k}']:.3f}" for k in kinds]
        if "detection_rate" in r:
            cells.append(f"{r['detection_rate']:.2f}")
        lines.append(f"| {r['challenge']} | {r['level']} | " + " | ".join(cells) + " |")
    if "confusion_levels_3_5" in report:
        c = report["confusion_levels_3_5"]
        lines += [
            "",
            "## Condition confusion (detected frames, levels 3-5; rows true, columns predicted)",
            "",
            "| true \\ predicted | " + " | ".join(c["predicted"]) + " |",
            "| --- | " + " | ".join("---" for _ in c["predicted"]) + " |",
        ]
        for t, row in zip(c["true"], c["counts"], strict=False):
            lines.append(f"| {t} | " + " | ".join(str(v) for v in row) + " |")
    if report.get("replay"):
        lines += [
            "",
            "## Replayed streams (30 clean, 30 challenged, 30 clean frames)",
            "",
            "| challenge | level | replays | alerted | mean delay (frames) | named correctly | false alerts before onset |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in report["replay"]:
            lines.append(
                f"| {r['challenge']} | {r['level']} | {r['replays']} | {r['alerted']:.2f} | {r['mean_delay_frames']} | "
                f"{r['named_correctly']} | {r['false_alerts_before_onset']} |"
            )
    return "\n".join(lines) + "\n"


def write_report_files(out_dir: str | Path, report: dict) -> Path:
    out = Path(out_dir)
    (out / "roc").mkdir(parents=True, exist_ok=True)
    for name, curves in report.get("_roc", {}).items():
        cv2.imwrite(str(out / "roc" / f"{name}.png"), draw_roc(curves, f"{name}, levels 3-5"))
    clean_json = {k: v for k, v in report.items() if not k.startswith("_")}
    (out / "report.json").write_text(json.dumps(clean_json, indent=2) + "\n")
    md = markdown(report)
    if report.get("leave_one_rendering_out"):
        md += "\n".join(loro_markdown(report["leave_one_rendering_out"])) + "\n"
    (out / "report.md").write_text(md)
    return out


def write_report(
    out_dir: str | Path,
    model: str | Path,
    data: str | Path,
    calibration: str | Path | None = None,
    *,
    alert_cfg: AlertConfig,
    device: str = "auto",
    calibration_cfg: CalibrationConfig | None = None,
) -> dict:
    """Score a CURE-TSR folder with the model (and its calibration, if given) and write the report.

    alert_cfg: the deployment's alert rule (its `alerts:` section); the replayed streams' alert
    figures and which frames name a condition depend on it, so it has no default. A challenge set
    carrying two renderings (synth's manifest) adds the leave-one-rendering-out table
    (calibration.loro), fit with `calibration_cfg` (default: the `calibration:` defaults)."""
    scorer = monitor.load_model(model, device=device)
    frames = read_cure_tsr(data)
    if not frames:
        raise ValueError(f"{data}: no CURE-TSR frames found")
    x = features_of_paths(scorer, [f.path for f in frames])
    # recon, cosines and score are columns of the feature rows (log recon, cos 1-4, score).
    scores = ScoreResult(x[:, 5].copy(), np.exp(x[:, 0]), x[:, 1:5].copy())
    detection, threshold = None, None
    meta = {"model": str(model), "model_id": scorer.model_id, "data": str(data)}
    if calibration is not None:
        cal = load_calibration(calibration, model_id=scorer.model_id)
        evidence_ref = alert_cfg.evidence_ref if alert_cfg.evidence else None
        detection = Detector(scorer, cal).detect_features(x, scores, evidence_ref=evidence_ref)
        threshold = cal.threshold.threshold
        meta["calibration"] = str(calibration)
        meta["threshold_explanation"] = cal.threshold.explanation
    codes, levels = [f.name.challenge_type for f in frames], [f.name.level for f in frames]
    report = build_report(scores, codes, levels, detection, threshold, alert_cfg, meta)
    renderings = [f.rendering for f in frames]
    if len(set(renderings) - {""}) > 1:
        groups = [f.sequence for f in frames]
        loro = leave_one_rendering_out(
            x,
            groups,
            codes,
            levels,
            renderings,
            model_id=scorer.model_id,
            alert_cfg=alert_cfg,
            calibration_cfg=calibration_cfg,
        )
        report["leave_one_rendering_out"] = loro_json(loro)
    write_report_files(out_dir, report)
    return {k: v for k, v in report.items() if not k.startswith("_")}
