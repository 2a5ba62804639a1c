"""The demo's data: the clean crops of --data split into whole tracks (train / calibration / replay).

No track is in two parts, so the replayed streams show signs that neither the quick model nor the
quick calibration saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "belgiumtsc"

# Track-wise split of the clean crops: the replayed streams use tracks that neither training nor
# calibration saw. Calibration gets the larger share: its threshold counts clean TRACKS as trials
# (scripts/calibration_experiment.py measured 125 -> 187 calibration tracks cutting held-out false
# alarms from 1.9 % to 0.3 %).
TEST_FRACTION = 0.30
CALIBRATION_FRACTION = 0.45  # of all tracks; the rest (25 %) trains the quick model


class Track(NamedTuple):
    name: str  # "<class>/<track>"
    sign: str  # the class folder
    paths: list[Path]


class DemoSplit(NamedTuple):
    train: list[Track]
    calibration: list[Track]
    test: list[Track]

    def line(self) -> str:
        f = lambda ts: sum(len(t.paths) for t in ts)  # noqa: E731
        return (
            f"{len(self.train)} tracks ({f(self.train)} frames) train, {len(self.calibration)} ({f(self.calibration)}) "
            f"calibrate, {len(self.test)} ({f(self.test)}) replayed"
        )


def split_tracks(
    data: str | Path,
    seed: int = 0,
    test_fraction: float = TEST_FRACTION,
    calibration_fraction: float = CALIBRATION_FRACTION,
) -> DemoSplit:
    """The clean crops of `data`, split into whole tracks: train / calibration / test (replay)."""
    from monitor.cure_tsr import split_by_track, training_images

    items = training_images(data)
    if not items:
        raise ValueError(f"--data {data}: no images")
    group = {Path(p): g for p, g in items}
    rest, test = split_by_track(group, test_fraction, seed=seed, group=group.__getitem__)
    share = calibration_fraction / max(1e-9, 1.0 - test_fraction)
    train, calib = split_by_track(rest, min(1.0, share), seed=seed + 1, group=group.__getitem__)

    def tracks(paths: list[Path]) -> list[Track]:
        by: dict[str, list[Path]] = {}
        for p in paths:
            by.setdefault(group[p], []).append(p)
        return [Track(k, Path(v[0]).parent.name, sorted(v)) for k, v in sorted(by.items())]

    return DemoSplit(tracks(train), tracks(calib), tracks(test))


def track_frames(tracks: Sequence[Track]) -> tuple[list[Path], list[str]]:
    paths = [p for t in tracks for p in t.paths]
    return paths, [t.name for t in tracks for _ in t.paths]
