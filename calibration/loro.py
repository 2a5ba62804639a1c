"""Leave one rendering out: the calibration fit on some renderings of the conditions and tested
on another, written independently (monitor.renderings), so the figures say how much the detector
learnt the condition rather than one generator's fingerprint.

A challenge set from monitor.challenges.build_challenge_set draws each track in one rendering; a
direction's fit uses the tracks of the other renderings (clean frames and challenged copies; the
fit's own folds are track-wise too) and its test uses the tracks of the tested rendering, so no
track and no frame of the tested rendering is in the fit. Per condition and level of the test
side: AUROC of the anomaly (test clean vs test challenged), detection rate at the threshold,
naming accuracy on detected frames, and episodes met through the alert state machine
(calibration.episode_replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.alerts import alert_rules
from calibration.calibrate import fit_calibration
from calibration.detector import Detector
from calibration.episode_replay import episode_figures, episode_replay
from calibration.metrics import auroc
from calibration.settings import AlertConfig, CalibrationConfig
from monitor.challenge_types import CONDITION_NAMES, FOLDER_NAMES


def rendering_sides(
    groups: Sequence[str], codes: Sequence[int], renderings: Sequence[str], tested: str
) -> tuple[np.ndarray, np.ndarray]:
    """(fit rows, test rows) as boolean masks: a track belongs to the test side when its challenged
    frames are all of `tested`, to the fit side when none is; a track mixing both is left out, and
    so is a track with no challenged frame (it has no rendering)."""
    g = np.asarray(groups).astype(str)
    c = np.asarray(codes)
    r = np.asarray(renderings).astype(str)
    kinds: dict[str, set[bool]] = {}
    for grp, rend in zip(g[c != 0], r[c != 0], strict=True):
        kinds.setdefault(grp, set()).add(rend == tested)
    test_tracks = {k for k, v in kinds.items() if v == {True}}
    fit_tracks = {k for k, v in kinds.items() if v == {False}}
    return np.isin(g, list(fit_tracks)), np.isin(g, list(test_tracks))


def _condition_rows(det, codes: np.ndarray, levels: np.ndarray, alert_cfg: AlertConfig) -> list[dict]:
    """Per (challenge, level) of the test side: AUROC, detection rate, naming, episodes."""
    clean = codes == 0
    clean_stream = (det.anomaly[clean], det.is_anomalous[clean], det.condition[clean])
    rows = []
    for code in sorted(set(codes[~clean].tolist())):
        for level in sorted(set(levels[codes == code].tolist())):
            sel = (codes == code) & (levels == level)
            flagged = sel & det.is_anomalous
            named = det.condition[flagged] == CONDITION_NAMES[int(code)]
            runs = episode_replay(
                clean_stream, (det.anomaly[sel], det.is_anomalous[sel], det.condition[sel]), alert_cfg
            )
            ep = episode_figures(runs, CONDITION_NAMES[int(code)])
            rows.append(
                {
                    "challenge": FOLDER_NAMES[int(code)],
                    "level": int(level),
                    "frames": int(sel.sum()),
                    "auroc_anomaly": round(auroc(det.anomaly[clean], det.anomaly[sel]), 4),
                    "detection_rate": round(float(np.mean(det.is_anomalous[sel])), 4),
                    "naming_accuracy": round(float(np.mean(named)), 4) if flagged.any() else None,
                    "episodes": ep["episodes"],
                    "episodes_met": ep["met"],
                    "false_alerts": ep["false_alerts"],
                }
            )
    return rows


def _summary(rows: list[dict]) -> dict[str, Any]:
    hi = [r for r in rows if r["level"] >= 3]
    return {
        "mean_auroc_levels_3_5": round(float(np.mean([r["auroc_anomaly"] for r in hi])), 4) if hi else None,
        "episodes_met": sum(r["episodes_met"] for r in rows),
        "episodes": sum(r["episodes"] for r in rows),
        "episodes_met_levels_3_5": sum(r["episodes_met"] for r in hi),
        "episodes_levels_3_5": sum(r["episodes"] for r in hi),
        "false_alerts": sum(r["false_alerts"] for r in rows),
    }


def _fit_side(x, g, c, lv, fit: np.ndarray, model_id: str, cc: CalibrationConfig, seed: int):
    """fit_calibration (its protocol: track-wise folds) on the fit side's rows only."""
    f_clean, f_ch = fit & (c == 0), fit & (c != 0)
    return fit_calibration(
        x[f_clean],
        g[f_clean],
        x[f_ch],
        c[f_ch],
        lv[f_ch],
        g[f_ch],
        model_id=model_id,
        fpr=cc.fpr,
        confidence=cc.confidence,
        method=cc.method,
        min_confidence=cc.min_confidence,
        min_level=cc.min_level,
        seed=seed,
    )


def leave_one_rendering_out(
    x: np.ndarray,
    groups: Sequence[str],
    codes: Sequence[int],
    levels: Sequence[int],
    renderings: Sequence[str],
    *,
    model_id: str,
    alert_cfg: AlertConfig,
    calibration_cfg: CalibrationConfig | None = None,
    seed: int = 0,
) -> list[dict]:
    """One direction per rendering present: fit on the others' tracks, test on its tracks.

    x: feature rows (calibration.detector.FEATURE_COLUMNS) of clean and challenged frames; groups:
    their tracks; codes / levels: challenge code (0 clean) and level; renderings: "A"/"B" for
    challenged frames ("" for clean). Each direction also carries `_fit_rows` / `_test_rows` (the
    row indices used), which `loro_json` drops."""
    x = np.asarray(x, dtype=np.float64)
    c, lv = np.asarray(codes, dtype=np.int64), np.asarray(levels, dtype=np.int64)
    r = np.asarray(renderings).astype(str)
    present = sorted(set(r[c != 0].tolist()) - {""})
    if len(present) < 2:
        raise ValueError(f"the challenge set has renderings {present or 'none'}: leaving one out needs two")
    cc = calibration_cfg or CalibrationConfig()
    evidence_ref = alert_cfg.evidence_ref if alert_cfg.evidence else None
    out = []
    for tested in present:
        fit, test = rendering_sides(groups, c, r, tested)
        g = np.asarray(groups).astype(str)
        cal = _fit_side(x, g, c, lv, fit, model_id, cc, seed)
        det = Detector(None, cal).detect_features(x[test], None, evidence_ref=evidence_ref)
        rows = _condition_rows(det, c[test], lv[test], alert_rules(alert_cfg, cal))
        out.append(
            {
                "fit": ",".join(p for p in present if p != tested),
                "test": tested,
                "fit_tracks": len(set(g[fit].tolist())),
                "test_tracks": len(set(g[test].tolist())),
                "threshold": round(float(cal.threshold.threshold), 4),
                "false_alarm_rate_clean": round(float(np.mean(det.is_anomalous[c[test] == 0])), 5),
                "summary": _summary(rows),
                "table": rows,
                "_fit_rows": np.flatnonzero(fit),
                "_test_rows": np.flatnonzero(test),
            }
        )
    return out


def loro_json(directions: list[dict]) -> list[dict]:
    """The directions without their row indices (for report.json)."""
    return [{k: v for k, v in d.items() if not k.startswith("_")} for d in directions]


def loro_markdown(directions: list[dict]) -> list[str]:
    """report.md's section: one summary line and one table per direction."""
    lines = [
        "",
        "## Leave one rendering out (fit on one rendering's tracks, tested on the other's)",
        "",
        "Episodes: 15 challenged frames between 20 clean ones through the alert state machine; met = one "
        "alert, named right, within 10 frames.",
    ]
    for d in directions:
        s = d["summary"]
        lines += [
            "",
            f"### fit on {d['fit']} ({d['fit_tracks']} tracks), tested on {d['test']} ({d['test_tracks']} tracks)",
            "",
            f"- threshold {d['threshold']}, false-alarm rate on the test side's clean frames "
            f"{d['false_alarm_rate_clean']:.4%}; mean AUROC levels 3-5 {s['mean_auroc_levels_3_5']}; episodes met "
            f"{s['episodes_met']}/{s['episodes']} (levels 3-5: {s['episodes_met_levels_3_5']}/"
            f"{s['episodes_levels_3_5']}); false alerts {s['false_alerts']}",
            "",
            "| challenge | level | frames | AUROC anomaly | detected | named right | episodes met |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in d["table"]:
            named = "-" if r["naming_accuracy"] is None else f"{r['naming_accuracy']:.2f}"
            lines.append(
                f"| {r['challenge']} | {r['level']} | {r['frames']} | {r['auroc_anomaly']:.3f} | "
                f"{r['detection_rate']:.2f} | {named} | {r['episodes_met']}/{r['episodes']} |"
            )
    return lines
