"""One YAML file configures a whole deployment; every setting has a default.

Each section is a dataclass that lives with the layer that uses it (monitor.settings.TrainConfig,
calibration.settings: CalibrationConfig, AlertConfig and BaselineConfig; the Kafka, producer,
consumer and console sections here). `Config` gathers them; `load_config` checks every key and type
(monitor.settings.build_section) and every value (validate_config: each section's `check` rules,
monitor.settings.Checks) and fails with one line naming the setting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from calibration.settings import AlertConfig, BaselineConfig, CalibrationConfig
from monitor.settings import Checks, ConfigError, TrainConfig, build_section, read_yaml_file

SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass
class KafkaConfig:
    bootstrap_servers: str | None = None  # None: start the embedded broker
    client_id: str = "signwatch"
    partitions: int = 4
    replication_factor: int = 1
    frames_topic: str = "signwatch.frames"
    scores_topic: str = "signwatch.scores"
    alerts_topic: str = "signwatch.alerts"
    dead_letter_topic: str = "signwatch.deadletter"
    # How long a dead member keeps its partitions: the broker evicts it one session after its last
    # heartbeat, so failover takes about session + one heartbeat + the rebalance (docs/RELIABILITY.md
    # §7-8: 2.6-4.0 s measured with these, 11 s with 6000/2000). A stock Apache Kafka cluster refuses
    # sessions below its group.min.session.timeout.ms (6000): set 6000 or more there (`score` says so).
    session_timeout_ms: int = 2000
    heartbeat_interval_ms: int = 400
    fetch_max_wait_ms: int = 20
    max_request_size: int = 8 * 1024 * 1024
    security_protocol: str = "PLAINTEXT"
    # Embedded broker (used when bootstrap_servers is null): 0 picks a free loopback port.
    embedded_port: int = 0
    embedded_start_timeout_s: float = 15.0
    request_timeout_ms: int = 10000
    reconnect_backoff_max_ms: int = 1000
    # How long a command may take to reach a configured cluster before it gives up with one line.
    connect_timeout_s: float = 5.0
    # Secured clusters (security_protocol SASL_PLAINTEXT, SASL_SSL or SSL). Secrets never live in this
    # file: a password is read from the environment variable or the file named here, when a client is
    # made (pipelines.kafka_clients.security_kwargs), and is never printed or logged.
    sasl_mechanism: str | None = None  # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    sasl_username: str | None = None
    sasl_password_env: str | None = None  # name of the environment variable holding the password
    sasl_password_file: str | None = None  # or a file whose first line is the password
    ssl_cafile: str | None = None  # CA bundle that signed the brokers' certificates (null: the system's)
    ssl_certfile: str | None = None  # client certificate (PEM), for clusters that authenticate clients by TLS
    ssl_keyfile: str | None = None  # its private key (PEM)
    ssl_key_password_env: str | None = None  # the key's passphrase, if it has one: from the environment
    ssl_key_password_file: str | None = None  # ... or from a file
    ssl_check_hostname: bool = True  # the broker's certificate must name the host connected to

    def check(self, c: Checks) -> None:
        c.choice("security_protocol", ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"))
        c.positive(
            "partitions",
            "replication_factor",
            "session_timeout_ms",
            "heartbeat_interval_ms",
            "max_request_size",
            "request_timeout_ms",
            "embedded_start_timeout_s",
            "connect_timeout_s",
        )
        c.not_negative("fetch_max_wait_ms", "embedded_port", "reconnect_backoff_max_ms")
        self._check_security(c)
        c.require(
            self.heartbeat_interval_ms < self.session_timeout_ms,
            "heartbeat_interval_ms",
            f"below kafka.session_timeout_ms ({self.session_timeout_ms})",
        )

    def _check_security(self, c: Checks) -> None:
        sasl = self.security_protocol.startswith("SASL_")
        c.require(
            not sasl or self.sasl_mechanism in SASL_MECHANISMS,
            "sasl_mechanism",
            f"one of {', '.join(SASL_MECHANISMS)} with security_protocol {self.security_protocol}",
        )
        c.require(not sasl or bool(self.sasl_username), "sasl_username", f"set with {self.security_protocol}")
        c.require(
            not sasl or (self.sasl_password_env is None) != (self.sasl_password_file is None),
            "sasl_password_env",
            "set, or sasl_password_file, but not both (the password itself never goes in the config)",
        )
        c.require(
            (self.ssl_certfile is None) == (self.ssl_keyfile is None),
            "ssl_keyfile",
            "set together with ssl_certfile (a client certificate needs its key)",
        )
        c.require(
            self.ssl_key_password_env is None or self.ssl_key_password_file is None,
            "ssl_key_password_env",
            "set without ssl_key_password_file (one source for the key's passphrase)",
        )


@dataclass
class ProducerConfig:
    encoding: str = "jpeg"  # jpeg | png
    jpeg_quality: int = 90
    linger_ms: int = 5
    batch_size: int = 256 * 1024
    fps: float = 30.0
    compression_type: str | None = None
    # A camera must not stall for the client's defaults (60 s block, 120 s delivery) when the broker is gone.
    max_block_ms: int = 10000
    delivery_timeout_ms: int = 30000

    def check(self, c: Checks) -> None:
        c.choice("encoding", ("jpeg", "png"))
        c.choice("compression_type", (None, "gzip", "snappy", "lz4", "zstd"))
        c.positive("batch_size", "max_block_ms", "delivery_timeout_ms")
        c.not_negative("linger_ms", "fps")
        c.between("jpeg_quality", 1, 100)


@dataclass
class ConsumerConfig:
    group_id: str = "signwatch-scorers"
    model: str | None = None
    calibration: str | None = None
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    max_batch: int = 256
    max_wait_ms: int = 50
    decode_workers: int = 2
    # Batches scored at once, each by its own thread with single-threaded torch (0 = auto: one per
    # torch CPU thread on the CPU, 1 on CUDA). Independent batches beat one batch on a team of
    # OpenMP threads when the Kafka client and decoders share the cores: a team waits for its
    # slowest thread at every operator (measured on 2 cores with one core busy elsewhere: 2,089
    # frames/s for one 2-thread team, 3,511 for two 1-thread scorers).
    score_threads: int = 0
    max_pending_frames: int = 4096
    max_frame_bytes: int = 8 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    metrics_interval_s: float = 5.0
    retries: int = 3
    # A new group starts at the oldest frame (and 'latest' is wrong on Tansu, docs/DESIGN.md §4).
    auto_offset_reset: str = "earliest"
    group_instance_id: str | None = None  # static membership: a restarted member keeps its partitions
    publish_timeout_s: float = 10.0  # per attempt, for a batch's scores/dead letters to be acknowledged
    # Memory bounds besides max_pending_frames: encoded frames polled but not yet scored, and
    # decoded frames held ahead of scoring (a camera backlog is small encoded, large decoded).
    max_pending_mb: float = 256.0
    max_decoded_mb: float = 512.0
    # Input size the deployment's model must have been trained for (GradCon: 28).
    input_size: int = 28
    # A consumer that takes over a partition rebuilds its alert state from this much score history.
    alert_restore_minutes: float = 30.0
    # A member without partitions whose group is not stable for this long rejoins as a fresh member
    # (docs/RELIABILITY.md: a wedged group); after max_rejoins rejoins it exits non-zero.
    rejoin_after_s: float = 30.0
    max_rejoins: int = 3
    # An open alert whose stream sent no frame to this member for this long is published as 'stale'
    # (docs/WIRE.md); 0 never does.
    stale_alert_after_s: float = 60.0
    # range: eager rebalancing (every member gives up all its partitions, then gets them back);
    # cooperative-sticky: only the partitions that change owner move. kafka-python fetches nothing
    # while a join is pending either way, so the survivor of a member's death paused about as long
    # with both (docs/RELIABILITY.md §7). A group's members must all use the same one.
    assignor: str = "range"

    def check(self, c: Checks) -> None:
        c.choice("auto_offset_reset", ("earliest", "latest"))
        c.choice("assignor", ("cooperative-sticky", "range"))
        c.positive(
            "max_batch",
            "decode_workers",
            "max_pending_frames",
            "max_frame_bytes",
            "max_image_pixels",
            "publish_timeout_s",
            "max_pending_mb",
            "max_decoded_mb",
            "input_size",
            "rejoin_after_s",
        )
        c.not_negative(
            "max_wait_ms",
            "metrics_interval_s",
            "retries",
            "score_threads",
            "alert_restore_minutes",
            "max_rejoins",
            "stale_alert_after_s",
        )
        d = self.device
        c.require(
            d in ("auto", "cpu", "cuda", "mps") or (d.startswith("cuda:") and d[5:].isdigit()),
            "device",
            "auto, cpu, cuda, cuda:N or mps",
        )


@dataclass
class ConsoleConfig:
    refresh_per_second: float = 4.0
    sparkline_width: int = 24
    recent_alerts: int = 10
    # A stream with no score record for this long is shown as stale and the pipeline as DEGRADED.
    stale_after_s: float = 10.0
    # Without --from-beginning the console reads this much score and dead-letter history
    # (alerts are always read from the start: they are few, and an open alert may be old).
    lookback_minutes: float = 5.0
    # Dead letters or unreadable records within this window mark the pipeline DEGRADED.
    dead_letter_window_s: float = 60.0
    # Scales the raw-score sparkline when records carry no calibrated anomaly (null: the window).
    score_threshold: float | None = None

    def check(self, c: Checks) -> None:
        c.positive("refresh_per_second", "sparkline_width", "stale_after_s")
        c.not_negative("recent_alerts", "lookback_minutes", "dead_letter_window_s")


@dataclass
class Config:
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    producer: ProducerConfig = field(default_factory=ProducerConfig)
    consumer: ConsumerConfig = field(default_factory=ConsumerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)


def validate_config(cfg: Config, where: str = "config") -> Config:
    """Value checks beyond types, every section by its own `check` rules; raises ConfigError naming
    the first bad setting and what it must be."""
    for f in dataclasses.fields(cfg):
        getattr(cfg, f.name).check(Checks(getattr(cfg, f.name), f.name, where))
    return cfg


def config_from_dict(data: dict | None) -> Config:
    """Build a validated Config from a parsed YAML mapping."""
    return validate_config(build_section(Config, data, ""))  # type: ignore[arg-type]


def load_config(path: str | Path | None) -> Config:
    """Load the deployment's YAML file; None gives all defaults."""
    if path is None:
        return Config()
    p = Path(path)
    data = read_yaml_file(p, "config")
    try:
        cfg = config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    return resolve_config_paths(cfg, p.absolute().parent)


# The settings that name files. A config file travels with the model and calibration it names, so a
# relative path means "next to the config", whatever directory the command runs from.
PATH_SETTINGS = (("consumer", "model"), ("consumer", "calibration"))


def resolve_config_paths(cfg: Config, base: Path) -> Config:
    """Make each relative path setting (PATH_SETTINGS) relative to `base`, the config file's folder."""
    for section, name in PATH_SETTINGS:
        value = getattr(getattr(cfg, section), name)
        if value:
            resolved = Path(value).expanduser()
            setattr(getattr(cfg, section), name, str(resolved if resolved.is_absolute() else base / resolved))
    return cfg


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)
