"""Where the console's records come from: the Kafka topics (KafkaFeed) or an in-process iterable.

Records are decoded with pipelines.wire, the one implementation of the format (docs/WIRE.md), and
handed to a ConsoleState as ConsoleEvents by `apply_event`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import cv2

from monitor.preprocess import ImageError, decode_image
from pipelines.broker import Reachability
from pipelines.config import Config
from pipelines.console_format import fmt_clock
from pipelines.console_state import ConsoleState, ExampleFrame, OpenAlertView
from pipelines.wire import (
    HEADER_SEQ,
    WireError,
    decode_alert,
    decode_score,
    header_text,
)


class ConsoleEvent(NamedTuple):
    """One record for the console: kind 'score' (data: a ScoreRecord, or its dict), 'alert' (an
    AlertEvent, or its dict), 'dead_letter' (data: headers), or 'malformed' (data: a short reason).
    ts_ns: the Kafka record timestamp if known."""

    kind: str
    data: Any
    ts_ns: int | None = None
    key: str | None = None


def apply_event(state: ConsoleState, event: ConsoleEvent | tuple) -> None:
    ev = event if isinstance(event, ConsoleEvent) else ConsoleEvent(*event)
    if ev.kind == "score":
        state.ingest_score(ev.data, ev.ts_ns)
    elif ev.kind == "alert":
        state.ingest_alert(ev.data, ev.ts_ns)
    elif ev.kind == "dead_letter":
        state.ingest_dead_letter(ev.data, ev.ts_ns, ev.key)
    else:
        state.ingest_malformed()


class KafkaFeed:
    """Reads the scores, alerts and dead-letter topics for the console.

    No consumer group: the console must not take partitions from the scorers' groups, and it must
    not wait for a group join (docs/DESIGN.md §4: seconds on Tansu). It assigns every partition itself and
    picks its start: alerts from the beginning (few records, and an open alert may be old), scores
    and dead letters from the last `lookback_minutes` via offsets_for_times (or the beginning with
    from_beginning). It never asks for end offsets: they are wrong on Tansu, and reading on from a
    time needs none. Topics that do not exist yet are looked for again every second.
    """

    def __init__(
        self,
        cfg: Config,
        bootstrap: str | None = None,
        consumer: Any = None,
        from_beginning: bool = False,
        lookback_minutes: float | None = None,
        clock: Callable[[], float] = time.time,
        connect_timeout_s: float = 5.0,
        fail_fast: bool = False,
    ) -> None:
        """consumer: a KafkaConsumer to use as is; without one it is created on the first poll.
        fail_fast: raise the client's KafkaError when the broker cannot be reached (scripts);
        otherwise report it in `problem` and try again every few seconds (a live screen)."""
        k = cfg.kafka
        self.kcfg = k
        self.connect_timeout_s = connect_timeout_s
        self.fail_fast = fail_fast
        self.problem: str | None = None
        self._retry_at = 0.0
        self.kinds = {k.scores_topic: "score", k.alerts_topic: "alert", k.dead_letter_topic: "dead_letter"}
        self.from_beginning = from_beginning
        minutes = cfg.console.lookback_minutes if lookback_minutes is None else lookback_minutes
        self.since_ms: int | None = None if from_beginning else int((clock() - 60 * minutes) * 1000)
        self.lookback_minutes = minutes
        self.bootstrap = bootstrap
        self.missing: list[str] = list(self.kinds)
        self.ready = False  # set after the first poll that followed an assignment
        self._assigned: set = set()
        self._first_round = True
        self._next_check = 0.0
        self.consumer = consumer
        self._last_data = time.monotonic()
        # The client retries a vanished broker quietly: without a probe an outage reads as an idle system.
        self.reachability = Reachability(bootstrap) if bootstrap else None

    def connect(self) -> bool:
        if self.consumer is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        k = self.kcfg
        try:
            # Small fetch waits keep the screen live (docs/DESIGN.md §4: fetch_max_wait_ms sets latency on
            # Tansu); dead letters carry whole frames, so fetches must allow the largest one.
            self.consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{k.client_id}-console",
                security_protocol=k.security_protocol,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=min(100, max(20, k.fetch_max_wait_ms)),
                max_partition_fetch_bytes=max(1 << 20, k.max_request_size),
                metadata_max_age_ms=5000,
                request_timeout_ms=max(5000, getattr(k, "request_timeout_ms", 10000)),
                bootstrap_timeout_ms=int(self.connect_timeout_s * 1000),
            )
        except KafkaError as e:
            if self.fail_fast:
                raise
            self.problem = f"cannot reach Kafka at {self.bootstrap} ({type(e).__name__}); retrying"
            self._retry_at = time.monotonic() + 2.0
            return False
        self.problem = None
        return True

    def describe(self) -> str:
        where = self.bootstrap or "kafka"
        if self.from_beginning:
            return f"{where} · from the beginning"
        since = fmt_clock(self.since_ms / 1000) if self.since_ms else "?"
        return f"{where} · since {since} (last {self.lookback_minutes:g} min)"

    def _refresh_assignment(self) -> None:
        from kafka import TopicPartition

        want: set = set(self._assigned)
        missing = []
        for topic in self.kinds:
            parts = self.consumer.partitions_for_topic(topic)
            if not parts:
                missing.append(topic)
                continue
            want |= {TopicPartition(topic, p) for p in parts}
        self.missing = missing
        self.problem = (
            f"topic{'s' if len(missing) > 1 else ''} not found yet: {', '.join(missing)}" if missing else None
        )
        new = want - self._assigned
        if new:
            self.consumer.assign(sorted(want))  # keeps the positions of partitions already assigned
            self._seek(new, appeared_later=not self._first_round)
            self._assigned = want
        self._first_round = False

    def _seek(self, tps: set, appeared_later: bool) -> None:
        by_time = []
        for tp in tps:
            # A topic created after we started holds only new records: read all of it.
            if self.since_ms is None or appeared_later or self.kinds[tp.topic] == "alert":
                self.consumer.seek_to_beginning(tp)
            else:
                by_time.append(tp)
        if not by_time:
            return
        try:
            found = self.consumer.offsets_for_times({tp: self.since_ms for tp in by_time})
        except Exception:  # broker without timestamp lookup: read from the start, filter by time below
            found = {}
        for tp in by_time:
            hit = found.get(tp)
            if hit is not None:
                self.consumer.seek(tp, hit.offset)
            else:
                # Nothing that recent (or no answer): start at the beginning and let poll() drop the
                # older records by timestamp, rather than trust an end offset.
                self.consumer.seek_to_beginning(tp)

    def poll(self, timeout_s: float = 0.1) -> list[ConsoleEvent]:
        if not self.connect():
            time.sleep(timeout_s)
            return []
        now = time.monotonic()
        if now >= self._next_check:
            self._refresh_assignment()
            self._next_check = now + (1.0 if self.missing or not self._assigned else 10.0)
        if not self._assigned:
            time.sleep(timeout_s)
            self.ready = True  # nothing to read yet counts as caught up
            return []
        batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=5000)
        self.ready = True
        self._watch_broker(bool(batches))
        out: list[ConsoleEvent] = []
        for tp, records in batches.items():
            kind = self.kinds.get(tp.topic)
            for m in records:
                ts = m.timestamp if m.timestamp is not None and m.timestamp >= 0 else None
                if self.since_ms is not None and kind != "alert" and ts is not None and ts < self.since_ms:
                    continue
                out.append(_event(kind, m, ts * 1_000_000 if ts is not None else None, f"{tp.topic}[{tp.partition}]"))
        return out

    def _watch_broker(self, got_data: bool) -> None:
        """While nothing arrives, probe the broker once a second; an outage is the feed's problem."""
        now = time.monotonic()
        if got_data:
            self._last_data = now
        if self.reachability is None or (now - self._last_data < 1.0 and self.reachability.down_since is None):
            return
        was_down = self.reachability.down_since is not None
        self.reachability.probe(now)
        outage = self.reachability.line()
        if outage:
            self.problem = outage
        elif was_down and self.problem and self.problem.startswith("broker unreachable"):
            self.problem = None

    def close(self) -> None:
        if self.consumer is None:
            return
        try:
            self.consumer.close()
        except Exception:  # closing after a failure must not hide the failure
            pass


def _event(kind: str | None, m: Any, ts_ns: int | None, where: str) -> ConsoleEvent:
    """One Kafka record as a ConsoleEvent: scores and alerts decoded by pipelines.wire."""
    key = m.key.decode("utf-8", "replace") if isinstance(m.key, bytes) else m.key
    if kind == "dead_letter":
        return ConsoleEvent("dead_letter", m.headers or [], ts_ns, key)
    decode = {"score": decode_score, "alert": decode_alert}.get(kind or "")
    try:
        if decode is None or m.value is None:
            raise WireError("no record of a console topic")
        return ConsoleEvent(kind, decode(m.value), ts_ns, key)  # type: ignore[arg-type]
    except WireError:
        return ConsoleEvent("malformed", f"{where}@{m.offset}", ts_ns, key)


class IterFeed:
    """An in-process iterable of ConsoleEvents (or (kind, data, ...) tuples), read on its own thread
    so that a blocking generator cannot freeze the screen."""

    def __init__(self, events: Iterable[ConsoleEvent | tuple]) -> None:
        self._lock = threading.Lock()
        self._buf: list = []
        self.done = threading.Event()
        self.ready = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(iter(events),), name="console-feed", daemon=True)
        self._thread.start()

    def _run(self, it: Iterator) -> None:
        try:
            for ev in it:
                with self._lock:
                    self._buf.append(ev)
        except BaseException as e:  # report it, do not kill the screen
            self.error = e
        finally:
            self.done.set()

    def poll(self, timeout_s: float = 0.1) -> list:
        if not self._buf:
            if self.done.is_set():
                time.sleep(timeout_s)  # nothing more will come; do not spin the caller's loop
            else:
                self.done.wait(timeout_s)
        with self._lock:
            out, self._buf = self._buf, []
        self.ready = self.done.is_set()
        return out

    def close(self) -> None:
        pass


class _KafkaLogTap(logging.Handler):
    """Shows the Kafka client's warnings as pipeline health instead of printing over the screen."""

    def __init__(self, state: ConsoleState) -> None:
        super().__init__(level=logging.WARNING)
        self.state = state

    def emit(self, record: logging.LogRecord) -> None:
        msg = " ".join(record.getMessage().split())
        self.state.note_client_warning("kafka: " + (msg[:80] + "..." if len(msg) > 80 else msg))


@contextmanager
def tap_kafka_logs(state: ConsoleState) -> Iterator[None]:
    logger = logging.getLogger("kafka")
    tap = _KafkaLogTap(state)
    old = logger.propagate
    logger.addHandler(tap)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(tap)
        logger.propagate = old


# ----------------------------------------------------------------------------- example frames


def fetch_example_frames(
    cfg: Config, bootstrap: str | None, alerts: Iterable[OpenAlertView], timeout_s: float = 10.0
) -> list[ExampleFrame]:
    """Each open alert's example frame, read from Kafka at its origin (topic, partition, offset)
    with a plain group-less consumer (assign + seek), decoded (monitor.preprocess.decode_image)
    and re-encoded as PNG. Never raises for Kafka or image trouble: the ExampleFrame says why
    there is no image. timeout_s bounds the whole fetch."""
    alerts = list(alerts)
    wanted = [a for a in alerts if a.example is not None]
    out = {
        a.alert_id: ExampleFrame(a, None, "the alert names no example frame (its frames carry no Kafka origin)")
        for a in alerts
        if a.example is None
    }
    if wanted and not bootstrap:
        out.update({a.alert_id: ExampleFrame(a, None, "no Kafka to fetch it from (in-process feed)") for a in wanted})
    elif wanted:
        out.update(_fetch(cfg, bootstrap, wanted, timeout_s))
    return [out[a.alert_id] for a in alerts]


def _fetch(cfg: Config, bootstrap: str, alerts: list[OpenAlertView], timeout_s: float) -> dict[str, ExampleFrame]:
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    k = cfg.kafka
    deadline = time.monotonic() + timeout_s
    try:
        consumer = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=f"{k.client_id}-console-examples",
            security_protocol=k.security_protocol,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
            max_partition_fetch_bytes=max(1 << 20, k.max_request_size),
            request_timeout_ms=max(5000, k.request_timeout_ms),
            bootstrap_timeout_ms=int(min(timeout_s, k.connect_timeout_s) * 1000),
        )
    except KafkaError as e:
        why = f"Kafka at {bootstrap} unreachable ({type(e).__name__})"
        return {a.alert_id: ExampleFrame(a, None, why) for a in alerts}
    out: dict[str, ExampleFrame] = {}
    try:
        for a in sorted(alerts, key=lambda a: (a.example.topic, a.example.partition, a.example.offset)):  # type: ignore[union-attr]
            ex = a.example
            assert ex is not None
            parts = consumer.partitions_for_topic(ex.topic)
            if not parts or ex.partition not in parts:
                out[a.alert_id] = ExampleFrame(a, None, f"{ex.topic}[{ex.partition}] not found at {bootstrap}")
                continue
            tp = TopicPartition(ex.topic, ex.partition)
            consumer.assign([tp])
            consumer.seek(tp, ex.offset)
            out[a.alert_id] = _read_one(consumer, tp, a, deadline)
    except KafkaError as e:
        why = f"reading Kafka at {bootstrap} failed ({type(e).__name__})"
        out.update({a.alert_id: ExampleFrame(a, None, why) for a in alerts if a.alert_id not in out})
    finally:
        try:
            consumer.close()
        except Exception:  # closing after a failure must not hide the failure
            pass
    return out


def _read_one(consumer: Any, tp: Any, alert: OpenAlertView, deadline: float) -> ExampleFrame:
    """The record at the consumer's position on tp, if it is the alert's example frame."""
    ex = alert.example
    assert ex is not None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return ExampleFrame(alert, None, "not read in time (the offset may be past the end of the partition)")
        for m in consumer.poll(timeout_ms=int(min(left, 0.5) * 1000), max_records=1).get(tp, []):
            if m.offset != ex.offset:
                return ExampleFrame(
                    alert,
                    None,
                    f"offset {ex.offset} is no longer in the topic (retention); the oldest there is {m.offset}",
                )
            return _frame_png(alert, m)


def _frame_png(alert: OpenAlertView, m: Any) -> ExampleFrame:
    ex = alert.example
    assert ex is not None
    try:
        img = decode_image(m.value or b"")
    except ImageError as e:
        return ExampleFrame(alert, None, f"the record is not a decodable frame: {e}")
    ok, png = cv2.imencode(".png", img)
    if not ok:
        return ExampleFrame(alert, None, "the frame could not be encoded as PNG")
    seq = header_text([(k, v) for k, v in (m.headers or [])], HEADER_SEQ)
    problem = None
    if seq is not None and seq != str(ex.seq):
        problem = f"the record's seq header is {seq}, the alert names seq {ex.seq}"
    return ExampleFrame(alert, png.tobytes(), problem)
