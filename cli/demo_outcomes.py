"""Demo step 7, the verdicts: what the consumer saw (one Row per scored frame), cut into episodes and
judged by calibration.episodes (the one home of the promise: one alert, naming the condition,
within MAX_DELAY frames; none on clear episodes), and the headline totals' line.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from calibration.episodes import MAX_DELAY


class Row(NamedTuple):
    """One scored frame as the demo collects it (the episodes read seq, challenge and level)."""

    seq: int
    challenge: str
    level: int
    is_anomalous: bool
    condition: str
    anomaly: float
    score: float


def totals_line(t: dict[str, Any]) -> str:
    d = "n/a" if t["mean_delay_frames"] is None else f"{t['mean_delay_frames']:.1f}"
    return (
        f"episodes detected {t['episodes_detected']}/{t['episodes']}, correctly named {t['episodes_named']}/{t['episodes']}, "
        f"mean delay {d} frames (max {t['max_delay_frames']}), false alerts on clear episodes {t['false_alerts_clear']} "
        f"({t['clear_episodes']} episodes, {t['clear_frames']} frames); exactly one alert naming it within "
        f"{MAX_DELAY} frames: {t['episodes_ok']}/{t['episodes']}"
    )
