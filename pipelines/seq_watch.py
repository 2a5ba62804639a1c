"""Frame numbers per stream, watched on the way out: redeliveries (duplicates) and gaps (missing frames).

A frame published again (seq and capture time not above the last one published for its stream)
counts as a duplicate; a jump in seq is reported as frames that never arrived (lost upstream, e.g.
by a memory-only broker restart), so no loss goes unnoticed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pipelines.kafka_clients import partition_of

log = logging.getLogger("signwatch.consumer")


class SequenceWatch:
    def __init__(self) -> None:
        # stream -> (partition, last seq, its capture_ns) of the last frame published (scored or dead-lettered)
        self.last_seen: dict[str, tuple[Any, int, int]] = {}
        self.duplicates = 0
        self.missing = 0
        self.missing_ranges: dict[str, list[tuple[int, int]]] = {}

    def observe(self, batch: Iterable[Any]) -> None:
        """Duplicates and gaps per stream, from the frames just published (scored or dead-lettered)."""
        for p in batch:
            m = p.meta
            if m is None or p.record.key != m.stream.encode("utf-8"):
                # No frame number, or no key or another stream's (dead-lettered): such a record can
                # sit on any partition, so its place in the stream's order means nothing.
                continue
            last = self.last_seen.get(m.stream)
            if last is not None:
                _, last_seq, last_capture = last
                if m.seq <= last_seq and m.capture_ns <= last_capture:
                    self.duplicates += 1  # a redelivery: already published (by us, earlier)
                    continue
                if m.seq > last_seq + 1:
                    self._gap(m.stream, last_seq + 1, m.seq - 1, p)
                # m.seq <= last_seq with a newer capture time: the producer restarted its numbering.
            self.last_seen[m.stream] = (p.tp, m.seq, m.capture_ns)

    def forget(self, partitions: set[int], partition_count: int) -> None:
        """Forget the streams of these partitions (another member may have published frames of them since)."""
        for stream in [s for s in self.last_seen if partition_of(s, partition_count) in partitions]:
            del self.last_seen[stream]

    def _gap(self, stream: str, first: int, last: int, p: Any) -> None:
        n = last - first + 1
        self.missing += n
        ranges = self.missing_ranges.setdefault(stream, [])
        if len(ranges) < 100:  # the count stays exact; the list of ranges is bounded
            ranges.append((first, last))
        log.warning(
            "stream %s: %d frame(s) never reached this consumer (seq %s) before %s[%d]@%d: lost upstream "
            "(e.g. by a memory-only broker restart) or scored by another member while this one was out of "
            "the group",
            stream,
            n,
            str(first) if n == 1 else f"{first}-{last}",
            p.record.topic,
            p.record.partition,
            p.record.offset,
        )

    def missing_text(self, limit: int = 8) -> str:
        parts = []
        for stream, ranges in sorted(self.missing_ranges.items())[:limit]:
            parts.append(
                f"{stream}: seq "
                + ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges[:5])
                + (" ..." if len(ranges) > 5 else "")
            )
        more = len(self.missing_ranges) - limit
        return "; ".join(parts) + (f"; {more} more streams" if more > 0 else "")

    def vanished(self, partitions: set[int], partition_count: int) -> list[str]:
        """The broker's data of these partitions vanished (offsets went backwards, topics recreated):
        one line per stream naming the last frame published, after which acknowledged frames may be lost.

        A gap shows up as MISSING only when a stream sends again; this names every stream now.
        """
        return [
            f"stream {stream}: last frame published was seq {seq}; frames after it that the broker had "
            "acknowledged may be lost"
            for stream, (_, seq, _) in sorted(self.last_seen.items())
            if partition_of(stream, partition_count) in partitions
        ]
