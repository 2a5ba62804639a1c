"""The per-stream alert state machine: onset, update, hysteresis, no flapping, duplicates."""
from __future__ import annotations

import pytest

from calibration.alerts import AlertTracker, FrameDecision, Origin
from monitor.config import AlertConfig

MS = 1_000_000


def feed(tracker, pattern, stream="cam17", start=0, condition="rain", conf=0.9, conditions=None):
    """pattern: string of '1' (anomalous) / '0'; returns all records emitted."""
    out = []
    for i, ch in enumerate(pattern):
        seq = start + i
        cond = conditions[i] if conditions else condition
        d = FrameDecision(stream, seq, ch == "1", cond if ch == "1" else "clean", conf if ch == "1" else 0.0,
                          value=float(ch == "1") + seq * 1e-3, capture_ns=seq * 33 * MS,
                          origin=Origin("signwatch.frames", 0, 1000 + seq))
        out += tracker.observe(d)
    return out


def test_onset_raise_and_clear():
    t = AlertTracker(AlertConfig(k=3, n=5, clear_k=1, clear_n=8, update_every=0))
    recs = feed(t, "0000" + "1011" + "1111" + "0" * 8 + "000")
    states = [r["state"] for r in recs]
    assert states == ["raised", "cleared"]
    raised, cleared = recs
    # raised on the 3rd anomalous of 5 (seq 7) but started at the onset, seq 4
    assert raised["alert_id"] == "cam17:4"
    assert raised["started_ns"] == 4 * 33 * MS
    assert raised["condition"] == "rain" and raised["confidence"] == pytest.approx(0.9)
    assert raised["frames"] == 4 and raised["anomalous_frames"] == 3
    assert raised["ended_ns"] is None
    assert cleared["alert_id"] == "cam17:4"
    assert cleared["ended_ns"] == 12 * 33 * MS  # first normal frame after the last anomalous one
    assert cleared["anomalous_frames"] == 7
    assert cleared["example"]["seq"] == 11 and cleared["example"]["offset"] == 1011  # most anomalous frame
    assert set(raised) == {"alert_id", "stream", "state", "condition", "confidence", "started_ns", "ended_ns",
                           "frames", "anomalous_frames", "score_mean", "score_max", "example"}


def test_isolated_frames_never_raise():
    t = AlertTracker(AlertConfig(k=3, n=5))
    assert feed(t, "1001001001001000100") == []


def test_no_flapping_on_intermittent_anomalies():
    # 50 % anomalous, alternating: one alert that stays open, not raise/clear cycles
    t = AlertTracker(AlertConfig(k=2, n=4, clear_k=1, clear_n=6, update_every=0))
    recs = feed(t, "10" * 40)
    assert [r["state"] for r in recs] == ["raised"]
    # after clearing, one anomalous frame does not re-raise
    recs = feed(t, "0" * 10 + "1" + "0" * 5, start=80)
    assert [r["state"] for r in recs] == ["cleared"]


def test_updated_when_condition_changes_and_periodically():
    t = AlertTracker(AlertConfig(k=3, n=5, clear_k=1, clear_n=8, update_every=0, condition_window=6))
    conds = ["rain"] * 6 + ["snow"] * 8
    recs = feed(t, "1" * 14, conditions=conds)
    assert [(r["state"], r["condition"]) for r in recs] == [("raised", "rain"), ("updated", "snow")]
    # tie (3 rain vs 3 snow) keeps the current name: no naming flap
    t2 = AlertTracker(AlertConfig(k=3, n=5, update_every=0, condition_window=6))
    recs = feed(t2, "1" * 6, conditions=["rain"] * 3 + ["snow"] * 3)
    assert [r["condition"] for r in recs] == ["rain"]
    t3 = AlertTracker(AlertConfig(k=3, n=5, update_every=10))
    recs = feed(t3, "1" * 33)
    assert [r["state"] for r in recs] == ["raised"] + ["updated"] * 3


def test_confidence_is_share_weighted():
    t = AlertTracker(AlertConfig(k=4, n=4, update_every=0, condition_window=4))
    recs = feed(t, "1111", conditions=["rain", "rain", "rain", "snow"], conf=0.8)
    assert recs[0]["condition"] == "rain"
    assert recs[0]["confidence"] == pytest.approx(0.8 * 3 / 4)


def test_duplicates_after_crash_change_nothing():
    t = AlertTracker(AlertConfig(k=3, n=5, update_every=0))
    first = feed(t, "00111")
    assert [r["state"] for r in first] == ["raised"]
    # the consumer crashed before committing: frames 0..4 come again, then new ones
    again = feed(t, "00111")
    assert again == [] and t.duplicates == 5
    recs = feed(t, "1" * 3 + "0" * 8, start=5)
    assert [r["state"] for r in recs] == ["cleared"]
    assert recs[0]["frames"] == 3 + 3 + 8 and recs[0]["anomalous_frames"] == 6  # nothing counted twice


def test_restarted_consumer_reraises_same_alert_id():
    a = feed(AlertTracker(AlertConfig()), "0011111")
    b = feed(AlertTracker(AlertConfig()), "0011111")
    assert a[0]["alert_id"] == b[0]["alert_id"]


def test_streams_are_independent_and_camera_restart_is_not_a_duplicate():
    t = AlertTracker(AlertConfig(k=3, n=5, seq_reset_gap=100))
    recs = feed(t, "111", stream="a") + feed(t, "000", stream="b")
    assert [(r["stream"], r["state"]) for r in recs] == [("a", "raised")]
    assert set(t.active()) == {"a"}
    feed(t, "0" * 500, stream="b")
    assert feed(t, "111", stream="b", start=0) != []  # seq dropped by > seq_reset_gap: a restart


def test_config_checked():
    with pytest.raises(ValueError):
        AlertTracker(AlertConfig(k=6, n=5))
