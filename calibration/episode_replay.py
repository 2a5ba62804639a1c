"""Offline episode replay: per-frame decisions played as one stream of clean stretches and
condition episodes (as the demo schedules them) through the alert state machine. Used by evaluate
--report's leave-one-rendering-out table, scripts/calibration_experiment.py and
scripts/loro_wire_experiment.py. The judging is calibration.episodes' (`judge_episodes`), the same
as the demo's and the `check` command's.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import NamedTuple

from calibration.alerts import AlertTracker, FrameDecision
from calibration.episodes import MAX_DELAY, Episode, judge_episodes
from calibration.settings import AlertConfig

Rows = tuple  # (anomaly, is_anomalous, condition) arrays of equal length
STREAM = "replay"


class Replay(NamedTuple):
    """What the replay played: (onset seq, frames) of each clean stretch and each effect episode, in
    seq order, with whether it is an effect; and every alert record the tracker emitted, as dicts."""

    spans: list[tuple[int, int, bool]]
    alerts: list[dict]
    frames: int


def episode_replay(clean: Rows, effect: Rows, cfg: AlertConfig, clear: int = 20, length: int = 15) -> Replay:
    """One stream alternating `clear` clean frames and `length` frames of an effect (each side's
    frames in data order, so a track's frames stay together; the clean side cycles), as the demo
    schedules them, through the alert state machine. clean / effect: (anomaly, is_anomalous,
    condition) arrays, conditions named for suspect frames too (detect_features(evidence_ref=...))."""
    ca, cf, cn = clean
    ea, ef, en = effect
    tracker = AlertTracker(cfg)
    seq, ci, alerts, spans = 0, 0, [], []
    for start in range(0, len(ea) - length + 1, length):
        clean_part = [((ci + j) % len(ca)) for j in range(clear)]
        ci += clear
        for is_effect, rows in (
            (False, [(ca[i], cf[i], cn[i]) for i in clean_part]),
            (True, [(ea[j], ef[j], en[j]) for j in range(start, start + length)]),
        ):
            spans.append((seq, len(rows), is_effect))
            for a, f, c in rows:
                for rec in tracker.observe(FrameDecision(STREAM, seq, bool(f), str(c), 0.0, float(a), seq)):
                    alerts.append(asdict(rec))
                seq += 1
    return Replay(spans, alerts, seq)


def episode_figures(runs: Replay, expected: str) -> dict:
    """The replay's effect episodes judged by calibration.episodes, the effect's right name being
    `expected`: how many, alerted within MAX_DELAY frames, met (exactly one alert, naming it, within
    MAX_DELAY frames), and false alerts (alerts that belong to a clean stretch)."""
    episodes = [
        Episode(STREAM, expected if is_effect else "none", 0, onset, frames, expected if is_effect else "clean")
        for onset, frames, is_effect in runs.spans
    ]
    out = judge_episodes(episodes, runs.alerts)
    cond = [o for o in out if not o.clear]
    return {
        "episodes": len(cond),
        "alerted_within_10": sum(1 for o in cond if o.delay is not None and o.delay < MAX_DELAY),
        "met": sum(1 for o in cond if o.ok),
        "false_alerts": sum(o.raised for o in out if o.clear),
    }
