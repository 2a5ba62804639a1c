"""The scoring consumer: frames topic -> decode -> micro-batch -> GradCon scores -> scores topic.

The hot path, in `run()`; one thread (this one) drives the Kafka clients, which are not thread-safe:

    poll ──> admit (validate headers/size) ──> pending FIFO ──> decode + preprocess (thread pool,
         up to two batches ahead; cv2 and torch release the GIL)
    pending ──(max_batch frames, or the oldest waited max_wait_ms)──> batch ──> a free scorer thread
    oldest scored batch ──> ScoreRecords ──> on_scored hook ──> publish ──> wait for the broker's acks
                        ──> commit the batch's offsets

Scoring runs in its own threads so that batches are scored while earlier ones are published: on
a 2-core machine the per-record Python work of the Kafka clients would otherwise be added to the
scoring time instead of overlapping it. Up to consumer.score_threads batches are scored at once
(on the CPU each by single-threaded torch: see the setting), and batches are published and
committed in the order they were formed, so a stream's scores keep its frames' order.

Delivery is at-least-once: offsets are committed only after every record derived from the batch
(scores, alerts, dead letters) was acknowledged, so a crash can score a frame twice, never zero
times. A batch is a prefix of the arrival order, so the committed offset of a partition never
skips an unprocessed record. A bad record (empty, oversized, malformed headers, undecodable,
unscorable) is published to the dead-letter topic with its origin and a one-line error (Kafka
Connect's convention) and committed past; it never stops the loop.

Memory is bounded three ways: frames polled but not batched (consumer.max_pending_frames and
consumer.max_pending_mb: fetching pauses), and decoded frames held ahead of scoring
(consumer.max_decoded_mb, estimated from each image's header before it is decoded; at least one
frame always goes through, and no single frame may declare more than consumer.max_image_pixels).

Each stream's frame numbers are watched: a frame published again (seq and capture time not above
the last one published for its stream: a redelivery) counts as a duplicate, and a jump in seq
is reported as frames that never arrived (lost upstream, e.g. by a memory-only broker restart),
so no loss goes unnoticed. A hook with a `restore(consumer, partitions)` method (the calibrated
alert hook, pipelines/alerting.py) is asked to rebuild its per-stream state whenever this member
takes over partitions that another member may have processed.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import os
import socket
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence, TextIO

import numpy as np
from kafka import ConsumerRebalanceListener as _ListenerBase
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from monitor.preprocess import ImageError, declared_size, decode_image
from pipelines.broker import BrokerError, client_kwargs, ensure_topics
from pipelines.config import Config
from pipelines.metrics import MetricsSnapshot, PipelineMetrics, plausible_lag
from pipelines.producers import (
    KeyedRecord,
    ResilientProducer,
    delivery_timeouts,
    producer_settings,
)
from pipelines.wire import (
    AlertRecord,
    DeadLetterInfo,
    FrameMeta,
    HeaderError,
    Origin,
    ScoreRecord,
    dead_letter_headers,
    encode_alert,
    encode_score,
    one_line,
    parse_frame_headers,
)

log = logging.getLogger("signwatch.consumer")

# oneDNN (PyTorch's CPU convolutions) caches a compiled primitive per input shape, up to 1,024 of
# them. A consumer's batches come in every size from 1 to max_batch, and those primitives grew a
# scoring process by ~500 MiB within a minute (measured on 2 cores, batch sizes 1-256 at random:
# 1,068 MiB RSS with the default, 544 MiB with 64, the same throughput). oneDNN reads this when
# the first convolution runs, so setting it here, after torch is imported, works; a value the
# user set wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")

# The post-processing hook: gets the batch's score records (which it may annotate with calibrated
# fields; each carries its decoded frame in `.image`) and returns alerts to publish.
OnScored = Callable[[list[ScoreRecord]], Sequence[AlertRecord]]

# Bytes kept free in a request for the dead-letter headers and the record framing.
_DLQ_HEADROOM = 64 * 1024
# Longest wait between polls while batches are being scored (see _fill).
_INFLIGHT_POLL_S = 0.010
# Frames per decode task: one task per frame costs more in submission than cv2 spends on a small crop.
_DECODE_CHUNK = 16


class PublishFailed(RuntimeError):
    """Records derived from a batch could not be published within the retry bound."""


class Pending:
    """A polled record on its way through the loop."""

    __slots__ = ("record", "received_ns", "received_mono", "meta", "future", "index", "image", "x", "stage", "error",
                 "size", "decoded_estimate")

    def __init__(self, record: Any, received_ns: int, received_mono: float) -> None:
        self.record = record
        self.size = 0  # encoded bytes
        self.decoded_estimate = 0  # bytes its decoded image will take (from the header), 0 if it is not decoded
        self.received_ns = received_ns
        self.received_mono = received_mono
        self.meta: FrameMeta | None = None
        self.future: Future | None = None  # its decode chunk's future; its result is at [index]
        self.index = 0
        self.image: np.ndarray | None = None  # decoded frame
        self.x: Any = None  # the scorer's input for it, (1, C, 28, 28)
        self.stage = ""  # set with error: validate | decode | score
        self.error = ""

    def fail(self, stage: str, error: str) -> None:
        self.stage, self.error = stage, one_line(error)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.record.topic, self.record.partition)


class InFlight(NamedTuple):
    batch: list[Pending]  # in arrival order
    future: Future        # -> ScoredBatch, from a scorer thread
    generation: int       # the assignment it was formed under (a revocation makes it stale)


class ScoredBatch(NamedTuple):
    batch: list[Pending]         # every record of the batch, in arrival order
    good: list[Pending]          # the frames scored, in arrival order
    result: Any                  # ScoreResult for `good`
    scored_ns: int


@dataclass
class StageTimes:
    """Seconds spent per step (where the time goes, for bench and tuning)."""

    poll: float = 0.0        # main thread: polling and admitting records
    wait: float = 0.0        # main thread: waiting for the scorer thread
    publish: float = 0.0     # main thread: records, hook, sends and acks
    commit: float = 0.0      # main thread: offset commits
    decode_wait: float = 0.0  # scorer thread: waiting for decodes
    score: float = 0.0       # scorer thread: scoring

    def line(self) -> str:
        return (f"main thread: poll {self.poll:.1f} s, publish {self.publish:.1f} s, commit {self.commit:.1f} s, "
                f"waiting for the scorer {self.wait:.1f} s; scorer thread: scoring {self.score:.1f} s, "
                f"waiting for decodes {self.decode_wait:.1f} s")


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
    duplicates: int = 0   # frames published again (redeliveries seen by this member)
    missing: int = 0      # frames that never arrived (gaps in a stream's seq)
    missing_detail: str = ""  # "stream: seq ranges; ..." (the first few)

    def line(self) -> str:
        extra = [f"{label} {n}" for label, n in (("publish failures", self.publish_failures),
                                                  ("commit failures", self.commit_failures),
                                                  ("hook errors", self.hook_errors),
                                                  ("backpressure pauses", self.pauses)) if n]
        missing = f"MISSING {self.missing} ({self.missing_detail})" if self.missing else "missing 0"
        return (f"score summary [{self.name}]: scored {self.scored} frames, dead letters {self.dead_letters}, "
                f"duplicates {self.duplicates}, {missing}, "
                f"{self.batches} batches in {self.elapsed_s:.1f} s; {self.metrics.line()}"
                + (f"; {', '.join(extra)}" if extra else "") + f"; {self.times.line()}")


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
        # Up to two batches per poll: while a backlog is worked off the pending queue fills up to
        # max_pending_frames, and backpressure (pause) can act.
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
        self.score_threads = score_threads(c.score_threads, scorer)
        self.inflight: deque[InFlight] = deque()  # batches in the scorer threads, oldest first
        self._generation = 0  # +1 per revocation: a batch from an older generation is not published
        self.assigned: set = set()
        self.assignments = 0  # how many times partitions were assigned (tests wait on it)
        self._paused = False
        self._submitted = 0  # how many frames at the head of `pending` were handed to the decoders
        self._pending_bytes = 0  # encoded bytes in `pending`
        self._finishing_bytes = 0  # decoded bytes of the batch being published
        self._decode_blocked = False  # the decode-ahead stopped at the max_decoded_mb budget
        self.max_decoded_seen = 0  # the most decoded bytes (estimated) held at once
        self._max_pending_bytes = int(c.max_pending_mb * 1024 * 1024)
        self._max_decoded_bytes = int(c.max_decoded_mb * 1024 * 1024)
        # stream -> (partition, last seq, its capture_ns) of the last frame published (scored or dead-lettered)
        self._last_seen: dict[str, tuple[Any, int, int]] = {}
        self.duplicates = 0
        self.missing = 0
        self.missing_ranges: dict[str, list[tuple[int, int]]] = {}
        self._revoked_recently: set = set()  # partitions given up in the current rebalance
        self._rewind_to: dict = {}  # revoked partition -> offset of its first unpublished frame we dropped
        self._lost_recently: set = set()  # partitions whose membership was lost (their seq watch is kept)
        self._check_topics = False  # run ensure_topics again (after a lost membership)
        self._restore: set = set()  # partitions taken over whose per-stream state must be rebuilt
        self._uncommitted: dict = {}  # tp -> next offset, when a commit failed and must be retried
        self._consumer = None
        self._producer: ResilientProducer | None = None
        self._decoders = ThreadPoolExecutor(max(1, c.decode_workers), thread_name_prefix="decode")
        self._scorers = scorer_pool(self.score_threads, scorer)
        self._times_lock = threading.Lock()  # StageTimes is added to from every scorer thread
        self.scored = self.dead_letters = self.batches = 0
        self.publish_failures = self.commit_failures = self.hook_errors = self.pauses = 0
        self._last_record_mono = time.monotonic()
        self.max_pending_seen = 0
        self.first_record_mono: float | None = None  # when the first frame arrived (bench: excludes the group join)
        self.last_batch_mono: float | None = None    # when the last batch was committed
        self.latencies_ms: list[float] | None = None  # set to [] to keep every capture->publish latency (bench)
        self.cpu_split: Any = None  # bench: a cli.cputime.CpuSplit, stopped when the loop ends
        self.cpu_used: dict[str, float] = {}  # ... and what it measured

    # ---- clients, created on first use -------------------------------------------------------

    @property
    def consumer(self):
        if self._consumer is None:
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
        """Score until stopped (or `max_records` were handled, or nothing arrived for `idle_exit_s`).

        On stop the batches in the scorer threads are finished, published and committed first.
        """
        t0 = time.monotonic()
        # A full garbage collection walks every object in the process (torch and the model alone
        # are ~190,000) with the interpreter lock held, stalling all threads: 4 of them in a 10 s
        # latency run took up to 147 ms each, the whole p99. Objects alive now live as long as the
        # process; freezing them keeps later collections to what the loop itself allocates.
        gc.freeze()
        try:
            while True:
                stopping = self.stop_event.is_set() or self._reached(max_records, idle_exit_s)
                if stopping and not self.inflight:
                    break
                if not stopping:
                    self._fill()
                if self.inflight and (self.inflight[0].future.done() or stopping or self._must_wait()):
                    done = self.inflight.popleft()
                    self._finishing_bytes = sum(p.decoded_estimate for p in done.batch)
                    # Start the next batches before publishing this one: scoring and publishing overlap.
                    if not stopping:
                        self._start_batches()
                    try:
                        self._finish_batch(*done)
                    finally:
                        self._finishing_bytes = 0
                elif not stopping:
                    self._start_batches()
                if self.metrics.due():
                    self._print(self._with_lag(self.metrics.roll()).line())
        finally:
            if self.cpu_split is not None:  # before the pools stop: a thread that ended is not counted
                self.cpu_used = self.cpu_split.stop()
            self._shutdown()
        return ConsumerSummary(self.name, self.scored, self.dead_letters, self.batches, time.monotonic() - t0,
                               self.metrics.summary(), self.times, self.publish_failures,
                               self.commit_failures, self.hook_errors, self.pauses, self.duplicates, self.missing,
                               self.missing_text())

    def _reached(self, max_records: int | None, idle_exit_s: float | None) -> bool:
        in_hand = len(self.pending) + sum(len(b.batch) for b in self.inflight)
        if max_records is not None and self.scored + self.dead_letters + in_hand >= max_records:
            return not self.pending  # everything it needs was polled; stop once the last batch left
        return (idle_exit_s is not None and not in_hand and bool(self.assigned)
                and time.monotonic() - self._last_record_mono > idle_exit_s)

    def _must_wait(self) -> bool:
        """Nothing useful to do but wait for the oldest batch: every scorer is busy, and the next
        batch is formed or the queue is full."""
        return len(self.inflight) >= self.score_threads and (
            self._batch_ready() or len(self.pending) >= self.cfg.consumer.max_pending_frames
            or self._pending_bytes >= self._max_pending_bytes)

    def _fill(self) -> None:
        """Poll once (briefly while a batch is being scored) and admit what came."""
        room = self._backpressure()
        if self._batch_ready():
            timeout_ms = 0
        elif self.inflight:
            # Batches are being scored. Polling back to back here would fetch a few records per
            # request (a broker answers a fetch at once when it holds any data), and that
            # per-request work in the client and the broker takes the cores the scorers need. So
            # wait for the oldest batch, at most _INFLIGHT_POLL_S (or until the oldest pending frame
            # is due, when a scorer is free), then take what arrived meanwhile.
            limit = _INFLIGHT_POLL_S
            if self.pending and len(self.inflight) < self.score_threads:
                limit = min(limit, self.pending[0].received_mono + self.max_wait_s - time.monotonic())
            if limit > 0:
                t = time.monotonic()
                futures_wait([self.inflight[0].future], timeout=limit)
                self.times.wait += time.monotonic() - t
            timeout_ms = 0
        elif self.pending:
            due = self.pending[0].received_mono + self.max_wait_s
            timeout_ms = max(0, int((due - time.monotonic()) * 1000))
        else:
            timeout_ms = 100  # idle: stay responsive to stop
        t = time.monotonic()
        # Polled even while paused: rebalance callbacks and the poll-interval deadline need it.
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max(1, min(2 * self.max_batch, room)))
        if self._check_topics:
            self._recheck_topics()
        if self._restore:
            self._restore_state()
        now_ns, now_mono = time.time_ns(), time.monotonic()
        for records in polled.values():
            for r in records:
                self._admit(r, now_ns, now_mono)
        if polled:
            self._last_record_mono = now_mono
            if self.first_record_mono is None:
                self.first_record_mono = now_mono
            self._backpressure()
        self._schedule_decodes()
        self.times.poll += time.monotonic() - t

    def _admit(self, record: Any, received_ns: int, received_mono: float) -> None:
        """Validate a record cheaply here; decoding comes later, in the pool."""
        p = Pending(record, received_ns, received_mono)
        c = self.cfg.consumer
        value = record.value
        size = len(value) if value is not None else 0
        p.size = size
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
        else:
            p.decoded_estimate = decoded_estimate(value, c.max_image_pixels)
        self.pending.append(p)
        self._pending_bytes += size
        self.max_pending_seen = max(self.max_pending_seen, len(self.pending))

    def _decoded_held(self) -> int:
        """Estimated bytes of decoded frames in hand: handed to the decoders, being scored or published."""
        held = self._finishing_bytes
        for b in self.inflight:
            held += sum(p.decoded_estimate for p in b.batch)
        for i in range(min(self._submitted, len(self.pending))):
            held += self.pending[i].decoded_estimate
        return held

    def _schedule_decodes(self) -> None:
        """Hand the next frames to the decode pool, at most two batches ahead of scoring and within
        the consumer.max_decoded_mb budget.

        Decoding ahead overlaps it with scoring; going no further bounds the decoded images held
        in memory (a backlog of camera frames is large decoded, small encoded). When nothing is
        held, one frame goes through whatever its size, so a large frame delays, never blocks.
        """
        ahead = min(len(self.pending), 2 * self.max_batch)
        if self._submitted >= ahead:
            return
        held = self._decoded_held()
        self._decode_blocked = False
        chunk: list[Pending] = []
        while self._submitted < ahead:
            p = self.pending[self._submitted]
            if not p.error:
                if held > 0 and held + p.decoded_estimate > self._max_decoded_bytes:
                    self._decode_blocked = True
                    break
                held += p.decoded_estimate
            self._submitted += 1
            if not p.error:
                chunk.append(p)
            if len(chunk) == _DECODE_CHUNK:
                self._submit_decode(chunk)
                chunk = []
        if chunk:
            self._submit_decode(chunk)
        self.max_decoded_seen = max(self.max_decoded_seen, held)

    def _submit_decode(self, chunk: list[Pending]) -> None:
        values = [p.record.value for p in chunk]
        fut = self._decoders.submit(_decode_chunk, values, self.cfg.consumer.max_image_pixels, self.scorer.preprocess)
        for i, p in enumerate(chunk):
            p.future, p.index = fut, i

    def _batch_ready(self) -> bool:
        """A batch can start: frames handed to the decoders, and enough of them or the oldest waited long enough."""
        if not self.pending or not self._submitted:
            return False
        if self._submitted >= self.max_batch or self._decode_blocked:
            return True
        return time.monotonic() - self.pending[0].received_mono >= self.max_wait_s

    def _start_batches(self) -> None:
        while len(self.inflight) < self.score_threads and self._batch_ready():
            self._start_batch()

    def _start_batch(self) -> None:
        self._schedule_decodes()  # a batch never outruns the decode-ahead window, but be sure
        n = min(self.max_batch, self._submitted)  # only frames handed to the decoders have a future
        batch = [self.pending.popleft() for _ in range(n)]
        self._pending_bytes -= sum(p.size for p in batch)
        self._submitted -= n
        self.inflight.append(InFlight(batch, self._scorers.submit(self._score_batch, batch), self._generation))

    # ---- scorer thread ---------------------------------------------------------------------------

    def _score_batch(self, batch: list[Pending]) -> ScoredBatch:
        """Decode results -> one tensor -> scores. Runs in the scorer thread; touches no Kafka client."""
        import torch

        t = time.monotonic()
        good: list[Pending] = []
        for p in batch:
            if not p.error:
                out = p.future.result()[p.index]
                if isinstance(out, BaseException):
                    p.fail("decode", str(out) if isinstance(out, ImageError) else f"{type(out).__name__}: {out}")
                else:
                    p.image, p.x = out
                    good.append(p)
        t1 = time.monotonic()
        result = None
        if good:
            try:
                result = self.scorer.score_tensor(torch.cat([p.x for p in good]))
            except Exception as e:
                # One frame can spoil a batch; score one at a time so only the culprit is dead-lettered.
                log.warning("score: batch of %d failed (%s: %s); scoring its frames one by one", len(good), type(e).__name__, e)
                parts, kept = [], []
                for p in good:
                    try:
                        parts.append(self.scorer.score_tensor(p.x))
                        kept.append(p)
                    except Exception as e1:
                        p.fail("score", f"{type(e1).__name__}: {e1}")
                good = kept
                result = _concat_results(parts) if parts else None
        with self._times_lock:
            self.times.decode_wait += t1 - t
            self.times.score += time.monotonic() - t1
        for p in batch:
            p.x = None  # the tensors are not needed past scoring
        return ScoredBatch(batch, good, result, time.time_ns())

    # ---- main thread: records, hook, publish, commit --------------------------------------------

    def _finish_batch(self, batch: list[Pending], future: Future, generation: int) -> None:
        t = time.monotonic()
        try:
            scored = future.result()
        except Exception as e:  # a bug in the scoring step, not in a frame: do not commit, re-read
            log.exception("score: the scorer thread failed (%s)", e)
            self._rewind(batch, f"scorer thread failed: {type(e).__name__}: {e}")
            return
        self.times.wait += time.monotonic() - t
        if generation != self._generation:
            return  # its partitions were revoked while it was scored; their new owner scores it

        t = time.monotonic()
        records = self._records(scored)
        bad = [p for p in batch if p.error]
        alerts = self._post_process(records)
        try:
            self._publish(records, alerts, bad)
        except PublishFailed as e:
            self.times.publish += time.monotonic() - t
            self._rewind(batch, str(e))
            return
        published_ns = time.time_ns()
        self.times.publish += time.monotonic() - t

        t = time.monotonic()
        self._commit(batch)
        self.times.commit += time.monotonic() - t

        self._watch_seqs(batch)
        self.scored += len(records)
        self.dead_letters += len(bad)
        self.batches += 1
        self.last_batch_mono = time.monotonic()
        self.metrics.record_dead_letters(len(bad))
        if records:
            latencies = [(published_ns - r.capture_ns) / 1e6 for r in records]
            self.metrics.record_batch(len(records), latencies)
            if self.latencies_ms is not None:
                self.latencies_ms.extend(latencies)

    def _watch_seqs(self, batch: list[Pending]) -> None:
        """Duplicates and gaps per stream, from the frames just published (scored or dead-lettered)."""
        for p in batch:
            m = p.meta
            if m is None or (p.record.key is not None and p.record.key != m.stream.encode("utf-8")):
                continue  # no frame number, or keyed to another stream's partition: its order means nothing
            last = self._last_seen.get(m.stream)
            if last is not None:
                _, last_seq, last_capture = last
                if m.seq <= last_seq and m.capture_ns <= last_capture:
                    self.duplicates += 1  # a redelivery: already published (by us, earlier)
                    continue
                if m.seq > last_seq + 1:
                    self._gap(m.stream, last_seq + 1, m.seq - 1, p)
                # m.seq <= last_seq with a newer capture time: the producer restarted its numbering.
            self._last_seen[m.stream] = (p.tp, m.seq, m.capture_ns)

    def _gap(self, stream: str, first: int, last: int, p: Pending) -> None:
        n = last - first + 1
        self.missing += n
        ranges = self.missing_ranges.setdefault(stream, [])
        if len(ranges) < 100:  # the count stays exact; the list of ranges is bounded
            ranges.append((first, last))
        log.warning("stream %s: %d frame(s) never reached this consumer (seq %s) before %s[%d]@%d: lost upstream "
                    "(e.g. by a memory-only broker restart) or scored by another member while this one was out of "
                    "the group", stream, n,
                    str(first) if n == 1 else f"{first}-{last}", p.record.topic, p.record.partition, p.record.offset)

    def missing_text(self, limit: int = 8) -> str:
        parts = []
        for stream, ranges in sorted(self.missing_ranges.items())[:limit]:
            parts.append(f"{stream}: seq " + ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:5])
                         + (" ..." if len(ranges) > 5 else ""))
        more = len(self.missing_ranges) - limit
        return "; ".join(parts) + (f"; {more} more streams" if more > 0 else "")

    def _recheck_topics(self) -> None:
        self._check_topics = False
        try:
            ensure_topics(self.bootstrap, self.cfg)
            log.info("topics checked again after the group membership was lost: %s", self.cfg.kafka.frames_topic)
        except (BrokerError, KafkaError) as e:
            log.error("topics could not be checked again (%s); scoring goes on", one_line(str(e), 200))

    def _restore_state(self) -> None:
        """Main thread, after a poll that took over partitions: forget what we knew of their streams
        (another member may have published frames of them since) and let the hook rebuild its state."""
        taken, self._restore = self._restore, set()
        taken &= self.assigned
        lost, self._lost_recently = self._lost_recently, set()
        if not taken:
            return
        from kafka.partitioner.default import murmur2

        n = self.cfg.kafka.partitions
        parts = {tp.partition for tp in taken}
        forget = {tp.partition for tp in taken - lost}
        for stream in [s for s in self._last_seen if (murmur2(s.encode()) & 0x7FFFFFFF) % n in forget]:
            del self._last_seen[stream]
        restore = getattr(self.on_scored, "restore", None)
        if restore is None:
            return
        t = time.monotonic()
        try:
            restore(self, sorted(parts))
        except Exception as e:  # the hook then starts from scratch for those streams, which is safe, not exact
            self.hook_errors += 1
            log.exception("score: the hook could not restore its state for partitions %s (%s)", sorted(parts), e)
        log.info("restore: state for partition(s) %s rebuilt in %.2f s", sorted(parts), time.monotonic() - t)

    def _records(self, scored: ScoredBatch) -> list[ScoreRecord]:
        res = scored.result
        if res is None:
            return []
        score, recon, cos = res.score.tolist(), res.recon.tolist(), res.layer_cos.tolist()
        model_id = self.scorer.model_id
        out = []
        for i, p in enumerate(scored.good):
            m, r = p.meta, p.record
            out.append(ScoreRecord(
                stream=m.stream, seq=m.seq, score=score[i], recon=recon[i], layer_cos=tuple(cos[i]),  # type: ignore[arg-type]
                model_id=model_id, capture_ns=m.capture_ns, received_ns=p.received_ns, scored_ns=scored.scored_ns,
                source=m.source, origin=Origin(r.topic, r.partition, r.offset), truth=m.truth, image=p.image,
            ))
        return out

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
        errors: set[str] = set()
        for attempt in range(attempts):
            futures = [(rec, self.producer.send(rec)) for rec in out]
            self.producer.flush(self.cfg.consumer.publish_timeout_s)
            failed = [(rec, f) for rec, f in futures if f is None or not f.succeeded()]
            if not failed:
                return
            for _, f in failed:
                if f is not None and f.exception is not None:
                    self.producer.note_failure(f.exception)
            errors = {type(f.exception).__name__ if f is not None and f.exception else "not sent" for _, f in failed}
            # With an idempotent producer a failed record fails every later one of its partition
            # too, so re-sending the failures in order keeps each stream's order.
            out = [rec for rec, _ in failed]
            self.metrics.record_retry()
            if self.stop_event.is_set():
                break  # shutting down: the batch stays uncommitted and is scored again after a restart
            if attempt + 1 < attempts:
                backoff = min(0.2 * 2 ** attempt, 5.0)
                log.warning("publish: %d of the batch's records failed (%s); retry %d/%d in %.1f s",
                            len(out), ", ".join(sorted(errors)), attempt + 1, attempts - 1, backoff)
                self.stop_event.wait(backoff)
        raise PublishFailed(f"{len(out)} records not acknowledged ({', '.join(sorted(errors))})")

    def _commit(self, batch: list[Pending]) -> None:
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
        """A batch could not be published: forget it and everything after it, re-read from it.

        Nothing of it was committed, so seeking back delivers it again; it is scored again once the
        broker takes records again.
        """
        self.publish_failures += 1
        later: list[Pending] = []
        while self.inflight:
            b = self.inflight.popleft()
            _wait_quietly(b.future)
            later += b.batch
        later += self.pending
        firsts: dict = {}
        for p in batch + later:
            tp = p.tp
            firsts[tp] = min(firsts.get(tp, p.record.offset), p.record.offset)
        self.pending.clear()
        self._submitted = 0
        self._pending_bytes = 0
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
        if self._pending_bytes >= self._max_pending_bytes:
            room = 0
        if not self.assigned:
            return room
        if not self._paused and room <= 0:
            self.consumer.pause(*self.assigned)
            self._paused = True
            self.pauses += 1
            log.debug("backpressure: %d frames pending, pausing %d partition(s)", len(self.pending), len(self.assigned))
        elif (self._paused and len(self.pending) <= c.max_pending_frames // 2
              and self._pending_bytes <= self._max_pending_bytes // 2):
            self.consumer.resume(*self.assigned)
            self._paused = False
            log.debug("backpressure: %d frames pending, resuming", len(self.pending))
        return room

    # ---- rebalances (called inside poll(), on this thread) ---------------------------------------

    def on_revoked(self, revoked: Sequence[Any]) -> None:
        """Partitions go back to the group. Runs on the Kafka client's I/O thread while this loop
        is blocked in poll() or close(), so it must not call blocking consumer APIs (commit).

        Every batch published so far was committed right after its acks, so nothing finished is
        left uncommitted (unless a commit failed: those frames may be scored twice). The batch in
        the scorer thread is dropped unpublished when it comes back, and pending frames of the
        revoked partitions are dropped: their next owner starts at our last commit and scores
        them once. When that next owner is us again (eager rebalancing revokes everything, then
        gives most partitions back), kafka-python keeps the partition's fetch position, which is
        past the dropped frames: on_assigned seeks back to the first of them, or they would be lost.
        """
        revoked = set(revoked)
        if not revoked:
            return
        # Where each revoked partition's unpublished frames begin. If the partition comes back to us
        # in this rebalance, kafka-python keeps its fetch position (past those frames), so on_assigned
        # seeks back there; otherwise its next owner starts at our last commit, which is not later.
        held = list(self.pending) + [p for b in self.inflight for p in b.batch]
        for p in held:
            if p.tp in revoked:
                first = self._rewind_to.get(p.tp)
                self._rewind_to[p.tp] = p.record.offset if first is None else min(first, p.record.offset)
        self._generation += 1  # the batches in flight, if any, belong to the old assignment
        kept: deque[Pending] = deque(p for p in self.pending if p.tp not in revoked)
        dropped = len(self.pending) - len(kept) + sum(len(b.batch) for b in self.inflight)
        self.pending = kept
        self._pending_bytes = sum(p.size for p in kept)
        # Submitted frames were a prefix of the queue and filtering keeps the order: still a prefix.
        self._submitted = sum(1 for p in kept if p.future is not None or p.error)
        self.assigned -= revoked
        self._revoked_recently |= revoked
        self._uncommitted = {tp: o for tp, o in self._uncommitted.items() if tp not in revoked}
        self._paused = False
        log.info("partitions revoked: %s%s", _tps(revoked), f" ({dropped} unscored frames returned to the group)" if dropped else "")

    def on_lost(self, lost: Sequence[Any]) -> None:
        """Membership was lost (e.g. the broker restarted and forgot the group): nothing can be
        committed any more. kafka-python drops the partitions' state, so positions come from the
        group's commits (or the reset policy) again: no seeking back. The hook's state is rebuilt
        when they come back, but the streams' last frame numbers are kept, so frames that vanished
        meanwhile (a memory-only broker loses everything) are reported as missing. The topics are
        checked again: a broker that forgot them re-creates them with its own partition count."""
        self.on_revoked(lost)
        lost = set(lost)
        for tp in lost:
            self._rewind_to.pop(tp, None)
        self._revoked_recently -= lost
        self._lost_recently |= lost
        self._check_topics = True

    def on_assigned(self, assigned: Sequence[Any]) -> None:
        # Partitions given up in this rebalance and given back were ours all along (eager rebalancing
        # revokes everything first); any other one may have been processed by another member.
        self._restore |= set(assigned) - self._revoked_recently
        self._revoked_recently = set()
        self.assigned = set(assigned)
        rewind, self._rewind_to = self._rewind_to, {}
        for tp, offset in rewind.items():
            if tp in self.assigned:  # kept through the rebalance: fetch its dropped frames again
                try:
                    self._consumer.seek(tp, offset)
                    log.info("partition %s[%d] kept: re-reading from offset %d (frames dropped at the revocation)",
                             tp.topic, tp.partition, offset)
                except Exception as e:  # not expected; then the frames would be skipped, so say so loudly
                    log.error("could not seek %s[%d] back to %d (%s): frames from there may be skipped",
                              tp.topic, tp.partition, offset, e)
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
        while self.inflight:  # only after an exception: a clean exit finishes them first
            _wait_quietly(self.inflight.popleft().future)
        if self.pending:
            log.info("stopping: %d frames not yet scored stay uncommitted and will be delivered again", len(self.pending))
        self.pending.clear()
        self._pending_bytes = 0
        if self._consumer is not None:
            if self._uncommitted:
                self._commit([])
            try:
                self._consumer.close(autocommit=False)
            except Exception as e:
                log.warning("closing the consumer failed (%s)", e)
        if self._producer is not None:
            self._producer.close()
        self._scorers.shutdown(wait=True, cancel_futures=True)
        self._decoders.shutdown(wait=True, cancel_futures=True)


class _Rebalance(_ListenerBase):
    """kafka-python's rebalance callbacks, forwarded to the consumer loop (they run inside poll())."""

    def __init__(self, owner: ScoringConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked):
        self.owner.on_revoked(revoked)

    def on_partitions_assigned(self, assigned):
        self.owner.on_assigned(assigned)

    def on_partitions_lost(self, lost):
        self.owner.on_lost(lost)


def score_threads(setting: int, scorer: Any) -> int:
    """consumer.score_threads, with 0 resolved: one per torch CPU thread on the CPU, one on a GPU."""
    if setting > 0:
        return setting
    import torch

    return max(1, torch.get_num_threads()) if _on_cpu(scorer) else 1


def _on_cpu(scorer: Any) -> bool:
    return getattr(getattr(scorer, "device", None), "type", "cpu") == "cpu"


def scorer_pool(slots: int, scorer: Any) -> ThreadPoolExecutor:
    """`slots` scorer threads; on the CPU with several, each on its share of torch's threads."""
    if slots <= 1 or not _on_cpu(scorer):
        return ThreadPoolExecutor(slots, thread_name_prefix="score")
    import torch

    return ThreadPoolExecutor(slots, thread_name_prefix="score", initializer=torch.set_num_threads,
                              initargs=(max(1, torch.get_num_threads() // slots),))


def decoded_estimate(value: bytes, max_pixels: int) -> int:
    """Bytes the decoded image of `value` will take, from its header (before decoding anything).

    4 bytes a pixel (8 for a 16-bit PNG) covers colour, alpha and OpenCV's conversion copy; a frame
    whose size cannot be read is assumed to expand 20 times (JPEG's usual ratio), capped by what
    max_image_pixels allows.
    """
    try:
        size = declared_size(value)
    except Exception:
        size = None
    if size is not None and size[0] > 0 and size[1] > 0:
        per_pixel = 8 if value[:8] == b"\x89PNG\r\n\x1a\n" and len(value) > 24 and value[24] == 16 else 4
        return min(size[0] * size[1], max_pixels) * per_pixel
    return min(20 * len(value), 4 * max_pixels)


def _decode_chunk(values: list[bytes], max_pixels: int, preprocess: Callable) -> list[Any]:
    """Decode and preprocess frames in a pool thread: (image, model input (1, C, H, W)) or the exception, per frame.

    The scorer's own preprocess runs once for the chunk's good frames; its rows are per-frame
    operations, so they equal what preprocessing the whole batch at once would give.
    """
    out: list[Any] = []
    images: list[np.ndarray] = []
    for v in values:
        try:
            images.append(decode_image(v, max_pixels))
            out.append(len(images) - 1)
        except Exception as e:  # ImageError, or OpenCV's own errors on hostile input
            out.append(e)
    if images:
        try:
            x = preprocess(images)
        except Exception:
            # One frame broke preprocessing for all: do them one by one so only it fails.
            rows = []
            for img in images:
                try:
                    rows.append(preprocess([img]))
                except Exception as e:
                    rows.append(e)
            return [o if isinstance(o, BaseException) else
                    (rows[o] if isinstance(rows[o], BaseException) else (images[o], rows[o])) for o in out]
        return [o if isinstance(o, BaseException) else (images[o], x[o : o + 1]) for o in out]
    return out


def _concat_results(parts: list[Any]) -> Any:
    first = parts[0]
    return type(first)(*(np.concatenate([getattr(p, f) for p in parts]) for f in first._fields))


def _wait_quietly(fut: Future) -> None:
    try:
        fut.result()
    except Exception:
        pass


def _tps(tps) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps, key=lambda t: (t.topic, t.partition))) or "none"
