"""Leave one rendering out (calibration.loro) on a real challenge set built by synth's builder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration.calibrate import features_of_paths
from calibration.loro import leave_one_rendering_out
from calibration.settings import AlertConfig
from monitor.challenges import build_challenge_set
from monitor.cure_tsr import read_cure_tsr
from tests.helpers import belgium_paths


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """14 real tracks (42 frames), rain and shadow at level 4, tracks taking A and B in turn."""
    out = tmp_path_factory.mktemp("loro") / "set"
    build_challenge_set(
        belgium_paths(42), out, challenges=["rain", "shadow"], levels=[4], seed=2, workers=1, renderings=("A", "B")
    )
    return out


def test_evaluate_report_has_the_loro_table_in_both_directions(built, tmp_path, untrained_checkpoint, capsys):
    import run_monitor

    argv = ["evaluate", "--model", str(untrained_checkpoint), "--data", str(built), "--report", str(tmp_path / "r")]
    assert run_monitor.main(argv + ["--device", "cpu"]) == 0
    loro = json.loads((tmp_path / "r" / "report.json").read_text())["leave_one_rendering_out"]
    assert [(d["fit"], d["test"]) for d in loro] == [("B", "A"), ("A", "B")]
    for d in loro:
        assert d["fit_tracks"] + d["test_tracks"] == 14
        assert [(r["challenge"], r["level"]) for r in d["table"]] == [("Rain", 4), ("Shadow", 4)]
        for r in d["table"]:
            assert 0.0 <= r["auroc_anomaly"] <= 1.0 and 0.0 <= r["detection_rate"] <= 1.0
            assert r["frames"] >= 15 and r["episodes"] == r["frames"] // 15 and 0 <= r["episodes_met"] <= r["episodes"]
        assert d["summary"]["episodes"] == sum(r["episodes"] for r in d["table"])
    assert "## Leave one rendering out" in (tmp_path / "r" / "report.md").read_text()
    assert "fit on rendering A" in capsys.readouterr().out


def test_the_fit_never_sees_the_tested_rendering(built, untrained_checkpoint):
    import monitor

    frames = read_cure_tsr(built)
    x = features_of_paths(monitor.load_model(untrained_checkpoint, device="cpu"), [f.path for f in frames])
    groups = np.array([f.sequence for f in frames])
    codes = np.array([f.name.challenge_type for f in frames])
    levels = np.array([f.name.level for f in frames])
    rend = np.array([f.rendering for f in frames])
    args = (groups, codes, levels, rend)
    kw = {"model_id": "m", "alert_cfg": AlertConfig()}
    runs = {d["test"]: d for d in leave_one_rendering_out(x, *args, **kw)}
    for tested, d in runs.items():
        fit, test = d["_fit_rows"], d["_test_rows"]
        assert not set(groups[fit]) & set(groups[test])  # whole tracks on one side
        assert set(rend[fit]) == {"", "AB".replace(tested, "")}  # clean frames and the other rendering only
        assert set(rend[test]) == {"", tested}
        assert len(fit) + len(test) == len(frames)
    # Moving every feature of the B tracks changes nothing fitted on A, and everything fitted on B.
    x2 = x.copy()
    x2[runs["B"]["_test_rows"]] += 3.0
    again = {d["test"]: d for d in leave_one_rendering_out(x2, *args, **kw)}
    assert again["B"]["threshold"] == runs["B"]["threshold"]
    assert again["A"]["threshold"] != runs["A"]["threshold"] or again["A"]["table"] != runs["A"]["table"]


def test_a_set_of_one_rendering_is_refused(built):
    frames = read_cure_tsr(built)
    codes = [f.name.challenge_type for f in frames]
    x = np.zeros((len(frames), 1))
    with pytest.raises(ValueError, match="needs two"):
        leave_one_rendering_out(
            x,
            [f.sequence for f in frames],
            codes,
            codes,
            ["A" if c else "" for c in codes],
            model_id="m",
            alert_cfg=AlertConfig(),
        )


def test_evaluate_with_a_calibration_prints_the_calibrated_figures_first(built, tmp_path, untrained_checkpoint, capsys):
    """The detector's figures are the main table; the raw GradCon AUROCs follow, explained."""
    import run_monitor

    cal = tmp_path / "cal.yaml"
    fit = ["calibrate", "--model", str(untrained_checkpoint), "--data", str(built), "--challenges", str(built)]
    assert run_monitor.main([*fit, "--out", str(cal), "--allow-unsupported", "--device", "cpu"]) == 0
    capsys.readouterr()
    argv = ["evaluate", "--model", str(untrained_checkpoint), "--data", str(built), "--calibration", str(cal)]
    assert run_monitor.main([*argv, "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "calibrated detector: false alarms on clean frames" in out and "named right" in out
    assert out.index("calibrated detector") < out.index("raw GradCon scores follow") < out.index("AUROC, recon")
