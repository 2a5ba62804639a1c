"""Demo step 4: the episode schedule (clear, rain, clear, blur, ... per stream) and the frame source
that plays it on the replay tracks, every frame carrying its ground truth (challenge, level).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cli.demo_tracks import Track
from pipelines.producers import SourceFrame, Tick
from pipelines.wire import CHALLENGE_NAMES, GroundTruth

# Conditions of the default schedule, in the order the streams meet them (names as in the frame
# headers). Left out: dirty_lens, shadow and codec_error, the weak ones at levels 3-5 (docs/DESIGN.md §5:
# the detector's remaining misses, per frame: 0-3 % flagged, README); they are still
# in the calibration's challenge set, so the classifier knows them, and --conditions can ask for them.
DEMO_CONDITIONS: tuple[str, ...] = (
    "rain",
    "exposure",
    "gaussian_blur",
    "snow",
    "darkening",
    "haze",
    "decolorization",
    "noise",
    "lens_blur",
)
# Levels of the default schedule. Measured per frame on unseen tracks (seeds 0-7), level 3 is
# often inside the clean range: decolorization 0.25, noise 0.43, darkening 0.47, haze 0.48 of the
# frames flagged (levels 4-5: 0.73-1.00); the alerts' evidence rule (AlertConfig.evidence_*: sums
# the anomaly of sub-threshold frames) still catches those episodes: measured with the demo's
# model, calibration and frames for seeds 0-7 (replayed offline through the same AlertTracker),
# 111 of 112 level-3 episodes met the demo's promise with these levels (91 without evidence),
# 224 of 224 at levels 4-5 (223 before alerts.name_wait), no false alert on clear episodes.
DEMO_LEVELS: tuple[int, ...] = (3, 4, 5)


class Segment(NamedTuple):
    """A planned episode of one stream: frames start .. start+length-1 show `challenge` at `level`."""

    challenge: str  # a header name (pipelines.wire.CHALLENGE_NAMES) or "none"
    level: int
    start: int
    length: int


def demo_schedule(
    frames_per_stream: Sequence[int],
    clear: int = 20,
    length: int = 15,
    conditions: Sequence[str] = DEMO_CONDITIONS,
    levels: Sequence[int] = DEMO_LEVELS,
    control: bool = True,
    stagger: int = 5,
) -> list[list[Segment]]:
    """Per stream: clear, condition, clear, condition, ... Stream 0 stays clear throughout (a control)
    when `control` and there are two streams or more. The k-th episodes of the S condition streams
    take S consecutive entries of `conditions` (cycled), so the streams show different conditions
    side by side, a short replay still covers many, and a long one walks every stream through all
    of them; first onsets are `stagger` frames apart, so alerts do not all come at once. An
    episode starts only where it fits whole."""
    if clear < 1 or length < 1:
        raise ValueError("episode and clear lengths must be >= 1")
    if not conditions:
        raise ValueError("no conditions to inject")
    names = [header_name(c) for c in conditions]
    if "none" in names:
        raise ValueError("conditions must be CURE-TSR challenges, not 'none'")
    out = []
    with_control = control and len(frames_per_stream) > 1
    active = max(1, len(frames_per_stream) - (1 if with_control else 0))
    for i, n in enumerate(frames_per_stream):
        segs: list[Segment] = []
        if with_control and i == 0:
            out.append([Segment("none", 0, 0, n)] if n else [])
            continue
        j = i - 1 if with_control else i
        pos, k = 0, 0
        first = clear + stagger * (j % 4)
        while pos < n:
            gap = first if k == 0 else clear
            if n - pos - gap < length:  # no room for a whole episode after this gap: clear to the end
                segs.append(Segment("none", 0, pos, n - pos))
                break
            segs.append(Segment("none", 0, pos, gap))
            pos += gap
            # Side by side the streams show different conditions; the shift by one per full cycle of
            # `conditions` walks each stream through all of them (not the same few when S divides N).
            c = names[(k * active + j + k * active // len(names)) % len(names)]
            lvl = int(levels[(k + j) % len(levels)])
            segs.append(Segment(c, lvl, pos, length))
            pos += length
            k += 1
        out.append(segs)
    return out


def header_name(challenge: str) -> str:
    from monitor.cure_tsr import challenge_code

    return CHALLENGE_NAMES[challenge_code(challenge)]


def frames_per_stream(frames: int, streams: int) -> list[int]:
    return [frames // streams + (1 if i < frames % streams else 0) for i in range(streams)]


def deal_tracks(tracks: Sequence[Track], streams: int) -> list[list[Track]]:
    """Round-robin the tracks to the streams (every stream gets at least one)."""
    if not tracks:
        raise ValueError("no tracks to replay")
    return [list(tracks[i::streams]) or [tracks[i % len(tracks)]] for i in range(streams)]


def frame_seed(seed: int, stream: int, seq: int) -> int:
    return (seed * 1_000_003 + stream * 10_007 + seq) % (2**31)


def episode_ticks(
    plans: Sequence[Sequence[Track]], schedule: Sequence[Sequence[Segment]], seed: int = 0, prefix: str = "demo"
) -> Iterator[Tick]:
    """The frames of every stream, one tick at a time: stream i cycles through plans[i] (its tracks),
    and each frame shows what schedule[i] says for its position (= its seq)."""
    from monitor.challenges import apply_challenge
    from monitor.cure_tsr import load_image

    cache: dict[Path, np.ndarray] = {}

    def image(p: Path) -> np.ndarray:
        if p not in cache:
            cache[p] = load_image(p)
        return cache[p]

    def frames_of(tracks: Sequence[Track]) -> Iterator[tuple[Track, Path, Path | None]]:
        while True:
            for t in tracks:
                prev = None
                for p in t.paths:
                    yield t, p, prev
                    prev = p

    iters = [frames_of(p) for p in plans]
    flat = [[(s, n) for s in segs for n in range(s.start, s.start + s.length)] for segs in schedule]
    for seq in range(max((len(f) for f in flat), default=0)):
        tick: Tick = []
        for i, seg_of in enumerate(flat):
            if seq >= len(seg_of):
                continue
            seg, _ = seg_of[seq]
            track, path, prev = next(iters[i])
            img = image(path)
            if seg.challenge != "none":
                img = apply_challenge(
                    img,
                    seg.challenge,
                    seg.level,
                    seed=frame_seed(seed, i, seq),
                    previous=image(prev) if prev is not None else None,
                )
            tick.append(
                SourceFrame(f"{prefix}-{i}", img, GroundTruth(seg.challenge, seg.level, track.sign, track.name))
            )
        if tick:
            yield tick


def parse_levels(text: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(v) for v in str(text).split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--levels {text!r}: expected comma-separated levels 1-5") from None
    if not levels or any(not 1 <= v <= 5 for v in levels):
        raise ValueError(f"--levels {text!r}: expected comma-separated levels 1-5")
    return levels


def parse_conditions(text: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in str(text).split(",") if v.strip())
    if not names:
        raise ValueError("--conditions: none given")
    for n in names:
        try:
            if header_name(n) == "none":
                raise ValueError
        except ValueError:
            raise ValueError(
                f"--conditions: {n!r} is not a CURE-TSR challenge (e.g. rain, snow, haze, gaussian_blur)"
            ) from None
    return names
