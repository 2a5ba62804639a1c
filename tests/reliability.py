"""Helpers for the fault tests (tests/test_reliability_*.py): scoring members as real processes,
streams with condition episodes, a calibration for the untrained model, and the accounting of
what came out of the pipeline."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli.monitor_process import MonitorProcess

REPO = Path(__file__).resolve().parents[1]


class Member(MonitorProcess):
    """A `run_monitor.py ... score` process (cli.monitor_process): its lines collected as they come."""

    def __init__(self, config: Path, name: str, extra: list[str] | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "OPENCV_LOG_LEVEL": "ERROR"}
        self.name = name
        self.started = time.monotonic()
        super().__init__(["--config", str(config), "score", "--name", name, *(extra or [])], env)

    def summary(self) -> str | None:
        found = [line for line in self.lines if line.startswith("score summary")]
        return found[-1].strip() if found else None

    def kill(self) -> None:
        self.p.send_signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM (finish the batch in hand, commit, summary) and the exit code; kill if it hangs."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        time.sleep(0.2)  # let the reader thread drain the pipe
        return rc


def wait_for(condition, timeout_s: float, what: str, members: list[Member] = ()) -> float:
    """Poll `condition()` until true; fail (with the members' output) after timeout_s. Returns the seconds waited."""
    t0 = time.monotonic()
    while not condition():
        for m in members:
            if m.p.poll() is not None and m.p.returncode not in (0, -9):
                pytest.fail(f"{m.name} exited with {m.p.returncode} while waiting for {what}:\n{m.text()[-4000:]}")
        if time.monotonic() - t0 > timeout_s:
            pytest.fail(
                f"timed out after {timeout_s:.0f} s waiting for {what}:\n"
                + "\n".join(f"--- {m.name}:\n{m.text()[-3000:]}" for m in members)
            )
        time.sleep(0.1)
    return time.monotonic() - t0


# ---------------------------------------------------------------------------------------------
# Frames with episodes


EPISODE_CONDITIONS = (("exposure", 5), ("darkening", 5), ("snow", 5), ("gaussian_blur", 5))


def episode_frames(
    images: list[np.ndarray], streams: int, per_stream: int, clear: int = 40, episode: int = 20, seed: int = 0
) -> list[list[tuple[bytes, tuple[str, int]]]]:
    """Per stream, `per_stream` encoded JPEG frames: `clear` clean frames, then `episode` frames under
    a severe condition, and so on (each stream starts at its own phase). Returns [stream][i] = (jpeg, (challenge, level))."""
    from monitor.challenges import apply_challenge

    out = []
    for s in range(streams):
        frames = []
        for i in range(per_stream):
            img = images[(s * 37 + i) % len(images)]
            pos = (i + s * 13) % (clear + episode)
            if pos >= clear:
                challenge, level = EPISODE_CONDITIONS[((i + s * 13) // (clear + episode) + s) % len(EPISODE_CONDITIONS)]
                img = apply_challenge(img, challenge, level, seed=seed + i)
            else:
                challenge, level = "none", 0
            frames.append((cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes(), (challenge, level)))
        out.append(frames)
    return out


def make_calibration(checkpoint: Path, tmp: Path, tracks: int = 40, fpr: float = 0.05) -> Path:
    """A calibration file for `checkpoint` from clean crops of ../shared/data (no classifier)."""
    import monitor
    from calibration.calibrate import calibrate_folders
    from calibration.calibration_file import save_calibration
    from monitor.cure_tsr import list_images, track_of
    from tests.helpers import SHARED_DATA

    paths = list_images(SHARED_DATA)
    chosen = sorted({track_of(p) for p in paths})[:tracks]
    clean = tmp / "clean"
    for p in paths:
        if track_of(p) in set(chosen):
            (clean / p.parent.name).mkdir(parents=True, exist_ok=True)
            (clean / p.parent.name / p.name).write_bytes(p.read_bytes())
    cal = calibrate_folders(
        monitor.load_model(checkpoint, device="cpu"), clean, fpr=fpr, confidence=0.5, method="empirical_quantile"
    )
    out = tmp / "calibration.yaml"
    save_calibration(out, cal)
    return out


# ---------------------------------------------------------------------------------------------
# Accounting


@dataclass
class Accounting:
    """What the scores topic says about the frames produced."""

    produced: int
    records: int = 0  # score records read
    distinct: int = 0  # distinct frames scored
    duplicates: int = 0  # records - distinct
    lost: list = field(default_factory=list)  # (stream, seq) produced and acknowledged but never scored
    first: dict = field(default_factory=dict)  # (stream, seq) -> first ScoreRecord published for it

    def line(self, label: str) -> str:
        return (
            f"{label}: produced {self.produced}, scored {self.distinct} distinct frames in {self.records} score "
            f"records, duplicates {self.duplicates}, lost {len(self.lost)}"
        )


def account(score_values: list[bytes], expected: set[tuple[str, int]]) -> Accounting:
    from pipelines.wire import decode_score

    acc = Accounting(produced=len(expected))
    for v in score_values:
        s = decode_score(v)
        acc.records += 1
        acc.first.setdefault((s.stream, s.seq), s)
    acc.distinct = len(acc.first)
    acc.duplicates = acc.records - acc.distinct
    acc.lost = sorted(expected - set(acc.first))
    return acc


def offline_alert_events(first: dict, alert_cfg, calibration) -> set[tuple[str, str]]:
    """(alert_id, state) of raised/cleared events the alert state machine gives on the first
    publication of every frame, in each stream's order: what one crash-free consumer would publish
    with `calibration` (a file)."""
    from calibration.alerts import AlertTracker, alert_rules
    from calibration.calibration_file import load_calibration
    from pipelines.alerting import frame_decision  # the one reading of a score record (held frames: no evidence)

    tracker = AlertTracker(alert_rules(alert_cfg, load_calibration(calibration)))
    events = set()
    for (_stream, _seq), s in sorted(first.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        d = frame_decision(s)
        for e in tracker.observe(d):
            if e.state in ("raised", "cleared"):
                events.add((e.alert_id, e.state))
    return events


def alert_counts(alert_values: list[bytes]) -> Counter:
    """(alert_id, state) -> how many records of it the alerts topic holds."""
    from pipelines.wire import decode_alert

    return Counter((a.alert_id, a.state) for a in (decode_alert(v) for v in alert_values))
