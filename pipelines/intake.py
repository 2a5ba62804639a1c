"""Poll and admit: records from the frames topic into the FrameQueue, with backpressure.

Each record is validated cheaply here (headers, size, key); decoding comes later, in the pool. A
record that fails is kept in the queue with its error, so it is dead-lettered in its batch and
committed past. Fetching pauses once consumer.max_pending_frames frames (or max_pending_mb) wait,
and resumes when half of them were batched.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import CorruptRecordError

from pipelines.config import ConsumerConfig
from pipelines.frame_queue import FrameQueue, Pending, decoded_estimate
from pipelines.wire import HeaderError, parse_control, parse_frame_headers

log = logging.getLogger("signwatch.consumer")


def admit(record: Any, received_ns: int, received_mono: float, c: ConsumerConfig) -> Pending:
    """A polled record as a Pending frame, failed at stage "validate" if it cannot be a frame."""
    p = Pending(record, received_ns, received_mono)
    value = record.value
    size = len(value) if value is not None else 0
    p.size = size
    try:
        p.control = parse_control(record.headers)
        if p.control is None:
            p.meta = parse_frame_headers(record.headers)
    except HeaderError as e:
        p.fail("validate", f"malformed headers: {e}")
    if p.error:
        pass
    elif p.control is not None:
        if record.key is not None and record.key != p.control.stream.encode("utf-8"):
            # Keyed elsewhere, it would not be in its stream's order: refused like such a frame.
            p.control = None
            p.fail("validate", f"control record key {record.key[:40]!r} differs from its stream header")
    elif size == 0:
        p.fail("validate", "empty payload")
    elif size > c.max_frame_bytes:
        p.fail("validate", f"frame of {size} bytes is over consumer.max_frame_bytes ({c.max_frame_bytes})")
    elif record.key is None:
        # Without a key the producer's partitioner scatters the stream over partitions: its frames
        # would be scored out of order and its seq watch would count false duplicates and gaps.
        p.fail("validate", f"record has no key (expected the stream id {p.meta.stream!r})")
    elif record.key != p.meta.stream.encode("utf-8"):
        # Keys place streams on partitions; a frame keyed differently would break its stream's order.
        p.fail("validate", f"record key {record.key[:40]!r} differs from its stream header {p.meta.stream!r}")
    else:
        p.decoded_estimate = decoded_estimate(value, c.max_image_pixels)
    return p


@dataclass(frozen=True)
class UnreadableRecord:
    """A record the Kafka client could not parse (CorruptRecordError): only its place is known.

    Its key, value and headers are lost with the parse (kafka-python keeps no raw bytes once its
    record iterator raised), so its dead letter carries the place and the client's error, which
    quotes the offending bytes when the client gives them (e.g. a non-UTF-8 header key). The
    records after it in the same record batch cannot be parsed either (the client reads a batch
    from its start); each becomes a dead letter of its own that names the record at fault.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None
    headers: tuple = ()


# CRC errors name their place: "... for partition TopicPartition(topic='t', partition=2) at offset 17 ..."
_CRC_PLACE = re.compile(r"topic='([^']*)', partition=(\d+)\)")


def corrupt_partition(client: Any, error: CorruptRecordError) -> TopicPartition | None:
    """The partition whose fetched data raised `error`, or None if the client does not say.

    kafka-python 3 raises it from Fetcher.fetched_records while the partition's records are still
    its `_next_partition_records` (and re-raises it from there on the next poll), with the
    partition's position left at the record that failed; structure errors name no partition.
    """
    parts = getattr(getattr(client, "_fetcher", None), "_next_partition_records", None)
    tp = getattr(parts, "topic_partition", None)
    if isinstance(tp, TopicPartition):
        return tp
    m = _CRC_PLACE.search(str(error))
    return TopicPartition(m.group(1), int(m.group(2))) if m else None


class Intake:
    def __init__(self, c: ConsumerConfig, queue: FrameQueue) -> None:
        self.cfg = c
        self.queue = queue
        self.paused = False
        self.pauses = 0
        self.last_record_mono = time.monotonic()
        self.first_record_mono: float | None = None  # when the first frame arrived (bench: excludes the group join)
        self._unreadable: dict = {}  # tp -> (first offset, last offset, error) of the latest run of unparsable records

    def fetch(self, client: Any, timeout_ms: int, assigned: set) -> dict:
        """Poll once, no more records than the queue has room for (polled even while paused:
        rebalance callbacks and the poll-interval deadline need it)."""
        room = self.backpressure(client, assigned)
        try:
            return client.poll(timeout_ms=timeout_ms, max_records=max(1, min(2 * self.queue.max_batch, room)))
        except CorruptRecordError as e:
            self.skip_corrupt(client, e)
            return {}

    def skip_corrupt(self, client: Any, error: CorruptRecordError) -> None:
        """A record the client cannot parse would be raised from every poll, and by every member
        that takes the partition next: queue it as a dead letter (so it is committed past like any
        bad record, after the dead letter is acknowledged) and seek past it."""
        tp = corrupt_partition(client, error)
        if tp is None:
            raise RuntimeError(f"the Kafka client could not parse a record and did not say where: {error}") from error
        if tp not in client.assignment():
            return  # revoked meanwhile: its next owner meets the record and dead-letters it
        offset = client.position(tp)
        why = f"the Kafka client could not parse the record ({type(error).__name__}: {error})"
        first = self._unreadable.get(tp)
        if first is not None and first[1] == offset - 1 and first[2] == str(error):
            # kafka-python parses a fetched record batch from its start, so the records after an
            # unparsable one in the same batch cannot be read either: say which record is at fault.
            why += f"; it shares a record batch with the unreadable record at offset {first[0]}"
            self._unreadable[tp] = (first[0], offset, str(error))
        else:
            self._unreadable[tp] = (offset, offset, str(error))
        log.error("unreadable record %s[%d]@%d skipped: %s", tp.topic, tp.partition, offset, why)
        p = Pending(UnreadableRecord(tp.topic, tp.partition, offset), time.time_ns(), time.monotonic())
        p.fail("fetch", why)
        self.queue.push(p)
        client.seek(tp, offset + 1)
        self.last_record_mono = time.monotonic()

    def admit_all(self, client: Any, polled: dict, assigned: set) -> None:
        now_ns, now_mono = time.time_ns(), time.monotonic()
        for records in polled.values():
            for r in records:
                self.queue.push(admit(r, now_ns, now_mono, self.cfg))
        if polled:
            self.last_record_mono = now_mono
            if self.first_record_mono is None:
                self.first_record_mono = now_mono
            self.backpressure(client, assigned)

    def backpressure(self, client: Any, assigned: set) -> int:
        """Stop fetching once the queue is full; resume when half of it was batched.

        Called before each poll (may resume) and after admitting its records (may pause); returns
        how many more frames may be admitted now, so the queue never exceeds its bound.
        """
        q = self.queue
        room = q.room()
        if not assigned:
            return room
        if not self.paused and room <= 0:
            client.pause(*assigned)
            self.paused = True
            self.pauses += 1
            log.debug("backpressure: %d frames pending, pausing %d partition(s)", len(q), len(assigned))
        elif self.paused and q.half_empty():
            client.resume(*assigned)
            self.paused = False
            log.debug("backpressure: %d frames pending, resuming", len(q))
        return room
