"""The scoring consumer in-process and under faults, against the real broker."""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
import time

import numpy as np
import pytest

import monitor
from calibration.alerts import AlertEvent
from pipelines.consumer import ScoringConsumer
from pipelines.producers import FrameProducer, SourceFrame, folder_sequences, produce, replay_ticks
from pipelines.wire import AlertExample, ScoreRecord, decode_alert, decode_score, parse_dead_letter_headers
from tests.conftest import distinct_partition_prefix, read_topic, write_config
from tests.helpers import SHARED_DATA

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def scorer(untrained_checkpoint):
    return monitor.load_model(untrained_checkpoint, device="cpu")


def _produce_folder(cfg, n: int, streams: int = 2, prefix: str = "replay", fps: float = 0) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    producer = FrameProducer(cfg, cfg.kafka.bootstrap_servers)
    produce(
        replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), streams, prefix=prefix),
        producer,
        cfg,
        "folder",
        threading.Event(),
        fps=fps,
        max_frames=n,
    )
    assert producer.close().undelivered == 0


class _Background:
    """A ScoringConsumer running in a thread, stopped like SIGTERM would stop it."""

    def __init__(self, consumer: ScoringConsumer, **run_kwargs) -> None:
        self.consumer = consumer
        self.summary = None
        self.thread = threading.Thread(target=self._run, kwargs=run_kwargs, daemon=True)
        self.thread.start()

    def _run(self, **kw) -> None:
        self.summary = self.consumer.run(**kw)

    def stop(self, timeout: float = 30) -> None:
        self.consumer.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "consumer did not stop"


def test_hook_annotates_scores_and_publishes_alerts_then_offsets_are_committed(kafka_cfg, scorer):
    from kafka import KafkaAdminClient

    seen_images = []

    def on_scored(records: list[ScoreRecord]) -> list[AlertEvent]:
        for r in records:
            seen_images.append(r.image.shape)
            r.condition, r.anomaly, r.is_anomalous, r.confidence = "clear", r.score * 2, False, 0.5
        r = records[0]
        return [
            AlertEvent(
                f"a-{r.stream}-{r.seq}",
                r.stream,
                "raised",
                "rain",
                0.9,
                r.capture_ns,
                None,
                len(records),
                1,
                r.score,
                r.score,
                AlertExample(r.origin.topic, r.origin.partition, r.origin.offset, r.seq),
            )
        ]

    _produce_folder(kafka_cfg, 40)
    out = []

    class Sink:
        def write(self, s):
            out.append(s)

        def flush(self):
            pass

    bg = _Background(
        ScoringConsumer(
            kafka_cfg, kafka_cfg.kafka.bootstrap_servers, scorer, on_scored=on_scored, name="hooked", out=Sink()
        )
    )
    scores = read_topic(kafka_cfg.kafka.bootstrap_servers, kafka_cfg.kafka.scores_topic, 40, timeout_s=30)
    bg.stop()
    assert len(scores) == 40 and len(seen_images) == 40
    d = json.loads(scores[0].value)
    assert (d["condition"], d["is_anomalous"], d["confidence"]) == ("clear", False, 0.5)
    assert d["anomaly"] == pytest.approx(2 * d["score"])
    alerts = [
        decode_alert(r.value)
        for r in read_topic(
            kafka_cfg.kafka.bootstrap_servers, kafka_cfg.kafka.alerts_topic, bg.summary.batches, timeout_s=10
        )
    ]
    assert len(alerts) == bg.summary.batches >= 1 and alerts[0].state == "raised"
    assert bg.summary.scored == 40 and bg.summary.dead_letters == 0
    assert "score summary [hooked]: scored 40 frames" in bg.summary.line()
    # Everything scored was committed on the way: the group's offsets cover all 40 frames.
    admin = KafkaAdminClient(bootstrap_servers=kafka_cfg.kafka.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(kafka_cfg.consumer.group_id)[kafka_cfg.consumer.group_id]
    finally:
        admin.close()
    assert sum(o.offset for o in offsets.values()) == 40


class _SlowFussyScorer:
    """The real scorer, slowed down (so frames pile up) and failing on any batch holding a uniform frame."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s
        self.model_id = inner.model_id
        self.preprocess = inner.preprocess

    def score_tensor(self, x):
        time.sleep(self.delay_s)
        if any(bool((xi.amax(dim=(1, 2)) == xi.amin(dim=(1, 2))).all()) for xi in x):  # each channel flat
            raise ValueError("uniform frames upset this scorer")
        return self.inner.score_tensor(x)


def test_backpressure_pauses_fetching_and_an_unscorable_frame_is_dead_lettered_alone(kafka_cfg, scorer):
    cfg = dataclasses.replace(
        kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=8, max_pending_frames=16)
    )
    _produce_folder(cfg, 60)
    # One frame the scorer chokes on (uniform grey), in the middle of a stream.
    producer = FrameProducer(cfg, cfg.kafka.bootstrap_servers)
    produce([[SourceFrame("odd", np.full((13, 13, 3), 99, np.uint8))]], producer, cfg, "test", threading.Event(), fps=0)
    producer.close()
    _produce_folder(cfg, 40, prefix="more")
    consumer = ScoringConsumer(
        cfg, cfg.kafka.bootstrap_servers, _SlowFussyScorer(scorer, 0.02), name="slow", out=sys.stderr
    )
    summary = consumer.run(max_records=101)
    assert (summary.scored, summary.dead_letters) == (100, 1), summary.line()
    assert summary.pauses >= 1
    # Bounded: at most one poll (max_batch records) beyond the pause threshold.
    assert consumer.max_pending_seen <= 16 + 8
    dead = read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.dead_letter_topic, 1, timeout_s=10)
    info = parse_dead_letter_headers(dead[0].headers)
    assert dead[0].key == b"odd" and info.stage == "score" and "uniform frames upset" in info.error


def test_a_killed_member_s_frames_are_scored_by_the_survivor(kafka_broker, kafka_cfg, untrained_checkpoint, tmp_path):
    """kill -9 of one member: its uncommitted frames are delivered again to the other (at-least-once)."""
    from tests.test_pipeline import Proc

    cfg = dataclasses.replace(
        kafka_cfg,
        consumer=dataclasses.replace(
            kafka_cfg.consumer, model=str(untrained_checkpoint), max_batch=8, max_wait_ms=20, device="cpu"
        ),
    )
    path = write_config(cfg, tmp_path / "c.yaml")
    procs = [Proc(["--config", str(path), "score", "--name", f"k{i}"], f"k{i}") for i in range(2)]
    try:
        deadline = time.monotonic() + 60
        while not all(p.assigned() for p in procs) or len(procs[0].assigned() | procs[1].assigned()) < 4:
            assert time.monotonic() < deadline, "\n".join(p.text() for p in procs)
            time.sleep(0.1)
        n = 400
        prefix = distinct_partition_prefix(4)
        feeder = threading.Thread(target=_produce_folder, args=(cfg, n, 4, prefix, 50), daemon=True)
        feeder.start()  # 4 streams x 50 frames/s: about 2 s of frames
        time.sleep(1.0)
        procs[1].p.send_signal(signal.SIGKILL)
        feeder.join(30)

        def distinct(records) -> set:
            return {(s.stream, s.seq) for s in (decode_score(r.value) for r in records)}

        scores = read_topic(
            cfg.kafka.bootstrap_servers,
            cfg.kafka.scores_topic,
            n,
            timeout_s=60,
            until=lambda records: len(distinct(records)) >= n,
        )
        keys = distinct(scores)
        # Every frame scored at least once; duplicates are allowed (at-least-once), losses are not.
        assert len(keys) == n, f"{len(keys)} of {n} frames scored:\n{procs[0].text()}"
    finally:
        for p in procs:
            if p.p.poll() is None:
                p.p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.p.wait(timeout=30)
            except Exception:
                p.p.kill()
    assert procs[0].p.returncode == 0, procs[0].text()


def test_consumer_and_producer_ride_through_a_broker_restart(scorer):
    """Memory storage loses everything on restart (docs/DESIGN.md §4): the loop must rejoin, re-create its
    producer and score every frame the producer says was delivered after the restart."""
    from pipelines.broker import EmbeddedBroker, ensure_topics
    from tests.conftest import fresh_config

    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    with EmbeddedBroker() as broker:
        cfg = fresh_config(broker.bootstrap)
        ensure_topics(broker.bootstrap, cfg)
        bg = _Background(ScoringConsumer(cfg, broker.bootstrap, scorer, name="survivor", out=sys.stderr))
        deadline = time.monotonic() + 30
        while not bg.consumer.assigned:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        producer = FrameProducer(cfg, broker.bootstrap)
        stop = threading.Event()
        ticks = replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 2, loop=True)
        produce(ticks, producer, cfg, "folder", stop, fps=25, max_frames=60)
        producer.flush()
        broker.restart()
        ensure_topics(broker.bootstrap, cfg)
        first = producer.next_seqs
        produce(ticks, producer, cfg, "folder", stop, fps=25, max_frames=150)
        report = producer.close()
        assert report.delivered + report.undelivered == report.sent == 210, report.describe()
        lost = {(stream, seq) for stream, seqs in report.failed.items() for seq in seqs}
        expected = {
            (stream, seq) for stream, end in producer.next_seqs.items() for seq in range(first.get(stream, 0), end)
        } - lost
        assert len(expected) > 100, report.describe()

        def scored(records) -> set:
            return {(s.stream, s.seq) for s in (decode_score(r.value) for r in records)}

        scores = read_topic(
            broker.bootstrap,
            cfg.kafka.scores_topic,
            len(expected),
            timeout_s=40,
            until=lambda records: expected <= scored(records),
        )
        assert bg.thread.is_alive(), "the consumer loop died"
        bg.stop()
        assert expected <= scored(scores), f"{len(expected - scored(scores))} delivered frames never scored"


class _UnevenScorer:
    """The real scorer where every third batch is slow, so later batches finish before earlier ones."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.lock = inner, 0, threading.Lock()
        self.model_id = inner.model_id
        self.preprocess = inner.preprocess
        self.device = inner.device
        self.threads_seen: set[str] = set()

    def score_tensor(self, x):
        with self.lock:
            self.calls += 1
            slow = self.calls % 3 == 1
            self.threads_seen.add(threading.current_thread().name)
        if slow:
            time.sleep(0.15)
        return self.inner.score_tensor(x)


def test_batches_scored_at_once_are_published_in_the_order_they_were_formed(kafka_cfg, scorer):
    cfg = dataclasses.replace(kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=4, score_threads=3))
    _produce_folder(cfg, 60, streams=3)
    uneven = _UnevenScorer(scorer)
    consumer = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, uneven, name="uneven", out=sys.stderr)
    assert consumer.score_threads == 3
    summary = consumer.run(max_records=60)
    assert (summary.scored, summary.dead_letters, summary.duplicates, summary.missing) == (60, 0, 0, 0), summary.line()
    assert len(uneven.threads_seen) >= 2  # batches really were scored side by side
    scores = [
        decode_score(r.value) for r in read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.scores_topic, 60, timeout_s=30)
    ]
    by_stream: dict[str, list[int]] = {}
    for s in scores:
        by_stream.setdefault(s.stream, []).append(s.seq)
    assert len(by_stream) == 3 and all(
        seqs == sorted(seqs) and len(set(seqs)) == len(seqs) for seqs in by_stream.values()
    )
    # Each published score is its own frame's: scoring the frames offline, decoded as the consumer
    # decodes them (a large JPEG at a reduced scale), gives the same numbers.
    from monitor.preprocess import decode_frame
    from pipelines.wire import parse_frame_headers

    frames = read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.frames_topic, 60, timeout_s=30)
    keys = [(m.stream, m.seq) for m in (parse_frame_headers(r.headers) for r in frames)]
    offline = dict(zip(keys, scorer.score([decode_frame(r.value).image for r in frames]).score, strict=False))
    assert [s.score for s in scores] == pytest.approx([offline[(s.stream, s.seq)] for s in scores], abs=1e-5)


def test_score_threads_resolve_to_one_per_torch_thread_on_the_cpu(scorer):
    import torch

    from pipelines.scoring import score_threads

    assert score_threads(3, scorer) == 3
    assert score_threads(0, scorer) == max(1, torch.get_num_threads())
