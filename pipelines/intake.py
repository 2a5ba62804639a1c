"""Poll and admit: records from the frames topic into the FrameQueue, with backpressure.

Each record is validated cheaply here (headers, size, key); decoding comes later, in the pool. A
record that fails is kept in the queue with its error, so it is dead-lettered in its batch and
committed past. Fetching pauses once consumer.max_pending_frames frames (or max_pending_mb) wait,
and resumes when half of them were batched.
"""

from __future__ import annotations

import logging
import time
from typing import Any

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
    elif record.key is not None and record.key != p.meta.stream.encode("utf-8"):
        # Keys place streams on partitions; a frame keyed differently would break its stream's order.
        p.fail("validate", f"record key {record.key[:40]!r} differs from its stream header {p.meta.stream!r}")
    else:
        p.decoded_estimate = decoded_estimate(value, c.max_image_pixels)
    return p


class Intake:
    def __init__(self, c: ConsumerConfig, queue: FrameQueue) -> None:
        self.cfg = c
        self.queue = queue
        self.paused = False
        self.pauses = 0
        self.last_record_mono = time.monotonic()
        self.first_record_mono: float | None = None  # when the first frame arrived (bench: excludes the group join)

    def fetch(self, client: Any, timeout_ms: int, assigned: set) -> dict:
        """Poll once, no more records than the queue has room for (polled even while paused:
        rebalance callbacks and the poll-interval deadline need it)."""
        room = self.backpressure(client, assigned)
        return client.poll(timeout_ms=timeout_ms, max_records=max(1, min(2 * self.queue.max_batch, room)))

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
