"""What the alert console knows, built only from the records it is fed (no rich, no Kafka here).

`ConsoleState` takes score and alert records (decoded by pipelines.wire, or their dicts, which it
decodes the same way: docs/WIRE.md) and dead-letter headers, and `snapshot()` turns them into plain,
immutable views that the renderer draws. The clock
is injectable so tests can age streams without sleeping; every record timestamp is nanoseconds,
the clock is seconds (time.time).

Thread-safety: the live console renders from its refresh thread while a feed thread (or the demo's
own callbacks) ingests, so every public method takes the state's lock.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from calibration.alerts import AlertEvent, AlertExample
from calibration.settings import CalibrationConfig
from pipelines.config import Config, ConsoleConfig
from pipelines.wire import (
    HEADER_STREAM,
    ScoreRecord,
    WireError,
    alert_from_dict,
    header_text,
    parse_dead_letter_headers,
    score_from_dict,
)

# How many recent latencies feed a per-stream / overall percentile: enough for a stable p50 at 30 fps
# (8 s of frames) without sorting thousands of numbers at every refresh.
_STREAM_LATENCY_WINDOW = 256
_TOTAL_LATENCY_WINDOW = 2048
# Exact-duplicate detection: at-least-once delivery re-sends records after a scorer restart, and the
# console should not count those frames twice. A bounded window keeps memory flat on long runs.
_DEDUP_WINDOW = 1024
_ALERT_MEMORY = 10_000
_DEAD_LETTER_KEEP = 50
_CLIENT_WARNING_S = 15.0


def _natural_key(name: str) -> list:
    # cam-2 before cam-10, as an operator reads them.
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", name)]


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _header_pairs(headers: Any) -> list[tuple[str, bytes | None]]:
    """Kafka headers (a list of (key, bytes) as kafka-python gives them, or a mapping) as
    pipelines.wire reads them: text keys, byte values."""
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    out: list[tuple[str, bytes | None]] = []
    for key, value in items:
        if isinstance(key, bytes):
            key = key.decode("utf-8", "replace")
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif isinstance(value, (bytearray, memoryview)):
            value = bytes(value)
        out.append((str(key), value))
    return out


def below_floor(confidence: float | None, floor: float | None) -> bool:
    """True when a named condition's confidence is under the classifier's floor (an uncertain name).

    Confidences are probabilities; a percentage (> 1) is read as one, as fmt_conf does.
    """
    if confidence is None or floor is None:
        return False
    p = confidence / 100.0 if confidence > 1.0 else confidence
    return p < floor


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in [0, 100]); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# ----------------------------------------------------------------------------- views (immutable)


@dataclass(frozen=True)
class StreamView:
    stream: str
    state: str  # "ALERT" | "atypical" | "stale" | "ok"; an open alert on a stale stream is "stale"
    stale: bool
    condition: str | None  # from the open alert, else the last anomalous score record
    confidence: float | None
    condition_from_alert: bool  # True whenever the stream has an open alert (stale or not)
    uncertain: bool  # the confidence is below the classifier's floor (Snapshot.min_confidence)
    values: tuple[float, ...]  # newest last; "anomaly" when calibrated, else "score"
    flags: tuple[bool | None, ...]  # is_anomalous per value (None: not calibrated)
    value_name: str
    threshold: float | None
    last_value: float | None
    fps: float | None  # None when stale or fewer than two frames
    latency_p50_ms: float | None
    age_s: float | None  # since the stream's last score record; None when it has none
    frames: int
    anomalous: int
    models: tuple[str, ...]


@dataclass(frozen=True)
class AlertView:
    time_s: float
    state: str  # raised | updated | cleared
    stream: str
    condition: str | None
    confidence: float | None
    duration_s: float | None
    frames: int | None
    anomalous_frames: int | None
    anomaly_max: float | None
    alert_id: str
    uncertain: bool = False


@dataclass(frozen=True)
class OpenAlertView:
    """An alert that has not cleared, as the open-alerts panel shows it."""

    alert_id: str
    stream: str
    state: str  # "ALERT", or "stale" when its stream sent no score record for console.stale_after_s
    condition: str | None
    confidence: float | None
    uncertain: bool
    started_s: float | None  # the onset (capture time of its first frame)
    duration_s: float | None  # to now; for a stale stream, to its last record (what is known)
    frames: int | None
    anomalous_frames: int | None
    example: AlertExample | None  # the frame to look at: Kafka origin and seq
    age_s: float | None  # since the stream's last record


@dataclass(frozen=True)
class ExampleFrame:
    """An open alert's example frame as fetched from Kafka for the HTML export: the image as PNG
    bytes, or why it is not there (broker unreachable, offset gone, frame undecodable)."""

    alert: OpenAlertView
    png: bytes | None
    problem: str | None = None

    @property
    def where(self) -> str:
        ex = self.alert.example
        return "no example frame" if ex is None else f"{ex.topic}[{ex.partition}]@{ex.offset} seq {ex.seq}"


@dataclass(frozen=True)
class StreamCounts:
    """Streams by state: one computation feeds the header, the health line and the panels."""

    alert: int = 0
    stale: int = 0
    ok: int = 0
    stale_with_alert: int = 0  # stale streams that have an open alert (counted in `stale`)


@dataclass(frozen=True)
class DeadLetterView:
    time_s: float
    stage: str
    error: str
    stream: str | None
    origin: str
    consumer: str | None


@dataclass(frozen=True)
class Snapshot:
    now_s: float
    streams: tuple[StreamView, ...]  # ALERT first, then stale, then ok; by name within each
    alerts: tuple[AlertView, ...]  # newest first
    open: tuple[OpenAlertView, ...]  # ALERT before stale, newest onset first within each
    counts: StreamCounts
    dead_letters: tuple[DeadLetterView, ...]  # newest first
    frames: int
    anomalous: int
    open_alerts: int  # not cleared, stale ones included (stale_alerts of them)
    stale_alerts: int
    total_alerts: int
    dead_letter_total: int
    dead_letter_recent: int
    malformed: int
    duplicates: int
    consumers: tuple[str, ...]
    models: tuple[str, ...]
    fps: float | None
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    health: str  # "OK" | "DEGRADED" | "NO DATA"
    health_reasons: tuple[str, ...]
    source: str | None
    sparkline_width: int
    recent_alerts: int  # rows of the alert log (console.recent_alerts)
    recent_window_s: float
    min_confidence: float  # names below it are shown as uncertain ("rain?")
    min_confidence_source: str  # where that floor comes from, for the legend


# ----------------------------------------------------------------------------- mutable state


@dataclass
class _OpenAlert:
    alert_id: str
    condition: str | None
    confidence: float | None
    started_s: float | None
    frames: int | None = None
    anomalous_frames: int | None = None
    example: AlertExample | None = None


@dataclass
class _Stream:
    name: str
    values: deque
    flags: deque
    value_name: str = "score"
    threshold: float | None = None
    last_seen_s: float | None = None  # the newest score record
    last_alert_s: float | None = None  # the newest alert record (for streams without score records)
    times: deque = field(default_factory=deque)  # capture (or received) times, seconds
    newest_t: float | None = None
    latencies: deque = field(default_factory=lambda: deque(maxlen=_STREAM_LATENCY_WINDOW))
    frames: int = 0
    anomalous: int = 0
    last_anomalous_index: int | None = None  # frame number of the last anomalous score
    last_condition: str | None = None
    last_confidence: float | None = None
    alert: _OpenAlert | None = None
    atypical: str | None = None  # the message of the stream's open "atypical" state (per-stream baselines)
    models: set = field(default_factory=set)
    seen_keys: OrderedDict = field(default_factory=OrderedDict)


class ConsoleState:
    """Everything the console shows, fed record by record.

    `clock()` returns wall-clock seconds (the default is time.time); record times are the
    nanosecond fields the pipeline writes, so ages are comparable across the scorer and console.
    """

    def __init__(
        self,
        cfg: ConsoleConfig | None = None,
        clock: Callable[[], float] = time.time,
        fps_window_s: float = 5.0,
        min_confidence: float | None = None,
        min_confidence_source: str | None = None,
    ) -> None:
        """min_confidence: the condition classifier's floor; names whose confidence is below it are
        shown as uncertain. run_console passes the deployment config's calibration.min_confidence
        (the value `calibrate` gives the classifier); without one, CalibrationConfig's default."""
        self.cfg = cfg or ConsoleConfig()
        self.clock = clock
        self.fps_window_s = fps_window_s
        if min_confidence is None:
            min_confidence = CalibrationConfig.min_confidence
            min_confidence_source = min_confidence_source or "calibration.min_confidence default"
        self.min_confidence = float(min_confidence)
        self.min_confidence_source = min_confidence_source or "calibration.min_confidence"
        self.lock = threading.RLock()
        self._streams: dict[str, _Stream] = {}
        self._alerts: OrderedDict[str, tuple] = OrderedDict()  # alert_id -> last (state, frames, ended)
        self._closed_alerts: set[str] = set()
        self._log: deque[AlertView] = deque(maxlen=max(4 * self.cfg.recent_alerts, 50))
        self._dead: deque[DeadLetterView] = deque(maxlen=_DEAD_LETTER_KEEP)
        self._dead_times: deque[float] = deque()
        self._malformed_times: deque[float] = deque()
        self._latencies: deque[float] = deque(maxlen=_TOTAL_LATENCY_WINDOW)
        self._consumers: set[str] = set()
        self._models: set[str] = set()
        self.frames = 0
        self.anomalous = 0
        self.total_alerts = 0
        self.dead_letter_total = 0
        self.malformed = 0
        self.duplicates = 0
        self.source: str | None = None
        self._feed_problem: str | None = None
        self._client_warning: tuple[float, str] | None = None

    @classmethod
    def for_config(cls, cfg: Config, clock: Callable[[], float] = time.time) -> ConsoleState:
        """The console state for a deployment config: its console section, and its
        calibration.min_confidence as the floor under which condition names are uncertain."""
        return cls(
            cfg.console,
            clock=clock,
            min_confidence=cfg.calibration.min_confidence,
            min_confidence_source="calibration.min_confidence",
        )

    # ------------------------------------------------------------------ feeding

    def _stream(self, name: str) -> _Stream:
        s = self._streams.get(name)
        if s is None:
            w = self.cfg.sparkline_width
            s = _Stream(name=name, values=deque(maxlen=w), flags=deque(maxlen=w))
            self._streams[name] = s
        return s

    def ingest_score(self, record: ScoreRecord | Mapping[str, Any], ts_ns: int | None = None) -> bool:
        """Take one score record; returns False when it was unreadable or a duplicate.

        ts_ns is the Kafka record timestamp, used only when the record lacks its own times.
        """
        with self.lock:
            rec = self._decoded(record, ScoreRecord, score_from_dict)
            if rec is None or not isinstance(rec.stream, str):
                self._note_malformed()
                return False
            s = self._stream(rec.stream)
            key = (rec.seq, rec.capture_ns, rec.model_id)
            if key in s.seen_keys:
                self.duplicates += 1
                return False
            s.seen_keys[key] = None
            if len(s.seen_keys) > _DEDUP_WINDOW:
                s.seen_keys.popitem(last=False)
            self.frames += 1
            s.frames += 1
            if isinstance(rec.model_id, str) and rec.model_id:
                s.models.add(rec.model_id)
                self._models.add(rec.model_id)
            self._plot(s, rec)
            self._note_times(s, rec, ts_ns)
            return True

    @staticmethod
    def _decoded(record: Any, kind: type, from_dict: Callable[[Any], Any]) -> Any:
        """A wire record as its type (decoded by pipelines.wire from a dict), or None if unreadable."""
        if isinstance(record, kind):
            return record
        try:
            return from_dict(record) if isinstance(record, Mapping) else None
        except WireError:
            return None

    def _plot(self, s: _Stream, rec: ScoreRecord) -> None:
        # Plot the calibrated anomaly when there is one: it is the value the alert threshold
        # applies to (docs/DESIGN.md §5: the raw GradCon score misses blur, darkening and rain).
        anomaly = _num(rec.anomaly)
        value, name = (anomaly, "anomaly") if anomaly is not None else (_num(rec.score), "score")
        if value is not None:
            if name != s.value_name:  # calibration switched on or off: old values are another scale
                s.values.clear()
                s.flags.clear()
                s.value_name = name
            s.values.append(value)
            s.flags.append(rec.is_anomalous if isinstance(rec.is_anomalous, bool) else None)
        # The anomaly's threshold is the calibration's (█ marks flagged frames); raw scores use the config's.
        s.threshold = self.cfg.score_threshold if name == "score" else None
        if rec.is_anomalous is True:
            self.anomalous += 1
            s.anomalous += 1
            s.last_anomalous_index = s.frames
            s.last_condition = rec.condition if isinstance(rec.condition, str) and rec.condition else None
            s.last_confidence = _num(rec.confidence)

    def _note_times(self, s: _Stream, rec: ScoreRecord, ts_ns: int | None) -> None:
        capture_ns, received_ns, scored_ns = rec.capture_ns, rec.received_ns, rec.scored_ns
        when_ns = scored_ns or received_ns or capture_ns or ts_ns
        seen = when_ns / 1e9 if when_ns else self.clock()
        s.last_seen_s = seen if s.last_seen_s is None else max(s.last_seen_s, seen)
        # Frame rate from the camera's own capture times, so a backlog drained at once still
        # shows the rate the camera produced at, not the rate the console read at.
        t_ns = capture_ns or received_ns
        t = t_ns / 1e9 if t_ns else self.clock()
        s.times.append(t)
        s.newest_t = t if s.newest_t is None else max(s.newest_t, t)
        while s.times and s.times[0] < s.newest_t - self.fps_window_s:
            s.times.popleft()
        if scored_ns and capture_ns:
            lat_ms = (scored_ns - capture_ns) / 1e6
            s.latencies.append(lat_ms)
            self._latencies.append(lat_ms)

    def ingest_alert(self, record: AlertEvent | Mapping[str, Any], ts_ns: int | None = None) -> bool:
        """Take one alert record; returns False when it was unreadable or already seen."""
        with self.lock:
            a = self._decoded(record, AlertEvent, alert_from_dict)
            if a is None or not isinstance(a.stream, str) or a.alert_id in (None, ""):
                self._note_malformed()
                return False
            if not self._new_alert_event(a):
                self.duplicates += 1
                return False
            s = self._stream(a.stream)
            cond = a.condition if isinstance(a.condition, str) and a.condition else None
            conf = _num(a.confidence)
            started_s = a.started_ns / 1e9 if a.started_ns else None
            when = self._alert_time(a, started_s, ts_ns)
            aid = str(a.alert_id)
            # When the stream was last heard of, for streams whose score records are not read
            # (older than the lookback): the record's own time, else the event's.
            heard = ts_ns / 1e9 if ts_ns else when
            s.last_alert_s = heard if s.last_alert_s is None else max(s.last_alert_s, heard)
            if a.state in ("atypical", "typical"):
                # The stream's view is off the fleet's normal (not a condition): its state, with what to do.
                s.atypical = (a.message or "atypical view") if a.state == "atypical" else None
                cond = a.message or cond
                if a.state == "typical":
                    self._closed_alerts.add(aid)
            elif a.state == "cleared":
                self._closed_alerts.add(aid)
                if s.alert is not None and s.alert.alert_id == aid:
                    s.alert = None
                # The cleared row carries the final figures; the alert's 'updated' row is noise now.
                self._drop_updates(aid)
            else:
                s.alert = _OpenAlert(aid, cond, conf, started_s, a.frames, a.anomalous_frames, a.example)
                if a.state == "updated":
                    # Updates can arrive every few frames; keep only the latest one per alert.
                    self._drop_updates(aid)
            duration = when - started_s if started_s is not None and a.state != "raised" else None
            self._log.appendleft(
                AlertView(
                    time_s=when,
                    state=a.state,
                    stream=a.stream,
                    condition=cond,
                    confidence=conf,
                    duration_s=max(0.0, duration) if duration is not None else None,
                    frames=a.frames,
                    anomalous_frames=a.anomalous_frames,
                    anomaly_max=_num(a.anomaly_max),
                    alert_id=aid,
                    uncertain=below_floor(conf, self.min_confidence),
                )
            )
            return True

    def _new_alert_event(self, a: AlertEvent) -> bool:
        """Remember the event; False for one already seen (at-least-once delivery) or a stale reopen."""
        aid = str(a.alert_id)
        key = (a.state, a.frames, a.ended_ns, a.confidence)
        if self._alerts.get(aid) == key:
            return False
        # A re-delivered 'raised'/'updated' after the alert cleared must not reopen it.
        if aid in self._closed_alerts and a.state not in ("cleared", "typical"):
            return False
        if aid not in self._alerts:
            self.total_alerts += 1
        self._alerts[aid] = key
        self._alerts.move_to_end(aid)
        if len(self._alerts) > _ALERT_MEMORY:
            old, _ = self._alerts.popitem(last=False)
            self._closed_alerts.discard(old)
        return True

    def _alert_time(self, a: AlertEvent, started_s: float | None, ts_ns: int | None) -> float:
        """When the event happened: the onset for a raise, the end for a clear, else the record's time."""
        if a.state == "raised":
            when = started_s
        elif a.state == "cleared":
            when = a.ended_ns / 1e9 if a.ended_ns else None
        else:
            when = None
        if when is None:
            when = ts_ns / 1e9 if ts_ns else self.clock()
        return when

    def _drop_updates(self, aid: str) -> None:
        kept = [e for e in self._log if not (e.alert_id == aid and e.state == "updated")]
        if len(kept) != len(self._log):
            self._log.clear()
            self._log.extend(kept)

    def ingest_dead_letter(self, headers: Any, ts_ns: int | None = None, key: str | bytes | None = None) -> None:
        """Take one dead-letter record's headers (its key is the stream id when headers lack it)."""
        with self.lock:
            pairs = _header_pairs(headers)
            when = ts_ns / 1e9 if ts_ns else self.clock()
            if isinstance(key, bytes):
                key = key.decode("utf-8", "replace")
            stream = header_text(pairs, HEADER_STREAM) or key or None
            try:
                info = parse_dead_letter_headers(pairs)
            except WireError as e:
                view = DeadLetterView(when, "?", str(e), stream, "?", None)
            else:
                o = info.origin
                view = DeadLetterView(
                    when,
                    info.stage or "?",
                    info.error.splitlines()[0] if info.error.strip() else "no error given",
                    stream,
                    f"{o.topic}[{o.partition}]@{o.offset}",
                    info.consumer or None,
                )
            if view.consumer:
                self._consumers.add(view.consumer)
            self.dead_letter_total += 1
            self._dead_times.append(when)
            self._dead.appendleft(view)

    def ingest_malformed(self) -> None:
        """A record on a console topic that could not be read (bad JSON, wrong shape)."""
        with self.lock:
            self._note_malformed()

    def _note_malformed(self) -> None:
        self.malformed += 1
        self._malformed_times.append(self.clock())

    def set_source(self, text: str | None) -> None:
        """A short description of where records come from, shown in the header."""
        with self.lock:
            self.source = text

    def set_feed_problem(self, message: str | None) -> None:
        """The feed cannot read (broker unreachable, topic missing); None once it can again."""
        with self.lock:
            self._feed_problem = message or None

    def note_client_warning(self, message: str) -> None:
        """A Kafka client warning (a dropped connection, a retry). The client recovers on its own
        and says nothing when it has, so the warning is shown for a while and then forgotten."""
        with self.lock:
            self._client_warning = (self.clock(), message)

    # ------------------------------------------------------------------ reading

    def snapshot(self) -> Snapshot:
        with self.lock:
            now = self.clock()
            window = self.cfg.dead_letter_window_s
            for times in (self._dead_times, self._malformed_times):
                while times and times[0] < now - window:
                    times.popleft()
            rows = [self._view(s, now) for s in self._streams.values()]
            order = {"ALERT": 0, "atypical": 1, "stale": 2, "ok": 3}
            # Within stale, streams that still have an open alert first.
            rows.sort(key=lambda r: (order[r.state], not r.condition_from_alert, _natural_key(r.stream)))
            counts = StreamCounts(
                alert=sum(1 for r in rows if r.state == "ALERT"),
                stale=sum(1 for r in rows if r.state == "stale"),
                ok=sum(1 for r in rows if r.state == "ok"),
                stale_with_alert=sum(1 for r in rows if r.state == "stale" and r.condition_from_alert),
            )
            open_alerts = self._open_alerts(rows, now)

            fresh = [r for r in rows if r.fps is not None]
            health, reasons = self._health(now, counts, window)
            return Snapshot(
                now_s=now,
                streams=tuple(rows),
                # Newest first by event time: alerts of different streams arrive from different
                # partitions in no particular order.
                alerts=tuple(sorted(self._log, key=lambda e: -e.time_s)),
                open=open_alerts,
                counts=counts,
                dead_letters=tuple(self._dead),
                frames=self.frames,
                anomalous=self.anomalous,
                open_alerts=len(open_alerts),
                stale_alerts=counts.stale_with_alert,
                total_alerts=self.total_alerts,
                dead_letter_total=self.dead_letter_total,
                dead_letter_recent=len(self._dead_times),
                malformed=self.malformed,
                duplicates=self.duplicates,
                consumers=tuple(sorted(self._consumers)),
                models=tuple(sorted(self._models)),
                fps=sum(r.fps for r in fresh) if fresh else None,
                latency_p50_ms=percentile(self._latencies, 50),
                latency_p99_ms=percentile(self._latencies, 99),
                health=health,
                health_reasons=tuple(reasons),
                source=self.source,
                sparkline_width=self.cfg.sparkline_width,
                recent_alerts=self.cfg.recent_alerts,
                recent_window_s=window,
                min_confidence=self.min_confidence,
                min_confidence_source=self.min_confidence_source,
            )

    def _open_alerts(self, rows: list[StreamView], now: float) -> tuple[OpenAlertView, ...]:
        out = []
        for r in rows:
            s = self._streams[r.stream]
            a = s.alert
            if a is None:
                continue
            if a.started_s is None:
                duration = None
            else:
                end = now if not r.stale else (s.last_seen_s or s.last_alert_s or a.started_s)
                duration = max(0.0, end - a.started_s)
            out.append(
                OpenAlertView(
                    alert_id=a.alert_id,
                    stream=s.name,
                    state=r.state,
                    condition=a.condition,
                    confidence=a.confidence,
                    uncertain=below_floor(a.confidence, self.min_confidence),
                    started_s=a.started_s,
                    duration_s=duration,
                    frames=a.frames,
                    anomalous_frames=a.anomalous_frames,
                    example=a.example,
                    age_s=r.age_s,
                )
            )
        out.sort(key=lambda v: (v.state != "ALERT", -(v.started_s or 0.0), _natural_key(v.stream)))
        return tuple(out)

    def _health(self, now: float, counts: StreamCounts, window: float) -> tuple[str, list[str]]:
        """The pipeline's health and why it is not OK (most important first)."""
        reasons: list[str] = []
        if self._feed_problem is not None:
            reasons.append(self._feed_problem)
        if self._client_warning is not None:
            if now - self._client_warning[0] <= _CLIENT_WARNING_S:
                reasons.append(self._client_warning[1])
            else:
                self._client_warning = None
        if counts.stale:
            stale = f"{counts.stale} stale stream{'s' if counts.stale != 1 else ''}"
            if counts.stale_with_alert:
                stale += f" ({counts.stale_with_alert} with an open alert)"
            reasons.append(stale)
        if self._dead_times:
            n = len(self._dead_times)
            reasons.append(f"{n} dead letter{'s' if n != 1 else ''} in {_window_text(window)}")
        if self._malformed_times:
            n = len(self._malformed_times)
            reasons.append(f"{n} unreadable record{'s' if n != 1 else ''} in {_window_text(window)}")
        if self.frames == 0 and self.total_alerts == 0 and self.dead_letter_total == 0 and self.malformed == 0:
            # Nothing read yet is only "no data" while nothing is wrong with the reading itself.
            health = "DEGRADED" if reasons else "NO DATA"
            reasons.append("waiting for records")
        else:
            if self.frames == 0:
                reasons.append("no score records yet")
            health = "DEGRADED" if reasons else "OK"
        return health, reasons

    def _view(self, s: _Stream, now: float) -> StreamView:
        # A stream known only from alert records (its scores are older than the lookback) ages
        # from its last alert record: an open alert on a camera that went silent must not read
        # as a live ALERT forever.
        last = s.last_seen_s if s.last_seen_s is not None else s.last_alert_s
        age = max(0.0, now - last) if last is not None else None
        stale = age is not None and age > self.cfg.stale_after_s
        fps = None
        if not stale and len(s.times) >= 2:
            span = max(s.times) - min(s.times)
            fps = (len(s.times) - 1) / span if span > 0 else None
        if s.alert is not None:
            # Nothing is known about a stale stream's condition now: the alert is shown as stale.
            state = "stale" if stale else "ALERT"
            cond, conf, from_alert = s.alert.condition, s.alert.confidence, True
        else:
            state = "stale" if stale else ("atypical" if s.atypical else "ok")
            # A condition from scores is shown only while that anomalous frame is still in the
            # sparkline: older guesses would read as current.
            recent = s.last_anomalous_index is not None and s.frames - s.last_anomalous_index < self.cfg.sparkline_width
            cond, conf = (s.last_condition, s.last_confidence) if recent else (None, None)
            if recent and cond is None:
                cond = "anomalous"
            from_alert = False
        return StreamView(
            stream=s.name,
            state=state,
            stale=stale,
            condition=cond,
            confidence=conf,
            condition_from_alert=from_alert,
            uncertain=below_floor(conf, self.min_confidence),
            values=tuple(s.values),
            flags=tuple(s.flags),
            value_name=s.value_name,
            threshold=s.threshold,
            last_value=s.values[-1] if s.values else None,
            fps=fps,
            latency_p50_ms=percentile(s.latencies, 50),
            age_s=age,
            frames=s.frames,
            anomalous=s.anomalous,
            models=tuple(sorted(s.models)),
        )


def _window_text(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 120 else f"{seconds:g}s"
