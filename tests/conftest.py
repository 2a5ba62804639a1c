"""Shared fixtures: one real embedded broker per test session, fresh topics and groups per test.

As quix-streams does it: the broker is started once (it takes ~0.1 s, but group state and topics
accumulate, so every test gets uuid-named topics and group ids of its own and never sees another
test's records). Tests that restart or kill a broker start their own EmbeddedBroker instead.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import pytest
import yaml

from pipelines.config import Config, config_to_dict


@pytest.fixture(scope="session")
def kafka_broker():
    """The embedded Tansu broker on a free loopback port, for the whole session."""
    from pipelines.broker import EmbeddedBroker

    broker = EmbeddedBroker()
    broker.start()
    yield broker
    broker.close()


@pytest.fixture(autouse=True)
def private_runtime_dir(tmp_path_factory, monkeypatch) -> Path:
    """Each test its own $XDG_RUNTIME_DIR: where `run_monitor.py broker` records its address
    (pipelines.broker.broker_state_path), so no test finds a broker another test or a person started."""
    path = tmp_path_factory.mktemp("runtime")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    return path


def fresh_config(bootstrap: str, partitions: int = 4) -> Config:
    """Defaults, pointed at `bootstrap`, with topics and a group id no other test uses."""
    tag = uuid.uuid4().hex[:10]
    cfg = Config()
    cfg.kafka = dataclasses.replace(
        cfg.kafka,
        bootstrap_servers=bootstrap,
        partitions=partitions,
        frames_topic=f"t-{tag}.frames",
        scores_topic=f"t-{tag}.scores",
        alerts_topic=f"t-{tag}.alerts",
        dead_letter_topic=f"t-{tag}.deadletter",
    )
    cfg.consumer = dataclasses.replace(cfg.consumer, group_id=f"g-{tag}", metrics_interval_s=2.0)
    return cfg


@pytest.fixture
def kafka_cfg(kafka_broker) -> Config:
    """A Config for the session broker with this test's own topics (created) and consumer group."""
    from pipelines.broker import ensure_topics

    cfg = fresh_config(kafka_broker.bootstrap)
    ensure_topics(kafka_broker.bootstrap, cfg)
    return cfg


def write_config(cfg: Config, path: Path) -> Path:
    """The YAML file a subprocess gets with --config."""
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    return path


@pytest.fixture(scope="session")
def untrained_checkpoint(tmp_path_factory) -> Path:
    """A valid untrained GradCon checkpoint with reference gradients (no training needed)."""
    from monitor.checkpoint import make_untrained_checkpoint

    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    make_untrained_checkpoint(path, seed=0)
    return path


def pytest_configure(config):
    # kafka-python 3 loads its protocol schemas with importlib.resources' legacy API; not our code.
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")


def read_topic(
    bootstrap: str, topic: str, expect: int, timeout_s: float = 60.0, partitions: int = 4, until=None
) -> list:
    """Every record of `topic` from the beginning (no group), until `expect` arrived (or `until(records)`
    is true) or the timeout."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list = []
        deadline = time.monotonic() + timeout_s
        done = until or (lambda records: len(records) >= expect)
        while not done(out) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=200).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def distinct_partition_prefix(streams: int, partitions: int = 4) -> str:
    """A stream-id prefix whose ids PREFIX-0..N-1 hash to distinct partitions (Kafka's default partitioner).

    Tests that need every consumer of a group to get work cannot leave that to chance.
    """
    from pipelines.kafka_clients import partition_of

    for j in range(1000):
        prefix = f"s{j}"
        parts = {partition_of(f"{prefix}-{i}", partitions) for i in range(streams)}
        if len(parts) == min(streams, partitions):
            return prefix
    raise AssertionError("no prefix found")
