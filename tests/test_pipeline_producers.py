"""Frame sources (video file, live URL, CURE-TSR layout, folders) and the producer, with a real broker."""

from __future__ import annotations

import functools
import http.server
import logging
import re
import threading
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

import run_monitor
from monitor.cure_tsr import challenge_folder, format_name
from pipelines.broker import EmbeddedBroker, ensure_topics
from pipelines.producers import (
    FrameProducer,
    camera_ticks,
    cure_sequences,
    deal_sequences,
    folder_sequences,
    parse_roi,
    produce,
    replay_ticks,
    seq_ranges,
)
from pipelines.wire import parse_frame_headers
from tests.conftest import fresh_config, read_topic
from tests.helpers import SHARED_DATA


@pytest.fixture
def video(tmp_path) -> Path:
    path = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(20):
        w.write(np.full((48, 64, 3), i * 10, np.uint8))
    w.release()
    return path


def test_video_file_frames_are_cropped_resized_and_end_at_the_last_frame(video):
    stop = threading.Event()
    ticks = list(camera_ticks(str(video), "cam", stop, roi=parse_roi("10,5,30,20")))
    assert len(ticks) == 20 and all(len(t) == 1 and t[0].stream == "cam" for t in ticks)
    assert ticks[0][0].image.shape == (20, 30, 3)
    ticks = list(camera_ticks(str(video), "cam", stop, roi=parse_roi("30,25,30,20"), size=(16, 8)))
    assert ticks[0][0].image.shape == (8, 16, 3)  # cropped, then resized


@pytest.mark.parametrize(
    ("roi", "where"), [("50,40,30,20", "reaches past"), ("34,28,31,20", "reaches past"), ("70,10,5,5", "lies outside")]
)
def test_roi_off_the_frame_is_refused_not_clipped(video, roi, where):
    # Before: a partial ROI was clipped in silence (its frames raised 'haze'), one wholly off the
    # frame produced nothing and exited 0.
    with pytest.raises(ValueError, match=rf"--roi {roi} {where} the 64x48 frame"):
        next(iter(camera_ticks(str(video), "cam", threading.Event(), roi=parse_roi(roi))))


def test_produce_camera_refuses_an_roi_off_the_video_before_any_broker(video, capsys):
    # No broker is running or named: the ROI is checked against the file first.
    for roi, where in (("40,20,30,20", "reaches past"), ("100,20,30,20", "lies outside")):
        assert run_monitor.main(["produce", "camera", str(video), "--roi", roi]) == 2
        err = capsys.readouterr().err.strip()
        assert err == f"error: --roi {roi} {where} the 64x48 frame (it needs x+w <= 64 and y+h <= 48)", err


def test_video_file_info_reads_its_own_frame_rate(video, tmp_path):
    from pipelines.producers import video_file_info

    assert video_file_info(str(video)) == (64, 48, 10.0)
    with pytest.raises(ValueError, match="OpenCV cannot open"):
        video_file_info(str(tmp_path / "missing.avi"))


@pytest.mark.kafka
def test_produce_camera_plays_a_video_at_its_own_fps_unless_told(video, kafka_broker, tmp_path, capsys):
    # Before: a 10 fps file played at producer.fps (30). 20 frames at 10 fps take ~1.9 s; at 30 fps ~0.63 s.
    cfg = fresh_config(kafka_broker.bootstrap)
    base = ["produce", "camera", str(video), "--bootstrap-servers", kafka_broker.bootstrap]
    base += ["--topic", cfg.kafka.frames_topic]
    t0 = time.monotonic()
    assert run_monitor.main(base) == 0, capsys.readouterr().err
    own = time.monotonic() - t0
    out = capsys.readouterr().out
    assert "produce: 20 frames from 1 stream(s)" in out and "undelivered 0" in out, out
    t0 = time.monotonic()
    assert run_monitor.main([*base, "--fps", "0"]) == 0
    fast = time.monotonic() - t0
    assert own - fast >= 1.5, (own, fast)  # 19 intervals of 0.1 s; at 30 fps it would be 0.63 s


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "0,0,0,5", "-1,0,4,4"])
def test_bad_roi_is_refused(text):
    with pytest.raises(ValueError, match="--roi"):
        parse_roi(text)


def test_live_source_that_drops_is_reopened(video, caplog):
    caplog.set_level(logging.INFO, logger="signwatch.produce")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(video.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{video.name}"
        stop = threading.Event()
        n = 0
        for _ in camera_ticks(url, "cam", stop, backoff_s=(0.05, 0.2)):
            n += 1
            if n == 50:  # the 20-frame clip ends twice on the way: two drops, two reconnects
                stop.set()
    finally:
        server.shutdown()
    messages = [r.getMessage() for r in caplog.records]
    assert n == 50
    assert sum("opened" in m for m in messages) >= 3
    assert sum("stream dropped; reconnecting" in m for m in messages) >= 2


def test_unreachable_camera_backs_off_exponentially(caplog):
    caplog.set_level(logging.INFO, logger="signwatch.produce")
    stop = threading.Event()
    waits: list[float] = []

    class StopAfterSixRetries(logging.Handler):
        # The condition, not a clock: stop once the sixth retry has been announced.
        def emit(self, record):
            m = re.search(r"retrying in ([\d.]+) s", record.getMessage())
            if m:
                waits.append(float(m.group(1)))
                if len(waits) == 6:
                    stop.set()

    handler = StopAfterSixRetries()
    logging.getLogger("signwatch.produce").addHandler(handler)
    deadline = threading.Timer(30.0, stop.set)  # a hung source must not hang the test
    deadline.start()
    try:
        t0 = time.monotonic()
        assert list(camera_ticks("http://127.0.0.1:1/cam.mjpg", "cam", stop, backoff_s=(0.05, 0.4))) == []
        elapsed = time.monotonic() - t0
    finally:
        deadline.cancel()
        logging.getLogger("signwatch.produce").removeHandler(handler)
    assert len(waits) == 6, waits  # stopped by the sixth retry, not by the 30 s deadline
    assert waits == sorted(waits) and waits[-3:] == [0.4, 0.4, 0.4], waits  # 0.05, 0.1, 0.2, 0.4, 0.4, 0.4
    # no hot loop: it really waited out the first five delays before the sixth attempt
    assert elapsed >= 0.05 + 0.1 + 0.2 + 0.4 + 0.4 - 0.01, elapsed


def _cure_layout(root: Path) -> None:
    """Two sign sequences (stop 1-3, yield 10-11) clean and under Rain-3."""
    rng = np.random.default_rng(0)
    for folder, ct, lv in (("ChallengeFree", 0, 0), ("Rain-3", 9, 3)):
        d = root / "Real_Test" / folder
        d.mkdir(parents=True)
        for sign, idx in ((6, 1), (6, 2), (6, 3), (13, 10), (13, 11)):
            img = rng.integers(0, 256, (30 + idx, 28, 3), dtype=np.uint8)
            cv2.imwrite(str(d / format_name(1, sign, ct, lv, idx)), img)


def test_cure_replay_deals_sequences_to_parallel_streams_with_truth(tmp_path):
    _cure_layout(tmp_path)
    seqs = cure_sequences(tmp_path)
    assert len(seqs) == 4 and sum(len(s.paths) for s in seqs) == 10
    rain = cure_sequences(tmp_path, challenge_types=["rain"], sign_types=["stop"])
    assert len(rain) == 1 and [t.to_dict() for t in rain[0].truths][0] == {
        "challenge": "rain",
        "level": 3,
        "sign": "stop",
        "sequence": rain[0].name,
    }
    ticks = list(replay_ticks(seqs, streams=2, prefix="r"))
    by_stream = defaultdict(list)
    for tick in ticks:
        assert len({f.stream for f in tick}) == len(tick)  # at most one frame per stream per tick
        for f in tick:
            by_stream[f.stream].append(f)
    assert sorted(by_stream) == ["r-0", "r-1"]
    assert sum(len(v) for v in by_stream.values()) == 10
    # Each stream plays whole sequences in index order: the truth's sequence changes only at boundaries.
    for frames in by_stream.values():
        names = [f.truth.sequence for f in frames]
        assert names == sorted(names, key=names.index)
    looped = list(replay_ticks(seqs, streams=2, loop=True, limit=25))
    assert sum(len(t) for t in looped) == 25


def test_replay_shuffle_opens_each_stream_clear_then_plays_its_episodes_in_a_seeded_order(tmp_path):
    rng = np.random.default_rng(1)
    # none, decolorization, lens blur, codec error, rain (3 and 5), haze
    challenges = [(0, 0), (1, 3), (2, 3), (3, 3), (9, 3), (9, 5), (12, 4)]
    for ct, lv in challenges:
        d = tmp_path / "Real_Test" / challenge_folder(ct, lv)
        d.mkdir(parents=True)
        for sign, idx in ((6, 1), (6, 2), (13, 10)):
            cv2.imwrite(str(d / format_name(1, sign, ct, lv, idx)), rng.integers(0, 256, (30, 28, 3), dtype=np.uint8))
    seqs = cure_sequences(tmp_path)
    assert len(seqs) == 2 * len(challenges)

    def order(shuffle):
        return [[(s.truths[0].challenge, s.truths[0].level) for s in plan] for plan in deal_sequences(seqs, 2, shuffle)]

    sorted_order = order(None)
    # sorted by folder name: CodecError follows ChallengeFree and opens both streams' episodes
    assert [p[:2] for p in sorted_order] == [[("none", 0), ("codec_error", 3)]] * 2
    seeded = order(7)
    assert seeded == order(7)  # the seed is the order
    assert seeded != sorted_order and order(8) != seeded
    for plan, plain in zip(seeded, sorted_order, strict=True):
        assert plan[0] == ("none", 0) and sorted(plan) == sorted(plain)  # clear first, the same episodes
    # replay_ticks plays that order, whole sequences one after the other
    played = defaultdict(list)
    for tick in replay_ticks(seqs, streams=2, prefix="r", shuffle=7):
        for f in tick:
            if not played[f.stream] or played[f.stream][-1] != (f.truth.challenge, f.truth.level):
                played[f.stream].append((f.truth.challenge, f.truth.level))
    assert [played["r-0"], played["r-1"]] == seeded
    with pytest.raises(ValueError, match="streams must be >= 1"):
        deal_sequences(seqs, 0)


def test_folder_sequences_keep_tracks_together():
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    seqs = folder_sequences(SHARED_DATA, truth=("none", 0))
    for s in seqs[:20]:
        tracks = {p.stem.split("_")[0] for p in s.paths}
        assert len(tracks) == 1 and s.paths == sorted(s.paths)
        assert all(t.challenge == "none" and t.sign == s.paths[0].parent.name for t in s.truths)


def test_seq_ranges():
    assert seq_ranges([9, 1, 2, 3, 7, 10]) == "1-3, 7, 9-10"
    assert seq_ranges([]) == ""


@pytest.mark.kafka
def test_frames_arrive_keyed_with_headers_in_stream_order(kafka_cfg):
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    bootstrap = kafka_cfg.kafka.bootstrap_servers
    producer = FrameProducer(kafka_cfg, bootstrap)
    stop = threading.Event()
    summary = produce(
        replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 3),
        producer,
        kafka_cfg,
        "folder",
        stop,
        fps=0,
        max_frames=60,
    )
    report = producer.close()
    assert (summary.frames, summary.streams, report.delivered, report.undelivered) == (60, 3, 60, 0)
    records = read_topic(bootstrap, kafka_cfg.kafka.frames_topic, 60, timeout_s=20)
    seqs = defaultdict(list)
    for r in records:
        meta = parse_frame_headers(r.headers)
        assert r.key == meta.stream.encode() and meta.encoding == "jpeg" and meta.source == "folder"
        assert meta.truth is not None and meta.truth.challenge == "none"
        seqs[meta.stream].append(meta.seq)
    assert {s: v for s, v in seqs.items()} == {f"replay-{i}": list(range(20)) for i in range(3)}


@pytest.mark.kafka
@pytest.mark.slow
def test_producer_recreated_after_broker_restart_and_losses_counted():
    """docs/DESIGN.md §4: after a restart the broker forgets the idempotent producer; we re-create it and
    count each frame that was lost instead of dropping it silently."""
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    with EmbeddedBroker() as broker:
        cfg = fresh_config(broker.bootstrap)
        ensure_topics(broker.bootstrap, cfg)
        seqs = folder_sequences(SHARED_DATA)
        producer = FrameProducer(cfg, broker.bootstrap)
        stop = threading.Event()
        produce(replay_ticks(seqs, 2), producer, cfg, "folder", stop, fps=0, max_frames=100)
        producer.flush()
        assert producer.report.delivered == 100
        broker.restart()  # memory storage: every topic and producer id is gone
        produce(replay_ticks(seqs, 2), producer, cfg, "folder", stop, fps=100, max_frames=200)
        report = producer.close()
        assert report.sent == 300
        assert report.delivered + report.undelivered == 300, report.describe()
        assert report.recreated >= 1 and report.delivered > 250
        assert "UNDELIVERED" in report.describe() if report.undelivered else True
        # What it says was delivered after the restart is really there.
        after = read_topic(broker.bootstrap, cfg.kafka.frames_topic, report.delivered - 100, timeout_s=20)
        assert len(after) == report.delivered - 100


@pytest.mark.kafka
def test_produce_command_summary_and_user_errors(kafka_broker, tmp_path, capsys):
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    from tests.conftest import write_config

    cfg = fresh_config(kafka_broker.bootstrap)
    path = write_config(cfg, tmp_path / "c.yaml")
    rc = run_monitor.main(
        [
            "--config",
            str(path),
            "produce",
            "folder",
            str(SHARED_DATA),
            "--streams",
            "2",
            "--fps",
            "0",
            "--max-frames",
            "30",
            "--challenge",
            "none",
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "produce: 30 frames from 2 stream(s)" in out and "undelivered 0" in out
    for argv, message in (
        (["produce", "folder", str(tmp_path / "nope")], "not a directory"),
        (["produce", "camera", "0x"], "not a device index, a URL or an existing video file"),
        (["produce", "camera", "0", "--roi", "1,2"], "--roi must be x,y,w,h"),
        (["produce", "folder", str(SHARED_DATA), "--challenge", "sunshine"], "unknown challenge"),
        (["score", "--bootstrap-servers", kafka_broker.bootstrap], "no model"),
    ):
        rc = run_monitor.main(["--config", str(path), *argv])
        out, err = capsys.readouterr()
        assert rc == 2, (argv, out, err)
        assert err.strip().startswith("error: ") and message in err and err.strip().count("\n") == 0, err
