"""Episodes: the monitor's promise judged on frames whose ground truth is known (pure).

The one home of the judging: the demo and the `check` command judge what the consumer published,
calibration.episode_replay judges an offline replay (leave one rendering out, the experiments),
all with `judge_episodes`.

Inputs are per-stream rows with `seq`, `challenge` (header name, "none" when clear) and `level`
(any object with those attributes: the demo's rows, the `check` command's score records), and the
alert records as dicts (pipelines.wire.alert_to_dict: alert_id "<stream>:<onset seq>", stream,
state, condition, frames).

- An episode is a run of equal ground truth (challenge, level) in a stream's seq order; its window
  runs from its first frame to the frame before the next episode's first.
- The window an alert belongs to (`owner`): the condition episode in whose window its onset (its
  first frame, the id's seq) lies; otherwise the episode in whose window it was raised (the raise
  frame: onset seq + frames - 1 of its "raised" record). So an alert that began during an episode
  but was raised after it ended is that episode's late alert, not a false alert; and one whose
  onset is a clear frame just before an episode, raised during it, is that episode's alert. The
  replay once gave an episode every raise up to the next episode, and the demo gave a raise after
  the episode's last frame to the clear stretch as a false alert: both are gone.
- A condition episode is met with exactly one alert, naming its condition, raised within its first
  MAX_DELAY frames (delay: frames from the episode's first frame to the one that raised its first
  alert; 0: the onset frame itself); a clear episode with no alert.
- A false alert: an alert that belongs to a clear episode (it began and was raised on clear frames).
  False alerts per clear frame: false alerts / the clear episodes' frames.
- A stuck alert stays open through more than `stuck_clear` consecutive clear frames: either it was
  still open when its stream ended and the stream's last stuck_clear + 1 frames were clear, or it
  was open across more than stuck_clear clear frames in a row before clearing. The tracker clears
  after fewer than clear_k anomalous frames among the last clear_n (alerts.clear_n = 10 by default),
  so the default STUCK_CLEAR is twice that.
- Per frame (`frame_aurocs`): the AUROC of a score on each condition level's frames against all the
  clear frames, the issue-11 figure, read from what the consumer published rather than offline.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np

from calibration.metrics import auroc

MAX_DELAY = 10  # an episode's alert must be raised within its first MAX_DELAY frames
STUCK_CLEAR = 20  # an alert open through more consecutive clear frames than this is stuck


class TruthRow(Protocol):
    """What episodes need of a scored frame."""

    @property
    def seq(self) -> int: ...

    @property
    def challenge(self) -> str: ...

    @property
    def level(self) -> int: ...


class FrameTruth(NamedTuple):
    """A scored frame's ground truth, as the episodes see it."""

    seq: int
    challenge: str
    level: int


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


class StuckAlert(NamedTuple):
    stream: str
    alert_id: str
    condition: str | None
    clear_run: int  # the longest run of consecutive clear frames it stayed open through
    open_at_end: bool  # never cleared before the stream's last scored frame


def expected_condition(challenge: str) -> str:
    """The classifier's name for a header challenge ("clean" for none; both blurs are "blur")."""
    from calibration.conditions import CONDITION_OF_CODE
    from monitor.cure_tsr import challenge_code

    return CONDITION_OF_CODE[challenge_code(challenge)] if challenge != "none" else "clean"


def natural_order(name: str) -> list:
    """Sort key: 'cam-2' before 'cam-10'."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def onset_seq(alert: Mapping[str, Any]) -> int:
    return int(str(alert["alert_id"]).rsplit(":", 1)[1])


def _ordered(rows: Iterable[TruthRow]) -> list[TruthRow]:
    """One row per seq (a redelivered frame counts once), in seq order."""
    return sorted({r.seq: r for r in rows}.values(), key=lambda r: r.seq)


class Episode(NamedTuple):
    """A run of equal ground truth in one stream, the unit the promise is judged on."""

    stream: str
    challenge: str  # header name, "none" for a clear episode
    level: int
    onset: int  # seq of its first frame
    frames: int  # its frames that were scored
    expected: str  # the condition name that counts as right ("clean" for a clear episode)

    @property
    def clear(self) -> bool:
        return self.challenge == "none"


def _runs(rows: Sequence[TruthRow]) -> list[list[TruthRow]]:
    runs: list[list[TruthRow]] = []
    for r in rows:
        if runs and (runs[-1][-1].challenge, runs[-1][-1].level) == (r.challenge, r.level):
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def episodes_of(by_stream: Mapping[str, Sequence[TruthRow]]) -> list[Episode]:
    """Every stream's rows cut into episodes (runs of equal challenge and level), streams in natural order."""
    out = []
    for stream in sorted(by_stream, key=natural_order):
        for run in _runs(_ordered(by_stream[stream])):
            ch = run[0].challenge
            out.append(
                Episode(stream, ch, run[0].level, run[0].seq, len(run), expected_condition(ch) if ch != "?" else "?")
            )
    return out


def owner(episodes: Sequence[Episode], onset: int, raised_at: int) -> int | None:
    """The index in `episodes` (one stream's, in seq order) of the episode an alert belongs to: the
    condition episode whose window holds its onset, else the episode whose window holds the frame
    that raised it; None when it was raised before the first episode (module docstring)."""
    starts = [e.onset for e in episodes]
    at_onset = bisect_right(starts, onset) - 1
    if at_onset >= 0 and not episodes[at_onset].clear:
        return at_onset
    at_raise = bisect_right(starts, raised_at) - 1
    return at_raise if at_raise >= 0 else None


def _owned(episodes: Sequence[Episode], alerts: Sequence[Mapping[str, Any]]) -> dict[int, list[dict]]:
    """Index in `episodes` -> the "raised" records that belong to it, each with its raise frame."""
    where: dict[str, list[int]] = defaultdict(list)  # stream -> indexes of its episodes, in seq order
    for i, e in enumerate(episodes):
        where[e.stream].append(i)
    own = {stream: [episodes[i] for i in idx] for stream, idx in where.items()}
    owned: dict[int, list[dict]] = defaultdict(list)
    for a in alerts:
        if a["state"] != "raised" or a["stream"] not in where:
            continue
        rec = {**a, "raise_seq": onset_seq(a) + int(a["frames"]) - 1}
        i = owner(own[a["stream"]], onset_seq(a), rec["raise_seq"])
        if i is not None:
            owned[where[a["stream"]][i]].append(rec)
    return owned


def judge_episodes(
    episodes: Sequence[Episode],
    alerts: Sequence[Mapping[str, Any]],
    planned: Mapping[tuple[str, int], int] | None = None,
) -> list[EpisodeOutcome]:
    """The episodes judged against the alert records (each stream's episodes in seq order).
    `planned`: (stream, onset) -> frames the schedule planned, when known (an episode the replay
    cut short is then not counted in the totals)."""
    last = {a["alert_id"]: a for a in alerts}  # the latest record of each alert: its final name
    owned = _owned(episodes, alerts)
    out = []
    for i, e in enumerate(episodes):
        inside = sorted(owned.get(i, []), key=lambda a: a["raise_seq"])
        first = inside[0] if inside else None
        out.append(
            EpisodeOutcome(
                e.stream,
                e.challenge,
                e.level,
                e.onset,
                e.frames,
                (planned or {}).get((e.stream, e.onset), e.frames),
                len(inside),
                first["condition"] if first else None,
                last[first["alert_id"]]["condition"] if first else None,
                first["raise_seq"] - e.onset if first else None,
                e.expected,
            )
        )
    return out


def evaluate_episodes(
    by_stream: Mapping[str, Sequence[TruthRow]],
    alerts: Sequence[Mapping[str, Any]],
    planned: Mapping[tuple[str, int], int] | None = None,
) -> list[EpisodeOutcome]:
    """Every episode of every stream, judged (`judge_episodes` on `episodes_of`)."""
    return judge_episodes(episodes_of(by_stream), alerts, planned)


def headline_episodes(outcomes: Sequence[EpisodeOutcome], min_level: int = 3) -> list[EpisodeOutcome]:
    """The condition episodes the headline counts: level >= min_level, run their planned length."""
    return [o for o in outcomes if not o.clear and o.level >= min_level and o.complete]


def episode_totals(outcomes: Sequence[EpisodeOutcome], min_level: int = 3) -> dict[str, Any]:
    """The headline figures; condition episodes are those of level >= min_level that ran their planned length."""
    cond = headline_episodes(outcomes, min_level)
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


def warmup_totals(
    outcomes: Sequence[EpisodeOutcome], verdicts_from: Mapping[str, int], min_level: int = 3
) -> dict[str, int]:
    """The headline's condition episodes split by when they began: before their stream's baseline
    gave its first verdict (the fleet's model alone could see them) or after. `verdicts_from`:
    stream -> seq of its first frame judged against its own normal; a stream without one has every
    episode before. '<side>_episodes', '<side>_detected', '<side>_ok' for side in
    before_verdicts / after_verdicts."""
    cond = headline_episodes(outcomes, min_level)
    out: dict[str, int] = {}
    for side, after in (("before_verdicts", False), ("after_verdicts", True)):
        sel = [o for o in cond if (o.onset >= verdicts_from.get(o.stream, math.inf)) == after]
        out[f"{side}_episodes"] = len(sel)
        out[f"{side}_detected"] = sum(1 for o in sel if o.raised > 0)
        out[f"{side}_ok"] = sum(1 for o in sel if o.ok)
    return out


def false_alerts_per_clear_frame(outcomes: Sequence[EpisodeOutcome]) -> float | None:
    """Alerts raised on clear episodes per clear frame; None without clear frames."""
    clear = [o for o in outcomes if o.clear]
    frames = sum(o.frames for o in clear)
    return sum(o.raised for o in clear) / frames if frames else None


def by_condition_level(outcomes: Sequence[EpisodeOutcome]) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (challenge, level), complete episodes only: how many, met the promise, detected, named
    right, mean and max delay; ("none", 0) holds the clear episodes with their frames and alerts."""
    groups: dict[tuple[str, int], list[EpisodeOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.complete:
            groups[(o.challenge, o.level)].append(o)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for key in sorted(groups, key=lambda k: (k[0] != "none", k)):
        rows = groups[key]
        delays = [o.delay for o in rows if o.delay is not None]
        out[key] = {
            "episodes": len(rows),
            "ok": sum(1 for o in rows if o.ok),
            "detected": sum(1 for o in rows if o.raised > 0),
            "named": sum(1 for o in rows if o.raised > 0 and o.named == o.expected),
            "alerts": sum(o.raised for o in rows),
            "frames": sum(o.frames for o in rows),
            "mean_delay": round(float(np.mean(delays)), 2) if delays else None,
            "max_delay": max(delays) if delays else None,
        }
    return out


def wrong_names(outcomes: Sequence[EpisodeOutcome], min_level: int = 3) -> dict[str, dict[str, int]]:
    """Per challenge, what its complete episodes of level >= min_level that were not named right got
    instead: the first alert's name, or "no alert"; most frequent first, challenges with none left out."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        if o.clear or o.level < min_level or not o.complete or (o.raised > 0 and o.named == o.expected):
            continue
        out[o.challenge][o.named if o.raised > 0 and o.named else "no alert"] += 1
    return {c: dict(sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))) for c, names in sorted(out.items())}


def frame_aurocs(
    challenges: Sequence[str], levels: Sequence[int], values: Sequence[float | None], min_level: int = 3
) -> dict[tuple[str, int], float]:
    """Per (challenge, level >= min_level): the AUROC of `values` on that level's frames against every
    clear frame's ("none"), frames without a value (None or NaN) left out; {} without clear frames."""
    ch = np.asarray(challenges, dtype=object)
    lv = np.asarray(levels, dtype=np.int64)
    v = np.array([np.nan if x is None else float(x) for x in values], dtype=np.float64)
    if not len(ch) == len(lv) == len(v):
        raise ValueError(f"challenges, levels and values differ in length: {len(ch)}, {len(lv)}, {len(v)}")
    has = np.isfinite(v)
    clear = v[(ch == "none") & has]
    if not len(clear):
        return {}
    out = {}
    for c, level in sorted({(str(c), int(level)) for c, level in zip(ch[has], lv[has], strict=True)}):
        pos = v[(ch == c) & (lv == level) & has]
        if c != "none" and level >= min_level:
            out[(c, level)] = auroc(clear, pos)
    return out


def stuck_alerts(
    by_stream: Mapping[str, Sequence[TruthRow]], alerts: Sequence[Mapping[str, Any]], stuck_clear: int = STUCK_CLEAR
) -> list[StuckAlert]:
    """Alerts open through more than `stuck_clear` consecutive clear frames (module docstring)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for a in alerts:
        latest[a["alert_id"]] = a
    out = []
    for alert_id, a in sorted(latest.items()):
        rows = _ordered(by_stream.get(a["stream"], ()))
        if not rows:
            continue
        cleared = a["state"] == "cleared"
        end = onset_seq(a) + int(a["frames"]) - 1 if cleared else rows[-1].seq
        run = longest = 0
        for r in rows:
            if onset_seq(a) <= r.seq <= end:
                run = run + 1 if r.challenge == "none" else 0
                longest = max(longest, run)
        if longest > stuck_clear:
            out.append(StuckAlert(a["stream"], alert_id, a.get("condition"), longest, not cleared))
    return out
