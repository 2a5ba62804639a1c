"""The alert console: state from records, the screen as text, the feed, the command line.

Screens are rendered into fixed-size colourless consoles and compared as text (as rich's own
tests/test_live.py does), so a state's meaning must be readable without colour.
"""

from __future__ import annotations

import io
import json
import threading
import time
from types import SimpleNamespace

import pytest
from rich.cells import cell_len
from rich.console import Console

from cli.console_command import register
from pipelines.config import Config, ConsoleConfig
from pipelines.console import LiveConsole, run_console
from pipelines.console_feed import ConsoleEvent, KafkaFeed
from pipelines.console_format import fmt_age, sparkline
from pipelines.console_layout import export_snapshot, render
from pipelines.console_state import ConsoleState

T0 = 1_790_000_000.0  # a fixed "now" (seconds); records carry nanoseconds


class FakeClock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def score(
    stream: str,
    seq: int,
    t: float,
    value: float = 0.05,
    *,
    anomalous: bool | None = None,
    condition: str | None = None,
    confidence: float | None = None,
    model: str = "gc-3fa9c1d2",
    latency_s: float = 0.015,
) -> dict:
    """A score record as pipelines/wire.py writes it (docs/WIRE.md), captured at time t."""
    rec = {
        "stream": stream,
        "seq": seq,
        "score": value,
        "recon": 0.01,
        "layer_cos": [0.9, 0.8, 0.85, 0.7],
        "model_id": model,
        "capture_ns": int(t * 1e9),
        "received_ns": int((t + 0.004) * 1e9),
        "scored_ns": int((t + latency_s) * 1e9),
        "source": "replay",
        "origin": {"topic": "signwatch.frames", "partition": 0, "offset": seq},
        "truth": None,
    }
    if anomalous is not None:
        rec.update(anomaly=value * 10, is_anomalous=anomalous)
        if condition is not None:
            rec.update(condition=condition, confidence=confidence)
    return rec


def alert(
    aid: str,
    stream: str,
    state: str,
    started: float,
    *,
    condition: str = "rain",
    confidence: float = 0.96,
    ended: float | None = None,
    frames: int = 8,
    anomalous: int = 6,
) -> dict:
    return {
        "alert_id": aid,
        "stream": stream,
        "state": state,
        "condition": condition,
        "confidence": confidence,
        "started_ns": int(started * 1e9),
        "ended_ns": None if ended is None else int(ended * 1e9),
        "frames": frames,
        "anomalous_frames": anomalous,
        "anomaly_mean": 0.4,
        "anomaly_max": 0.9,
        "example": {"topic": "signwatch.frames", "partition": 1, "offset": 42, "seq": 42},
    }


def dead_letter(offset: int = 7, stage: str = "decode", error: str = "cannot decode image: not a JPEG or PNG") -> list:
    return [
        ("stream", b"cam-09"),
        ("seq", b"3"),
        ("dlq.origin.topic", b"signwatch.frames"),
        ("dlq.origin.partition", b"2"),
        ("dlq.origin.offset", str(offset).encode()),
        ("dlq.error", error.encode()),
        ("dlq.stage", stage.encode()),
        ("dlq.consumer", b"scorer-1"),
    ]


def feed_stream(state: ConsoleState, stream: str, n: int = 60, fps: float = 30.0, end: float = T0, **kw) -> None:
    for i in range(n):
        t = end - (n - 1 - i) / fps
        state.ingest_score(score(stream, i, t, 0.05 + 0.01 * (i % 5), **kw))


def screen(state: ConsoleState, width: int = 80, height: int | None = 24) -> str:
    console = Console(
        width=width,
        height=height or 24,
        record=True,
        color_system=None,
        force_terminal=False,
        file=io.StringIO(),
        legacy_windows=False,
    )
    console.print(render(state, width, height))
    return console.export_text()


def panel(text: str | list[str], title: str) -> list[str]:
    """The body lines of the panel whose title starts with `title` (its borders left out)."""
    lines = text.split("\n") if isinstance(text, str) else text
    start = next(i for i, line in enumerate(lines) if line.startswith(f"╭─ {title}"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("╰"))
    return lines[start + 1 : end]


def check_shape(text: str, width: int, height: int) -> list[str]:
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == height, f"{len(lines)} lines, expected {height}"
    assert all(cell_len(line) <= width for line in lines), max(lines, key=cell_len)
    return lines


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state(clock: FakeClock) -> ConsoleState:
    return ConsoleState(ConsoleConfig(), clock=clock)


# ----------------------------------------------------------------------------- state


def test_stream_figures_from_scores(state: ConsoleState, clock: FakeClock) -> None:
    feed_stream(state, "cam-01", n=61, fps=30.0, latency_s=0.020)
    clock.t += 1.0
    (row,) = state.snapshot().streams
    assert row.state == "ok" and row.frames == 61
    assert row.fps == pytest.approx(30.0, rel=0.02)
    assert row.latency_p50_ms == pytest.approx(20.0, abs=0.5)
    assert row.age_s == pytest.approx(0.980, abs=1e-3)  # since scored_ns of the last record
    assert len(row.values) == ConsoleConfig().sparkline_width


def test_duplicates_are_not_counted_twice(state: ConsoleState) -> None:
    rec = score("cam-01", 5, T0)
    assert state.ingest_score(rec) and not state.ingest_score(dict(rec))
    snap = state.snapshot()
    assert snap.frames == 1 and snap.duplicates == 1


def test_malformed_records_are_counted_not_raised(state: ConsoleState) -> None:
    assert not state.ingest_score({"score": 1.0})
    assert not state.ingest_alert({"stream": "cam-01", "state": "exploded", "alert_id": "x"})
    snap = state.snapshot()
    assert snap.malformed == 2 and snap.health == "DEGRADED"
    assert any("unreadable" in r for r in snap.health_reasons)


def test_alert_lifecycle(state: ConsoleState, clock: FakeClock) -> None:
    feed_stream(state, "cam-03")
    state.ingest_alert(alert("a1", "cam-03", "raised", T0 - 10, confidence=0.91))
    state.ingest_alert(alert("a1", "cam-03", "updated", T0 - 10, confidence=0.94), ts_ns=int((T0 - 5) * 1e9))
    state.ingest_alert(alert("a1", "cam-03", "updated", T0 - 10, confidence=0.96, frames=20), ts_ns=int((T0 - 2) * 1e9))
    snap = state.snapshot()
    (row,) = snap.streams
    assert (row.state, row.condition, row.confidence) == ("ALERT", "rain", 0.96)
    assert snap.open_alerts == 1 and snap.total_alerts == 1
    # Updates replace each other in the log: raised + the latest update.
    assert [(e.state, e.confidence) for e in snap.alerts] == [("updated", 0.96), ("raised", 0.91)]
    assert snap.alerts[0].duration_s == pytest.approx(8.0)

    state.ingest_alert(alert("a1", "cam-03", "cleared", T0 - 10, ended=T0 - 1, frames=30))
    # A re-delivered update (at-least-once) after the clear must not reopen the alert.
    state.ingest_alert(alert("a1", "cam-03", "updated", T0 - 10, confidence=0.99, frames=25))
    snap = state.snapshot()
    assert snap.streams[0].state == "ok" and snap.open_alerts == 0 and snap.total_alerts == 1
    assert [e.state for e in snap.alerts] == ["cleared", "raised"]
    assert snap.alerts[0].duration_s == pytest.approx(9.0)


def test_atypical_stream_state(state: ConsoleState, clock: FakeClock) -> None:
    # Per-stream baselines (pipelines.alerting): a stream off the fleet's normal is its own state.
    feed_stream(state, "cam-07")
    msg = "atypical view: check ROI or camera"
    state.ingest_alert({**alert("cam-07:atypical:39", "cam-07", "atypical", T0 - 5), "condition": None, "message": msg})
    snap = state.snapshot()
    assert snap.streams[0].state == "atypical" and snap.open_alerts == 0
    assert snap.alerts[0].state == "atypical" and snap.alerts[0].condition == msg
    assert "atypical" in screen(state)
    typical = alert("cam-07:atypical:39", "cam-07", "typical", T0 - 5, ended=T0 - 1)
    state.ingest_alert({**typical, "condition": None, "message": "baseline reset by the operator"})
    # A re-delivered 'atypical' after it ended must not bring the state back.
    state.ingest_alert({**alert("cam-07:atypical:39", "cam-07", "atypical", T0 - 5), "condition": None, "message": msg})
    assert state.snapshot().streams[0].state == "ok"


def test_condition_from_anomalous_scores_without_alert(state: ConsoleState) -> None:
    feed_stream(state, "cam-05", n=10, anomalous=False)
    state.ingest_score(score("cam-05", 10, T0 + 0.1, 0.4, anomalous=True, condition="snow", confidence=0.61))
    (row,) = state.snapshot().streams
    assert (row.state, row.condition, row.confidence) == ("ok", "snow", 0.61)
    assert row.flags[-1] is True and row.value_name == "anomaly"
    assert "ok (snow 61%)" in screen(state)


def test_stale_stream_and_health(state: ConsoleState, clock: FakeClock) -> None:
    feed_stream(state, "cam-01")
    feed_stream(state, "cam-02")
    assert state.snapshot().health == "OK"
    clock.t += 5
    feed_stream(state, "cam-02", end=clock.t)
    clock.t += 8  # cam-01 now 13 s old (> stale_after_s = 10), cam-02 8 s
    snap = state.snapshot()
    by = {r.stream: r for r in snap.streams}
    assert by["cam-01"].state == "stale" and by["cam-01"].fps is None
    assert by["cam-02"].state == "ok"
    assert snap.streams[0].stream == "cam-01"  # stale sorts before ok
    assert snap.health == "DEGRADED" and "1 stale stream" in snap.health_reasons
    text = screen(state)
    assert "HEALTH DEGRADED: 1 stale stream" in text
    assert "stale 12s" in text  # 12.985 s since its last scored_ns


def test_dead_letters_degrade_health_while_recent(state: ConsoleState, clock: FakeClock) -> None:
    feed_stream(state, "cam-01")
    state.ingest_dead_letter(dead_letter(), ts_ns=int(T0 * 1e9))
    snap = state.snapshot()
    assert snap.health == "DEGRADED" and snap.dead_letter_total == 1 and snap.dead_letter_recent == 1
    d = snap.dead_letters[0]
    assert (d.stage, d.stream, d.origin, d.consumer) == ("decode", "cam-09", "signwatch.frames[2]@7", "scorer-1")
    assert snap.consumers == ("scorer-1",)
    clock.t += 61
    feed_stream(state, "cam-01", end=clock.t)
    snap = state.snapshot()
    assert snap.health == "OK" and snap.dead_letter_total == 1 and snap.dead_letter_recent == 0


def test_no_data_health(state: ConsoleState) -> None:
    snap = state.snapshot()
    assert snap.health == "NO DATA"
    text = screen(state)
    assert "HEALTH NO DATA" in text and "waiting for score records" in text
    check_shape(text, 80, 24)


# ----------------------------------------------------------------------------- sparkline


def test_sparkline_scales_to_window() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], width=8).plain == "▁▂▃▄▅▆▇█"
    assert sparkline([3.0, 3.0], width=8).plain == "▁▁"
    assert sparkline(list(range(40)), width=5).plain == "▁▃▅▆█"  # the newest 5, scaled to themselves


def test_sparkline_full_block_means_over_the_line() -> None:
    # Scaled to the threshold: half-way is mid-height, at or over it is █ and nothing else is.
    assert sparkline([0.0, 0.5, 0.99, 1.0, 3.0], threshold=1.0, width=8).plain == "▁▄▇██"
    # Calibrated records: the flag decides █, whatever the value.
    line = sparkline([0.1, 0.2, 0.15, 0.18], flags=[False, False, True, False], width=8).plain
    assert line[2] == "█" and "█" not in line[:2] + line[3:]


# ----------------------------------------------------------------------------- screens


def populated(state: ConsoleState, clock: FakeClock, extra_streams: int = 0) -> None:
    for name in ("cam-01", "cam-02", "cam-10", "front-left-intersection-7"):
        feed_stream(state, name)
    for i in range(40):  # cam-03 turned rainy: scores climb and are flagged
        state.ingest_score(
            score(
                "cam-03",
                i,
                T0 - (39 - i) / 30,
                0.05 + (0.3 if i >= 20 else 0),
                anomalous=i >= 20,
                condition="rain" if i >= 20 else None,
                confidence=0.96 if i >= 20 else None,
            )
        )
    for i in range(extra_streams):
        feed_stream(state, f"lot-{i:02d}", n=5)
    state.ingest_alert(alert("a0", "cam-01", "raised", T0 - 300, condition="snow", confidence=0.7))
    state.ingest_alert(alert("a0", "cam-01", "cleared", T0 - 300, ended=T0 - 235, condition="snow", confidence=0.8))
    state.ingest_alert(alert("a1", "cam-03", "raised", T0 - 0.6, confidence=0.96))
    state.ingest_dead_letter(dead_letter(), ts_ns=int((T0 - 3) * 1e9))
    state.set_source("127.0.0.1:9092 · since 12:00:00 (last 5 min)")


def test_screen_80x24_reads_without_colour(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock)
    lines = check_shape(screen(state), 80, 24)
    text = "\n".join(lines)
    assert "HEALTH DEGRADED: 1 dead letter in 60s" in lines[0]
    row = next(line for line in panel(lines, "streams") if "cam-03" in line and "ALERT" in line)
    assert "ALERT rain 96%" in row
    assert "█" in row  # the flagged frames
    assert row.index("cam-03") < row.index("ALERT")
    # The alert stream is listed first, then the rest by name (cam-2 before cam-10).
    order = [
        n
        for line in panel(lines, "streams")
        for n in ("cam-03", "cam-01", "cam-02", "cam-10", "front-left")
        if f"│ {n}" in line
    ]
    assert order[:5] == ["cam-03", "cam-01", "cam-02", "cam-10", "front-left"]
    assert "front-left-inters…" in text or "front-left-intersection-7" in text
    for needed in ("streams 5: 1 ALERT, 0 stale, 4 ok", "alerts 1 open / 2", "dead letters 1", "seen", "fps"):
        assert needed in text, needed


def test_alert_log_newest_first(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock)
    lines = screen(state).split("\n")
    log = [line for line in lines if any(w in line for w in (" raised ", " cleared ", " updated "))]
    assert [line.split()[2] for line in log] == ["raised", "cleared", "raised"]
    assert "cam-03" in log[0] and "rain 96%" in log[0]
    assert "1m05s" in log[1]  # how long the cleared alert lasted


def test_many_streams_say_how_many_more(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock, extra_streams=30)
    lines = check_shape(screen(state), 80, 24)
    shown = [line for line in panel(lines, "streams") if line.startswith(("│ lot-", "│ cam-", "│ front-"))]
    hidden = 35 - len(shown)
    assert 5 <= len(shown) < 35
    assert any(f"+{hidden} more: {hidden} ok" in line for line in lines)
    assert "ALERT rain 96%" in "\n".join(lines)  # the alert is never the row that gets cut


def test_big_screen_shows_everything(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock, extra_streams=10)
    lines = check_shape(screen(state, 160, 50), 160, 50)
    text = "\n".join(lines)
    assert "more:" not in text
    for needed in (
        "frames",
        "anomalous",
        "model",
        "gc-3fa9c1d2",
        "latency p50 15ms",
        "dead letters (1, 1 recent)",
        "cannot decode image: not a JPEG or PNG",
        "decode cam-09",
        "front-left-intersection-7",
        "█ = anomalous frame",
    ):
        assert needed in text, needed


def test_tiny_and_natural_heights(state: ConsoleState, clock: FakeClock) -> None:
    populated(state, clock, extra_streams=30)
    check_shape(screen(state, 60, 10), 60, 10)
    text = screen(state, 100, None)  # natural height: every stream, no "+N more"
    assert "more:" not in text and text.count("│ lot-") == 30


def test_export_svg_and_html(state: ConsoleState, clock: FakeClock, tmp_path) -> None:
    populated(state, clock)
    svg, html = tmp_path / "screen.svg", tmp_path / "screen.html"
    export_snapshot(state, 80, 24, svg=svg, html=html)
    assert "<svg" in svg.read_text(encoding="utf-8")
    assert "ALERT" in html.read_text(encoding="utf-8")


def test_fmt_age() -> None:
    assert [fmt_age(x) for x in (0.04, 12.7, 125, 3 * 3600 + 120, 2 * 86400 + 3600)] == [
        "0.0s",
        "12s",
        "2m05s",
        "3h02m",
        "2d01h",
    ]


# ----------------------------------------------------------------------------- running


def test_run_console_once_from_an_iterable() -> None:
    now = time.time()
    events = [ConsoleEvent("score", score("cam-01", i, now - 1 + i / 30)) for i in range(30)]
    events += [
        ("alert", alert("a9", "cam-01", "raised", now - 0.5)),
        ("dead_letter", dead_letter()),
        ("malformed", "x"),
    ]
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None, force_terminal=False, legacy_windows=False)
    assert run_console(Config(), None, events, console, once=True) == 0
    text = out.getvalue()
    assert "ALERT rain 96%" in text and "in-process feed" in text and "1 unreadable record" in text


def test_live_console_refreshes_from_another_thread() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, height=24, color_system=None, force_terminal=True, legacy_windows=False)
    state = ConsoleState(ConsoleConfig(refresh_per_second=50))
    with LiveConsole(state, console, screen=False) as live:
        writer = threading.Thread(
            target=lambda: [state.ingest_score(score("cam-42", i, time.time())) for i in range(5)]
        )
        writer.start()
        writer.join()
        live.refresh()
    assert "cam-42" in out.getvalue()


def test_run_console_live_stops_on_request(tmp_path) -> None:
    stop = threading.Event()
    console = Console(
        file=io.StringIO(), width=100, height=30, color_system=None, force_terminal=True, legacy_windows=False
    )
    threading.Timer(0.3, stop.set).start()
    events = [ConsoleEvent("score", score("cam-01", i, time.time())) for i in range(3)]
    t = time.monotonic()
    rc = run_console(Config(), None, events, console, stop=stop, screen=False, export_svg=tmp_path / "s.svg")
    assert rc == 0 and time.monotonic() - t < 5
    assert "cam-01" in (tmp_path / "s.svg").read_text(encoding="utf-8")


class FakeConsumer:
    """Enough of KafkaConsumer for KafkaFeed: topics appear, positions are set, records are polled."""

    def __init__(self, topics: dict[str, list]) -> None:
        self.topics = topics  # topic -> list of records (None: topic does not exist yet)
        self.assigned: list = []
        self.seeks: dict = {}
        self.times_asked: dict = {}
        self.delivered = False

    def partitions_for_topic(self, topic: str) -> set:
        return {0} if self.topics.get(topic) is not None else set()

    def assign(self, tps: list) -> None:
        self.assigned = list(tps)

    def seek_to_beginning(self, *tps) -> None:
        for tp in tps:
            self.seeks[tp] = "beginning"

    def offsets_for_times(self, query: dict) -> dict:
        self.times_asked.update(query)
        return {tp: SimpleNamespace(offset=1, timestamp=ts) for tp, ts in query.items()}

    def seek(self, tp, offset: int) -> None:
        self.seeks[tp] = offset

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict:
        if self.delivered:
            return {}
        self.delivered = True
        return {tp: self.topics[tp.topic] for tp in self.assigned}

    def close(self) -> None:
        pass


def _msg(value: bytes | None, ts_ms: int, offset: int = 0, headers: list | None = None, key: bytes = b"cam-01"):
    return SimpleNamespace(value=value, timestamp=ts_ms, offset=offset, headers=headers, key=key)


def test_kafka_feed_positions_and_parsing() -> None:
    cfg = Config()
    now = T0
    recent, old = int((now - 10) * 1000), int((now - 3600) * 1000)
    consumer = FakeConsumer(
        {
            cfg.kafka.scores_topic: [
                _msg(json.dumps(score("cam-01", 1, now)).encode(), recent),
                _msg(json.dumps(score("cam-01", 0, now - 3600)).encode(), old),
                _msg(b"{not json", recent),
            ],
            cfg.kafka.alerts_topic: [_msg(json.dumps(alert("a1", "cam-01", "raised", now - 3600)).encode(), old)],
            cfg.kafka.dead_letter_topic: None,
        }
    )
    feed = KafkaFeed(cfg, "broker:9092", consumer=consumer, clock=lambda: now)
    events = feed.poll(0.01)
    seeks = {tp.topic: where for tp, where in consumer.seeks.items()}
    # Alerts from the start (an open alert may be old); scores from the last lookback_minutes.
    assert seeks == {cfg.kafka.alerts_topic: "beginning", cfg.kafka.scores_topic: 1}
    assert list(consumer.times_asked.values()) == [int((now - 300) * 1000)]
    assert feed.missing == [cfg.kafka.dead_letter_topic]
    # The hour-old score is dropped by timestamp; the hour-old alert is kept.
    assert sorted(e.kind for e in events) == ["alert", "malformed", "score"]
    assert "since" in feed.describe() and "last 5 min" in feed.describe()

    consumer.topics[cfg.kafka.dead_letter_topic] = [_msg(b"frame", recent, headers=dead_letter())]
    consumer.delivered = False
    feed._next_check = 0  # the topic appeared: the next poll assigns it, from its beginning
    events = feed.poll(0.01)
    assert feed.missing == [] and [e.kind for e in events if e.kind == "dead_letter"] == ["dead_letter"]
    assert {tp.topic: w for tp, w in consumer.seeks.items()}[cfg.kafka.dead_letter_topic] == "beginning"


# ----------------------------------------------------------------------------- command line


def test_cli_registers_console_and_needs_a_broker(capsys) -> None:
    import run_monitor

    args = run_monitor.build_parser().parse_args(
        [
            "console",
            "--once",
            "--bootstrap-servers",
            "h:1",
            "--from-beginning",
            "--duration",
            "2",
            "--export-svg",
            "a.svg",
            "--export-html",
            "a.html",
        ]
    )
    assert (args.once, args.bootstrap_servers, args.from_beginning, args.duration) == (True, "h:1", True, 2.0)
    assert callable(register)
    assert run_monitor.main(["console", "--once"]) == 2
    err = capsys.readouterr().err
    assert "--bootstrap-servers" in err and "demo" in err


# ----------------------------------------------------------------------------- with a real broker


@pytest.mark.kafka
def test_console_once_reads_a_real_broker(kafka_cfg: Config, tmp_path) -> None:
    """Records produced to fresh topics come out of `run_monitor.py console --once` as a screen."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from kafka import KafkaProducer

    from tests.conftest import write_config

    k = kafka_cfg.kafka
    producer = KafkaProducer(bootstrap_servers=k.bootstrap_servers)
    now = time.time()
    for i in range(30):
        for stream in ("cam-01", "cam-02"):
            rainy = stream == "cam-02" and i >= 15
            rec = score(
                stream,
                i,
                now - 1 + i / 30,
                0.05 + (0.3 if rainy else 0.0),
                anomalous=rainy,
                condition="rain" if rainy else None,
                confidence=0.96 if rainy else None,
            )
            producer.send(k.scores_topic, key=stream.encode(), value=json.dumps(rec).encode())
    producer.send(
        k.alerts_topic, key=b"cam-02", value=json.dumps(alert("a-it", "cam-02", "raised", now - 0.5)).encode()
    )
    producer.send(k.dead_letter_topic, key=b"cam-09", value=b"\x00not an image", headers=dead_letter())
    producer.flush()
    producer.close()

    svg = tmp_path / "once.svg"
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [
            sys.executable,
            str(repo / "run_monitor.py"),
            "--config",
            str(write_config(kafka_cfg, tmp_path / "cfg.yaml")),
            "console",
            "--once",
            "--bootstrap-servers",
            k.bootstrap_servers,
            "--duration",
            "20",
            "--export-svg",
            str(svg),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo,
        env={**os.environ, "COLUMNS": "100", "LINES": "30"},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "ALERT rain 96%" in out and "cam-01" in out, out
    assert "frames 60 (15 anomalous" in out and "dead letters 1" in out, out
    assert "alerts 1 open / 1" in out, out
    assert "<svg" in svg.read_text(encoding="utf-8")
