"""The scoring consumer: frames topic -> decode -> micro-batch -> GradCon scores -> scores topic.

One loop, one thread driving the Kafka clients (kafka-python's consumer is not thread-safe):

    poll ──> admit (validate headers/size, submit decode to the thread pool) ──> pending FIFO
    pending ──(max_batch frames, or the oldest waited max_wait_ms)──> batch
    batch ──> decode results ──> score ──> ScoreRecords ──> on_scored hook ──> publish
          ──> wait for the broker's acks ──> commit the batch's offsets

Delivery is at-least-once: offsets are committed only after every record derived from the batch
(scores, alerts, dead letters) was acknowledged, so a crash can score a frame twice, never zero
times. Pending frames are consumed in arrival order and a batch is a prefix of that order, so the
committed offset of a partition never skips an unprocessed record. A bad record (empty, oversized,
malformed headers, undecodable, unscorable) is published to the dead-letter topic with its origin
and a one-line error (Kafka Connect's convention) and committed past; it never stops the loop.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TextIO

import numpy as np

from kafka import ConsumerRebalanceListener as _ListenerBase

from monitor.config import Config
from monitor.preprocess import ImageError, decode_image
from pipelines.broker import client_kwargs
from pipelines.metrics import MetricsSnapshot, PipelineMetrics, plausible_lag
from pipelines.producers import KeyedRecord, ResilientProducer, delivery_timeouts, producer_settings
from pipelines.wire import (AlertRecord, DeadLetterInfo, FrameMeta, HeaderError, Origin, ScoreRecord,
                            dead_letter_headers, encode_alert, encode_score, one_line, parse_frame_headers)

log = logging.getLogger("signwatch.consumer")

# The post-processing hook: gets the batch's score records (which it may annotate with calibrated
# fields; each carries its decoded frame in `.image`) and returns alerts to publish.
OnScored = Callable[[list[ScoreRecord]], Sequence[AlertRecord]]

# Bytes kept free in a request for the dead-letter headers and the record framing.
_DLQ_HEADROOM = 64 * 1024


class PublishFailed(RuntimeError):
    """Records derived from a batch could not be published within the retry bound."""


class Pending:
    """A polled record on its way through the loop."""

    __slots__ = ("record", "received_ns", "received_mono", "meta", "future", "image", "stage", "error")

    def __init__(self, record: Any, received_ns: int, received_mono: float) -> None:
        self.record = record
        self.received_ns = received_ns
        self.received_mono = received_mono
        self.meta: FrameMeta | None = None
        self.future: Future | None = None
        self.image: np.ndarray | None = None
        self.stage = ""  # set with error: validate | decode | score
        self.error = ""

    def fail(self, stage: str, error: str) -> None:
        self.stage, self.error = stage, one_line(error)

    @property
    def tp(self):
        from kafka import TopicPartition

        return TopicPartition(self.record.topic, self.record.partition)


@dataclass
class StageTimes:
    """Seconds spent in each step of the loop (where the time goes, for bench and tuning)."""

    poll: float = 0.0
    decode_wait: float = 0.0
    score: float = 0.0
    publish: float = 0.0
    commit: float = 0.0

    def line(self) -> str:
        total = self.poll + self.decode_wait + self.score + self.publish + self.commit
        if total <= 0:
            return "no time recorded"
        parts = [(n, getattr(self, n)) for n in ("poll", "decode_wait", "score", "publish", "commit")]
        return ", ".join(f"{n} {v / total:.0%}" for n, v in parts)


@dataclass
class ConsumerSummary:
    name: str
    scored: int
    dead_letters: int
    batches: int
    elapsed_s: float
    metrics: MetricsSnapshot
    times: StageTimes = field(default_factory=StageTimes)
    publish_failures: int = 0
    commit_failures: int = 0
    hook_errors: int = 0
    pauses: int = 0

    def line(self) -> str:
        extra = [f"{label} {n}" for label, n in (("publish failures", self.publish_failures),
                                                  ("commit failures", self.commit_failures),
                                                  ("hook errors", self.hook_errors),
                                                  ("backpressure pauses", self.pauses)) if n]
        return (f"score summary [{self.name}]: scored {self.scored} frames, dead letters {self.dead_letters}, "
                f"{self.batches} batches in {self.elapsed_s:.1f} s; {self.metrics.line()}"
                + (f"; {', '.join(extra)}" if extra else "") + f"; time: {self.times.line()}")


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def consumer_settings(cfg: Config, bootstrap: str) -> dict[str, Any]:
    k, c = cfg.kafka, cfg.consumer
    # The partition fetch limit must let the largest admissible frame through in one fetch.
    partition_bytes = max(1024 * 1024, c.max_frame_bytes + _DLQ_HEADROOM)
    return {
        **client_kwargs(k, bootstrap),
        "group_id": c.group_id,
        "group_instance_id": c.group_instance_id,
        "enable_auto_commit": False,
        "auto_offset_reset": c.auto_offset_reset,
        "session_timeout_ms": k.session_timeout_ms,
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "fetch_max_wait_ms": k.fetch_max_wait_ms,
        "max_partition_fetch_bytes": partition_bytes,
        "fetch_max_bytes": max(52_428_800, partition_bytes),
        # Up to two batches per poll: frames keep coming while a backlog is worked off, so the
        # pending queue fills up to max_pending_frames and backpressure (pause) can act.
        "max_poll_records": 2 * max(1, c.max_batch),
    }


class ScoringConsumer:
    """A member of the scoring consumer group; `run()` loops until stopped."""

    def __init__(self, cfg: Config, bootstrap: str, scorer: Any, on_scored: OnScored | None = None,
                 name: str | None = None, stop: threading.Event | None = None, out: TextIO | None = None) -> None:
        self.cfg = cfg
        self.bootstrap = bootstrap
        self.scorer = scorer
        self.on_scored = on_scored
        self.name = name or default_consumer_name()
        self.stop_event = stop or threading.Event()
        self.out = out if out is not None else sys.stdout
        c = cfg.consumer
        self.max_batch = max(1, c.max_batch)
        self.max_wait_s = c.max_wait_ms / 1000.0
        self.metrics = PipelineMetrics(f"score [{self.name}]", c.metrics_interval_s)
        self.times = StageTimes()
        self.pending: deque[Pending] = deque()
        self.assigned: set = set()
        self.assignments = 0  # how many times partitions were assigned (tests wait on it)
        self._paused = False
        self._uncommitted: dict = {}  # tp -> next offset, when a commit failed and must be retried
        self._consumer = None
        self._producer: ResilientProducer | None = None
        self._pool = ThreadPoolExecutor(c.decode_workers, thread_name_prefix="decode") if c.decode_workers > 0 else None
        self.scored = self.dead_letters = self.batches = 0
        self.publish_failures = self.commit_failures = self.hook_errors = self.pauses = 0
        self._last_record_mono = time.monotonic()
        self.max_pending_seen = 0
        self._submitted = 0  # how many frames at the head of `pending` were handed to the decoder

    # ---- clients, created on first use -------------------------------------------------------

    @property
    def consumer(self):
        if self._consumer is None:
            from kafka import KafkaConsumer

            self._consumer = KafkaConsumer(**consumer_settings(self.cfg, self.bootstrap))
            self._consumer.subscribe([self.cfg.kafka.frames_topic], listener=_Rebalance(self))
        return self._consumer

    @property
    def producer(self) -> ResilientProducer:
        if self._producer is None:
            settings = producer_settings(self.cfg, self.bootstrap)
            # A batch waits for these acks; give up within publish_timeout_s and let the loop retry.
            timeout_ms = int(self.cfg.consumer.publish_timeout_s * 1000)
            settings.update(delivery_timeouts(timeout_ms, self.cfg.producer.linger_ms, settings["request_timeout_ms"]))
            self._producer = ResilientProducer(settings)
        return self._producer

    def stop(self) -> None:
        self.stop_event.set()

    # ---- the loop ------------------------------------------------------------------------------

    def run(self, max_records: int | None = None, idle_exit_s: float | None = None) -> ConsumerSummary:
        """Score until stopped (or `max_records` were handled, or nothing arrived for `idle_exit_s`)."""
        t0 = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self._fill()
                if self._batch_ready():
                    batch = self._take_batch()
                    try:
                        self._process(batch)
                    except PublishFailed as e:
                        self._rewind(batch, str(e))
                if self.metrics.due():
                    self._print(self._with_lag(self.metrics.roll()).line())
                done = self.scored + self.dead_letters
                if max_records is not None and done >= max_records:
                    break
                if (idle_exit_s is not None and not self.pending and self.assigned
                        and time.monotonic() - self._last_record_mono > idle_exit_s):
                    break
        finally:
            self._shutdown()
        summary = ConsumerSummary(self.name, self.scored, self.dead_letters, self.batches, time.monotonic() - t0,
                                  self.metrics.summary(), self.times, self.publish_failures,
                                  self.commit_failures, self.hook_errors, self.pauses)
        return summary

    def _fill(self) -> None:
        """Poll once (waiting at most until the oldest pending frame is due) and admit what came."""
        room = self._backpressure()
        if self._batch_ready():
            timeout_ms = 0
        elif self.pending:
            due = self.pending[0].received_mono + self.max_wait_s
            timeout_ms = max(0, int((due - time.monotonic()) * 1000))
        else:
            timeout_ms = 100  # idle: stay responsive to stop
        t = time.monotonic()
        # Polled even while paused: rebalance callbacks and the poll-interval deadline need it.
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max(1, min(2 * self.max_batch, room)))
        self.times.poll += time.monotonic() - t
        now_ns, now_mono = time.time_ns(), time.monotonic()
        for records in polled.values():
            for r in records:
                self._admit(r, now_ns, now_mono)
        if polled:
            self._last_record_mono = now_mono
            self._backpressure()
        self._schedule_decodes()

    def _schedule_decodes(self) -> None:
        """Hand the next frames to the decode pool, at most two batches ahead of scoring.

        Decoding ahead overlaps it with scoring; going no further bounds the decoded images held
        in memory (a backlog of camera frames is large decoded, small encoded).
        """
        c = self.cfg.consumer
        ahead = min(len(self.pending), 2 * self.max_batch)
        while self._submitted < ahead:
            p = self.pending[self._submitted]
            self._submitted += 1
            if p.error:
                continue
            if self._pool is not None:
                p.future = self._pool.submit(decode_image, p.record.value, c.max_image_pixels)
            else:
                p.future = _done_future(decode_image, p.record.value, c.max_image_pixels)

    def _admit(self, record: Any, received_ns: int, received_mono: float) -> None:
        """Validate a record cheaply in the loop; hand its decoding to the pool."""
        p = Pending(record, received_ns, received_mono)
        c = self.cfg.consumer
        value = record.value
        size = len(value) if value is not None else 0
        try:
            p.meta = parse_frame_headers(record.headers)
        except HeaderError as e:
            p.fail("validate", f"malformed headers: {e}")
        if p.error:
            pass
        elif size == 0:
            p.fail("validate", "empty payload")
        elif size > c.max_frame_bytes:
            p.fail("validate", f"frame of {size} bytes is over consumer.max_frame_bytes ({c.max_frame_bytes})")
        elif record.key is not None and record.key != p.meta.stream.encode("utf-8"):
            # Keys place streams on partitions; a frame keyed differently would break its stream's order.
            p.fail("validate", f"record key {record.key[:40]!r} differs from its stream header {p.meta.stream!r}")
        self.pending.append(p)
        self.max_pending_seen = max(self.max_pending_seen, len(self.pending))

    def _take_batch(self) -> list[Pending]:
        self._schedule_decodes()  # a batch never outruns the decode-ahead window, but be sure
        n = min(self.max_batch, len(self.pending))
        batch = [self.pending.popleft() for _ in range(n)]
        self._submitted = max(0, self._submitted - n)
        return batch

    def _batch_ready(self) -> bool:
        if not self.pending:
            return False
        if len(self.pending) >= self.max_batch:
            return True
        return time.monotonic() - self.pending[0].received_mono >= self.max_wait_s

    def _process(self, batch: list[Pending]) -> None:
        """The hot path: decode results -> score -> records -> hook -> publish + acks -> commit."""
        t = time.monotonic()
        good: list[Pending] = []
        bad: list[Pending] = []
        for p in batch:
            if not p.error:
                try:
                    p.image = p.future.result()
                except ImageError as e:
                    p.fail("decode", str(e))
                except Exception as e:  # OpenCV can raise its own errors on hostile input
                    p.fail("decode", f"{type(e).__name__}: {e}")
            (bad if p.error else good).append(p)
        self.times.decode_wait += time.monotonic() - t

        t = time.monotonic()
        scored, unscorable = self._score(good)
        bad.extend(unscorable)
        self.times.score += time.monotonic() - t

        alerts = self._post_process(scored)

        t = time.monotonic()
        self._publish(scored, alerts, bad)
        published_ns = time.time_ns()
        self.times.publish += time.monotonic() - t

        t = time.monotonic()
        self._commit(batch)
        self.times.commit += time.monotonic() - t

        self.scored += len(scored)
        self.dead_letters += len(bad)
        self.batches += 1
        self.metrics.record_dead_letters(len(bad))
        if scored:
            self.metrics.record_batch(len(scored), ((published_ns - r.capture_ns) / 1e6 for r in scored))

    # ---- steps ---------------------------------------------------------------------------------

    def _score(self, good: list[Pending]) -> tuple[list[ScoreRecord], list[Pending]]:
        if not good:
            return [], []
        try:
            results = [self.scorer.score([p.image for p in good])]
            members = [good]
        except Exception as e:
            # One frame can spoil a batch; score one at a time so only the culprit is dead-lettered.
            log.warning("score: batch of %d failed (%s: %s); scoring its frames one by one", len(good), type(e).__name__, e)
            results, members, failed = [], [], []
            for p in good:
                try:
                    results.append(self.scorer.score([p.image]))
                    members.append([p])
                except Exception as e1:
                    p.fail("score", f"{type(e1).__name__}: {e1}")
                    failed.append(p)
        else:
            failed = []
        scored_ns = time.time_ns()
        model_id = self.scorer.model_id
        records = []
        for result, ps in zip(results, members):
            for i, p in enumerate(ps):
                m = p.meta
                r = p.record
                records.append(ScoreRecord(
                    stream=m.stream, seq=m.seq, score=float(result.score[i]), recon=float(result.recon[i]),
                    layer_cos=tuple(float(v) for v in result.layer_cos[i]),  # type: ignore[arg-type]
                    model_id=model_id, capture_ns=m.capture_ns, received_ns=p.received_ns, scored_ns=scored_ns,
                    source=m.source, origin=Origin(r.topic, r.partition, r.offset), truth=m.truth, image=p.image,
                ))
        return records, failed

    def _post_process(self, records: list[ScoreRecord]) -> list[AlertRecord]:
        if self.on_scored is None or not records:
            return []
        try:
            return list(self.on_scored(records) or [])
        except Exception as e:
            # A bug in post-processing must not stop scoring; it is counted and logged.
            self.hook_errors += 1
            log.exception("score: on_scored hook failed (%s); publishing the scores without alerts", e)
            return []

    def _dead_letter(self, p: Pending) -> KeyedRecord:
        r = p.record
        info = DeadLetterInfo(Origin(r.topic, r.partition, r.offset), p.error, p.stage, self.name)
        headers = dead_letter_headers(r.headers, info)
        value = r.value
        if value is not None and len(value) > self.cfg.kafka.max_request_size - _DLQ_HEADROOM:
            # The original cannot be re-published whole (the client refuses records over
            # max_request_size); keep its metadata and say what was left out.
            headers.append(("dlq.value.omitted", f"{len(value)} bytes".encode()))
            value = None
        return KeyedRecord(self.cfg.kafka.dead_letter_topic, r.key, value, headers)

    def _publish(self, scored: list[ScoreRecord], alerts: Sequence[AlertRecord], bad: list[Pending]) -> None:
        """Send every derived record and wait for the broker's acks; retry failures within a bound."""
        k = self.cfg.kafka
        out = [KeyedRecord(k.scores_topic, r.stream.encode("utf-8"), encode_score(r), []) for r in scored]
        out += [KeyedRecord(k.alerts_topic, a.stream.encode("utf-8"), encode_alert(a), []) for a in alerts]
        out += [self._dead_letter(p) for p in bad]
        for p in bad:
            log.warning("dead letter: %s[%d]@%d (%s) %s", p.record.topic, p.record.partition, p.record.offset, p.stage, p.error)
        attempts = self.cfg.consumer.retries + 1
        for attempt in range(attempts):
            futures = [(rec, self.producer.send(rec)) for rec in out]
            self.producer.flush(self.cfg.consumer.publish_timeout_s)
            failed = [(rec, f) for rec, f in futures if f is None or not f.succeeded()]
            if not failed:
                return
            errors = {type(f.exception).__name__ if f is not None and f.exception else "not sent" for _, f in failed}
            out = [rec for rec, _ in failed]
            self.metrics.record_retry()
            if self.stop_event.is_set():
                break  # shutting down: the batch stays uncommitted and is scored again after a restart
            if attempt + 1 < attempts:
                backoff = min(0.2 * 2 ** attempt, 5.0)
                log.warning("publish: %d of the batch's records failed (%s); retry %d/%d in %.1f s",
                            len(out), ", ".join(sorted(errors)), attempt + 1, attempts - 1, backoff)
                self.stop_event.wait(backoff)
        raise PublishFailed(f"{len(out)} records not acknowledged after {attempts} attempts ({', '.join(sorted(errors))})")

    def _commit(self, batch: list[Pending]) -> None:
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        offsets = dict(self._uncommitted)
        for p in batch:  # a batch is in arrival order, so the last record of a partition has its highest offset
            offsets[p.tp] = p.record.offset + 1
        offsets = {tp: off for tp, off in offsets.items() if tp in self.assigned}
        if not offsets:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
            self._uncommitted.clear()
        except KafkaError as e:
            # Typically a rebalance took the partitions away; their new owner re-reads from the last
            # commit, so these frames may be scored twice (at-least-once), never lost.
            self.commit_failures += 1
            self._uncommitted = offsets
            log.warning("commit failed (%s: %s); will retry with the next batch", type(e).__name__, one_line(str(e), 200))

    def _rewind(self, batch: list[Pending], why: str) -> None:
        """Publishing failed for good: forget the batch and everything after it, re-read from the batch.

        Nothing of the batch was committed, so seeking back re-delivers it; the frames are scored
        again once the broker takes records again.
        """
        self.publish_failures += 1
        firsts: dict = {}
        for p in list(batch) + list(self.pending):
            tp = p.tp
            firsts[tp] = min(firsts.get(tp, p.record.offset), p.record.offset)
            if p.future is not None:
                p.future.cancel()
        self.pending.clear()
        self._submitted = 0
        log.error("publish failed (%s); re-reading %d partition(s) from the failed batch", why, len(firsts))
        for tp, off in firsts.items():
            if tp in self.assigned:
                self.consumer.seek(tp, off)
        self.stop_event.wait(1.0)

    def _backpressure(self) -> int:
        """Stop fetching once max_pending_frames wait; resume when half of them were scored.

        Called before each poll (may resume) and after admitting its records (may pause); returns
        how many more frames may be admitted now, so the queue never exceeds its bound.
        """
        c = self.cfg.consumer
        room = c.max_pending_frames - len(self.pending)
        if not self.assigned:
            return room
        if not self._paused and room <= 0:
            self.consumer.pause(*self.assigned)
            self._paused = True
            self.pauses += 1
            log.debug("backpressure: %d frames pending, pausing %d partition(s)", len(self.pending), len(self.assigned))
        elif self._paused and len(self.pending) <= c.max_pending_frames // 2:
            self.consumer.resume(*self.assigned)
            self._paused = False
            log.debug("backpressure: %d frames pending, resuming", len(self.pending))
        return room

    # ---- rebalances ----------------------------------------------------------------------------

    def on_revoked(self, revoked: Sequence[Any]) -> None:
        revoked = set(revoked)
        if not revoked:
            return
        # Frames not yet scored from these partitions go back to the group: their next owner
        # starts at our last commit. Commit first what is done but not yet committed.
        if self._uncommitted:
            from kafka.structs import OffsetAndMetadata

            try:
                self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in self._uncommitted.items()})
                self._uncommitted.clear()
            except Exception as e:
                log.warning("commit on revoke failed (%s); those frames may be scored twice", e)
        kept = deque()
        for p in self.pending:
            if p.tp in revoked:
                if p.future is not None:
                    p.future.cancel()
            else:
                kept.append(p)
        dropped = len(self.pending) - len(kept)
        self.pending = kept
        # Submitted frames were a prefix of the queue and filtering keeps the order: still a prefix.
        self._submitted = sum(1 for p in kept if p.future is not None or p.error)
        self.assigned -= revoked
        self._paused = False
        log.info("partitions revoked: %s%s", _tps(revoked), f" ({dropped} unscored frames returned to the group)" if dropped else "")

    def on_assigned(self, assigned: Sequence[Any]) -> None:
        self.assigned = set(assigned)
        self.assignments += 1
        self._paused = False
        self._last_record_mono = time.monotonic()
        log.info("partitions assigned: %s", _tps(assigned))

    # ---- metrics and shutdown ------------------------------------------------------------------

    def _with_lag(self, snap: MetricsSnapshot) -> MetricsSnapshot:
        try:
            tps = list(self.assigned)
            ends = self.consumer.end_offsets(tps, timeout_ms=1000)
            positions = {tp: self.consumer.position(tp, timeout_ms=1000) for tp in tps}
            lag = plausible_lag(ends, positions)
        except Exception:
            lag = None
        self.metrics.lag = lag
        return dataclasses.replace(snap, lag=lag)

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def _shutdown(self) -> None:
        for p in self.pending:
            if p.future is not None:
                p.future.cancel()
        if self.pending:
            log.info("stopping: %d frames not yet scored stay uncommitted and will be re-delivered", len(self.pending))
        self.pending.clear()
        if self._consumer is not None:
            if self._uncommitted:
                self._commit([])
            try:
                self._consumer.close(autocommit=False)
            except Exception as e:
                log.warning("closing the consumer failed (%s)", e)
        if self._producer is not None:
            self._producer.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


class _Rebalance(_ListenerBase):
    """kafka-python's rebalance callbacks, forwarded to the consumer loop (they run inside poll())."""

    def __init__(self, owner: ScoringConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked):
        self.owner.on_revoked(revoked)

    def on_partitions_assigned(self, assigned):
        self.owner.on_assigned(assigned)


def _tps(tps) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps, key=lambda t: (t.topic, t.partition))) or "none"


def _done_future(fn, *args) -> Future:
    f: Future = Future()
    try:
        f.set_result(fn(*args))
    except BaseException as e:
        f.set_exception(e)
    return f
