"""Where the CPU goes: CPU seconds per thread of this process and per child process, from /proc.

The pipeline bench uses it to say, per frame, what scoring, decoding, the consumer loop, the
calibration stage (the on_scored hook, timed by TimedHook; its image statistics, made in the decode
threads, named apart), the Kafka client and the broker each cost, so a throughput figure comes with
its explanation. Linux only;
elsewhere `CpuSplit.stop()` returns {} and the bench prints no split.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# Thread name prefixes -> the part of the pipeline they belong to.
_GROUPS = (
    ("score", "scoring"),
    ("decode", "decode"),
    ("kafka", "Kafka client I/O"),
    ("signwatch-network", "Kafka client I/O"),
)


def _stat_cpu(path: Path) -> float | None:
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


def _thread_cpu() -> dict[int, float]:
    """CPU seconds of each live thread of this process, by native thread id."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return {}
    out = {}
    for t in tasks.iterdir():
        cpu = _stat_cpu(t / "stat")
        if cpu is not None and t.name.isdigit():
            out[int(t.name)] = cpu
    return out


def _process_cpu(pid: int | None) -> float | None:
    """CPU seconds of another process (e.g. the embedded broker), None if it cannot be read."""
    return None if pid is None else _stat_cpu(Path(f"/proc/{pid}/stat"))


def _part_of(name: str | None, loop_thread: int, tid: int) -> str:
    if tid == loop_thread:
        return "consumer loop"
    if name is None:
        return "torch workers"  # native threads: OpenMP's, started by torch for intra-op work
    for prefix, group in _GROUPS:
        if name.startswith(prefix):
            return group
    return "other threads"


class CpuSplit:
    """CPU seconds by part of the pipeline between construction and stop().

    `loop_thread` is the native id of the thread running the consumer loop; `broker_pid` the
    embedded broker's process, if there is one. Threads that ended before stop() are not counted,
    so stop() must run before the consumer shuts its pools down (ScoringConsumer.cpu_split).
    """

    def __init__(self, loop_thread: int, broker_pid: int | None = None) -> None:
        self.loop_thread, self.broker_pid = loop_thread, broker_pid
        self._threads = _thread_cpu()
        self._broker = _process_cpu(broker_pid)

    def stop(self) -> dict[str, float]:
        now = _thread_cpu()
        if not now:
            return {}
        names = {t.native_id: t.name for t in threading.enumerate()}
        split: dict[str, float] = {}
        for tid, cpu in now.items():
            used = cpu - self._threads.get(tid, 0.0)
            if used > 0:
                group = _part_of(names.get(tid), self.loop_thread, tid)
                split[group] = split.get(group, 0.0) + used
        broker = _process_cpu(self.broker_pid)
        if broker is not None and self._broker is not None:
            split["broker process"] = broker - self._broker
        return split


def per_frame_line(split: dict[str, float], frames: int) -> str:
    """'scoring 0.41, decode 0.12, ... = 0.74 core-ms per frame' (largest first)."""
    if not split or frames <= 0:
        return "not measured (no /proc)"
    parts = sorted(split.items(), key=lambda kv: -kv[1])
    total = sum(split.values())
    return (
        ", ".join(f"{name} {1000 * s / frames:.2f}" for name, s in parts)
        + f"; total {1000 * total / frames:.2f} core-ms per frame"
    )


CALIBRATION_PART = "calibration stage (hook)"
STATISTICS_PART = "calibration statistics (decode threads)"


class TimedHook:
    """The consumer's on_scored hook, with the CPU seconds its calls took (thread CPU time).

    The hook runs on the consumer loop's thread, so CpuSplit alone counts it as "consumer loop";
    `attribute()` moves it to its own part, so the calibrated path's cost is named. A hook whose
    image statistics the decode pool makes (pipelines.hook.StatisticsHook) gets a timed
    `frame_statistics` too: CpuSplit counts those as "decode", and `attribute()` names them.
    `restore` is passed through: the consumer calls it on a partition assignment, like the hook's own.
    """

    def __init__(self, hook: Any) -> None:
        from pipelines.hook import StatisticsHook

        self.hook = hook
        self.cpu_s = 0.0
        self.calls = 0
        self.statistics_cpu_s = 0.0  # in the decode threads, several at once: added under the lock
        self._lock = threading.Lock()
        if isinstance(hook, StatisticsHook):
            self.frame_statistics = self._timed_statistics

    def __call__(self, records: list) -> Any:
        t = time.thread_time()
        try:
            return self.hook(records)
        finally:
            self.cpu_s += time.thread_time() - t
            self.calls += 1

    def _timed_statistics(self, prepared: Any, native_sizes: Any) -> Any:
        t = time.thread_time()  # this decode thread's own CPU time
        try:
            return self.hook.frame_statistics(prepared, native_sizes)
        finally:
            used = time.thread_time() - t
            with self._lock:
                self.statistics_cpu_s += used

    def restore(self, ctx: Any) -> None:
        self.hook.restore(ctx)

    def attribute(self, split: dict[str, float]) -> dict[str, float]:
        """`split` with the hook's CPU seconds taken out of the consumer loop's and named, and the
        statistics it had made in the decode threads out of decode's."""
        if not split:
            return split
        out = dict(split)
        for part, from_part, seconds in (
            (CALIBRATION_PART, "consumer loop", self.cpu_s),
            (STATISTICS_PART, "decode", self.statistics_cpu_s),
        ):
            moved = min(seconds, out.get(from_part, 0.0))
            if part == CALIBRATION_PART or moved > 0:
                out[from_part] = out.get(from_part, 0.0) - moved
                out[part] = moved
        return out


def cpu_timed(fn: Any, name: str, acc: dict[str, float]) -> Any:
    """fn, wrapped so that each call adds its process CPU seconds to acc[name] (the speed scripts' per-part times)."""

    def timed(*a: Any, **k: Any) -> Any:
        t = time.process_time()
        out = fn(*a, **k)
        acc[name] = acc.get(name, 0.0) + time.process_time() - t
        return out

    return timed
