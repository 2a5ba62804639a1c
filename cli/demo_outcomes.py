"""Demo step 7, the verdicts: what the consumer saw (one Row per scored frame) cut into episodes,
each judged against the demo's promise (one alert, naming the condition, within MAX_DELAY frames;
none on clear episodes), and the headline totals.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

MAX_DELAY = 10  # an episode's alert must be raised within its first MAX_DELAY frames


class Row(NamedTuple):
    seq: int
    challenge: str
    level: int
    is_anomalous: bool
    condition: str
    anomaly: float
    score: float


class EpisodeOutcome(NamedTuple):
    stream: str
    challenge: str  # header name, "none" for a clear episode
    level: int
    onset: int  # seq of the episode's first frame
    frames: int  # frames of the episode that were scored
    planned: int  # frames the schedule planned (the replay may end an episode early)
    raised: int  # alerts raised during the episode
    named: str | None  # the condition the first of them named when raised
    final: str | None  # ... and when it cleared (or the latest name, if still open)
    delay: int | None  # frames from onset to that raise (0: raised on the onset frame)
    expected: str  # the condition name that counts as right (classifier names: both blurs are "blur")

    @property
    def clear(self) -> bool:
        return self.challenge == "none"

    @property
    def complete(self) -> bool:
        return self.frames >= self.planned

    @property
    def ok(self) -> bool:
        """A condition episode: exactly one alert, naming it, within MAX_DELAY frames; clear: no alert."""
        if self.clear:
            return self.raised == 0
        return self.raised == 1 and self.named == self.expected and self.delay is not None and self.delay < MAX_DELAY


def expected_condition(challenge: str) -> str:
    from calibration.conditions import CONDITION_OF_CODE
    from monitor.cure_tsr import challenge_code

    return CONDITION_OF_CODE[challenge_code(challenge)] if challenge != "none" else "clean"


def evaluate_episodes(
    by_stream: dict[str, list[Row]], alerts: Sequence[dict], planned: dict[tuple[str, int], int] | None = None
) -> list[EpisodeOutcome]:
    """Episodes are runs of equal ground truth (challenge, level) in each stream's seq order; an
    alert belongs to the episode of the frame that raised it (onset seq + frames - 1)."""
    raised: dict[str, list[dict]] = defaultdict(list)
    last: dict[str, dict] = {}
    for a in alerts:
        if a["state"] == "raised":
            onset = int(str(a["alert_id"]).rsplit(":", 1)[1])
            raised[a["stream"]].append({**a, "raise_seq": onset + int(a["frames"]) - 1})
        last[a["alert_id"]] = a  # the latest record of each alert: its final name
    out = []
    for stream in sorted(by_stream, key=natural_order):
        rows = sorted({r.seq: r for r in by_stream[stream]}.values())
        runs: list[list[Row]] = []
        for r in rows:
            if runs and (runs[-1][-1].challenge, runs[-1][-1].level) == (r.challenge, r.level):
                runs[-1].append(r)
            else:
                runs.append([r])
        for i, run in enumerate(runs):
            lo, hi = run[0].seq, (runs[i + 1][0].seq - 1 if i + 1 < len(runs) else math.inf)
            inside = sorted((a for a in raised[stream] if lo <= a["raise_seq"] <= hi), key=lambda a: a["raise_seq"])
            first = inside[0] if inside else None
            ch = run[0].challenge
            out.append(
                EpisodeOutcome(
                    stream,
                    ch,
                    run[0].level,
                    lo,
                    len(run),
                    (planned or {}).get((stream, lo), len(run)),
                    len(inside),
                    first["condition"] if first else None,
                    last[first["alert_id"]]["condition"] if first else None,
                    first["raise_seq"] - lo if first else None,
                    expected_condition(ch) if ch != "?" else "?",
                )
            )
    return out


def natural_order(name: str) -> list:
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def episode_totals(outcomes: Sequence[EpisodeOutcome], min_level: int = 3) -> dict[str, Any]:
    """The headline figures; condition episodes are those of level >= min_level that ran their planned length."""
    cond = [o for o in outcomes if not o.clear and o.level >= min_level and o.complete]
    clear = [o for o in outcomes if o.clear]
    delays = [o.delay for o in cond if o.delay is not None]
    detected = [o for o in cond if o.raised > 0]
    return {
        "episodes": len(cond),
        "episodes_detected": len(detected),
        "episodes_named": sum(1 for o in cond if o.raised > 0 and o.named == o.expected),
        "episodes_exactly_one_alert": sum(1 for o in cond if o.raised == 1),
        "episodes_within_max_delay": sum(1 for o in cond if o.delay is not None and o.delay < MAX_DELAY),
        "episodes_ok": sum(1 for o in cond if o.ok),
        "mean_delay_frames": round(float(np.mean(delays)), 2) if delays else None,
        "max_delay_frames": max(delays) if delays else None,
        "clear_episodes": len(clear),
        "clear_frames": sum(o.frames for o in clear),
        "false_alerts_clear": sum(o.raised for o in clear),
        "max_delay_allowed": MAX_DELAY,
    }


def totals_line(t: dict[str, Any]) -> str:
    d = "n/a" if t["mean_delay_frames"] is None else f"{t['mean_delay_frames']:.1f}"
    return (
        f"episodes detected {t['episodes_detected']}/{t['episodes']}, correctly named {t['episodes_named']}/{t['episodes']}, "
        f"mean delay {d} frames (max {t['max_delay_frames']}), false alerts on clear episodes {t['false_alerts_clear']} "
        f"({t['clear_episodes']} episodes, {t['clear_frames']} frames); exactly one alert naming it within "
        f"{MAX_DELAY} frames: {t['episodes_ok']}/{t['episodes']}"
    )
