"""What the scoring consumer asks of its post-processing hook (the calibrated alert hook, pipelines/alerting.py).

The hook sees the records of one scored batch, never the consumer: `OnScored` annotates them (each
carries its frame as decoded for scoring in `.image`, its size as sent in `.native_shape`) and
returns the alerts to publish. A hook that reads the frames only through per-frame image statistics
says so with `frame_statistics` (`StatisticsHook`): the consumer then computes them in its decode
pool, off its own thread, and hands each record its row in `.statistics` instead of its image. A
hook that keeps per-stream state also implements `restore(ctx)` (`RestoringHook`): the consumer
calls it, on its own thread, after taking over partitions another member may have processed, with
a `RestoreContext` naming those partitions and a way to publish what the rebuild finds missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from calibration.alerts import AlertEvent
from pipelines.config import Config
from pipelines.kafka_clients import KeyedRecord
from pipelines.wire import ScoreRecord


class OnScored(Protocol):
    def __call__(self, records: list[ScoreRecord]) -> Sequence[AlertEvent]: ...


@dataclass(frozen=True)
class RestoreContext:
    """What a hook's restore needs: the settings, where to read from, and how to publish."""

    cfg: Config
    bootstrap: str  # the cluster to read the scores and alerts topics from
    partitions: list[int]  # the partitions taken over (scores and alerts share the frames' numbers)
    # Sends the records with the consumer's producer and waits for their acks (within
    # consumer.publish_timeout_s); returns how many were not acknowledged.
    publish: Callable[[list[KeyedRecord]], int]


@runtime_checkable
class StaleAwareHook(Protocol):
    """A hook with open alerts to report as 'stale' when their streams go silent (consumer.stale_alert_after_s)."""

    def __call__(self, records: list[ScoreRecord]) -> Sequence[AlertEvent]: ...

    def stale(self, silent: list[str]) -> Sequence[AlertEvent]: ...


@runtime_checkable
class RestoringHook(Protocol):
    def __call__(self, records: list[ScoreRecord]) -> Sequence[AlertEvent]: ...

    def restore(self, ctx: RestoreContext) -> None: ...


@runtime_checkable
class StatisticsHook(Protocol):
    """A hook that reads the frames only through per-frame image statistics.

    The consumer calls `frame_statistics(prepared, native_sizes)` in its decode threads, once per
    decode chunk, on the frames' prepared copies (monitor.preprocess.prepare_frames, (N, S, S, 3)
    uint8) and their (h, w) as sent; it returns one row per frame, each a function of that frame
    alone, and must touch no state of the hook (it runs beside the hook's own calls). Each record
    the hook then receives carries its row in `.statistics`, and no `.image`; a record without a
    row (offline callers; a frame whose statistics failed in the pool) carries its `.image`, and
    the hook computes that row itself.
    """

    def __call__(self, records: list[ScoreRecord]) -> Sequence[AlertEvent]: ...

    def frame_statistics(self, prepared: np.ndarray, native_sizes: Sequence[tuple[int, int]]) -> np.ndarray: ...
