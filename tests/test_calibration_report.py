"""The evaluation report: figures from arrays, Markdown, JSON and OpenCV-drawn ROC PNGs."""

from __future__ import annotations

import json

import cv2
import numpy as np

from calibration.detector import DetectionResult
from calibration.report import LEVEL_COLOURS, build_report, draw_roc, log_fpr_x, replay_delays, write_report_files
from calibration.settings import AlertConfig
from monitor.scorer import ScoreResult


def synthetic(n=120, seed=0):
    rng = np.random.default_rng(seed)
    codes = np.r_[np.zeros(n, int), np.full(n, 9), np.full(n, 4)]
    levels = np.r_[np.zeros(n, int), np.full(n, 4), np.full(n, 5)]
    anomaly = np.r_[rng.normal(0, 1, n), rng.normal(5, 1, n), rng.normal(6, 1, n)]
    scores = ScoreResult(rng.normal(size=3 * n), rng.random(3 * n), rng.uniform(-1, 1, (3 * n, 4)))
    flagged = anomaly > 3.0
    cond = np.where(flagged, np.where(codes == 9, "rain", "darkening"), "clean").astype(object)
    cond[2 * n] = "unknown"
    det = DetectionResult(anomaly, flagged, cond, np.full(3 * n, 0.9), scores)
    return scores, codes, levels, det


def test_build_report_figures(tmp_path):
    scores, codes, levels, det = synthetic()
    rep = build_report(scores, codes, levels, det, 3.0, AlertConfig(), {"run": "test"})
    assert rep["mean_auroc"]["anomaly_levels_3_5"] > 0.99
    assert 0.4 < rep["mean_auroc"]["recon_levels_3_5"] < 0.6  # random scores
    assert rep["false_alarms"] == int((det.anomaly[:120] > 3).sum())
    c = rep["confusion_levels_3_5"]
    assert c["true"] == ["darkening", "rain"] and c["predicted"][-1] == "unknown"
    assert sum(map(sum, c["counts"])) == int(det.is_anomalous[120:].sum())
    assert rep["naming_accuracy_levels_3_5"] < 1.0  # the one "unknown" counts as wrong
    assert all(r["alerted"] == 1.0 and r["mean_delay_frames"] <= 4 for r in rep["replay"])
    out = write_report_files(tmp_path / "rep", rep)
    data = json.loads((out / "report.json").read_text())
    assert "_roc" not in data and data["meta"]["run"] == "test"
    md = (out / "report.md").read_text()
    assert "| Rain | 4 |" in md and "Condition confusion" in md
    img = cv2.imread(str(out / "roc" / "Rain.png"))
    assert img is not None and img.shape[2] == 3


def test_replay_delay_counts_from_onset():
    n = 60
    codes = np.r_[np.zeros(n, int), np.full(30, 9)]
    levels = np.r_[np.zeros(n, int), np.full(30, 3)]
    flagged = np.r_[np.zeros(n, bool), np.zeros(2, bool), np.ones(28, bool)]
    cond = np.where(flagged, "rain", "clean")
    rows = replay_delays(flagged, cond, codes, levels, AlertConfig(k=3, n=5))
    # anomalous from frame 2 of the challenge; k=3 -> raised at frame 4
    assert rows == [
        {
            "challenge": "Rain",
            "level": 3,
            "replays": 1,
            "alerted": 1.0,
            "mean_delay_frames": 4.0,
            "named_correctly": 1.0,
            "false_alerts_before_onset": 0,
        }
    ]


def test_replay_sums_evidence_of_frames_under_the_threshold():
    """With the anomaly values, a condition whose frames stay under the threshold (none flagged)
    but well above clean frames is alerted by the evidence rule; without them it is missed."""
    n = 60
    codes = np.r_[np.zeros(n, int), np.full(30, 12)]
    levels = np.r_[np.zeros(n, int), np.full(30, 3)]
    anomaly = np.r_[np.full(n, 1.0), np.full(30, 5.5)]  # 2.5 nats above evidence_ref each
    flagged = np.zeros(n + 30, bool)
    cond = np.where(anomaly > 3.0, "haze", "clean")
    rows = replay_delays(flagged, cond, codes, levels, AlertConfig(), anomaly=anomaly)
    # 4 frames x 2.5 = 10 >= 8: raised on the 4th frame of the challenge (delay 3)
    assert rows == [
        {
            "challenge": "Haze",
            "level": 3,
            "replays": 1,
            "alerted": 1.0,
            "mean_delay_frames": 3.0,
            "named_correctly": 1.0,
            "false_alerts_before_onset": 0,
        }
    ]
    assert replay_delays(flagged, cond, codes, levels, AlertConfig())[0]["alerted"] == 0.0


def test_roc_plots_one_curve_per_level_on_a_log_axis_with_the_threshold_and_the_legend_outside():
    rng = np.random.default_rng(0)
    clean = rng.normal(0, 1, 400)
    codes = np.r_[np.zeros(400, int), np.full(300, 9)]
    levels = np.r_[np.zeros(400, int), np.repeat([3, 4, 5], 100)]
    anomaly = np.r_[clean, rng.normal(1, 1, 100), rng.normal(2, 1, 100), rng.normal(4, 1, 100)]
    scores = ScoreResult(np.zeros(700), np.ones(700), np.zeros((700, 4)))
    detection = DetectionResult(anomaly, anomaly > 2.3, np.array(["rain"] * 700, dtype=object), np.ones(700), scores)
    entry = build_report(scores, codes, levels, detection, 2.3, AlertConfig())["_roc"]["Rain"]
    assert entry["kind"] == "anomaly" and list(entry["curves"]) == ["L3", "L4", "L5"]
    fa = float(np.mean(clean > 2.3))
    assert all(p[0] == fa for p in entry["points"].values())  # one false-alarm rate: the clean frames'
    assert entry["points"]["L5"][1] > entry["points"]["L3"][1]
    img = draw_roc(entry, "Rain")
    plot = img[50:470, 50:470]
    assert img.shape == (520, 710, 3)  # the legend has its own column right of the plot
    for name in ("L3", "L4", "L5"):  # each level's colour is drawn inside the plot, and its dot
        assert (plot == np.array(LEVEL_COLOURS[name], np.uint8)).all(axis=2).sum() > 50
    x = int(log_fpr_x(fa, 50, 420))  # the threshold's dashed line sits at its false-alarm rate, log scale
    assert (img[60:460, x] == 120).all(axis=1).sum() > 100
    assert log_fpr_x(0.01, 0, 300) == 100 and log_fpr_x(0.1, 0, 300) == 200


def test_evaluate_report_uses_the_configs_alert_rule(tmp_path, monkeypatch, untrained_checkpoint):
    """`evaluate --report` hands the config's alerts section to the report (it used to get the defaults)."""
    import calibration.report
    import run_monitor
    from monitor.challenges import build_challenge_set
    from tests.helpers import belgium_paths

    build_challenge_set(belgium_paths(6), tmp_path / "set", challenges=["rain"], levels=[4], workers=1)
    (tmp_path / "c.yaml").write_text("alerts:\n  k: 4\n  n: 6\n  evidence_h: 0\n")
    seen = {}
    monkeypatch.setattr(calibration.report, "write_report", lambda *a, **kw: seen.update(kw) or {})
    rc = run_monitor.main(
        [
            "--config",
            str(tmp_path / "c.yaml"),
            "evaluate",
            "--model",
            str(untrained_checkpoint),
            "--data",
            str(tmp_path / "set"),
            "--report",
            str(tmp_path / "rep"),
            "--device",
            "cpu",
        ]
    )
    assert rc == 0
    assert (seen["alert_cfg"].k, seen["alert_cfg"].n, seen["alert_cfg"].evidence) == (4, 6, False)
