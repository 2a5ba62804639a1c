"""The scoring consumer: frames topic -> decode -> micro-batch -> GradCon scores -> scores topic.

One thread (this one) drives the Kafka clients, which are not thread-safe; `ScoringConsumer`
composes the parts, each with its own state, and `_finish_batch` reads as the path a batch takes
once scored:

    poll -> admit (intake.Intake)                 validate headers/size; backpressure pauses fetching
      -> decode ahead (frame_queue.FrameQueue)    thread pool, two batches ahead, within max_decoded_mb;
                                                  with them the hook's image statistics (hook.StatisticsHook)
      -> batch (FrameQueue.take_batch)            max_batch frames, or the oldest waited max_wait_ms
      -> score (scoring.BatchScorer)              scorer threads; batches come back in formation order
      -> calibrate (the on_scored hook, hook.OnScored)  decisions and alerts from those statistics
      -> publish (publishing.Publisher)           scores, alerts, dead letters; wait for the acks
      -> commit (publishing.OffsetCommitter)      only then: at-least-once
      -> watch (seq_watch.SequenceWatch)          duplicates and gaps per stream

The calibrated hook's work is split where it can run: its image statistics (calibration.features,
per frame, pure) are made in the decode threads, a chunk at a time from the prepared copies, so
they run beside scoring; only its decisions and per-stream alert state, which need each stream's
order, stay on this thread, the one that also drives Kafka. Measured with `bench pipeline --frames
3000 --rounds 2` on the shared 2-core VM (load average 4-7, 2026-11-30): the hook's CPU on this
thread went from 0.31-0.33 core-ms a frame to 0.11-0.13, the statistics taking 0.19 in the decode
threads (decode tasks of 64 frames).

Memory is bounded three ways: frames polled but not batched (consumer.max_pending_frames and
consumer.max_pending_mb: fetching pauses), and decoded frames held ahead of scoring
(consumer.max_decoded_mb). Rebalances (assignment.Assignment) drop the frames of revoked
partitions, and a hook with `restore(ctx)` (hook.RestoringHook: the calibrated alert hook,
pipelines/alerting.py) rebuilds its per-stream state whenever this member takes over partitions
that another member may have processed.
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
from dataclasses import dataclass, field
from typing import Any, TextIO

from kafka import ConsumerRebalanceListener as _ListenerBase
from kafka import KafkaConsumer
from kafka.errors import InvalidSessionTimeoutError, KafkaError
from kafka.structs import MemberState

from calibration.alerts import AlertEvent
from pipelines.assignment import Assignment, Membership
from pipelines.broker import BrokerError, Reachability, ensure_topics
from pipelines.config import Config
from pipelines.frame_queue import FrameQueue, Pending
from pipelines.hook import OnScored, RestoreContext, RestoringHook, StaleAwareHook, StatisticsHook
from pipelines.intake import Intake
from pipelines.kafka_clients import (
    ResilientProducer,
    close_member,
    consumer_settings,
    partition_of,
    session_refused_line,
)
from pipelines.metrics import MetricsSnapshot, PipelineMetrics, plausible_lag
from pipelines.publishing import OffsetCommitter, Publisher, PublishFailed
from pipelines.scoring import BatchScorer, InFlight, ScoredBatch, StageTimes, score_records
from pipelines.seq_watch import SequenceWatch
from pipelines.wire import ScoreRecord, one_line

log = logging.getLogger("signwatch.consumer")

# oneDNN (PyTorch's CPU convolutions) caches a compiled primitive per input shape, up to 1,024 of
# them. A consumer's batches come in every size from 1 to max_batch, and those primitives grew a
# scoring process by ~500 MiB within a minute (measured on 2 cores, batch sizes 1-256 at random:
# 1,068 MiB RSS with the default, 544 MiB with 64, the same throughput). oneDNN reads this when
# the first convolution runs, so setting it here, after torch is imported, works; a value the
# user set wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "64")

# Longest wait between polls while batches are being scored (see _poll_timeout_ms).
_INFLIGHT_POLL_S = 0.010


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
    duplicates: int = 0  # frames published again (redeliveries seen by this member)
    missing: int = 0  # frames that never arrived (gaps in a stream's seq)
    missing_detail: str = ""  # "stream: seq ranges; ..." (the first few)

    def line(self) -> str:
        extra = [
            f"{label} {n}"
            for label, n in (
                ("publish failures", self.publish_failures),
                ("commit failures", self.commit_failures),
                ("hook errors", self.hook_errors),
                ("backpressure pauses", self.pauses),
            )
            if n
        ]
        missing = f"MISSING {self.missing} ({self.missing_detail})" if self.missing else "missing 0"
        return (
            f"score summary [{self.name}]: scored {self.scored} frames, dead letters {self.dead_letters}, "
            f"duplicates {self.duplicates}, {missing}, "
            f"{self.batches} batches in {self.elapsed_s:.1f} s; {self.metrics.line()}"
            + (f"; {', '.join(extra)}" if extra else "")
            + f"; {self.times.line()}"
        )


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class ScoringConsumer:
    """A member of the scoring consumer group; `run()` loops until stopped."""

    def __init__(
        self,
        cfg: Config,
        bootstrap: str,
        scorer: Any,
        on_scored: OnScored | None = None,
        name: str | None = None,
        stop: threading.Event | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.cfg = cfg
        self.bootstrap = bootstrap
        self.scorer = scorer
        self.on_scored = on_scored
        self.name = name or default_consumer_name()
        self.stop_event = stop or threading.Event()
        self.out = out if out is not None else sys.stdout
        c = cfg.consumer
        self.metrics = PipelineMetrics(f"score [{self.name}]", c.metrics_interval_s)
        self.times = StageTimes()
        # A hook that reads the frames only through image statistics has them made in the decode
        # pool (off this thread, which drives Kafka); a frame that has its row keeps no image.
        statistics = on_scored.frame_statistics if isinstance(on_scored, StatisticsHook) else None
        self.queue = FrameQueue(c, scorer.preprocess, statistics)  # pending frames, decode-ahead, batches
        self.intake = Intake(c, self.queue)  # poll, admit, backpressure
        self.scoring = BatchScorer(scorer, c.score_threads, self.times, keep_images=on_scored is not None)
        self.publisher = Publisher(cfg, bootstrap, self.name, self.metrics, self.stop_event)
        self.committer = OffsetCommitter()
        self.seqs = SequenceWatch()
        self.assignment = Assignment()
        self.membership = Membership(c.rejoin_after_s, c.max_rejoins, time.monotonic())
        self.reachability = Reachability(bootstrap)
        self.data_vanished = 0  # times the broker's data was seen to vanish (streams named in the log)
        self.stream_heard: dict[str, float] = {}  # stream -> when its last frame was published (monotonic)
        self.stale_alerts = 0
        self._silence_check_mono = 0.0
        self._closing = False
        self._consumer: KafkaConsumer | None = None
        self._finishing_bytes = 0  # decoded bytes of the batch being published
        self.scored = self.dead_letters = self.batches = 0
        self.publish_failures = self.hook_errors = 0
        self.last_batch_mono: float | None = None  # when the last batch was committed
        self.latencies_ms: list[float] | None = None  # set to [] to keep every capture->publish latency (bench)
        self.cpu_split: Any = None  # bench: a cli.cputime.CpuSplit, stopped when the loop ends
        self.cpu_used: dict[str, float] = {}  # ... and what it measured

    # ---- what callers read ---------------------------------------------------------------------

    @property
    def assigned(self) -> set:
        return self.assignment.assigned

    @property
    def assignments(self) -> int:
        return self.assignment.assignments

    @property
    def score_threads(self) -> int:
        return self.scoring.threads

    @property
    def first_record_mono(self) -> float | None:
        return self.intake.first_record_mono

    @property
    def max_pending_seen(self) -> int:
        return self.queue.max_seen

    @property
    def max_decoded_seen(self) -> int:
        return self.queue.max_decoded_seen

    @property
    def missing_ranges(self) -> dict[str, list[tuple[int, int]]]:
        return self.seqs.missing_ranges

    @property
    def consumer(self) -> KafkaConsumer:
        """The Kafka consumer, created and subscribed on first use."""
        if self._consumer is None:
            self._consumer = KafkaConsumer(**consumer_settings(self.cfg, self.bootstrap))
            self._consumer.subscribe([self.cfg.kafka.frames_topic], listener=_Rebalance(self))
        return self._consumer

    @property
    def producer(self) -> ResilientProducer:
        return self.publisher.producer

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
                if stopping and not self.scoring:
                    break
                self._step(stopping)
                if self.metrics.due():
                    outage = self.reachability.line()
                    self._print(self._with_lag(self.metrics.roll()).line() + (f"; {outage}" if outage else ""))
        finally:
            if self.cpu_split is not None:  # before the pools stop: a thread that ended is not counted
                self.cpu_used = self.cpu_split.stop()
            self._shutdown()
        return self._summary(time.monotonic() - t0)

    def _step(self, stopping: bool) -> None:
        """Poll and admit; finish the oldest scored batch (starting the next ones first, so scoring
        and publishing overlap); or start batches."""
        if not stopping:
            self._poll()
        if self.scoring and (self.scoring.oldest_done() or stopping or self._must_wait()):
            done = self.scoring.pop_oldest()
            self._finishing_bytes = sum(p.decoded_estimate for p in done.batch)
            if not stopping:
                self._start_batches()
            try:
                self._finish_batch(done)
            finally:
                self._finishing_bytes = 0
        elif not stopping:
            self._start_batches()

    def _finish_batch(self, done: InFlight) -> None:
        """A batch's way out, in order: scored -> records -> calibrate (hook) -> publish -> commit -> watch.

        (Before: poll -> admit -> decode ahead -> batch, in _poll and _start_batches; scoring in the
        scorer threads.) A batch whose records are not all acknowledged is not committed: it and
        everything after it is read again.
        """
        scored = self._scored(done)
        if scored is None:
            return
        t = time.monotonic()
        records = score_records(scored, self.scorer.model_id)
        bad = [p for p in done.batch if p.error]
        alerts = self._calibrate(records, scored)
        try:
            self.publisher.publish(records, alerts, bad)
        except PublishFailed as e:
            self.times.publish += time.monotonic() - t
            self._rewind(done.batch, str(e))
            return
        published_ns = time.time_ns()
        self.times.publish += time.monotonic() - t
        t = time.monotonic()
        self.committer.commit(self.consumer, done.batch, self.assigned)
        self.times.commit += time.monotonic() - t
        self.seqs.observe(done.batch)
        self._count(records, bad, published_ns)

    def _scored(self, done: InFlight) -> ScoredBatch | None:
        """The scorer thread's result; None when there is nothing to publish (stale, or the thread failed)."""
        t = time.monotonic()
        try:
            scored = done.future.result()
        except Exception as e:  # a bug in the scoring step, not in a frame: do not commit, re-read
            log.exception("score: the scorer thread failed (%s)", e)
            self._rewind(done.batch, f"scorer thread failed: {type(e).__name__}: {e}")
            return None
        self.times.wait += time.monotonic() - t
        if done.generation != self.scoring.generation:
            return None  # its partitions were revoked while it was scored; their new owner scores it
        return scored

    def _calibrate(self, records: list[ScoreRecord], scored: ScoredBatch | None = None) -> list[AlertEvent]:
        controls = [p for p in scored.batch if p.control is not None] if scored is not None else []
        if self.on_scored is None or not (records or controls):
            return []
        try:
            if controls:
                return self._calibrate_with_controls(records, scored)
            return list(self.on_scored(records) or [])
        except Exception as e:
            # A bug in post-processing must not stop scoring; it is counted and logged.
            self.hook_errors += 1
            log.exception("score: on_scored hook failed (%s); publishing the scores without alerts", e)
            return []

    def _calibrate_with_controls(self, records: list[ScoreRecord], scored: Any) -> list[AlertEvent]:
        """A batch with control records (docs/WIRE.md): the hook sees the frames before a control,
        then the control, then the rest, so a reset takes effect exactly there in its stream's order."""
        of = {id(p): r for p, r in zip(scored.good, records, strict=True)}
        apply = getattr(self.on_scored, "control", None)
        alerts: list[AlertEvent] = []
        segment: list[ScoreRecord] = []
        for p in scored.batch:
            if p.control is None:
                if id(p) in of:
                    segment.append(of[id(p)])
                continue
            if segment:
                alerts += list(self.on_scored(segment) or [])
                segment = []
            if apply is None:
                log.warning(
                    "control %s for stream %s ignored: the hook has no per-stream state",
                    p.control.kind,
                    p.control.stream,
                )
                continue
            alerts += list(apply(p.control, p.received_ns) or [])
            log.info("control %s applied to stream %s", p.control.kind, p.control.stream)
        if segment:
            alerts += list(self.on_scored(segment) or [])
        return alerts

    def _count(self, records: list[ScoreRecord], bad: list[Pending], published_ns: int) -> None:
        self.scored += len(records)
        heard = time.monotonic()
        for r in records:
            self.stream_heard[r.stream] = heard
        self.dead_letters += len(bad)
        self.batches += 1
        self.last_batch_mono = time.monotonic()
        self.metrics.record_dead_letters(len(bad))
        if records:
            latencies = [(published_ns - r.capture_ns) / 1e6 for r in records]
            self.metrics.record_batch(len(records), latencies)
            if self.latencies_ms is not None:
                self.latencies_ms.extend(latencies)

    def _reached(self, max_records: int | None, idle_exit_s: float | None) -> bool:
        in_hand = len(self.queue) + self.scoring.frames()
        if max_records is not None and self.scored + self.dead_letters + in_hand >= max_records:
            return not len(self.queue)  # everything it needs was polled; stop once the last batch left
        return (
            idle_exit_s is not None
            and not in_hand
            and bool(self.assigned)
            and time.monotonic() - self.intake.last_record_mono > idle_exit_s
        )

    def _must_wait(self) -> bool:
        """Nothing useful to do but wait for the oldest batch: every scorer is busy, and the next
        batch is formed or the queue is full."""
        return not self.scoring.has_free_thread() and (self.queue.batch_ready(time.monotonic()) or self.queue.full())

    def _poll(self) -> None:
        """Poll once (briefly while a batch is being scored), admit what came, and decode ahead."""
        timeout_ms = self._poll_timeout_ms()
        t = time.monotonic()
        polled = self._fetch(timeout_ms)
        self._watch_broker(polled is None)
        self._watch_group()
        self._watch_silence()
        polled = polled or {}
        if self.assignment.check_topics:
            self._recheck_topics()
        if self.assignment.pending_restore():
            self._restore_state()
        self.intake.admit_all(self.consumer, polled, self.assigned)
        self.queue.schedule_decodes(self._decoded_elsewhere())
        self.times.poll += time.monotonic() - t

    def _fetch(self, timeout_ms: int) -> dict | None:
        """One poll; None when the broker could not be reached (poll raises that while the member
        joins the group: it must ride the outage out, not die)."""
        try:
            return self.intake.fetch(self.consumer, timeout_ms, self.assigned)
        except InvalidSessionTimeoutError:
            # Not retriable, and the client's name for it does not say which setting to change.
            raise BrokerError(session_refused_line(self.cfg.kafka, self.cfg.consumer.group_id)) from None
        except KafkaError as e:
            if not e.retriable:
                raise
            log.debug("poll failed (%s: %s); retrying", type(e).__name__, one_line(str(e), 200))
            self.stop_event.wait(0.2)  # the client's reconnect backoff paces the retries, this the loop
            return None

    def _watch_broker(self, failed: bool) -> None:
        """Probe the broker once a second while nothing arrives, and say when it goes away and comes back."""
        now = time.monotonic()
        if not failed and now - self.intake.last_record_mono < 1.0 and self.reachability.down_since is None:
            return
        changed = self.reachability.probe(now)
        if changed:
            (log.warning if self.reachability.down_since else log.info)("score: %s", changed)
            self._print(f"score [{self.name}]: {changed}")

    def _watch_group(self) -> None:
        """Rejoin as a fresh member when the group has left us without partitions for too long."""
        now = time.monotonic()
        client = self.consumer
        if self.reachability.down_since is not None:
            self.membership.note(False, True, now)  # an outage is not a wedge: its time does not count
            return
        stable = client.group_metadata().state == MemberState.STABLE
        self.membership.note(bool(self.assigned), stable, now)
        if not self.membership.overdue(now) or not client.partitions_for_topic(self.cfg.kafka.frames_topic):
            return
        waited = self.membership.waited(now)
        if self.membership.exhausted:
            raise BrokerError(
                f"score [{self.name}]: no partitions of {self.cfg.kafka.frames_topic} for {waited:.0f} s after "
                f"{self.membership.rejoins} rejoin(s) while the group {self.cfg.consumer.group_id} never settled; "
                "the broker's group coordinator seems wedged (docs/RELIABILITY.md): restart the broker"
            )
        log.warning(
            "score: no partitions for %.0f s and the group is not stable; rejoining as a fresh member (%d of %d)",
            waited,
            self.membership.rejoins + 1,
            self.membership.max_rejoins,
        )
        self._print(f"score [{self.name}]: no partitions for {waited:.0f} s, the group is not stable: rejoining")
        old, self._consumer = self._consumer, None
        self.intake.paused = False
        try:
            old.close(autocommit=False)
        except Exception as e:  # a wedged client may fail to close; the new one must start regardless
            log.warning("closing the wedged consumer failed (%s)", e)
        self.membership.rejoined(now)

    def _watch_silence(self) -> None:
        """Once a second: publish the open alerts of streams silent for consumer.stale_alert_after_s as 'stale'."""
        after = self.cfg.consumer.stale_alert_after_s
        now = time.monotonic()
        if not after or not isinstance(self.on_scored, StaleAwareHook) or now < self._silence_check_mono:
            return
        self._silence_check_mono = now + 1.0
        if self.reachability.down_since is not None:
            return  # nothing can be published now; the streams' silence is the broker's
        ours = {tp.partition for tp in self.assigned}
        n = self.cfg.kafka.partitions
        silent = [s for s, t in self.stream_heard.items() if now - t > after and partition_of(s, n) in ours]
        events = list(self.on_scored.stale(silent)) if silent else []
        if not events:
            return
        try:
            self.publisher.publish([], events, [])
        except PublishFailed as e:  # the tracker has them as stale; the console's own staleness still shows
            log.warning("score: %d stale alert event(s) not published (%s)", len(events), e)
            return
        self.stale_alerts += len(events)
        for e in events:
            log.warning("alert %s on stream %s is stale: no frame for over %.0f s", e.alert_id, e.stream, after)

    def _poll_timeout_ms(self) -> int:
        q = self.queue
        if q.batch_ready(time.monotonic()):
            return 0
        if self.scoring:
            # Batches are being scored. Polling back to back here would fetch a few records per
            # request (a broker answers a fetch at once when it holds any data), and that
            # per-request work in the client and the broker takes the cores the scorers need. So
            # wait for the oldest batch, at most _INFLIGHT_POLL_S (or until the oldest pending frame
            # is due, when a scorer is free), then take what arrived meanwhile.
            limit = _INFLIGHT_POLL_S
            if len(q) and self.scoring.has_free_thread():
                limit = min(limit, q.oldest_due() - time.monotonic())
            if limit > 0:
                t = time.monotonic()
                self.scoring.wait_oldest(limit)
                self.times.wait += time.monotonic() - t
            return 0
        if len(q):
            return max(0, int((q.oldest_due() - time.monotonic()) * 1000))
        return 100  # idle: stay responsive to stop

    def _decoded_elsewhere(self) -> int:
        """Estimated decoded bytes outside the queue: being scored, or published."""
        return self._finishing_bytes + self.scoring.decoded_bytes()

    def _start_batches(self) -> None:
        while self.scoring.has_free_thread() and self.queue.batch_ready(time.monotonic()):
            self.scoring.submit(self.queue.take_batch(self._decoded_elsewhere()))

    def _rewind(self, batch: list[Pending], why: str) -> None:
        """A batch could not be published: forget it and everything after it, re-read from it.

        Nothing of it was committed, so seeking back delivers it again; it is scored again once the
        broker takes records again.
        """
        self.publish_failures += 1
        later = self.scoring.drain() + self.queue.clear()
        firsts: dict = {}
        for p in batch + later:
            tp = p.tp
            firsts[tp] = min(firsts.get(tp, p.record.offset), p.record.offset)
        log.error("publish failed (%s); re-reading %d partition(s) from the failed batch", why, len(firsts))
        for tp, off in firsts.items():
            if tp in self.assigned:
                self.consumer.seek(tp, off)
        self.stop_event.wait(1.0)

    # ---- rebalances (called inside poll(), on this thread) ---------------------------------------

    def on_revoked(self, revoked: Any) -> None:
        """Partitions go back to the group. Runs on the Kafka client's I/O thread while this loop
        is blocked in poll() or close(), so it must not call blocking consumer APIs (commit).

        Every batch published so far was committed right after its acks, so nothing finished is
        left uncommitted (unless a commit failed: those frames may be scored twice). The batches in
        the scorer threads are dropped unpublished when they come back, and pending frames of the
        revoked partitions are dropped: their next owner starts at our last commit and scores
        them once. When that next owner is us again (eager rebalancing revokes everything, then
        gives most partitions back), kafka-python keeps the partition's fetch position, which is
        past the dropped frames: on_assigned seeks back to the first of them, or they would be lost.
        """
        revoked = set(revoked)
        if not revoked:
            return
        in_flight = self.scoring.held()
        self.assignment.revoke(revoked, list(self.queue) + in_flight)
        self.scoring.invalidate()  # the batches in flight, if any, belong to the old assignment
        kept = self._reread_kept(in_flight)
        dropped = self.queue.drop(revoked | kept) + self.scoring.frames()
        self.committer.forget(revoked)
        self._unpause()
        log.info(
            "partitions revoked: %s%s; still holding: %s",
            _tps(revoked),
            f" ({dropped} unscored frames returned to the group)" if dropped else "",
            _tps(self.assigned),
        )

    def _unpause(self) -> None:
        """Fetch again from every partition we hold: the queue's frames of moved partitions were
        dropped. Cooperative rebalancing keeps partitions, and those the backpressure paused stay
        paused in the client until resumed."""
        if self.intake.paused and self.assigned:
            self._consumer.resume(*self.assigned)
        self.intake.paused = False

    def _reread_kept(self, in_flight: list[Pending]) -> set:
        """Cooperative rebalancing revokes only the partitions that move, but every batch in flight was
        just invalidated: the partitions we keep read those frames again (their pending frames after
        them are dropped, or they would come twice). Eager rebalancing keeps none: nothing to do."""
        firsts: dict = {}
        for p in in_flight:
            if p.tp in self.assigned:
                firsts[p.tp] = min(firsts.get(p.tp, p.record.offset), p.record.offset)
        for tp, offset in firsts.items():
            self._consumer.seek(tp, offset)  # no request: it only moves the fetch position
        return set(firsts)

    def on_lost(self, lost: Any) -> None:
        """Membership was lost (e.g. the broker restarted and forgot the group): nothing can be
        committed any more. kafka-python drops the partitions' state, so positions come from the
        group's commits (or the reset policy) again: no seeking back. The hook's state is rebuilt
        when they come back, but the streams' last frame numbers are kept, so frames that vanished
        meanwhile (a memory-only broker loses everything) are reported as missing. The topics are
        checked again: a broker that forgot them re-creates them with its own partition count."""
        self.on_revoked(lost)
        self.assignment.lose(set(lost))
        self._data_vanished({tp.partition for tp in lost}, "the group membership was lost")

    def _data_vanished(self, partitions: set[int], why: str) -> None:
        """Name each stream of these partitions whose later frames may be gone with the broker's data.

        A memory-only broker that restarted lost every record it had acknowledged; frames of a
        stream that sends again show up as MISSING, but a stream that went silent would not."""
        if self._closing:
            return  # closing gives the partitions up as lost (the leader leaves no LeaveGroup): nothing vanished
        lines = self.seqs.vanished(partitions, self.cfg.kafka.partitions)
        if not lines:
            return
        self.data_vanished += 1
        log.warning("%s: the broker's data may have vanished; %d stream(s) possibly lost frames", why, len(lines))
        for line in lines:
            log.warning("possibly lost: %s", line)

    def on_assigned(self, assigned: Any) -> None:
        for tp, offset in self.assignment.assign(set(assigned)).items():
            try:  # kept through the rebalance: fetch its dropped frames again
                self._consumer.seek(tp, offset)
                log.info(
                    "partition %s[%d] kept: re-reading from offset %d (frames dropped at the revocation)",
                    tp.topic,
                    tp.partition,
                    offset,
                )
            except Exception as e:  # not expected; then the frames would be skipped, so say so loudly
                log.error(
                    "could not seek %s[%d] back to %d (%s): frames from there may be skipped",
                    tp.topic,
                    tp.partition,
                    offset,
                    e,
                )
        self._unpause()
        self.intake.last_record_mono = time.monotonic()
        # A stream's silence counts from now: while the partitions were elsewhere it was not ours to hear.
        self.stream_heard = dict.fromkeys(self.stream_heard, self.intake.last_record_mono)
        # Every partition held (cooperative rebalancing hands over only the added ones): readers parse this line.
        log.info("partitions assigned: %s", _tps(self.assigned))

    def _recheck_topics(self) -> None:
        self.assignment.check_topics = False
        try:
            ensure_topics(self.bootstrap, self.cfg)
            log.info("topics checked again after the group membership was lost: %s", self.cfg.kafka.frames_topic)
        except (BrokerError, KafkaError) as e:
            log.error("topics could not be checked again (%s); scoring goes on", one_line(str(e), 200))

    def _restore_state(self) -> None:
        """Main thread, after a poll that took over partitions: forget what we knew of their streams
        (another member may have published frames of them since) and let the hook rebuild its state."""
        taken, lost = self.assignment.take_restore()
        if not taken:
            return
        parts = sorted({tp.partition for tp in taken})
        self.seqs.forget({tp.partition for tp in taken - lost}, self.cfg.kafka.partitions)
        if not isinstance(self.on_scored, RestoringHook):
            return
        t = time.monotonic()
        try:
            self.on_scored.restore(RestoreContext(self.cfg, self.bootstrap, parts, self.publisher.send_once))
        except Exception as e:  # the hook then starts from scratch for those streams, which is safe, not exact
            self.hook_errors += 1
            log.exception("score: the hook could not restore its state for partitions %s (%s)", parts, e)
        log.info("restore: state for partition(s) %s rebuilt in %.2f s", parts, time.monotonic() - t)

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

    def _summary(self, elapsed_s: float) -> ConsumerSummary:
        return ConsumerSummary(
            self.name,
            self.scored,
            self.dead_letters,
            self.batches,
            elapsed_s,
            self.metrics.summary(),
            self.times,
            self.publish_failures,
            self.committer.failures,
            self.hook_errors,
            self.intake.pauses,
            self.seqs.duplicates,
            self.seqs.missing,
            self.seqs.missing_text(),
        )

    def _shutdown(self) -> None:
        self.scoring.drain()  # only after an exception: a clean exit finishes them first
        if len(self.queue):
            log.info("stopping: %d frames not yet scored stay uncommitted and will be delivered again", len(self.queue))
        self.queue.clear()
        if self._consumer is not None:
            if self.committer.uncommitted:
                self.committer.commit(self._consumer, [], self.assigned)
            self._closing = True
            try:
                close_member(self._consumer)
            except Exception as e:
                log.warning("closing the consumer failed (%s)", e)
        self.publisher.close()
        self.scoring.shutdown()
        self.queue.shutdown()


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


def _tps(tps) -> str:
    return (
        ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(tps, key=lambda t: (t.topic, t.partition))) or "none"
    )
