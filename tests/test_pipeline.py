"""End to end through a real broker: replayed frames -> 2 `score` processes in one group -> scores topic.

One run (module fixture) feeds 500 good frames from 4 streams with bad records in between;
the tests check what came out of it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import threading
import time
from collections import defaultdict

import numpy as np
import pytest
from kafka import KafkaProducer

from cli.monitor_process import MonitorProcess
from monitor.preprocess import decode_frame
from pipelines.broker import ensure_topics
from pipelines.producers import FrameProducer, folder_sequences, produce, replay_ticks
from pipelines.wire import FrameMeta, decode_score, encode_frame, frame_headers, parse_dead_letter_headers
from tests.conftest import distinct_partition_prefix, fresh_config, read_topic, write_config
from tests.helpers import SHARED_DATA

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

GOOD = 500
STREAMS = 4


class Proc(MonitorProcess):
    """A `run_monitor.py score` subprocess (cli.monitor_process), stdout (`out`) and stderr apart."""

    def __init__(self, args: list[str], name: str) -> None:
        super().__init__(args, {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}, separate_stderr=True)
        self.name = name
        self.out = self.lines


def _bad_records(stream: str, big: bytes) -> list[tuple[str, bytes, list]]:
    """(why, value, headers) of records that must be dead-lettered, not scored."""
    good_jpeg = encode_frame(np.full((40, 40, 3), 128, np.uint8))

    def h(seq: int) -> list:
        return frame_headers(FrameMeta(stream, seq, time.time_ns(), "test", "jpeg"))

    bad_headers = [(k, b"12x" if k == "seq" else v) for k, v in h(0)]
    return [
        ("corrupt", good_jpeg[: len(good_jpeg) // 2], h(10_001)),
        ("empty", b"", h(10_002)),
        ("not an image", b"hello, this is plain text and not a picture", h(10_003)),
        ("oversized", big, h(10_004)),
        ("malformed headers", good_jpeg, bad_headers),
    ]


@pytest.fixture(scope="module")
def pipeline_run(kafka_broker, untrained_checkpoint, tmp_path_factory):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    bootstrap = kafka_broker.bootstrap
    cfg = fresh_config(bootstrap)
    cfg.consumer = dataclasses.replace(
        cfg.consumer,
        model=str(untrained_checkpoint),
        max_frame_bytes=200_000,
        max_batch=64,
        max_wait_ms=30,
        metrics_interval_s=1.0,
        device="cpu",
    )
    cfg.producer = dataclasses.replace(cfg.producer, fps=0)
    ensure_topics(bootstrap, cfg)
    cfg_path = write_config(cfg, tmp_path_factory.mktemp("cfg") / "signwatch.yaml")

    procs = [Proc(["--config", str(cfg_path), "score", "--name", f"c{i}"], f"c{i}") for i in range(2)]
    try:
        # Produce only once both members hold partitions, so both have work (their keys are
        # chosen to land on 4 distinct partitions).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            a, b = (p.assigned() for p in procs)
            if a and b and not (a & b) and len(a | b) == 4:
                break
            for p in procs:
                assert p.p.poll() is None, f"{p.name} exited early:\n{p.text()}"
            time.sleep(0.1)
        else:
            pytest.fail(
                "the two consumers did not share the partitions in time:\n" + "\n".join(p.text() for p in procs)
            )

        prefix = distinct_partition_prefix(STREAMS)
        seqs = folder_sequences(SHARED_DATA, truth=("none", 0))
        producer = FrameProducer(cfg, bootstrap)
        stop = threading.Event()
        ticks = replay_ticks(seqs, STREAMS, prefix=prefix, limit=GOOD)
        first = produce(ticks, producer, cfg, "folder", stop, fps=0, max_frames=GOOD // 2 - 2)  # whole ticks
        # Bad records in the middle of stream 1, each keyed like that stream's frames.
        rng = np.random.default_rng(0)
        big = encode_frame(rng.integers(0, 256, (300, 300, 3), dtype=np.uint8), "png")
        assert len(big) > cfg.consumer.max_frame_bytes
        bad = _bad_records(f"{prefix}-1", big)
        raw = KafkaProducer(bootstrap_servers=bootstrap, max_request_size=cfg.kafka.max_request_size)
        for _, value, headers in bad:
            raw.send(cfg.kafka.frames_topic, value=value, key=f"{prefix}-1".encode(), headers=headers)
        raw.flush()
        raw.close()
        second = produce(ticks, producer, cfg, "folder", stop, fps=0)
        report = producer.close()
        assert report.undelivered == 0 and report.delivered == GOOD
        assert first.frames + second.frames == GOOD

        scores = read_topic(bootstrap, cfg.kafka.scores_topic, GOOD, timeout_s=90)
        dead = read_topic(bootstrap, cfg.kafka.dead_letter_topic, len(bad), timeout_s=30)
        frames = read_topic(bootstrap, cfg.kafka.frames_topic, GOOD + len(bad), timeout_s=30)
    finally:
        for p in procs:
            if p.p.poll() is None:
                p.p.send_signal(signal.SIGTERM)
        codes = []
        for p in procs:
            try:
                codes.append(p.p.wait(timeout=30))
            except subprocess.TimeoutExpired:
                p.p.kill()
                codes.append(p.p.wait())
    time.sleep(0.2)  # let the reader threads drain the pipes
    return dict(cfg=cfg, procs=procs, codes=codes, scores=scores, dead=dead, frames=frames, bad=bad, prefix=prefix)


def test_every_frame_is_scored_once_in_stream_order(pipeline_run):
    scores = pipeline_run["scores"]
    records = [decode_score(r.value) for r in scores]
    assert len(records) == GOOD, f"{len(records)} scores for {GOOD} frames"
    by_stream: dict[str, list[int]] = defaultdict(list)
    for raw, rec in zip(scores, records, strict=False):  # read back partition by partition, in offset order
        assert raw.key == rec.stream.encode()
        by_stream[rec.stream].append(rec.seq)
    assert sorted(by_stream) == [f"{pipeline_run['prefix']}-{i}" for i in range(STREAMS)]
    for stream, seqs in by_stream.items():
        assert seqs == list(range(len(seqs))), f"{stream}: scores out of order or missing: {seqs[:20]}..."
    for rec in records:
        assert rec.truth is not None and rec.truth.challenge == "none" and rec.truth.level == 0
        assert rec.origin.topic == pipeline_run["cfg"].kafka.frames_topic
        assert rec.capture_ns <= rec.received_ns <= rec.scored_ns


def test_both_processes_scored_and_shut_down_cleanly(pipeline_run):
    assert pipeline_run["codes"] == [0, 0], "\n".join(p.text() for p in pipeline_run["procs"])
    total = 0
    for p in pipeline_run["procs"]:
        summary = [line for line in p.out if line.startswith("score summary")]
        assert summary, p.text()
        n = int(re.search(r"scored (\d+) frames", summary[-1]).group(1))
        assert n > 0, f"{p.name} scored nothing:\n{p.text()}"
        total += n
    assert total == GOOD


def test_scores_equal_offline_scoring_of_the_same_bytes(pipeline_run, untrained_checkpoint):
    import monitor

    scorer = monitor.load_model(untrained_checkpoint, device="cpu")
    frames = {
        (r.key.decode(), int(dict(r.headers)["seq"].decode())): r.value
        for r in pipeline_run["frames"]
        if dict(r.headers).get("source") == b"folder"
    }
    records = [decode_score(r.value) for r in pipeline_run["scores"]]
    images = [decode_frame(frames[(rec.stream, rec.seq)]).image for rec in records]  # as the consumer decodes
    offline = scorer.score(images)
    np.testing.assert_allclose([r.score for r in records], offline.score, rtol=0, atol=1e-5)
    np.testing.assert_allclose([r.recon for r in records], offline.recon, rtol=0, atol=1e-5)
    np.testing.assert_allclose([r.layer_cos for r in records], offline.layer_cos, rtol=0, atol=1e-5)
    assert {r.model_id for r in records} == {scorer.model_id}


def test_bad_records_are_dead_lettered_with_reasons(pipeline_run):
    dead = pipeline_run["dead"]
    bad = pipeline_run["bad"]
    assert len(dead) == len(bad)
    frames_topic = pipeline_run["cfg"].kafka.frames_topic
    by_offset = {r.offset: r for r in pipeline_run["frames"] if r.partition == dead[0].partition}
    for d in dead:
        info = parse_dead_letter_headers(d.headers)
        assert info.origin.topic == frames_topic and info.consumer in ("c0", "c1")
        original = by_offset[info.origin.offset]
        # The original key, value and headers travel with the dead letter.
        assert d.key == original.key and d.value == original.value
        assert [h for h in d.headers if not h[0].startswith("dlq.")] == list(original.headers)
    errors = [parse_dead_letter_headers(d.headers) for d in dead]
    stages_errors = sorted((e.stage, e.error) for e in errors)
    text = " | ".join(f"{s}: {e}" for s, e in stages_errors)
    assert "could not be decoded" in text  # corrupt JPEG
    assert "empty payload" in text  # empty
    assert "not an image" in text  # plain text
    assert "over consumer.max_frame_bytes" in text  # oversized
    assert "malformed headers" in text and "'seq'" in text
    assert {e.stage for e in errors} == {"validate", "decode"}
    # The good frames of the same stream, before and after them, were scored.
    stream1 = sorted(
        decode_score(r.value).seq for r in pipeline_run["scores"] if r.key == f"{pipeline_run['prefix']}-1".encode()
    )
    assert stream1 == list(range(len(stream1))) and len(stream1) == GOOD // STREAMS
