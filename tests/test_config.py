"""The deployment YAML: defaults, strict keys and types, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import ConfigError
from pipelines.config import Config, load_config


def test_no_file_gives_defaults() -> None:
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.kafka.bootstrap_servers is None and cfg.kafka.heartbeat_interval_ms < cfg.kafka.session_timeout_ms


def test_values_are_read_and_ints_accepted_for_floats(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("kafka:\n  bootstrap_servers: 'broker:9092'\n  partitions: 8\nalerts:\n  evidence_h: 0\n")
    cfg = load_config(p)
    assert cfg.kafka.bootstrap_servers == "broker:9092" and cfg.kafka.partitions == 8
    assert cfg.alerts.evidence_h == 0.0 and isinstance(cfg.alerts.evidence_h, float)
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
        # calibration.per_stream was never read: refused like any unknown key
        ("calibration:\n  per_stream: true\n", "unknown setting calibration.per_stream"),
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


@pytest.mark.parametrize(
    "text, message",
    [
        # alerts.*: every value the alert rule could not run with
        ("alerts:\n  k: 4\n", "alerts.k must be <= alerts.n (3), got 4"),
        ("alerts:\n  k: 0\n", "alerts.k must be > 0"),
        ("alerts:\n  n: 0\n", "alerts.n must be > 0"),
        ("alerts:\n  clear_k: 11\n", "alerts.clear_k must be <= alerts.clear_n (10), got 11"),
        ("alerts:\n  clear_n: -1\n", "alerts.clear_n must be > 0"),
        ("alerts:\n  condition_window: 0\n", "alerts.condition_window must be > 0"),
        ("alerts:\n  update_every: -1\n", "alerts.update_every must be >= 0"),
        ("alerts:\n  name_wait: -1\n", "alerts.name_wait must be >= 0"),
        ("alerts:\n  name_margin: 0\n", "alerts.name_margin must be > 0"),
        ("alerts:\n  seq_reset_gap: 0\n", "alerts.seq_reset_gap must be > 0"),
        ("alerts:\n  evidence_n: 0\n", "alerts.evidence_n must be > 0"),
        ("alerts:\n  evidence_h: -1\n", "alerts.evidence_h must be >= 0"),
        ("alerts:\n  evidence_cap: 2.0\n", "alerts.evidence_cap must be > alerts.evidence_ref (3.0)"),
        # calibration.* and train.*
        ("calibration:\n  fpr: 0\n", "calibration.fpr must be in (0.0, 1.0)"),
        ("calibration:\n  confidence: 1\n", "calibration.confidence must be in (0.0, 1.0)"),
        ("calibration:\n  method: bayes\n", "calibration.method must be one of binomial_bound, empirical_quantile"),
        ("calibration:\n  min_confidence: 1.5\n", "calibration.min_confidence must be in [0.0, 1.0]"),
        ("calibration:\n  min_level: 6\n", "calibration.min_level must be in [1, 5]"),
        ("train:\n  channels: 2\n", "train.channels must be one of 1, 3"),
        ("train:\n  lr: 0\n", "train.lr must be > 0"),
        ("train:\n  alpha: -0.1\n", "train.alpha must be >= 0"),
        ("train:\n  val_fraction: 1\n", "train.val_fraction must be in [0.0, 1.0)"),
        # the other sections keep their rules
        (
            "kafka:\n  session_timeout_ms: 2000\n  heartbeat_interval_ms: 2000\n",
            "kafka.heartbeat_interval_ms must be below kafka.session_timeout_ms (2000)",
        ),
        ("producer:\n  jpeg_quality: 0\n", "producer.jpeg_quality must be in [1, 100]"),
        ("consumer:\n  device: gpu\n", "consumer.device must be auto, cpu, cuda, cuda:N or mps"),
        ("console:\n  stale_after_s: 0\n", "console.stale_after_s must be > 0"),
    ],
)
def test_bad_values_are_refused_in_one_line_naming_the_setting(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert message in str(e.value) and str(p) in str(e.value) and "\n" not in str(e.value)


def test_alert_settings_at_their_limits_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(
        "alerts:\n  k: 3\n  n: 3\n  clear_k: 10\n  name_wait: 0\n  update_every: 0\n"
        "  evidence_h: 0\n  evidence_cap: 1.0\n"
    )
    cfg = load_config(p)
    assert (cfg.alerts.k, cfg.alerts.clear_k, cfg.alerts.evidence) == (3, 10, False)
