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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import monitor
from calibration.alerts import AlertTracker, FrameDecision, alert_rules
from calibration.calibrate import features_of_paths, wire_to_apply
from calibration.calibration_file import load_calibration, wire_label
from calibration.conditions import UNKNOWN
from calibration.detector import Detector
from calibration.loro import leave_one_rendering_out, loro_json, loro_markdown
from calibration.metrics import auroc, roc_curve
from calibration.settings import AlertConfig, CalibrationConfig
from monitor.challenge_types import CONDITION_NAMES, FOLDER_NAMES
from monitor.codec import NO_ENCODING, WireEncoding
from monitor.cure_tsr import read_cure_tsr
from monitor.scorer import ScoreResult

KINDS = ("recon", "gradient", "combined", "anomaly")


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


@dataclass(frozen=True)
class _Replayer:
    """Per-frame decisions replayed as streams through a fresh AlertTracker each."""

    is_anomalous: np.ndarray
    condition: np.ndarray
    anomaly: np.ndarray | None
    alert_cfg: AlertConfig
    segment: int

    def stream(self, order: np.ndarray) -> tuple[int, tuple[int, str] | None]:
        """Frames `order` as one stream whose challenge starts at frame `segment`: the alerts raised
        before that onset, and the first raised after it as (delay in frames, condition named)."""
        tracker = AlertTracker(self.alert_cfg)
        false_alerts, got = 0, None
        for i, j in enumerate(order):
            value = 0.0 if self.anomaly is None else float(self.anomaly[j])
            d = FrameDecision("replay", i, bool(self.is_anomalous[j]), str(self.condition[j]), 1.0, value, i)
            for rec in tracker.observe(d):
                if rec.state != "raised":
                    continue
                if i < self.segment:
                    false_alerts += 1
                elif got is None:
                    got = (i - self.segment, rec.condition)
        return false_alerts, got

    def challenge(
        self, code: int, level: int, idx: np.ndarray, clean_idx: np.ndarray, rng: np.random.Generator
    ) -> dict:
        """One report row: the challenge's frames `idx`, `segment` at a time, between clean frames."""
        seg = self.segment
        delays, named, false_alerts = [], [], 0
        replays = max(1, len(idx) // seg)
        for r in range(replays):
            pre = rng.choice(clean_idx, seg, replace=False)
            post = rng.choice(clean_idx, seg, replace=False)
            early, got = self.stream(np.r_[pre, idx[r * seg : (r + 1) * seg], post])
            false_alerts += early
            if got is not None:
                delays.append(got[0])
                named.append(got[1] == CONDITION_NAMES[code])
        return {
            "challenge": FOLDER_NAMES[code],
            "level": level,
            "replays": replays,
            "alerted": round(len(delays) / replays, 4),
            "mean_delay_frames": round(float(np.mean(delays)), 2) if delays else None,
            "named_correctly": round(float(np.mean(named)), 4) if named else None,
            "false_alerts_before_onset": false_alerts,
        }


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
    if len(clean_idx) < segment:
        return []
    replayer = _Replayer(is_anomalous, condition, anomaly, alert_cfg, segment)
    rows = []
    for code in sorted(set(codes[codes > 0].tolist())):
        for level in sorted(set(levels[codes == code].tolist())):
            idx = np.flatnonzero((codes == code) & (levels == level))
            rows.append(replayer.challenge(int(code), int(level), idx, clean_idx, rng))
    return rows


def _auroc_table(
    values: dict[str, np.ndarray], codes: np.ndarray, levels: np.ndarray, detection
) -> list[dict[str, Any]]:
    """One row per challenge type and level: frames, AUROC per kind against the clean frames, and
    (with a detection) the detection rate."""
    clean = codes == 0
    table: list[dict[str, Any]] = []
    for code in sorted(set(codes[~clean].tolist())):
        for level in sorted(set(levels[codes == code].tolist())):
            sel = (codes == code) & (levels == level)
            row: dict[str, Any] = {"challenge": FOLDER_NAMES[int(code)], "level": int(level), "frames": int(sel.sum())}
            for k, v in values.items():
                row[f"auroc_{k}"] = round(auroc(v[clean], v[sel]), 4)
            if detection is not None:
                row.update(_row_detection(detection, sel, CONDITION_NAMES[int(code)]))
            table.append(row)
    return table


def _row_detection(detection, sel: np.ndarray, expected: str) -> dict[str, Any]:
    """A row's detection rate at the threshold and the share of its detected frames named right."""
    flagged = sel & np.asarray(detection.is_anomalous)
    named = np.asarray(detection.condition, dtype=object)[flagged] == expected
    return {
        "detection_rate": round(float(np.mean(detection.is_anomalous[sel])), 4),
        "naming_accuracy": round(float(np.mean(named)), 4) if flagged.any() else None,
    }


def _mean_auroc(kinds: Sequence[str], table: list[dict[str, Any]]) -> dict[str, float]:
    """Per kind, over levels 3-5 and over all levels: the mean over types of the mean over levels,
    so every challenge type weighs the same."""
    mean = {}
    for k in kinds:
        for lv_name, lv in (("levels_3_5", (3, 4, 5)), ("all_levels", (1, 2, 3, 4, 5))):
            per_type: dict[str, list[float]] = {}
            for r in table:
                if r["level"] in lv:
                    per_type.setdefault(r["challenge"], []).append(r[f"auroc_{k}"])
            if per_type:
                mean[f"{k}_{lv_name}"] = round(float(np.mean([np.mean(v) for v in per_type.values()])), 4)
    return mean


def _naming_figures(detection, codes: np.ndarray, levels: np.ndarray) -> dict[str, Any]:
    """How detected frames of levels 3-5 were named: the confusion matrix, accuracy, share unknown."""
    clean = codes == 0
    truth = np.array([CONDITION_NAMES[int(c)] for c in codes], dtype=object)
    pred = np.asarray(detection.condition, dtype=object)
    det = (~clean) & (levels >= 3) & np.asarray(detection.is_anomalous)
    labels = sorted(set(truth[~clean].tolist()))
    cols = labels + [UNKNOWN]
    matrix = [[int(np.sum(det & (truth == t) & (pred == p))) for p in cols] for t in labels]
    return {
        "confusion_levels_3_5": {"true": labels, "predicted": cols, "counts": matrix},
        "naming_accuracy_levels_3_5": round(float(np.mean(pred[det] == truth[det])), 4) if det.any() else None,
        "unknown_share_levels_3_5": round(float(np.mean(pred[det] == UNKNOWN)), 4) if det.any() else None,
    }


def _detection_figures(
    detection, codes: np.ndarray, levels: np.ndarray, threshold: float | None, alert_cfg: AlertConfig
) -> dict[str, Any]:
    """The calibrated detector's figures: false alarms, detection and naming, replayed alerts."""
    clean = codes == 0
    hi = (~clean) & (levels >= 3)
    out: dict[str, Any] = {
        "threshold": threshold,
        "false_alarm_rate_clean": round(float(np.mean(detection.is_anomalous[clean])), 5),
        "false_alarms": int(detection.is_anomalous[clean].sum()),
        "detection_rate_levels_3_5": round(float(np.mean(detection.is_anomalous[hi])), 4) if hi.any() else None,
    }
    out.update(_naming_figures(detection, codes, levels))
    replay = replay_delays(
        np.asarray(detection.is_anomalous),
        np.asarray(detection.condition, dtype=object),
        codes,
        levels,
        alert_cfg,
        anomaly=np.asarray(detection.anomaly),
    )
    delays = [r["mean_delay_frames"] for r in replay if r["level"] >= 3 and r["mean_delay_frames"] is not None]
    out["replay"] = replay
    out["mean_alert_delay_frames_levels_3_5"] = round(float(np.mean(delays)), 2) if delays else None
    return out


def _roc_curves(
    values: dict[str, np.ndarray], codes: np.ndarray, levels: np.ndarray, threshold: float | None
) -> dict[str, dict]:
    """For the PNGs, per challenge type: the curve of each level for the value the deployment decides
    by (the calibrated anomaly; the authors' combined score without a calibration) and, with a
    threshold, the operating point of each level (false-alarm rate on clean frames, detection)."""
    kind = "anomaly" if "anomaly" in values else "combined"
    v = values[kind]
    clean = codes == 0
    out: dict[str, dict] = {}
    for code in sorted(set(codes[~clean].tolist())):
        curves, points = {}, {}
        for level in sorted(set(levels[codes == code].tolist())):
            pos = v[(codes == code) & (levels == level)]
            curves[f"L{level}"] = roc_curve(v[clean], pos)
            if threshold is not None:
                points[f"L{level}"] = (float(np.mean(v[clean] > threshold)), float(np.mean(pos > threshold)))
        out[FOLDER_NAMES[int(code)]] = {"kind": kind, "curves": curves, "points": points}
    return out


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
    values = kind_values(scores, None if detection is None else np.asarray(detection.anomaly))
    clean = codes == 0
    if not clean.any():
        raise ValueError("the evaluation data have no clean (ChallengeFree) frames")
    table = _auroc_table(values, codes, levels, detection)
    report: dict[str, Any] = {
        "meta": dict(meta or {}),
        "clean_frames": int(clean.sum()),
        "challenge_frames": int((~clean).sum()),
        "table": table,
        "mean_auroc": _mean_auroc(list(values), table),
    }
    if detection is not None:
        report.update(_detection_figures(detection, codes, levels, threshold, alert_cfg or AlertConfig()))
    report["_roc"] = _roc_curves(values, codes, levels, threshold)  # for the PNGs; dropped from the JSON
    return report


LEVEL_COLOURS = {
    "L1": (200, 200, 120),
    "L2": (200, 150, 40),
    "L3": (40, 160, 40),
    "L4": (0, 120, 230),
    "L5": (0, 0, 200),
}
LOG_FPR_MIN = 1e-3  # the x axis starts here: a deployment runs at 1 % or below, where curves differ


def log_fpr_x(fpr: np.ndarray | float, x0: int, width: int) -> np.ndarray:
    """Pixel x of false-alarm rates on a log axis from LOG_FPR_MIN to 1 (0 sits on the left edge)."""
    f = np.clip(np.asarray(fpr, dtype=np.float64), LOG_FPR_MIN, 1.0)
    return x0 + (np.log10(f) - np.log10(LOG_FPR_MIN)) / -np.log10(LOG_FPR_MIN) * width


def _text(img: np.ndarray, text: str, at: tuple[int, int], colour=(0, 0, 0), scale: float = 0.42) -> None:
    cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _roc_axes(img: np.ndarray, x0: int, y0: int, size: int, m: int) -> None:
    cv2.rectangle(img, (x0, m), (x0 + size, y0), (0, 0, 0), 1)
    for f in (1e-3, 1e-2, 1e-1, 1.0):
        px = int(log_fpr_x(f, x0, size))
        cv2.line(img, (px, y0), (px, y0 + 5), (0, 0, 0), 1)
        _text(img, f"{f:g}", (px - 12, y0 + 18), scale=0.35)
    for t in np.linspace(0, 1, 6):
        py = int(y0 - t * size)
        cv2.line(img, (x0 - 5, py), (x0, py), (0, 0, 0), 1)
        _text(img, f"{t:.1f}", (x0 - 32, py + 4), scale=0.35)
    _text(img, "false-alarm rate on clean frames (log)", (x0 + size // 2 - 130, y0 + 38))
    _text(img, "detection rate", (4, m - 4))


def draw_roc(entry: dict, title: str, size: int = 420) -> np.ndarray:
    """One curve per level on a log false-alarm axis, the operating threshold's point on each, and the
    legend (AUC per level) beside the plot, never over the curves."""
    m, legend_w = 50, 190
    img = np.full((size + 2 * m, size + 2 * m + legend_w, 3), 255, np.uint8)
    x0, y0 = m, m + size
    _roc_axes(img, x0, y0, size, m)
    points = entry.get("points") or {}
    if points:  # the threshold's false-alarm rate on clean frames is the same for every level
        px = int(log_fpr_x(next(iter(points.values()))[0], x0, size))
        for y in range(m, y0, 8):
            cv2.line(img, (px, y), (px, min(y + 4, y0)), (120, 120, 120), 1)
    for i, (name, c) in enumerate(entry["curves"].items()):
        colour = LEVEL_COLOURS.get(name, (0, 0, 0))
        pts = np.stack([log_fpr_x(c.fpr, x0, size), y0 - c.tpr * size], axis=1).round().astype(np.int32)
        cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, colour, 2, cv2.LINE_AA)
        if name in points:
            fp, tp = points[name]
            cv2.circle(img, (int(log_fpr_x(fp, x0, size)), int(y0 - tp * size)), 5, colour, -1, cv2.LINE_AA)
        area = float(np.trapezoid(c.tpr, c.fpr))
        _text(img, f"{name} AUC {area:.3f}", (x0 + size + 20, m + 20 + 18 * i), colour)
    if points:
        _text(img, "dots: the threshold", (x0 + size + 20, m + 20 + 18 * (len(entry["curves"]) + 1)), (90, 90, 90))
    _text(img, f"{title} ({entry['kind']})", (x0, m - 18), scale=0.5)
    return img


def _md_summary(report: dict) -> list[str]:
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
    return lines


def _md_mean_auroc(report: dict, kinds: list[str]) -> list[str]:
    lines = [
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
    return lines


def _md_table(report: dict, kinds: list[str]) -> list[str]:
    head = "| challenge | level | " + " | ".join(f"AUROC {k}" for k in kinds)
    sep = "| --- | --- | " + " | ".join("---" for _ in kinds)
    if "false_alarm_rate_clean" in report:
        head += " | detected"
        sep += " | ---"
    lines = ["", "## Per challenge type and level", "", head + " |", sep + " |"]
    for r in report["table"]:
        cells = [f"{r[f'auroc_{k}']:.3f}" for k in kinds]
        if "detection_rate" in r:
            cells.append(f"{r['detection_rate']:.2f}")
        lines.append(f"| {r['challenge']} | {r['level']} | " + " | ".join(cells) + " |")
    return lines


def _md_confusion(c: dict) -> list[str]:
    lines = [
        "",
        "## Condition confusion (detected frames, levels 3-5; rows true, columns predicted)",
        "",
        "| true \\ predicted | " + " | ".join(c["predicted"]) + " |",
        "| --- | " + " | ".join("---" for _ in c["predicted"]) + " |",
    ]
    for t, row in zip(c["true"], c["counts"], strict=False):
        lines.append(f"| {t} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def _md_replay(rows: list[dict]) -> list[str]:
    lines = [
        "",
        "## Replayed streams (30 clean, 30 challenged, 30 clean frames)",
        "",
        "| challenge | level | replays | alerted | mean delay (frames) | named correctly | false alerts before onset |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['challenge']} | {r['level']} | {r['replays']} | {r['alerted']:.2f} | {r['mean_delay_frames']} | "
            f"{r['named_correctly']} | {r['false_alerts_before_onset']} |"
        )
    return lines


def markdown(report: dict) -> str:
    """The report as Markdown: summary, mean AUROC, the per-type table, confusion, replayed streams."""
    kinds = [k for k in KINDS if f"{k}_levels_3_5" in report["mean_auroc"]]
    lines = _md_summary(report) + _md_mean_auroc(report, kinds) + _md_table(report, kinds)
    if "confusion_levels_3_5" in report:
        lines += _md_confusion(report["confusion_levels_3_5"])
    if report.get("replay"):
        lines += _md_replay(report["replay"])
    return "\n".join(lines) + "\n"


def write_report_files(out_dir: str | Path, report: dict) -> Path:
    out = Path(out_dir)
    (out / "roc").mkdir(parents=True, exist_ok=True)
    for name, curves in report.get("_roc", {}).items():
        cv2.imwrite(str(out / "roc" / f"{name}.png"), draw_roc(curves, name))
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
    wire: WireEncoding = NO_ENCODING,
    calibration_cfg: CalibrationConfig | None = None,
) -> dict:
    """Score a CURE-TSR folder with the model (and its calibration, if given) and write the report.

    alert_cfg: the deployment's alert rule (its `alerts:` section); the replayed streams' alert
    figures and which frames name a condition depend on it, so it has no default.
    wire: the producers' encoding; frames are seen through it, not twice (wire_to_apply). A challenge
    set carrying two renderings (synth's manifest) adds the leave-one-rendering-out table
    (calibration.loro), fit with `calibration_cfg` (default: the `calibration:` defaults)."""
    scorer = monitor.load_model(model, device=device)
    frames = read_cure_tsr(data)
    if not frames:
        raise ValueError(f"{data}: no CURE-TSR frames found")
    apply, seen = wire_to_apply(wire, data)
    x = features_of_paths(scorer, [f.path for f in frames], wire=apply)
    # recon, cosines and score are columns of the feature rows (log recon, cos 1-4, score).
    scores = ScoreResult(x[:, 5].copy(), np.exp(x[:, 0]), x[:, 1:5].copy())
    detection, threshold, rules = None, None, alert_cfg
    meta = {"model": str(model), "model_id": scorer.model_id, "data": str(data), "wire": seen.describe()}
    if calibration is not None:
        cal = load_calibration(calibration, model_id=scorer.model_id)
        detection = Detector(scorer, cal).detect_features(x, scores, evidence_ref=alert_cfg.suspect_above)
        threshold = cal.threshold.threshold
        rules = alert_rules(alert_cfg, cal)  # as `score` runs this calibration
        meta["calibration"] = str(calibration)
        meta["threshold_explanation"] = cal.threshold.explanation
        meta["calibration_wire"] = wire_label(cal.wire)
    codes, levels = [f.name.challenge_type for f in frames], [f.name.level for f in frames]
    report = build_report(scores, codes, levels, detection, threshold, rules, meta)
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
