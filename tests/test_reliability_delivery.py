"""The delivery guarantee under test, in process against the real broker: offsets move only after
a batch's records were acknowledged, a failed publish re-reads the batch, a record the Kafka client
cannot parse is dead-lettered and skipped, and gaps and redeliveries in a stream's seq are counted.

Each test was checked against the weakening it guards against (applied by hand, then reverted):
committing before the publish is acknowledged, no rewind after a failed publish, no gap detection,
no handling of the client's CorruptRecordError.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest
from kafka import KafkaAdminClient, KafkaProducer

import monitor
from pipelines.consumer import ScoringConsumer
from pipelines.wire import FrameMeta, decode_score, encode_frame, frame_headers, frame_key, parse_dead_letter_headers
from tests.conftest import read_topic
from tests.helpers import SHARED_DATA, belgium_frames

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def scorer(untrained_checkpoint):
    return monitor.load_model(untrained_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def jpegs() -> list[bytes]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    return [encode_frame(img) for img in belgium_frames(16)]


class RawHeaderKey(str):
    """A header key whose bytes on the wire are `raw` (not UTF-8): kafka-python writes a header key
    with key.encode("utf-8"), and this is what a client in another language can send."""

    def __new__(cls, raw: bytes) -> RawHeaderKey:
        obj = super().__new__(cls, raw.decode("latin-1"))
        obj.raw = raw
        return obj

    def encode(self, *_args, **_kw) -> bytes:
        return self.raw


def _send(producer: KafkaProducer, topic: str, stream: str, seq: int, jpeg: bytes, capture_ns: int | None = None):
    meta = FrameMeta(stream, seq, capture_ns or time.time_ns(), "test", "jpeg")
    return producer.send(topic, key=frame_key(stream), value=jpeg, headers=frame_headers(meta))


def _frames(cfg, jpegs: list[bytes], streams: int, per_stream: int) -> set[tuple[str, int]]:
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all", linger_ms=5)
    sent = set()
    for seq in range(per_stream):
        for s in range(streams):
            _send(producer, cfg.kafka.frames_topic, f"cam-{s}", seq, jpegs[(seq + s) % len(jpegs)])
            sent.add((f"cam-{s}", seq))
    producer.flush(30)
    producer.close()
    return sent


def _committed(cfg) -> int:
    """The sum of the group's committed offsets over the frames topic's partitions (0 before any commit)."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap_servers)
    try:
        offsets = admin.list_group_offsets(cfg.consumer.group_id).get(cfg.consumer.group_id, {})
    finally:
        admin.close()
    return sum(o.offset for tp, o in offsets.items() if tp.topic == cfg.kafka.frames_topic and o.offset > 0)


def _scored_keys(cfg, expect: int) -> list[tuple[str, int]]:
    """(stream, seq) of every score record: the `expect` ones, and any duplicate beyond them (a
    second read, allowed 3 s to find one more)."""
    read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.scores_topic, expect, timeout_s=20)
    records = read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.scores_topic, expect + 1, timeout_s=3)
    return [(s.stream, s.seq) for s in (decode_score(r.value) for r in records)]


def test_a_record_the_client_cannot_parse_is_dead_lettered_and_the_member_goes_on(kafka_cfg, scorer, jpegs):
    """A header key that is not UTF-8 makes kafka-python's poll() raise CorruptRecordError; it used
    to end the member (and every member taking the partition next)."""
    cfg = kafka_cfg
    topic = cfg.kafka.frames_topic
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all")
    for seq in range(5):
        _send(producer, topic, "cam-0", seq, jpegs[seq])
    producer.flush(30)  # the poison record in a record batch of its own: the frames around it stay readable
    headers = frame_headers(FrameMeta("cam-0", 99, time.time_ns(), "test", "jpeg")) + [(RawHeaderKey(b"se\xffq"), b"1")]
    bad = producer.send(topic, key=b"cam-0", value=jpegs[0], headers=headers).get(30)
    for seq in range(5, 10):
        _send(producer, topic, "cam-0", seq, jpegs[seq])
    producer.flush(30)
    producer.close()

    consumer = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, name="poisoned", out=sys.stderr)
    summary = consumer.run(max_records=11, idle_exit_s=20)
    assert (summary.scored, summary.dead_letters, summary.missing, summary.duplicates) == (10, 1, 0, 0), summary.line()
    dead = read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.dead_letter_topic, 1, timeout_s=10)
    assert len(dead) == 1
    info = parse_dead_letter_headers(dead[0].headers)
    assert (info.origin.topic, info.origin.partition, info.origin.offset) == (topic, bad.partition, bad.offset)
    assert info.stage == "fetch" and info.consumer == "poisoned"
    assert "could not parse the record" in info.error and "UnicodeDecodeError" in info.error, info.error
    assert "se\\xffq" in info.error  # the offending bytes, as the client quoted them
    # Committed past it: the next member of the group starts after it, not on it.
    assert _committed(cfg) == 11
    assert sorted(_scored_keys(cfg, 10)) == [("cam-0", i) for i in range(10)]


def test_a_publish_failing_n_times_moves_no_offset_and_then_every_frame_is_published_once(kafka_cfg, scorer, jpegs):
    cfg = dataclasses.replace(kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, retries=0, max_batch=8))
    sent = _frames(cfg, jpegs, streams=2, per_stream=20)
    consumer = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, name="flaky", out=sys.stderr)
    real_send = consumer.publisher._send_and_wait
    failures_left, committed_at_failure = [3], []

    def flaky_send(records):
        # The broker "does not acknowledge" the first three batches: nothing is sent, all reported failed.
        if failures_left[0] > 0:
            failures_left[0] -= 1
            committed_at_failure.append(_committed(cfg))
            return [(rec, None) for rec in records]
        return real_send(records)

    consumer.publisher._send_and_wait = flaky_send
    summary = consumer.run(max_records=len(sent), idle_exit_s=10)
    assert summary.publish_failures == 3, summary.line()
    assert committed_at_failure == [0, 0, 0], "offsets moved before the batch's records were acknowledged"
    keys = _scored_keys(cfg, len(sent))
    assert set(keys) == sent, f"{len(sent - set(keys))} frames never published (no rewind after the failure?)"
    assert len(keys) == len(sent), f"{len(keys) - len(sent)} frames published twice"
    assert _committed(cfg) == len(sent)


class _Death(BaseException):
    """The member dies here (as kill -9 would): no code of the loop runs after it but cleanup."""


def test_a_death_right_after_a_commit_loses_no_frame_and_repeats_none(kafka_cfg, scorer, jpegs):
    cfg = dataclasses.replace(kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=8))
    sent = _frames(cfg, jpegs, streams=2, per_stream=24)
    first = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, name="doomed", out=sys.stderr)
    real_commit = first.committer.commit
    commits = [0]

    def commit_then_die(client, batch, assigned):
        real_commit(client, batch, assigned)
        commits[0] += 1
        if commits[0] == 2:
            raise _Death

    first.committer.commit = commit_then_die
    with pytest.raises(_Death):
        first.run(max_records=len(sent))
    assert 0 < _committed(cfg) < len(sent)
    second = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, name="heir", out=sys.stderr)
    second.run(max_records=len(sent) - _committed(cfg), idle_exit_s=10)
    keys = _scored_keys(cfg, len(sent))
    assert set(keys) == sent, f"{len(sent - set(keys))} frames lost: committed before they were published?"
    assert len(keys) == len(sent), f"{len(keys) - len(sent)} frames published twice"


def test_missing_frames_and_a_redelivery_are_counted_per_stream(kafka_cfg, scorer, jpegs):
    cfg = kafka_cfg
    producer = KafkaProducer(bootstrap_servers=cfg.kafka.bootstrap_servers, acks="all", linger_ms=5)
    t0 = time.time_ns()
    for seq in (0, 1, 2, 3, 4):
        _send(producer, cfg.kafka.frames_topic, "gappy", seq, jpegs[seq], t0 + seq)
    _send(producer, cfg.kafka.frames_topic, "gappy", 4, jpegs[4], t0 + 4)  # seq 4 again, same capture: a redelivery
    for seq in (8, 9):
        _send(producer, cfg.kafka.frames_topic, "gappy", seq, jpegs[seq], t0 + seq)
    producer.flush(30)
    producer.close()
    consumer = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, name="watch", out=sys.stderr)
    summary = consumer.run(max_records=8, idle_exit_s=20)
    assert (summary.scored, summary.duplicates, summary.missing) == (8, 1, 3), summary.line()
    assert summary.missing_detail == "gappy: seq 5-7"
    assert "duplicates 1, MISSING 3 (gappy: seq 5-7)" in summary.line()
