"""Consumer metrics: throughput, batch sizes, capture-to-publish latency, dead letters, lag.

Latencies go into a log-bucketed histogram (2% resolution, fixed memory) so a consumer that runs
for days keeps exact counts and bounded memory; percentiles are read from bucket bounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np


class LatencyHistogram:
    """Milliseconds in log-spaced buckets from 0.1 ms to ~10 min (ratio 1.02 per bucket)."""

    LO_MS = 0.1
    RATIO = 1.02

    def __init__(self) -> None:
        self._n_buckets = int(math.ceil(math.log(600_000 / self.LO_MS) / math.log(self.RATIO))) + 2
        self.counts = np.zeros(self._n_buckets, dtype=np.int64)
        self.count = 0
        self.total_ms = 0.0
        self.max_ms = 0.0

    def add(self, values_ms: Iterable[float]) -> None:
        v = np.asarray(list(values_ms) if not isinstance(values_ms, np.ndarray) else values_ms, dtype=np.float64)
        if v.size == 0:
            return
        # Clock skew between a producer's host and ours can make a latency negative: count it as 0.
        v = np.maximum(v, 0.0)
        idx = np.where(
            v <= self.LO_MS, 0, np.ceil(np.log(np.maximum(v, self.LO_MS) / self.LO_MS) / math.log(self.RATIO))
        )
        idx = np.minimum(idx.astype(np.int64), self._n_buckets - 1)
        np.add.at(self.counts, idx, 1)
        self.count += int(v.size)
        self.total_ms += float(v.sum())
        self.max_ms = max(self.max_ms, float(v.max()))

    def percentile(self, q: float) -> float | None:
        """The q-th percentile (0..100) in ms, as the upper bound of its bucket; None when empty."""
        if self.count == 0:
            return None
        rank = max(1, int(math.ceil(q / 100.0 * self.count)))
        i = int(np.searchsorted(np.cumsum(self.counts), rank))
        if i >= self._n_buckets - 1:  # the overflow bucket (over ~10 min): its only known bound is the max
            return self.max_ms
        return min(self.LO_MS * self.RATIO**i, self.max_ms)

    @property
    def mean_ms(self) -> float | None:
        return self.total_ms / self.count if self.count else None


def plausible_lag(end_offsets: Mapping[object, int], positions: Mapping[object, int]) -> int | None:
    """Frames behind the end of the assigned partitions, or None when the broker's figures cannot be right.

    An end offset below our own position is impossible on a correct broker; Tansu reports such
    figures (docs/DESIGN.md §4), and a wrong lag is worse than none.
    """
    if not positions:
        return None
    lag = 0
    for tp, pos in positions.items():
        end = end_offsets.get(tp)
        if end is None or pos is None or end < 0 or end < pos:
            return None
        lag += end - pos
    return lag


@dataclass(frozen=True)
class MetricsSnapshot:
    label: str
    seconds: float
    frames: int
    batches: int
    dead_letters: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    lag: int | None
    publish_retries: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_batch(self) -> float:
        return self.frames / self.batches if self.batches else 0.0

    def line(self) -> str:
        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0f}"

        return (
            f"{self.label}: {self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} frames/s), "
            f"mean batch {self.mean_batch:.1f}, capture->publish p50/p95/p99 {ms(self.p50_ms)}/{ms(self.p95_ms)}/{ms(self.p99_ms)} ms, "
            f"dead letters {self.dead_letters}, lag {'n/a' if self.lag is None else self.lag}"
            + (f", publish retries {self.publish_retries}" if self.publish_retries else "")
        )


class _Window:
    def __init__(self, start: float) -> None:
        self.start = start
        self.frames = 0
        self.batches = 0
        self.dead_letters = 0
        self.retries = 0
        self.latency = LatencyHistogram()


class PipelineMetrics:
    """Counts for the current interval and since start; `due()` says when to print the interval."""

    def __init__(self, name: str, interval_s: float, clock=time.monotonic) -> None:
        self.name = name
        self.interval_s = interval_s
        self.clock = clock
        now = clock()
        self.window = _Window(now)
        self.total = _Window(now)
        self.lag: int | None = None

    def record_batch(self, frames: int, latencies_ms: Iterable[float]) -> None:
        lat = np.fromiter(latencies_ms, dtype=np.float64)
        for w in (self.window, self.total):
            w.frames += frames
            w.batches += 1
            w.latency.add(lat)

    def record_dead_letters(self, n: int = 1) -> None:
        self.window.dead_letters += n
        self.total.dead_letters += n

    def record_retry(self) -> None:
        self.window.retries += 1
        self.total.retries += 1

    def due(self) -> bool:
        return self.interval_s > 0 and self.clock() - self.window.start >= self.interval_s

    def _snapshot(self, w: _Window, label: str) -> MetricsSnapshot:
        h = w.latency
        return MetricsSnapshot(
            label,
            self.clock() - w.start,
            w.frames,
            w.batches,
            w.dead_letters,
            h.percentile(50),
            h.percentile(95),
            h.percentile(99),
            self.lag,
            w.retries,
        )

    def roll(self) -> MetricsSnapshot:
        """The interval's figures; starts a new interval."""
        snap = self._snapshot(self.window, self.name)
        self.window = _Window(self.clock())
        return snap

    def summary(self) -> MetricsSnapshot:
        return self._snapshot(self.total, f"{self.name} total")
