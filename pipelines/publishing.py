"""Publish and commit: a batch's derived records out, acknowledged, then its offsets committed.

Delivery is at-least-once: offsets are committed only after every record derived from the batch
(scores, alerts, dead letters) was acknowledged, so a crash can score a frame twice, never zero
times. A bad record is published to the dead-letter topic with its origin and a one-line error
(Kafka Connect's convention) and committed past.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from calibration.alerts import AlertEvent
from pipelines.config import Config
from pipelines.frame_queue import Pending
from pipelines.kafka_clients import DLQ_HEADROOM, KeyedRecord, ResilientProducer, scoring_producer_settings
from pipelines.metrics import PipelineMetrics
from pipelines.wire import (
    DeadLetterInfo,
    Origin,
    ScoreRecord,
    dead_letter_headers,
    encode_alert,
    encode_score,
    one_line,
)

log = logging.getLogger("signwatch.consumer")


class PublishFailed(RuntimeError):
    """Records derived from a batch could not be published within the retry bound."""


class Publisher:
    """Sends a batch's scores, alerts and dead letters and waits for the broker's acks, retrying within a bound."""

    def __init__(self, cfg: Config, bootstrap: str, name: str, metrics: PipelineMetrics, stop: threading.Event) -> None:
        self.cfg, self.bootstrap, self.name = cfg, bootstrap, name
        self.metrics = metrics
        self.stop_event = stop
        self._producer: ResilientProducer | None = None

    @property
    def producer(self) -> ResilientProducer:
        if self._producer is None:
            self._producer = ResilientProducer(scoring_producer_settings(self.cfg, self.bootstrap))
        return self._producer

    def publish(self, scored: list[ScoreRecord], alerts: Sequence[AlertEvent], bad: list[Pending]) -> None:
        """Every record derived from a batch, acknowledged; raises PublishFailed past the retry bound."""
        k = self.cfg.kafka
        out = [KeyedRecord(k.scores_topic, r.stream.encode("utf-8"), encode_score(r), []) for r in scored]
        out += [KeyedRecord(k.alerts_topic, a.stream.encode("utf-8"), encode_alert(a), []) for a in alerts]
        out += [self.dead_letter(p) for p in bad]
        for p in bad:
            log.warning(
                "dead letter: %s[%d]@%d (%s) %s", p.record.topic, p.record.partition, p.record.offset, p.stage, p.error
            )
        self.deliver(out)

    def deliver(self, out: list[KeyedRecord]) -> None:
        attempts = self.cfg.consumer.retries + 1
        errors: set[str] = set()
        for attempt in range(attempts):
            failed = self._send_and_wait(out)
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
                backoff = min(0.2 * 2**attempt, 5.0)
                log.warning(
                    "publish: %d of the batch's records failed (%s); retry %d/%d in %.1f s",
                    len(out),
                    ", ".join(sorted(errors)),
                    attempt + 1,
                    attempts - 1,
                    backoff,
                )
                self.stop_event.wait(backoff)
        raise PublishFailed(f"{len(out)} records not acknowledged ({', '.join(sorted(errors))})")

    def send_once(self, records: list[KeyedRecord]) -> int:
        """Send and wait for the acks once, no retry; returns how many were not acknowledged."""
        return len(self._send_and_wait(records))

    def _send_and_wait(self, records: list[KeyedRecord]) -> list[tuple[KeyedRecord, Any]]:
        futures = [(rec, self.producer.send(rec)) for rec in records]
        self.producer.flush(self.cfg.consumer.publish_timeout_s)
        return [(rec, f) for rec, f in futures if f is None or not f.succeeded()]

    def dead_letter(self, p: Pending) -> KeyedRecord:
        r = p.record
        info = DeadLetterInfo(Origin(r.topic, r.partition, r.offset), p.error, p.stage, self.name)
        headers = dead_letter_headers(r.headers, info)
        value = r.value
        if value is not None and len(value) > self.cfg.kafka.max_request_size - DLQ_HEADROOM:
            # The original cannot be re-published whole (the client refuses records over
            # max_request_size); keep its metadata and say what was left out.
            headers.append(("dlq.value.omitted", f"{len(value)} bytes".encode()))
            value = None
        if value is None and r.key is None:
            # The Kafka client refuses a record whose key and value are both null (it would fail
            # every retry and stall the member): such a dead letter goes out with an empty value.
            value = b""
        return KeyedRecord(self.cfg.kafka.dead_letter_topic, r.key, value, headers)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()


class OffsetCommitter:
    """Commits a published batch's offsets; a failed commit is retried with the next batch."""

    def __init__(self) -> None:
        self.uncommitted: dict = {}  # tp -> next offset, when a commit failed and must be retried
        self.failures = 0

    def commit(self, client: Any, batch: Iterable[Pending], assigned: set) -> None:
        offsets = dict(self.uncommitted)
        for p in batch:  # a batch is in arrival order, so the last record of a partition has its highest offset
            offsets[p.tp] = p.record.offset + 1
        offsets = {tp: off for tp, off in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            client.commit({tp: OffsetAndMetadata(off, "", -1) for tp, off in offsets.items()})
            self.uncommitted.clear()
        except KafkaError as e:
            # Typically a rebalance took the partitions away; their new owner re-reads from the last
            # commit, so these frames may be scored twice (at-least-once), never lost.
            self.failures += 1
            self.uncommitted = offsets
            log.warning(
                "commit failed (%s: %s); will retry with the next batch", type(e).__name__, one_line(str(e), 200)
            )

    def forget(self, partitions: set) -> None:
        self.uncommitted = {tp: o for tp, o in self.uncommitted.items() if tp not in partitions}
