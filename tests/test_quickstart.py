"""The README's quick start, run as written: each command a process of its own, talking to the others
only through the broker that `run_monitor.py broker` runs (and the address it records)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.broker import broker_state_path
from tests.helpers import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
README_DIR = "/tmp/swqs"  # the folder the README's commands write to; the test uses its own


def quickstart_commands(readme: str) -> list[list[str]]:
    """The commands of the README's "Quick start: separate processes" block, as argv lists."""
    section = readme.split("## Quick start: separate processes", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.replace("\\\n", " ").splitlines() if line.startswith(".venv/")]


def _argv(cmd: list[str], tmp: Path) -> list[str]:
    """A README command for this test: its Python, its folder, the shared data where the test finds it."""
    out = [sys.executable]
    for a in cmd[1:]:
        a = a.replace(README_DIR, str(tmp)).replace("../shared/data/belgiumtsc", str(SHARED_DATA))
        out.append(a)
    return out


def _start(argv: list[str], name: str, tmp: Path) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        cwd=REPO,
        stdout=open(tmp / f"{name}.out", "w"),  # noqa: SIM115 (the process owns it)
        stderr=open(tmp / f"{name}.err", "w"),  # noqa: SIM115
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        text=True,
    )


def _wait_for(path: Path, pattern: str, proc: subprocess.Popen, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = path.read_text()
        if re.search(pattern, text):
            return text
        assert proc.poll() is None, f"{path.name}: exited {proc.returncode} before {pattern!r}:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"{path.name}: no {pattern!r} within {timeout_s} s:\n{path.read_text()}")


def _run(argv: list[str], timeout_s: float = 300) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, cwd=REPO, text=True, capture_output=True, timeout=timeout_s)
    assert r.returncode == 0, f"{argv[1:4]} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    return r


def _console_until_frames(argv: list[str], frames: int, timeout_s: float = 60) -> str:
    """The console snapshot once the scorer has published every frame's score."""
    deadline = time.monotonic() + timeout_s
    while True:
        out = _run(argv).stdout
        if f"frames {frames} " in out or time.monotonic() > deadline:
            return out
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.kafka
def test_readme_quick_start_runs_as_separate_processes(tmp_path, untrained_checkpoint):
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    commands = quickstart_commands((REPO / "README.md").read_text())
    steps = {c[2] if c[1] == "run_monitor.py" else "video": c for c in commands}
    assert list(steps) == ["train", "calibrate", "video", "broker", "score", "produce", "console"]
    shutil.copy(untrained_checkpoint, tmp_path / "model.pt")  # train's model, minutes sooner
    cal = _run(_argv(steps["calibrate"], tmp_path))
    assert "clean frames from 125 tracks (test): they can support a false-alarm rate down to 2.37%" in cal.stdout
    _run(_argv(steps["video"], tmp_path))
    procs: list[subprocess.Popen] = []
    try:
        broker = _start(_argv(steps["broker"], tmp_path), "broker", tmp_path)
        procs.append(broker)
        _wait_for(tmp_path / "broker.out", r"bootstrap servers: 127\.0\.0\.1:\d+", broker, 60)
        assert broker_state_path().is_file()
        score = _start(_argv(steps["score"], tmp_path), "score", tmp_path)
        procs.append(score)
        err = _wait_for(tmp_path / "score.err", "partitions assigned", score, 120)
        assert "score: calibration" in err and "alerts on: raise when 2 of the last 3" in err, err
        produced = _run(_argv(steps["produce"], tmp_path)).stdout
        assert "produce: 60 frames from 1 stream(s)" in produced and "delivered 60/60" in produced, produced
        console = _console_until_frames(_argv(steps["console"], tmp_path), 60)
        assert "frames 60 " in console and "cam-1" in console and "dead letters 0" in console, console
        # The blurred segment raised one alert, cleared after it (the untrained model's frames stay under
        # the threshold: the alert's evidence rule raises it).
        assert "alerts 0 open / 1 " in console and "raised  cam-1" in console, console
        for p in (score, broker):  # Ctrl-C/SIGTERM: the scorer finishes its batch, then the broker stops
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=30) == 0, (tmp_path / "score.err").read_text()
        assert "scored 60 frames, dead letters 0" in (tmp_path / "score.out").read_text()
        assert not broker_state_path().exists()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
