"""Graceful shutdown: SIGTERM or Ctrl-C (SIGINT) on a producer, a scoring consumer or the console
finishes the work in hand, commits, closes, prints a summary and exits 0.

For the consumer the proof is in the offsets: a member stopped mid-stream committed exactly what
it published, so the member that carries on scores the rest once: no frame lost, none twice.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from pipelines.producers import FrameProducer, folder_sequences, produce, replay_ticks
from pipelines.wire import decode_score
from tests.conftest import read_topic, write_config
from tests.helpers import SHARED_DATA
from tests.reliability import REPO, Member, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _spawn(argv: list[str], stderr: Any = subprocess.PIPE) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "120"}
    return subprocess.Popen(
        [sys.executable, str(REPO / "run_monitor.py"), *argv],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )


def _signal_and_wait(p: subprocess.Popen, sig: int, timeout_s: float = 30) -> tuple[int, str, str, float]:
    t = time.monotonic()
    p.send_signal(sig)
    try:
        out, err = p.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        pytest.fail(f"no exit {timeout_s:.0f} s after {signal.Signals(sig).name}:\n{err[-3000:]}")
    return p.returncode, out, err or "", time.monotonic() - t


@pytest.fixture
def cfg_path(kafka_cfg, untrained_checkpoint, tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    cfg = dataclasses.replace(
        kafka_cfg,
        consumer=dataclasses.replace(
            kafka_cfg.consumer, model=str(untrained_checkpoint), device="cpu", max_batch=16, max_wait_ms=20
        ),
    )
    return cfg, write_config(cfg, tmp_path / "c.yaml")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_producer_stops_cleanly_and_reports(cfg_path, sig):
    cfg, path = cfg_path
    p = _spawn(
        ["--config", str(path), "produce", "folder", str(SHARED_DATA), "--streams", "2", "--fps", "20", "--loop"]
    )
    # Stop it once it is streaming: its frames are arriving in the topic (polled, up to 60 s).
    arrived = read_topic(
        cfg.kafka.bootstrap_servers,
        cfg.kafka.frames_topic,
        20,
        timeout_s=60,
        until=lambda rs: len(rs) >= 20 or p.poll() is not None,
    )
    assert p.poll() is None, p.communicate()[1][-2000:]
    assert len(arrived) >= 20, "the producer delivered nothing within 60 s"
    rc, out, err, seconds = _signal_and_wait(p, sig)
    assert rc == 0, f"exit {rc}:\n{err[-3000:]}"
    m = re.search(r"produce: (\d+) frames from 2 stream\(s\).*delivered (\d+)/(\d+), undelivered 0", out)
    assert m, out + err[-2000:]
    n = int(m.group(1))
    assert n > 0 and int(m.group(2)) == int(m.group(3)) == n
    # What it says it delivered is in the topic.
    assert len(read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.frames_topic, n, timeout_s=20)) == n
    print(
        f"\nshutdown ({signal.Signals(sig).name}) of a producer: exit 0 in {seconds:.2f} s, {n} frames, all delivered"
    )


def _catches(pid: int, sig: int) -> bool:
    """Whether the process has a handler for `sig` now (the kernel's SigCgt mask in /proc)."""
    with open(f"/proc/{pid}/status") as f:
        caught = next(int(line.split()[1], 16) for line in f if line.startswith("SigCgt:"))
    return bool(caught >> (sig - 1) & 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the signal mask from /proc")
@pytest.mark.parametrize("command", ["produce", "score"])
def test_a_signal_during_the_heavy_imports_is_a_clean_stop(cfg_path, command):
    """SIGTERM the moment main() can catch it, seconds before torch, cv2 and kafka are imported and
    the command's own handling is in place: it is held, then the command stops cleanly (exit 0 and
    its summary), where it used to die of the signal (exit -15)."""
    cfg, path = cfg_path
    argv = ["produce", "folder", str(SHARED_DATA), "--streams", "2", "--fps", "20", "--loop"]
    if command == "score":
        argv = ["score", "--name", "early"]
    p = _spawn(["--config", str(path), *argv])
    wait_for(lambda: p.poll() is not None or _catches(p.pid, signal.SIGTERM), 30, "main() to catch SIGTERM")
    rc, out, err, seconds = _signal_and_wait(p, signal.SIGTERM, timeout_s=60)
    assert rc == 0, f"exit {rc}:\n{err[-3000:]}"
    # Held, then honoured as the command's handling came in: the stop line comes before the ready line.
    assert err.index("SIGTERM: finishing the work in hand") < err.index(f"{command}: ready"), err[-2000:]
    summary = "produce: 0 frames from" if command == "produce" else "score summary [early]: scored 0"
    assert summary in out, out + err[-2000:]
    print(f"\nSIGTERM during the imports of {command}: exit 0 in {seconds:.2f} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_consumer_stopped_mid_stream_commits_what_it_published_and_nothing_is_scored_twice(cfg_path, sig):
    cfg, path = cfg_path
    first = Member(path, "first")
    wait_for(lambda: len(first.assigned()) == 4, 60, "the first member to join", [first])
    producer = FrameProducer(cfg, cfg.kafka.bootstrap_servers)
    ticks = replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 4, loop=True)
    feeder = threading.Thread(
        target=produce,
        args=(ticks, producer, cfg, "folder", threading.Event()),
        kwargs=dict(fps=50, max_frames=800),
        daemon=True,
    )
    feeder.start()  # 200 frames/s for 4 s
    # Mid-stream: once the member has published scores for 100 of the 800 frames (polled, up to 60 s).
    read_topic(
        cfg.kafka.bootstrap_servers,
        cfg.kafka.scores_topic,
        100,
        timeout_s=60,
        until=lambda rs: len(rs) >= 100 or first.p.poll() is not None,
    )
    assert first.p.poll() is None, first.text()[-3000:]
    t = time.monotonic()
    first.p.send_signal(sig)
    rc = first.p.wait(30)
    stopped_s = time.monotonic() - t
    assert rc == 0, first.text()[-3000:]
    wait_for(lambda: first.summary() is not None, 10, "the stopped member's summary line", [first])
    summary = first.summary()
    scored_first = int(re.search(r"scored (\d+) frames", summary).group(1))
    feeder.join(30)
    assert producer.close().undelivered == 0
    assert 0 < scored_first < 800, summary

    second = Member(path, "second", ["--idle-exit", "3"])
    try:
        rc2 = second.p.wait(90)
    finally:
        if second.p.poll() is None:
            second.stop()
    assert rc2 == 0, second.text()[-3000:]
    scores = [
        decode_score(r.value)
        for r in read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.scores_topic, 800, timeout_s=30)
    ]
    keys = [(s.stream, s.seq) for s in scores]
    assert len(set(keys)) == 800, f"{800 - len(set(keys))} frames never scored"
    assert len(keys) == 800, (
        f"{len(keys) - 800} frames scored twice: the stopped member's commits lagged its publishing"
    )
    print(
        f"\nshutdown ({signal.Signals(sig).name}) of a consumer mid-stream: exit 0 in {stopped_s:.2f} s after the signal; "
        f"it scored {scored_first}, the next member the other {800 - scored_first}; duplicates 0, lost 0"
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_console_stops_cleanly_with_a_summary(cfg_path, sig, tmp_path):
    import monitor
    from pipelines.consumer import ScoringConsumer

    cfg, path = cfg_path
    producer = FrameProducer(cfg, cfg.kafka.bootstrap_servers)
    produce(
        replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 2),
        producer,
        cfg,
        "folder",
        threading.Event(),
        fps=0,
        max_frames=40,
    )
    producer.close()
    scorer = monitor.load_model(cfg.consumer.model, device="cpu")
    assert (
        ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, name="for-console", out=sys.stderr)
        .run(max_records=40)
        .scored
        == 40
    )
    log = tmp_path / "console.err"
    with open(log, "w") as err_file:
        p = _spawn(["--config", str(path), "console", "--from-beginning", "--width", "100", "--height", "30"], err_file)
    # Signalled once it says it has read what was there and is live, not after a guessed sleep.
    wait_for(lambda: p.poll() is not None or "console: caught up" in log.read_text(), 60, "the console's ready line")
    assert p.poll() is None, log.read_text()[-2000:]
    assert "console: caught up (40 score records" in log.read_text(), log.read_text()[-2000:]
    rc, out, _, seconds = _signal_and_wait(p, sig)
    err = log.read_text()
    assert rc == 0, f"exit {rc}:\n{err[-3000:]}"
    m = re.search(r"console summary: (\d+) score records", out)
    assert m and int(m.group(1)) == 40, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    print(f"\nshutdown ({signal.Signals(sig).name}) of the console: exit 0 in {seconds:.2f} s; {m.group(0)}")
