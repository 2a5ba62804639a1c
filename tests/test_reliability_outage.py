"""Broker outages seen from a scoring member, against a real embedded broker killed with SIGKILL.

1. Killed while the member joins its group (poll() then raised KafkaConnectionError and the member
   died): the member rides it out, says "broker unreachable since HH:MM:SS", and once the broker is
   back joins, scores and says the broker is reachable again.
2. Killed while the member holds partitions, after it scored: the metrics line names the outage,
   and after the restart (memory storage: every record and the group are gone) each stream's last
   frame published is named as possibly lost.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

import monitor
from pipelines.broker import EmbeddedBroker, ensure_topics
from pipelines.consumer import ScoringConsumer
from pipelines.producers import FrameProducer, folder_sequences, produce, replay_ticks
from tests.conftest import fresh_config
from tests.helpers import SHARED_DATA
from tests.reliability import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


class _Lines:
    """A thread-safe text sink for the consumer's printed lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.lines.extend(line for line in text.splitlines() if line)
        return len(text)

    def flush(self) -> None:
        pass

    def has(self, part: str) -> bool:
        with self._lock:
            return any(part in line for line in self.lines)


def _produce(cfg, bootstrap: str, frames: int) -> None:
    producer = FrameProducer(cfg, bootstrap)
    ticks = replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 2, loop=True)
    produce(ticks, producer, cfg, "folder", threading.Event(), fps=0, max_frames=frames)
    producer.close()


def test_a_member_rides_out_broker_outages_while_joining_and_while_assigned(untrained_checkpoint, caplog):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    caplog.set_level(logging.WARNING, logger="signwatch.consumer")
    scorer = monitor.load_model(untrained_checkpoint, device="cpu")
    with EmbeddedBroker() as broker:
        cfg = fresh_config(broker.bootstrap)
        cfg.consumer.metrics_interval_s = 1.0
        ensure_topics(broker.bootstrap, cfg)
        out = _Lines()
        member = ScoringConsumer(cfg, broker.bootstrap, scorer, name="rider", out=out)
        died: list[BaseException] = []

        def run() -> None:
            try:
                member.run()
            except BaseException as e:  # the test fails on it below
                died.append(e)

        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        time.sleep(0.5)
        assert member.assignments == 0  # still joining: Tansu holds a JoinGroup for seconds
        broker.kill()
        wait_for(lambda: out.has("broker unreachable since"), 10, "the member to name the outage")
        time.sleep(3)  # the outage goes on; before the fix poll() raised within ~1 s
        assert runner.is_alive(), f"the member died while joining: {died}"
        broker.start()
        ensure_topics(broker.bootstrap, cfg)
        wait_for(lambda: out.has("broker reachable again"), 15, "the member to see the broker back")
        wait_for(lambda: bool(member.assigned), 60, "the member to join after the outage")
        _produce(cfg, broker.bootstrap, 40)
        wait_for(lambda: member.scored >= 40, 60, "the frames to be scored")

        # Assigned and idle: killed again. The metrics lines say so instead of looking idle.
        broker.kill()
        wait_for(lambda: out.has("; broker unreachable since"), 15, "a metrics line naming the outage")
        assert runner.is_alive(), f"the member died while assigned: {died}"
        broker.start()
        ensure_topics(broker.bootstrap, cfg)
        wait_for(lambda: member.data_vanished >= 1, 60, "the member to report the vanished data")
        member.stop()
        runner.join(60)
    assert not died, died
    lost = [r.getMessage() for r in caplog.records if r.getMessage().startswith("possibly lost: stream ")]
    assert len(lost) == 2 and all("last frame published was seq" in m for m in lost), lost


def test_the_console_feed_names_a_broker_outage_and_forgets_it_once_the_broker_is_back():
    from pipelines.console_feed import KafkaFeed

    with EmbeddedBroker() as broker:
        cfg = fresh_config(broker.bootstrap)
        ensure_topics(broker.bootstrap, cfg)
        feed = KafkaFeed(cfg, broker.bootstrap)
        try:
            wait_for(lambda: feed.poll(0.1) == [] and feed.ready and feed.problem is None, 20, "the feed to read")
            broker.kill()
            wait_for(
                lambda: feed.poll(0.1) == [] and (feed.problem or "").startswith("broker unreachable since "),
                15,
                "the feed to name the outage",
            )
            broker.start()
            wait_for(lambda: feed.poll(0.1) == [] and feed.problem is None, 30, "the feed to see the broker back")
        finally:
            feed.close()
