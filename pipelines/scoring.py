"""Scoring: batches -> GradCon scores in scorer threads, handed back in the order they were formed.

Scoring runs in its own threads so that batches are scored while earlier ones are published: on
a 2-core machine the per-record Python work of the Kafka clients would otherwise be added to the
scoring time instead of overlapping it. Up to consumer.score_threads batches are scored at once
(on the CPU each by single-threaded torch: see the setting); batches come back oldest first, so a
stream's scores keep its frames' order. A scorer thread touches no Kafka client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from monitor.preprocess import ImageError
from pipelines.frame_queue import Pending
from pipelines.wire import Origin, ScoreRecord

log = logging.getLogger("signwatch.consumer")


@dataclass
class StageTimes:
    """Seconds spent per step (where the time goes, for bench and tuning)."""

    poll: float = 0.0  # main thread: polling and admitting records
    wait: float = 0.0  # main thread: waiting for the scorer thread
    publish: float = 0.0  # main thread: records, hook, sends and acks
    commit: float = 0.0  # main thread: offset commits
    decode_wait: float = 0.0  # scorer thread: waiting for decodes
    score: float = 0.0  # scorer thread: scoring

    def line(self) -> str:
        return (
            f"main thread: poll {self.poll:.1f} s, publish {self.publish:.1f} s, commit {self.commit:.1f} s, "
            f"waiting for the scorer {self.wait:.1f} s; scorer thread: scoring {self.score:.1f} s, "
            f"waiting for decodes {self.decode_wait:.1f} s"
        )


class InFlight(NamedTuple):
    batch: list[Pending]  # in arrival order
    future: Future  # -> ScoredBatch, from a scorer thread
    generation: int  # the assignment it was formed under (a revocation makes it stale)


class ScoredBatch(NamedTuple):
    batch: list[Pending]  # every record of the batch, in arrival order
    good: list[Pending]  # the frames scored, in arrival order
    result: Any  # ScoreResult for `good`
    scored_ns: int


class BatchScorer:
    def __init__(self, scorer: Any, threads_setting: int, times: StageTimes, keep_images: bool = True) -> None:
        self.scorer = scorer
        # Only a hook reads the decoded frame (the calibrated one: its image statistics), and not
        # even it once the decode pool made a frame's statistics (pipelines.hook.StatisticsHook);
        # otherwise the prepared copy is let go as soon as its model input exists, not when its
        # batch is published.
        self.keep_images = keep_images
        self.threads = score_threads(threads_setting, scorer)
        self.times = times
        self.inflight: deque[InFlight] = deque()  # batches in the scorer threads, oldest first
        self.generation = 0  # +1 per revocation: a batch from an older generation is not published
        self._pool = scorer_pool(self.threads, scorer)
        self._times_lock = threading.Lock()  # StageTimes is added to from every scorer thread

    def __bool__(self) -> bool:
        return bool(self.inflight)

    def has_free_thread(self) -> bool:
        return len(self.inflight) < self.threads

    def oldest_done(self) -> bool:
        return bool(self.inflight) and self.inflight[0].future.done()

    def wait_oldest(self, timeout_s: float) -> None:
        futures_wait([self.inflight[0].future], timeout=timeout_s)

    def frames(self) -> int:
        return sum(len(b.batch) for b in self.inflight)

    def held(self) -> list[Pending]:
        return [p for b in self.inflight for p in b.batch]

    def decoded_bytes(self) -> int:
        return sum(p.decoded_estimate for b in self.inflight for p in b.batch)

    def submit(self, batch: list[Pending]) -> None:
        self.inflight.append(InFlight(batch, self._pool.submit(self.score, batch), self.generation))

    def pop_oldest(self) -> InFlight:
        return self.inflight.popleft()

    def invalidate(self) -> None:
        """The assignment changed: the batches in flight are not to be published."""
        self.generation += 1

    def drain(self) -> list[Pending]:
        """Wait for every batch in flight, drop them, and return their frames (oldest first)."""
        out: list[Pending] = []
        while self.inflight:
            b = self.inflight.popleft()
            wait_quietly(b.future)
            out += b.batch
        return out

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ---- scorer thread -----------------------------------------------------------------------------

    def score(self, batch: list[Pending]) -> ScoredBatch:
        """Decode results -> one tensor -> scores. Runs in a scorer thread."""
        import torch

        t = time.monotonic()
        good: list[Pending] = []
        for p in batch:
            if p.needs_decode:
                out = p.future.result()[p.index]
                if isinstance(out, BaseException):
                    p.fail("decode", str(out) if isinstance(out, ImageError) else f"{type(out).__name__}: {out}")
                else:
                    image, p.x, p.native_shape, p.statistics = out
                    p.image = image if self.keep_images and p.statistics is None else None
                    good.append(p)
        t1 = time.monotonic()
        result = None
        if good:
            try:
                result = self.scorer.score_tensor(torch.cat([p.x for p in good]))
            except Exception as e:
                # One frame can spoil a batch; score one at a time so only the culprit is dead-lettered.
                log.warning(
                    "score: batch of %d failed (%s: %s); scoring its frames one by one", len(good), type(e).__name__, e
                )
                good, result = self._one_by_one(good)
        with self._times_lock:
            self.times.decode_wait += t1 - t
            self.times.score += time.monotonic() - t1
        for p in batch:
            p.x = None  # the tensors are not needed past scoring
        return ScoredBatch(batch, good, result, time.time_ns())

    def _one_by_one(self, good: list[Pending]) -> tuple[list[Pending], Any]:
        parts, kept = [], []
        for p in good:
            try:
                parts.append(self.scorer.score_tensor(p.x))
                kept.append(p)
            except Exception as e1:
                p.fail("score", f"{type(e1).__name__}: {e1}")
        return kept, (concat_results(parts) if parts else None)


def score_records(scored: ScoredBatch, model_id: str) -> list[ScoreRecord]:
    """The batch's scored frames as ScoreRecords (each carrying its prepared copy in `.image` if kept, its
    statistics row in `.statistics` if made, its size as sent in `.native_shape`)."""
    res = scored.result
    if res is None:
        return []
    score, recon, cos = res.score.tolist(), res.recon.tolist(), res.layer_cos.tolist()
    out = []
    for i, p in enumerate(scored.good):
        m, r = p.meta, p.record
        out.append(
            ScoreRecord(
                stream=m.stream,
                seq=m.seq,
                score=score[i],
                recon=recon[i],
                layer_cos=tuple(cos[i]),  # type: ignore[arg-type]
                model_id=model_id,
                capture_ns=m.capture_ns,
                received_ns=p.received_ns,
                scored_ns=scored.scored_ns,
                source=m.source,
                origin=Origin(r.topic, r.partition, r.offset),
                truth=m.truth,
                image=p.image,
                native_shape=p.native_shape,
                encoding=m.encoding,
                statistics=p.statistics,
            )
        )
    return out


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

    return ThreadPoolExecutor(
        slots,
        thread_name_prefix="score",
        initializer=torch.set_num_threads,
        initargs=(max(1, torch.get_num_threads() // slots),),
    )


def concat_results(parts: list[Any]) -> Any:
    first = parts[0]
    return type(first)(*(np.concatenate([getattr(p, f) for p in parts]) for f in first._fields))


def wait_quietly(fut: Future) -> None:
    try:
        fut.result()
    except Exception:
        pass
