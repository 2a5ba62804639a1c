"""The deployment YAML: defaults, strict keys and types, one-line errors."""
from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import Config, load_config
from monitor.settings import ConfigError


def test_no_file_gives_defaults() -> None:
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.kafka.bootstrap_servers is None and cfg.kafka.session_timeout_ms >= 6000


def test_values_are_read_and_ints_accepted_for_floats(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("kafka:\n  bootstrap_servers: 'broker:9092'\n  partitions: 8\ncalibration:\n  fpr: 0\n")
    cfg = load_config(p)
    assert cfg.kafka.bootstrap_servers == "broker:9092" and cfg.kafka.partitions == 8
    assert cfg.calibration.fpr == 0.0 and isinstance(cfg.calibration.fpr, float)
    assert cfg.consumer.max_batch == Config().consumer.max_batch


@pytest.mark.parametrize(
    "text, message",
    [
        ("kafka:\n  partitons: 3\n", "unknown setting kafka.partitons"),
        ("kafak:\n  partitions: 3\n", "unknown setting kafak"),
        ("kafka:\n  partitions: three\n", "kafka.partitions must be int"),
        ("kafka:\n  partitions: true\n", "kafka.partitions must be int"),
        ("consumer:\n  max_wait_ms: 1.5\n", "consumer.max_wait_ms must be int"),
        ("kafka: [1, 2]\n", "kafka must be a mapping"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("kafka: {partitions: [\n", "not valid YAML"),
    ],
)
def test_bad_settings_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
