"""Frames polled but not yet batched, decoded ahead of scoring within a memory budget.

`FrameQueue` is the consumer's pending FIFO. It hands the next frames to a decode pool (cv2 and
torch release the GIL) at most two batches ahead of scoring and within consumer.max_decoded_mb,
estimated from each image's header before it is decoded (at least one frame always goes through,
and no frame may declare more than consumer.max_image_pixels), and it forms batches: max_batch
decoded frames, or fewer once the oldest waited max_wait_ms. A batch is a prefix of the arrival
order, so the committed offset of a partition never skips an unprocessed record.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from kafka import TopicPartition

from monitor.preprocess import DecodedFrame, declared_size, decode_frame, prepare_frames
from pipelines.config import ConsumerConfig
from pipelines.wire import ControlRecord, FrameMeta, one_line

log = logging.getLogger("signwatch.consumer")

# Frames per decode task: one task per frame costs more in submission than cv2 spends on a small crop.
DECODE_CHUNK = 16
# ... when the task makes the hook's image statistics too: they are vectorised over the chunk, and
# cost 0.202 ms a frame in chunks of 16, 0.170 in chunks of 64, 0.167 in one of 256 (thread CPU,
# best of 3, 1,024 belgiumtsc crops through JPEG q90, 2-core VM at load average 5).
STATISTICS_CHUNK = 64


class Pending:
    """A polled record on its way through the loop."""

    __slots__ = (
        "record",
        "received_ns",
        "received_mono",
        "meta",
        "future",
        "index",
        "image",
        "native_shape",
        "statistics",
        "x",
        "stage",
        "error",
        "size",
        "decoded_estimate",
        "control",
    )

    def __init__(self, record: Any, received_ns: int, received_mono: float) -> None:
        self.record = record
        self.size = 0  # encoded bytes
        self.decoded_estimate = 0  # bytes its decoded image will take (from the header), 0 if it is not decoded
        self.received_ns = received_ns
        self.received_mono = received_mono
        self.meta: FrameMeta | None = None
        self.future: Future | None = None  # its decode chunk's future; its result is at [index]
        self.index = 0
        self.image: np.ndarray | None = None  # its prepared copy (monitor.preprocess.prepare_frames), once decoded
        self.native_shape: tuple[int, int] | None = None  # (h, w) as sent (it may be decoded at a reduced scale)
        self.statistics: np.ndarray | None = None  # its image statistics row, made in the decode pool if the hook asks
        self.x: Any = None  # the scorer's input for it, (1, C, 28, 28)
        self.stage = ""  # set with error: validate | decode | score
        self.error = ""
        self.control: ControlRecord | None = None  # a control record (docs/WIRE.md): applied, never decoded or scored

    @property
    def needs_decode(self) -> bool:
        return not self.error and self.control is None

    def fail(self, stage: str, error: str) -> None:
        self.stage, self.error = stage, one_line(error)

    @property
    def tp(self) -> TopicPartition:
        return TopicPartition(self.record.topic, self.record.partition)


class FrameQueue:
    """`statistics`: the hook's frame_statistics (pipelines.hook.StatisticsHook), computed per decode
    chunk in the pool; None: the hook reads no statistics, or computes them itself."""

    def __init__(self, c: ConsumerConfig, preprocess: Callable, statistics: Callable | None = None) -> None:
        self.max_batch = c.max_batch
        self.max_wait_s = c.max_wait_ms / 1000.0
        self.max_frames = c.max_pending_frames
        self.max_bytes = int(c.max_pending_mb * 1024 * 1024)
        self.max_decoded_bytes = int(c.max_decoded_mb * 1024 * 1024)
        self.max_pixels = c.max_image_pixels
        self.preprocess = preprocess
        self.statistics = statistics
        self.chunk = STATISTICS_CHUNK if statistics is not None else DECODE_CHUNK
        self.frames: deque[Pending] = deque()
        self.bytes = 0  # encoded bytes in `frames`
        self.submitted = 0  # how many frames at the head of `frames` were handed to the decoders
        self.decode_blocked = False  # the decode-ahead stopped at the max_decoded_mb budget
        self.max_seen = 0  # the most frames pending at once
        self.max_decoded_seen = 0  # the most decoded bytes (estimated) held at once
        self._decoders = ThreadPoolExecutor(max(1, c.decode_workers), thread_name_prefix="decode")

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Pending]:
        return iter(self.frames)

    def push(self, p: Pending) -> None:
        self.frames.append(p)
        self.bytes += p.size
        self.max_seen = max(self.max_seen, len(self.frames))

    def full(self) -> bool:
        return len(self.frames) >= self.max_frames or self.bytes >= self.max_bytes

    def half_empty(self) -> bool:
        return len(self.frames) <= self.max_frames // 2 and self.bytes <= self.max_bytes // 2

    def room(self) -> int:
        """How many more frames may be admitted now."""
        return 0 if self.bytes >= self.max_bytes else self.max_frames - len(self.frames)

    def oldest_due(self) -> float:
        """When the oldest pending frame must be batched (monotonic seconds); the queue is not empty."""
        return self.frames[0].received_mono + self.max_wait_s

    # ---- decode-ahead ----------------------------------------------------------------------------

    def decoded_held(self, elsewhere: int) -> int:
        """Estimated bytes of decoded frames in hand: `elsewhere` (being scored or published) plus ours handed to the decoders."""
        held = elsewhere
        for i in range(min(self.submitted, len(self.frames))):
            held += self.frames[i].decoded_estimate
        return held

    def schedule_decodes(self, elsewhere: int) -> None:
        """Hand the next frames to the decode pool, at most two batches ahead of scoring and within
        the consumer.max_decoded_mb budget.

        Decoding ahead overlaps it with scoring; going no further bounds the decoded images held
        in memory (a backlog of camera frames is large decoded, small encoded). When nothing is
        held, one frame goes through whatever its size, so a large frame delays, never blocks.
        """
        ahead = min(len(self.frames), 2 * self.max_batch)
        if self.submitted >= ahead:
            return
        held = self.decoded_held(elsewhere)
        self.decode_blocked = False
        chunk: list[Pending] = []
        while self.submitted < ahead:
            p = self.frames[self.submitted]
            if p.needs_decode:
                if held > 0 and held + p.decoded_estimate > self.max_decoded_bytes:
                    self.decode_blocked = True
                    break
                held += p.decoded_estimate
            self.submitted += 1
            if p.needs_decode:
                chunk.append(p)
            if len(chunk) == self.chunk:
                self._submit_decode(chunk)
                chunk = []
        if chunk:
            self._submit_decode(chunk)
        self.max_decoded_seen = max(self.max_decoded_seen, held)

    def _submit_decode(self, chunk: list[Pending]) -> None:
        values = [p.record.value for p in chunk]
        fut = self._decoders.submit(decode_chunk, values, self.max_pixels, self.preprocess, self.statistics)
        for i, p in enumerate(chunk):
            p.future, p.index = fut, i

    # ---- batches -----------------------------------------------------------------------------------

    def batch_ready(self, now: float) -> bool:
        """A batch can start: frames handed to the decoders, and enough of them or the oldest waited long enough."""
        if not self.frames or not self.submitted:
            return False
        if self.submitted >= self.max_batch or self.decode_blocked:
            return True
        return now - self.frames[0].received_mono >= self.max_wait_s

    def take_batch(self, elsewhere: int) -> list[Pending]:
        """The next batch: the oldest frames handed to the decoders, at most max_batch of them."""
        self.schedule_decodes(elsewhere)  # a batch never outruns the decode-ahead window, but be sure
        n = min(self.max_batch, self.submitted)  # only frames handed to the decoders have a future
        batch = [self.frames.popleft() for _ in range(n)]
        self.bytes -= sum(p.size for p in batch)
        self.submitted -= n
        return batch

    def drop(self, partitions: set) -> int:
        """Drop the frames of these partitions (revoked); returns how many."""
        kept: deque[Pending] = deque(p for p in self.frames if p.tp not in partitions)
        dropped = len(self.frames) - len(kept)
        self.frames = kept
        self.bytes = sum(p.size for p in kept)
        # Submitted frames were a prefix of the queue and filtering keeps the order: still a prefix.
        self.submitted = sum(1 for p in kept if p.future is not None or not p.needs_decode)
        return dropped

    def clear(self) -> list[Pending]:
        """Empty the queue (a rewind or shutdown); returns what it held."""
        held = list(self.frames)
        self.frames.clear()
        self.submitted = 0
        self.bytes = 0
        return held

    def shutdown(self) -> None:
        self._decoders.shutdown(wait=True, cancel_futures=True)


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


def decode_chunk(
    values: list[bytes], max_pixels: int, preprocess: Callable, statistics: Callable | None = None
) -> list[Any]:
    """Decode and prepare frames in a pool thread: per frame (prepared copy, model input (1, C, H, W),
    native (h, w), image statistics row or None) or the exception.

    Each frame is decoded (a large JPEG at a reduced scale) and resized once, to its prepared copy
    (monitor.preprocess.prepare_frames): the model input is made from it, and the calibrated hook's
    image statistics read it, so it is all of the frame that is kept. The scorer's own preprocess
    runs once for the chunk's good frames; its rows are per-frame operations, so they equal what
    preprocessing the whole batch at once would give. With `statistics` (the hook's
    frame_statistics, pipelines.hook.StatisticsHook) the chunk's statistics are made here too, from
    the same copies and sizes: here they run beside scoring, on the consumer's thread they would
    hold up the loop that drives Kafka.
    """
    out: list[Any] = []
    decoded: list[DecodedFrame] = []
    for v in values:
        try:
            decoded.append(decode_frame(v, max_pixels))
            out.append(len(decoded) - 1)
        except Exception as e:  # ImageError, or OpenCV's own errors on hostile input
            out.append(e)
    if not decoded:
        return out
    try:
        prepared = prepare_frames([d.image for d in decoded])
        rows: list[Any] = list(preprocess(prepared).split(1))
    except Exception:
        # One frame broke preprocessing for all: do them one by one so only it fails.
        prepared, rows = _one_by_one(decoded, preprocess)
    stats = _chunk_statistics(statistics, prepared, [d.native_shape for d in decoded], rows)
    return [
        o
        if isinstance(o, BaseException)
        else (
            rows[o] if isinstance(rows[o], BaseException) else (prepared[o], rows[o], decoded[o].native_shape, stats[o])
        )
        for o in out
    ]


def _one_by_one(decoded: list[DecodedFrame], preprocess: Callable) -> tuple[list[Any], list[Any]]:
    prepared: list[Any] = []
    rows: list[Any] = []
    for d in decoded:
        try:
            p = prepare_frames([d.image])
            rows.append(preprocess(p))
            prepared.append(p[0])
        except Exception as e:
            rows.append(e)
            prepared.append(None)
    return prepared, rows


def _chunk_statistics(
    statistics: Callable | None, prepared: Any, sizes: list[tuple[int, int]], rows: list[Any]
) -> list[np.ndarray | None]:
    """Each prepared frame's statistics row (None for a frame that failed, or with no `statistics`).

    Once for the chunk; if that fails, one by one, so a frame whose statistics fail loses only its
    own row: it is still scored, keeps its prepared copy (pipelines.scoring), and the hook computes
    its row itself, as it did before the pool made them (where a failure is a hook error: the
    batch's scores are published without alerts)."""
    out: list[np.ndarray | None] = [None] * len(rows)
    good = [i for i, r in enumerate(rows) if not isinstance(r, BaseException)]
    if statistics is None or not good:
        return out
    try:
        batch = prepared if len(good) == len(rows) else np.stack([prepared[i] for i in good])
        matrix = statistics(batch, [sizes[i] for i in good])
        for j, i in enumerate(good):
            out[i] = matrix[j]
        return out
    except Exception as e:
        log.warning("decode: image statistics failed for a chunk of %d (%s); computing them one by one", len(good), e)
    for i in good:
        try:
            out[i] = statistics(prepared[i][None], [sizes[i]])[0]
        except Exception as e:
            log.warning("decode: image statistics failed for one frame (%s: %s)", type(e).__name__, one_line(str(e)))
    return out
