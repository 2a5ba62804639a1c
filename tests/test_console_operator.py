"""The console as an operator measured it (issue 14 item 1), one test per situation.

Open alerts that do not scroll away (since when, for how long, the frame to look at), uncertain
condition names, alerts on streams that went silent, columns hidden by a narrow terminal, SIGINT
in a background job, and the HTML export's example frames from a real broker.

Screens are rendered into fixed-width colourless consoles and compared as text.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rich.console import Console

from calibration.alerts import AlertExample
from calibration.settings import CalibrationConfig
from pipelines.config import Config, ConsoleConfig
from pipelines.console import run_console
from pipelines.console_feed import ConsoleEvent, fetch_example_frames
from pipelines.console_format import fmt_clock
from pipelines.console_layout import condition_text, export_snapshot
from pipelines.console_state import ConsoleState
from tests.test_console import (
    T0,
    FakeClock,
    alert,
    feed_stream,
    panel,
    populated,
    score,
    screen,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> ConsoleState:
    return ConsoleState(ConsoleConfig(), clock=clock)


def row_of(lines: list[str], stream: str) -> str:
    return next(line for line in lines if f"│ {stream} " in line)


# ----------------------------------------------------------------------------- open alerts


def test_open_alert_stays_on_screen_with_since_duration_and_example(state: ConsoleState, clock: FakeClock) -> None:
    feed_stream(state, "cam-03")
    state.ingest_alert(alert("cam-03:7", "cam-03", "raised", T0 - 125, frames=40, anomalous=31))
    # Twenty alerts on other streams come and go after it: the 10-row log no longer has the raise.
    for i in range(20):
        name = f"lot-{i:02d}"
        feed_stream(state, name, n=5)
        state.ingest_alert(alert(f"{name}:1", name, "raised", T0 - 60 + i, condition="snow"))
        state.ingest_alert(alert(f"{name}:1", name, "cleared", T0 - 60 + i, ended=T0 - 50 + i, condition="snow"))
    text = screen(state, 100, 40)
    log = panel(text, "alerts (")
    assert not any("cam-03" in line for line in log)  # scrolled out of the log ...
    opened = panel(text, "open alerts (1)")  # ... but not out of the open alerts
    assert opened[0].strip("│ ").split() == [
        "stream",
        "state",
        "condition",
        "since",
        "for",
        "anom/all",
        "example",
        "frame",
        "alert",
        "id",
    ]
    row = row_of(opened, "cam-03")
    assert row.strip("│ ").split() == [
        "cam-03",
        "ALERT",
        "rain",
        "96%",
        fmt_clock(T0 - 125),
        "2m05s",
        "31/40",
        "signwatch.frames[1]@42",
        "seq",
        "42",
        "cam-03:7",
    ]


def test_open_alerts_at_80_columns_keep_the_example(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock)
    row = row_of(panel(screen(state, 80, 24), "open alerts"), "cam-03")
    assert "ALERT rain 96%" in row and fmt_clock(T0 - 0.6) in row and "signwatch.frames[1]@42 seq 42" in row


def test_no_open_alerts_says_none(state: ConsoleState) -> None:
    feed_stream(state, "cam-01")
    assert [line.strip("│ ") for line in panel(screen(state, 80, 24), "open alerts (0)")] == ["none"]


# ----------------------------------------------------------------------------- uncertain names


def test_names_below_the_confidence_floor_read_uncertain(state: ConsoleState) -> None:
    assert state.min_confidence == CalibrationConfig.min_confidence == 0.5
    feed_stream(state, "cam-01")
    feed_stream(state, "cam-02")
    state.ingest_alert(alert("cam-01:3", "cam-01", "raised", T0 - 5, confidence=0.17))
    state.ingest_alert(alert("cam-02:3", "cam-02", "raised", T0 - 5, condition="snow", confidence=0.96))
    text = screen(state, 100, 30)
    opened = panel(text, "open alerts")
    assert "rain? 17%" in row_of(opened, "cam-01")
    assert "snow 96%" in row_of(opened, "cam-02") and "?" not in row_of(opened, "cam-02")
    assert "ALERT rain? 17%" in row_of(panel(text, "streams"), "cam-01")
    assert "rain? 17%" in next(line for line in panel(text, "alerts (") if "cam-01" in line)
    assert "? = under 50% confidence (calibration.min_confidence default)" in text
    # Dimmed as well as marked.
    assert condition_text("rain", 0.17, True).style == "dim" and condition_text("rain", 0.96, False).style != "dim"


def test_confidence_floor_comes_from_the_config(clock: FakeClock) -> None:
    cfg = Config()
    cfg.calibration = dataclasses.replace(cfg.calibration, min_confidence=0.3)
    state = ConsoleState.for_config(cfg, clock=clock)
    feed_stream(state, "cam-01")
    feed_stream(state, "cam-02")
    state.ingest_alert(alert("cam-01:3", "cam-01", "raised", T0 - 5, confidence=0.17))
    state.ingest_alert(alert("cam-02:3", "cam-02", "raised", T0 - 5, confidence=0.40))
    text = screen(state, 100, 30)
    opened = panel(text, "open alerts")
    assert "rain? 17%" in row_of(opened, "cam-01") and "rain 40%" in row_of(opened, "cam-02")
    assert "? = under 30% confidence (calibration.min_confidence)" in text


def test_uncertain_hint_on_a_stream_without_alert(state: ConsoleState) -> None:
    feed_stream(state, "cam-05", n=10, anomalous=False)
    state.ingest_score(score("cam-05", 10, T0 + 0.1, 0.4, anomalous=True, condition="fog", confidence=0.21))
    text = screen(state, 100, 24)
    assert "ok (fog? 21%)" in row_of(panel(text, "streams"), "cam-05")
    assert "? = under 50% confidence" in text


# ----------------------------------------------------------------------------- stale streams and alerts


def test_alerts_on_silent_streams_read_stale_and_every_count_agrees(state: ConsoleState, clock: FakeClock) -> None:
    # Ten cameras, nine with an open alert; all but cam-00 go silent.
    for i in range(10):
        feed_stream(state, f"cam-{i:02d}")
    for i in range(9):
        state.ingest_alert(alert(f"cam-{i:02d}:1", f"cam-{i:02d}", "raised", T0 - 2))
    clock.t += 15
    feed_stream(state, "cam-00", end=clock.t)
    snap = state.snapshot()
    assert (snap.counts.alert, snap.counts.stale, snap.counts.ok, snap.counts.stale_with_alert) == (1, 9, 0, 8)
    assert "9 stale streams (8 with an open alert)" in snap.health_reasons

    text = screen(state, 120, 40)
    header = "\n".join(text.split("\n")[:4])
    health_n = int(re.search(r"HEALTH DEGRADED: (\d+) stale streams", header).group(1))
    header_n = int(re.search(r"streams 10: 1 ALERT, (\d+) stale, 0 ok", header).group(1))
    assert health_n == header_n == 9
    assert "alerts 1 open, 8 stale / 9" in header
    assert "╭─ alerts (1 open, 8 stale, 9 total)" in text

    opened = panel(text, "open alerts (9: 1 ALERT, 8 stale)")
    assert "ALERT" in row_of(opened, "cam-00")
    for i in range(1, 9):
        row = row_of(opened, f"cam-{i:02d}")
        assert "stale 14s" in row and "ALERT" not in row, row  # 14.985 s since its last scored_ns
    streams = panel(text, "streams")
    assert "ALERT rain 96%" in row_of(streams, "cam-00")
    for i in range(1, 9):
        row = row_of(streams, f"cam-{i:02d}")
        assert "stale (alert rain 96%)" in row and "ALERT" not in row, row
    assert row_of(streams, "cam-09").strip("│ ").split()[:2] == ["cam-09", "stale"]


def test_alert_without_score_records_goes_stale(state: ConsoleState, clock: FakeClock) -> None:
    """An old open alert read from the alerts topic, for a stream whose scores are older than the
    lookback, is stale once its own record is older than console.stale_after_s."""
    state.ingest_alert(alert("cam-07:1", "cam-07", "raised", T0 - 600), ts_ns=int((T0 - 590) * 1e9))
    snap = state.snapshot()
    (row,) = snap.streams
    assert row.state == "stale" and snap.stale_alerts == 1 and snap.open[0].state == "stale"
    assert "1 stale stream (1 with an open alert)" in snap.health_reasons


# ----------------------------------------------------------------------------- narrow terminals


def test_hidden_columns_are_named(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock)
    narrow = screen(state, 80, 24)
    assert "narrow terminal: columns last, frames, anomalous, model hidden" in narrow
    assert "narrow terminal: column alert id hidden" in narrow
    wide = screen(state, 200, 40)
    assert "narrow" not in wide and "hidden" not in wide
    # At 160 the dead-letter panel has half the width, and says what it leaves out.
    wide = screen(state, 160, 40)
    assert "narrow terminal: column origin hidden" in wide and wide.count("narrow") == 1


def test_piped_once_at_80_columns_says_what_it_hides() -> None:
    now = time.time()
    events = [ConsoleEvent("score", score("cam-01", i, now - 1 + i / 30)) for i in range(30)]
    events.append(ConsoleEvent("alert", alert("cam-01:3", "cam-01", "raised", now - 0.5)))
    out = io.StringIO()  # not a terminal: as when piped
    console = Console(file=out, width=80, color_system=None, force_terminal=False, legacy_windows=False)
    assert run_console(Config(), None, events, console, once=True) == 0
    assert "narrow terminal: columns" in out.getvalue() and "hidden" in out.getvalue()


# ----------------------------------------------------------------------------- SIGINT


_CHILD = textwrap.dedent("""
    import io, sys, time
    from rich.console import Console
    from pipelines.config import Config
    from pipelines.console import run_console
    from tests.test_console import alert, score

    def events():
        now = time.time()
        for i in range(10):
            yield ("score", score("cam-01", i, now))
        yield ("alert", alert("cam-01:1", "cam-01", "raised", now))
        print("ready", file=sys.stderr, flush=True)
        while True:  # a feed that never ends: only a signal stops the console
            time.sleep(0.05)

    console = Console(width=100, height=30, color_system=None, force_terminal=False)
    rc = run_console(Config(), None, events(), console, once=sys.argv[1] == "once", duration=60, screen=False)
    print(f"rc={rc}", flush=True)
    sys.exit(rc)
""")


@pytest.mark.parametrize("mode", ["once", "live"])
def test_sigint_in_a_background_job_ends_cleanly(mode: str) -> None:
    """A background job of a non-interactive shell starts with SIGINT ignored; the console
    installs its handler itself, so SIGINT ends it like SIGTERM: exit 0 and the final snapshot."""
    # What the shell does to a background job: SIGINT ignored, and an ignored signal stays ignored
    # across exec.
    proc = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$0" -c "$1" "$2"', sys.executable, _CHILD, mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stderr.readline()
        assert line.strip() == "ready", line + proc.stderr.read()
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "rc=0" in out and "ALERT rain 96%" in out and "open alerts (1)" in out, out


# ----------------------------------------------------------------------------- HTML example frames


def _open_views(state: ConsoleState):
    return state.snapshot().open


def test_html_says_when_example_frames_cannot_be_had(state: ConsoleState, tmp_path) -> None:
    feed_stream(state, "cam-01")
    state.ingest_alert(alert("cam-01:1", "cam-01", "raised", T0 - 3))
    no_kafka = fetch_example_frames(Config(), None, _open_views(state))
    assert no_kafka[0].png is None and "no Kafka" in no_kafka[0].problem
    # A closed port: nothing listens there.
    unreachable = fetch_example_frames(Config(), "127.0.0.1:1", _open_views(state), timeout_s=2.0)
    assert unreachable[0].png is None and "unreachable" in unreachable[0].problem
    html = tmp_path / "screen.html"
    export_snapshot(state, 100, None, html=html, examples=unreachable)
    page = html.read_text(encoding="utf-8")
    assert "Example frames of open alerts" in page
    assert "example frame unavailable: Kafka at 127.0.0.1:1 unreachable" in page
    assert "signwatch.frames[1]@42 seq 42" in page and "<img" not in page


@pytest.mark.kafka
def test_html_export_embeds_the_example_frame_from_kafka(kafka_cfg: Config, tmp_path) -> None:
    """A real frame produced to the frames topic comes back, by the alert's example origin, as an
    <img> in the HTML export."""
    from kafka import KafkaProducer

    from pipelines.wire import FrameMeta, encode_frame, frame_headers, frame_key

    k = kafka_cfg.kafka
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    now = time.time()
    producer = KafkaProducer(bootstrap_servers=k.bootstrap_servers)
    meta = FrameMeta("cam-03", 17, int(now * 1e9), "test", encoding="png")
    md = producer.send(
        k.frames_topic, key=frame_key("cam-03"), value=encode_frame(img, "png"), headers=frame_headers(meta)
    ).get(timeout=30)
    producer.close()

    rec = alert("cam-03:17", "cam-03", "raised", now - 1)
    rec["example"] = {"topic": k.frames_topic, "partition": md.partition, "offset": md.offset, "seq": 17}
    events = [ConsoleEvent("score", score("cam-03", i, now - 1 + i / 30)) for i in range(30)] + [("alert", rec)]
    html = tmp_path / "screen.html"
    console = Console(file=io.StringIO(), width=100, color_system=None, force_terminal=False, legacy_windows=False)
    assert run_console(kafka_cfg, k.bootstrap_servers, events, console, once=True, export_html=html) == 0

    page = html.read_text(encoding="utf-8")
    where = f"{k.frames_topic}[{md.partition}]@{md.offset} seq 17"
    assert where in page and "unavailable" not in page
    (b64,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    back = cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.shape == img.shape and np.array_equal(back, img)

    # An offset past the end of the partition is reported, within the fetch's time limit.
    state = ConsoleState.for_config(kafka_cfg)
    state.ingest_alert(rec)
    (view,) = state.snapshot().open
    missing = dataclasses.replace(view, example=AlertExample(k.frames_topic, md.partition, md.offset + 50, 99))
    t = time.monotonic()
    (got,) = fetch_example_frames(kafka_cfg, k.bootstrap_servers, [missing], timeout_s=2.0)
    assert got.png is None and "not read in time" in got.problem and time.monotonic() - t < 8


# ----------------------------------------------------------------------------- all of it at once


def test_operator_screen_at_100_columns(state: ConsoleState, clock: FakeClock) -> None:
    """A confident alert, an uncertain one, and one on a camera that went silent, at 100 columns."""
    for name in ("cam-01", "cam-02", "cam-03", "cam-04", "front-left-intersection-7"):
        feed_stream(state, name)
    state.ingest_alert(alert("cam-02:118", "cam-02", "raised", T0 - 70, frames=30, anomalous=22))
    state.ingest_alert(
        alert("cam-04:40", "cam-04", "raised", T0 - 200, condition="fog", confidence=0.17, frames=60, anomalous=19)
    )
    state.ingest_alert(
        alert(
            "front-left-intersection-7:9",
            "front-left-intersection-7",
            "raised",
            T0 - 30,
            condition="snow",
            confidence=0.88,
        )
    )
    clock.t += 12  # front-left-intersection-7 goes silent; the others keep sending
    for name in ("cam-01", "cam-02", "cam-03", "cam-04"):
        feed_stream(state, name, end=clock.t)
    state.set_source("127.0.0.1:9092 · since 14:08:20 (last 5 min)")
    text = screen(state, 100, None)
    lines = text.split("\n")
    assert "HEALTH DEGRADED: 1 stale stream (1 with an open alert)" in lines[0]
    assert "streams 5: 2 ALERT, 1 stale, 2 ok │ alerts 2 open, 1 stale / 3" in lines[1]
    opened = panel(text, "open alerts (3: 2 ALERT, 1 stale)")
    assert [line.strip("│ ").split()[:2] for line in opened[1:]] == [
        ["cam-02", "ALERT"],
        ["cam-04", "ALERT"],
        ["front-left-inte…", "stale"],
    ]
    assert "fog? 17%" in opened[2] and "3m32s" in opened[2] and "19/60" in opened[2]
    assert "stale (alert snow 88%)" in "\n".join(panel(text, "streams"))
    assert "? = under 50% confidence (calibration.min_confidence default)" in text
    assert "narrow terminal: columns last, frames, anomalous, model hidden" in text
