"""Offline episode replay: per-frame decisions played as one stream of clean stretches and
condition episodes (as the demo schedules them) through the alert state machine, and the episodes
judged. Used by evaluate --report's leave-one-rendering-out table and scripts/calibration_experiment.py.
"""

from __future__ import annotations

from calibration.alerts import AlertTracker, FrameDecision
from calibration.settings import AlertConfig

Rows = tuple  # (anomaly, is_anomalous, condition) arrays of equal length


def episode_replay(
    clean: Rows, effect: Rows, cfg: AlertConfig, clear: int = 20, length: int = 15, max_delay: int = 10
) -> dict:
    """One stream alternating `clear` clean frames and `length` frames of an effect (each side's
    frames in data order, so a track's frames stay together; the clean side cycles), as the demo
    schedules them, through the alert state machine. clean / effect: (anomaly, is_anomalous,
    condition) arrays, conditions named for suspect frames too (detect_features(evidence_ref=...)).
    An episode is met when exactly one alert is raised during it, within `max_delay` frames of its
    onset, naming `expected` (when given); raises during clean stretches are false alerts."""
    ca, cf, cn = clean
    ea, ef, en = effect
    tracker = AlertTracker(cfg)
    seq, ci, raised = 0, 0, []
    spans = []
    for start in range(0, len(ea) - length + 1, length):
        for part, idx in (("clean", None), ("effect", range(start, start + length))):
            if part == "clean":
                rows = [(ca[(ci + j) % len(ca)], cf[(ci + j) % len(ca)], cn[(ci + j) % len(ca)]) for j in range(clear)]
                ci += clear
            else:
                rows = [(ea[j], ef[j], en[j]) for j in idx]
                spans.append((seq, seq + length + clear))  # an episode's alert may come up to its next clean stretch
            for a, f, c in rows:
                for rec in tracker.observe(FrameDecision("replay", seq, bool(f), str(c), 0.0, float(a), seq)):
                    if rec.state == "raised":
                        raised.append((seq, rec.condition))
                seq += 1
    return {"spans": spans, "raised": raised, "frames": seq}


def episode_figures(runs: dict, expected: str | None, max_delay: int = 10) -> dict:
    """Episodes met (exactly one alert, within `max_delay` frames of the onset, naming `expected`),
    alerted within `max_delay`, and false alerts (raised outside every episode)."""
    spans, raised = runs["spans"], runs["raised"]
    met = within = 0
    in_episode = set()
    for lo, hi in spans:
        inside = [(q, c) for q, c in raised if lo <= q < hi]
        in_episode.update(q for q, _ in inside)
        within += bool(inside) and inside[0][0] - lo < max_delay
        met += len(inside) == 1 and inside[0][0] - lo < max_delay and (expected is None or inside[0][1] == expected)
    return {
        "episodes": len(spans),
        "alerted_within_10": within,
        "met": met,
        "false_alerts": sum(1 for q, _ in raised if q not in in_episode),
    }
