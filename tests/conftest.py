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

from monitor.config import Config, config_to_dict


@pytest.fixture(scope="session")
def kafka_broker():
    """The embedded Tansu broker on a free loopback port, for the whole session."""
    from pipelines.broker import EmbeddedBroker

    broker = EmbeddedBroker()
    broker.start()
    yield broker
    broker.stop()


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
