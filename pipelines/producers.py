"""Frame producers: a camera, a CURE-TSR replay or an image folder -> the frames topic.

Every source yields *ticks*: the frames to emit at one instant (one per stream). `produce()` paces
the ticks, numbers frames per stream, encodes them and hands them to a `FrameProducer`, which
counts every frame the broker did not acknowledge (with its seq ranges) instead of dropping it
silently, and re-creates its Kafka client when the broker has forgotten it (docs/DESIGN.md §4: after a
broker restart an idempotent producer fails every send with UnknownProducerIdError).
"""

from __future__ import annotations

import gc
import itertools
import logging
import os
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
from kafka.errors import KafkaError

from monitor.cure_tsr import (
    group_of,
    group_sequences,
    list_images,
    load_image,
    read_cure_tsr,
)
from monitor.preprocess import ImageError
from pipelines.broker import BrokerError, ensure_topics
from pipelines.config import Config
from pipelines.kafka_clients import KeyedRecord, ResilientProducer, producer_settings
from pipelines.wire import (
    CHALLENGE_NAMES,
    FrameMeta,
    GroundTruth,
    encode_frame,
    frame_headers,
    frame_key,
)

log = logging.getLogger("signwatch.produce")


def seq_ranges(seqs: Iterable[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    out = []
    ordered = sorted(set(seqs))
    for _, run in itertools.groupby(enumerate(ordered), lambda t: t[1] - t[0]):
        values = [v for _, v in run]
        out.append(str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}")
    return ", ".join(out)


@dataclass
class DeliveryReport:
    """What happened to the frames handed to a FrameProducer."""

    sent: int = 0
    delivered: int = 0
    failed: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))  # stream -> seqs
    errors: Counter = field(default_factory=Counter)  # error type -> count
    recreated: int = 0

    @property
    def undelivered(self) -> int:
        return sum(len(v) for v in self.failed.values())

    def describe(self) -> str:
        if not self.undelivered:
            return f"delivered {self.delivered}/{self.sent}, undelivered 0"
        per_stream = "; ".join(f"{s}: seq {seq_ranges(v)}" for s, v in sorted(self.failed.items()) if v)
        errors = ", ".join(f"{name} x{n}" for name, n in self.errors.most_common())
        return f"delivered {self.delivered}/{self.sent}, UNDELIVERED {self.undelivered} ({per_stream}) [{errors}]"


class FrameProducer:
    """Sends encoded frames to the frames topic, key = stream id; accounts for every one of them."""

    def __init__(self, cfg: Config, bootstrap: str, topic: str | None = None) -> None:
        self.topic = topic or cfg.kafka.frames_topic
        self.report = DeliveryReport()
        self._lock = threading.Lock()
        self._cfg, self._bootstrap = cfg, bootstrap
        self._checking: threading.Thread | None = None
        self._producer = ResilientProducer(producer_settings(cfg, bootstrap), self._on_result, self._recheck_topics)
        self._warned: set[str] = set()
        self._seqs: dict[str, int] = defaultdict(int)

    def _recheck_topics(self) -> None:
        """After a re-creation (the broker may have restarted and forgotten the topics): check them
        again in the background, so frames keep flowing while the broker is still away."""
        if self._checking is not None and self._checking.is_alive():
            return

        def check() -> None:
            try:
                ensure_topics(self._bootstrap, self._cfg)
            except (BrokerError, KafkaError) as e:
                log.warning("produce: topics could not be checked again (%s)", str(e).splitlines()[0][:200])

        self._checking = threading.Thread(target=check, name="topic-check", daemon=True)
        self._checking.start()

    @property
    def next_seqs(self) -> dict[str, int]:
        """Stream -> the seq its next frame gets (so far sent: 0 .. that - 1)."""
        return dict(self._seqs)

    def next_seq(self, stream: str) -> int:
        """Frame numbers per stream, counting on across produce() calls with this producer."""
        seq = self._seqs[stream]
        self._seqs[stream] = seq + 1
        return seq

    def _on_result(self, record: KeyedRecord, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self.report.delivered += 1
                return
            stream, seq = record.tag
            self.report.failed[stream].append(seq)
            name = type(error).__name__
            self.report.errors[name] += 1
        if name not in self._warned:  # one line per kind of failure, the totals come in the summary
            self._warned.add(name)
            log.warning(
                "produce: frame %s/%d not delivered (%s: %s); counting further failures",
                stream,
                seq,
                name,
                str(error)[:200],
            )

    def send(self, meta: FrameMeta, value: bytes) -> None:
        with self._lock:
            self.report.sent += 1
        record = KeyedRecord(self.topic, frame_key(meta.stream), value, frame_headers(meta), (meta.stream, meta.seq))
        self._producer.send(record)

    def flush(self, timeout_s: float | None = None) -> None:
        self._producer.flush(timeout_s)

    def close(self, timeout_s: float = 10.0) -> DeliveryReport:
        """Flush, close and return the report; frames still unacknowledged count as undelivered."""
        self._producer.flush(timeout_s)
        self._producer.close(timeout_s)
        self.report.recreated = self._producer.recreated
        with self._lock:
            lost = self.report.sent - self.report.delivered - self.report.undelivered
        if lost > 0:  # no callback came for these (the client was closed with them still queued)
            self.report.errors["unacknowledged at close"] += lost
        return self.report


# ---------------------------------------------------------------------------------------------
# Sources


class SourceFrame(NamedTuple):
    stream: str
    image: np.ndarray  # uint8 BGR or grey
    truth: GroundTruth | None = None


Tick = list[SourceFrame]


class FrameSequence(NamedTuple):
    """One replayable sequence: image paths in order and the truth every frame of it carries."""

    name: str
    paths: list[Path]
    truths: list[GroundTruth | None]


def cure_sequences(
    root: str | Path,
    challenge_types: Sequence[str] | None = None,
    levels: Sequence[int] | None = None,
    sign_types: Sequence[str] | None = None,
) -> list[FrameSequence]:
    """A CURE-TSR layout -> its sequences (monitor.cure_tsr), each frame with its ground truth."""
    frames = read_cure_tsr(root, challenge_types=challenge_types, levels=levels, sign_types=sign_types)
    out = []
    for key, group in group_sequences(frames).items():
        truths: list[GroundTruth | None] = [
            GroundTruth(CHALLENGE_NAMES[f.name.challenge_type], f.name.level, f.name.sign_name, key) for f in group
        ]
        out.append(FrameSequence(key, [f.path for f in group], truths))
    return out


def cure_gaps(root: str | Path, sequences: Sequence[FrameSequence], frames: int) -> dict[str, FrameSequence]:
    """Sequence name -> `frames` clean frames to play before it: the ChallengeFree frames of the same
    split, sign and sequence (CURE-TSR gives them the same index in every challenge folder), from
    the start and again from the start when fewer, each with ground truth challenge none, level 0
    (docs/WIRE.md). ValueError naming the first sequence that has none."""
    if frames < 0:
        raise ValueError(f"--gap must be >= 0, got {frames}")
    if frames == 0:
        return {}
    by_seq: dict[tuple[str, int, str], list] = defaultdict(list)
    for f in read_cure_tsr(root, challenge_types=[0]):  # in index order within a sequence
        by_seq[(f.split, f.name.sign_type, f.sequence)].append(f)
    out = {}
    for s in sequences:
        split, _, sign, sequence = s.name.split("/", 3)  # group_sequences' key: split/folder/sign/sequence
        found = by_seq.get((split, int(sign), sequence))
        if not found:
            raise ValueError(
                f"--gap: sequence {s.name} has no ChallengeFree frames under {root} to play between sequences"
            )
        picked = [found[i % len(found)] for i in range(frames)]
        key = f"{split}/{picked[0].folder}/{sign}/{sequence}"
        truths = [GroundTruth(CHALLENGE_NAMES[0], 0, f.name.sign_name, key) for f in picked]
        out[s.name] = FrameSequence(f"gap:{key}", [f.path for f in picked], truths)
    return out


def folder_sequences(root: str | Path, truth: tuple[str, int] | None = None) -> list[FrameSequence]:
    """Every image under root, sorted, grouped into tracks ('<track>_<frame>' names) or folders.

    `truth` = (challenge, level) labels every frame (e.g. ('none', 0) for a clean folder); the sign
    is the image's class folder and the sequence its group.
    """
    root = Path(root)
    groups: dict[str, list[Path]] = {}
    for p in list_images(root):
        groups.setdefault(group_of(p, root), []).append(p)
    out = []
    for key in sorted(groups):
        paths = groups[key]
        truths = [GroundTruth(truth[0], truth[1], p.parent.name, key) if truth else None for p in paths]
        out.append(FrameSequence(key, paths, truths))
    return out


def _challenge_free(s: FrameSequence) -> bool:
    return bool(s.truths) and s.truths[0] is not None and s.truths[0].level == 0


def deal_sequences(
    sequences: Sequence[FrameSequence], streams: int, shuffle: int | None = None
) -> list[list[FrameSequence]]:
    """Each stream's sequences, in the order it plays them: dealt round robin. With `shuffle` (a
    seed), each stream plays its challenge-free sequences first (a camera starts from a clear
    view, which its per-stream warm-up learns) and its other sequences in a seeded random order,
    so no condition always lands in every stream's first seconds (sorted, one always does)."""
    if streams < 1:
        raise ValueError(f"streams must be >= 1, got {streams}")
    plans = [list(sequences[i::streams]) for i in range(streams)]
    if shuffle is None:
        return plans
    rng = random.Random(shuffle)
    out = []
    for plan in plans:
        rest = [s for s in plan if not _challenge_free(s)]
        rng.shuffle(rest)
        out.append([s for s in plan if _challenge_free(s)] + rest)
    return out


def replay_ticks(
    sequences: Sequence[FrameSequence],
    streams: int,
    prefix: str = "replay",
    loop: bool = False,
    limit: int | None = None,
    gaps: dict[str, FrameSequence] | None = None,
    shuffle: int | None = None,
) -> Iterator[Tick]:
    """Deal the sequences to `streams` parallel streams (deal_sequences) and play them side by side.

    Each tick holds the next frame of every stream that still has one; a stream plays its sequences
    one after the other (and again from the start with loop=True). `limit` caps the total frames.
    `gaps` (cure_gaps): sequence name -> frames played before it when it follows another sequence
    of its stream, so consecutive episodes are separated by clear frames.
    """
    plans = deal_sequences(sequences, streams, shuffle)
    if not sequences:
        return
    names = [f"{prefix}-{i}" for i in range(streams)]

    def frames_of(plan: list[FrameSequence]) -> Iterator[tuple[Path, GroundTruth | None]]:
        first = True
        while True:
            for s in plan:
                gap = (gaps or {}).get(s.name)
                if gap is not None and not first:
                    yield from zip(gap.paths, gap.truths, strict=False)
                first = False
                yield from zip(s.paths, s.truths, strict=False)
            if not loop or not plan:
                return

    iters = [frames_of(p) for p in plans]
    emitted = 0
    while iters:
        tick: Tick = []
        alive = []
        for name, it in zip(names, iters, strict=False):
            item = next(it, None)
            if item is None:
                continue
            alive.append((name, it))
            path, truth = item
            try:
                tick.append(SourceFrame(name, load_image(path), truth))
            except (OSError, ImageError) as e:
                log.warning("replay: skipping %s (%s)", path, e)
                continue
            emitted += 1
            if limit is not None and emitted >= limit:
                break
        if tick:
            yield tick
        if limit is not None and emitted >= limit:
            return
        names = [n for n, _ in alive]
        iters = [it for _, it in alive]


class ROI(NamedTuple):
    x: int
    y: int
    w: int
    h: int


def parse_roi(text: str) -> ROI:
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--roi must be x,y,w,h in pixels (non-negative integers), got {text!r}")
    roi = ROI(*(int(p) for p in parts))
    if roi.w < 1 or roi.h < 1:
        raise ValueError(f"--roi width and height must be >= 1, got {text!r}")
    return roi


def parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"--resize must be WIDTHxHEIGHT, e.g. 320x240, got {text!r}")
    return int(parts[0]), int(parts[1])


def check_roi(roi: ROI, width: int, height: int) -> None:
    """ValueError (one line naming the ROI and the frame size) unless `roi` lies wholly inside the frame.

    Clipping a partial ROI would silently change what the model sees (the clipped frames of a
    sign look like another condition), so a wrong ROI is the operator's to fix, not ours to guess."""
    if roi.x + roi.w > width or roi.y + roi.h > height:
        where = "lies outside" if roi.x >= width or roi.y >= height else "reaches past"
        raise ValueError(
            f"--roi {roi.x},{roi.y},{roi.w},{roi.h} {where} the {width}x{height} frame "
            f"(it needs x+w <= {width} and y+h <= {height})"
        )


def crop_and_resize(img: np.ndarray, roi: ROI | None, size: tuple[int, int] | None) -> np.ndarray:
    import cv2

    if roi is not None:
        h, w = img.shape[:2]
        check_roi(roi, w, h)
        img = img[roi.y : roi.y + roi.h, roi.x : roi.x + roi.w]
    if size is not None:
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(img)


class VideoInfo(NamedTuple):
    width: int
    height: int
    fps: float  # 0.0 when the file does not say


def video_file_info(path: str) -> VideoInfo:
    """Frame size and frame rate of a video file (ValueError when OpenCV cannot open it)."""
    import cv2

    cap = _open_capture(path)
    if cap is None:
        raise ValueError(f"camera source {path}: OpenCV cannot open this video file")
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        fps = fps if 0.0 < fps < 1000.0 else 0.0  # some containers report NaN or nonsense
        return VideoInfo(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), fps)
    finally:
        cap.release()


def _open_capture(source: str):
    import cv2

    cap = cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)
    if not cap.isOpened():
        cap.release()
        return None
    return cap


class _CameraReader:
    """Reads one opened capture: rate limit (by dropping frames), crop and resize, one tick per frame."""

    def __init__(
        self, source: str, stream: str, roi: ROI | None, size: tuple[int, int] | None, min_interval: float
    ) -> None:
        self.source, self.stream, self.roi, self.size, self.min_interval = source, stream, roi, size, min_interval
        self.last_emit = 0.0
        self.read_any = False  # a good frame came from the last capture (resets the reconnect backoff)

    def ticks(self, cap, stop: threading.Event) -> Iterator[Tick]:
        self.read_any = False
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok or frame is None:
                return
            self.read_any = True
            now = time.monotonic()
            if self.min_interval and now - self.last_emit < self.min_interval:
                continue
            self.last_emit = now
            # A ROI off this camera's frame is the operator's mistake: crop_and_resize's ValueError ends the source.
            frame = crop_and_resize(frame, self.roi, self.size)
            yield [SourceFrame(self.stream, frame)]


def camera_ticks(
    source: str,
    stream: str,
    stop: threading.Event,
    roi: ROI | None = None,
    size: tuple[int, int] | None = None,
    fps: float = 0.0,
    loop: bool = False,
    backoff_s: tuple[float, float] = (0.5, 30.0),
) -> Iterator[Tick]:
    """Frames of a camera (device index, RTSP/HTTP URL) or video file, one per tick.

    A live source that drops (open or read fails) is reopened with exponential backoff until
    `stop` is set. A video file ends at its last frame (or starts again with loop=True). For a
    live source `fps` limits the rate by dropping frames: sleeping instead would let stale frames
    pile up in the capture buffer and add latency.
    """
    is_file = os.path.isfile(source)
    reader = _CameraReader(source, stream, roi, size, 1.0 / fps if fps > 0 and not is_file else 0.0)
    delay = backoff_s[0]
    reopen_quietly = False
    while not stop.is_set():
        cap = _open_capture(source)
        if cap is None:
            if is_file:
                raise ValueError(f"camera source {source}: OpenCV cannot open this video file")
            log.warning("camera %s: cannot open; retrying in %.1f s", source, delay)
            stop.wait(delay)
            delay = min(delay * 2, backoff_s[1])
            continue
        if reopen_quietly:
            log.debug("camera %s: video file opened again (loop)", source)
        else:
            log.info("camera %s: opened", source)
        reopen_quietly = False
        try:
            yield from reader.ticks(cap, stop)
        finally:
            cap.release()
        if reader.read_any:
            delay = backoff_s[0]  # a good frame resets the backoff
        if stop.is_set():
            return
        if is_file:
            if loop:
                reopen_quietly = True
                continue
            log.info("camera %s: end of video file", source)
            return
        log.warning("camera %s: stream dropped; reconnecting in %.1f s", source, delay)
        stop.wait(delay)
        delay = min(delay * 2, backoff_s[1])


# ---------------------------------------------------------------------------------------------
# The producing loop


class Pacer:
    """Sleeps so ticks leave at `rate` per second; never bursts to catch up after a stall."""

    def __init__(self, rate: float, stop: threading.Event) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.stop = stop
        self.next = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next > now:
            self.stop.wait(self.next - now)
            self.next += self.interval
        else:
            self.next = now + self.interval


@dataclass
class ProduceSummary:
    frames: int
    streams: int
    elapsed_s: float
    report: DeliveryReport
    encode_errors: int = 0

    def line(self) -> str:
        rate = self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return (
            f"produce: {self.frames} frames from {self.streams} stream(s) in {self.elapsed_s:.1f} s "
            f"({rate:.1f} frames/s); {self.report.describe()}"
            + (f"; {self.encode_errors} frames could not be encoded" if self.encode_errors else "")
        )


def produce(
    ticks: Iterable[Tick],
    producer: FrameProducer,
    cfg: Config,
    source: str,
    stop: threading.Event,
    fps: float | None = None,
    max_frames: int | None = None,
) -> ProduceSummary:
    """Pace `ticks` at `fps` per stream (cfg.producer.fps when None; 0 = as fast as possible), encode and send them.

    Returns when the source ends, `max_frames` were sent or `stop` is set; the caller closes the producer.
    """
    rate = cfg.producer.fps if fps is None else fps
    pacer = Pacer(rate, stop)
    gc.freeze()  # startup's objects out of the collector's walks, as in the consumer's loop: no long pauses
    streams: set[str] = set()
    frames = encode_errors = 0
    t0 = time.monotonic()
    it = iter(ticks)
    while not stop.is_set():
        pacer.wait()
        if stop.is_set():
            break
        tick = next(it, None)
        if tick is None:
            break
        capture_ns = time.time_ns()  # wall clock: consumers on other hosts compare against it
        for f in tick:
            try:
                value = encode_frame(f.image, cfg.producer.encoding, cfg.producer.jpeg_quality)
            except ValueError as e:
                encode_errors += 1
                log.warning("produce: cannot encode a frame of %s (%s)", f.stream, e)
                continue
            streams.add(f.stream)
            meta = FrameMeta(f.stream, producer.next_seq(f.stream), capture_ns, source, cfg.producer.encoding, f.truth)
            producer.send(meta, value)
            frames += 1
            if max_frames is not None and frames >= max_frames:
                stop_now = True
                break
        else:
            stop_now = False
        if stop_now:
            break
    elapsed = time.monotonic() - t0
    return ProduceSummary(frames, len(streams), elapsed, producer.report, encode_errors)
