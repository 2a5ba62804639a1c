"""Our Kafka clients in one place: their settings, the resilient producer, and stream -> partition.

- `client_kwargs`, `producer_settings`, `consumer_settings`, `delivery_timeouts`: the settings every
  client of ours is built from (docs/DESIGN.md §4: acks from every replica, idempotence).
- `ResilientProducer` / `KeyedRecord`: a KafkaProducer created on first use and re-created when the
  broker forgot it (after a broker restart an idempotent producer fails every send with
  UnknownProducerIdError).
- `partition_of`: which partition a stream (a record key) lands on, the way kafka-python's default
  partitioner places it. Frames, scores and alerts of a stream share that partition number, which
  the consumer's sequence watch and the alert hook's restore rely on.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from kafka import KafkaProducer
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.partitioner.default import murmur2

from monitor.settings import ConfigError
from pipelines.config import Config, KafkaConfig

log = logging.getLogger("signwatch.produce")

ASSIGNORS = {"cooperative-sticky": CooperativeStickyAssignor, "range": RangePartitionAssignor}

# Bytes kept free in a request for the dead-letter headers and the record framing.
DLQ_HEADROOM = 64 * 1024

# Failures that concern one record only; the client itself is still fine after them.
RECORD_ERRORS = (
    "MessageSizeTooLargeError",
    "RecordListTooLargeError",
    "InvalidRecordError",
    "CorruptRecordError",
    "BufferError",
    "AssertionError",
    "ValueError",
)
# Any other failure may leave an idempotent producer broken for good: after a broker restart it
# fails with UnknownProducerIdError, or its InitProducerId fails and every later send fails with
# the stored fatal error (docs/DESIGN.md §4); and a client whose batches expired while the broker was
# away was seen to stay stuck after it came back (timeouts count too). Closing it and starting a
# new one is the cure, at most once a second.
RECREATE_MIN_INTERVAL_S = 1.0


def partition_of(key: str | bytes, partitions: int) -> int:
    """The partition (0 .. partitions-1) Kafka's default partitioner gives a keyed record: murmur2 of the key."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# ---- settings ---------------------------------------------------------------------------------


def client_kwargs(kcfg: KafkaConfig, bootstrap: str) -> dict[str, Any]:
    """Settings every Kafka client of ours shares (the secured cluster's too: security_kwargs)."""
    return {
        "bootstrap_servers": bootstrap,
        "client_id": kcfg.client_id,
        # The library backs off reconnects up to 30 s; after a broker restart we want it back in about a second.
        "reconnect_backoff_max_ms": kcfg.reconnect_backoff_max_ms,
        **security_kwargs(kcfg),
    }


class SecretError(ConfigError):
    """A secret named in the config cannot be read; the message names where it was looked for, never its value."""


def _secret(env: str | None, path: str | None, what: str) -> str | None:
    """The secret from the environment variable `env` or the first line of the file `path` (one of them)."""
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise SecretError(f"{what}: environment variable {env} is not set (the config names it)")
        return value
    if path is not None:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError as e:
            raise SecretError(f"{what}: file {path}: cannot be read ({e.strerror or type(e).__name__})") from None
        if not lines or not lines[0]:
            raise SecretError(f"{what}: file {path} is empty")
        return lines[0]
    return None


def _readable(path: str | None, what: str) -> str | None:
    if path is not None and not Path(path).is_file():
        raise SecretError(f"{what}: file {path}: not found")
    return path


def security_kwargs(kcfg: KafkaConfig) -> dict[str, Any]:
    """kafka-python's security settings for kafka.security_protocol: SASL (PLAIN, SCRAM) and TLS.

    Secrets are read here, when a client is made, from the environment or the files the config names;
    the dict goes to the client only (never logged). Raises SecretError (one line) when one is missing."""
    out: dict[str, Any] = {"security_protocol": kcfg.security_protocol}
    if kcfg.security_protocol.startswith("SASL_"):
        out.update(
            sasl_mechanism=kcfg.sasl_mechanism,
            sasl_plain_username=kcfg.sasl_username,
            sasl_plain_password=_secret(kcfg.sasl_password_env, kcfg.sasl_password_file, "kafka SASL password"),
        )
    if kcfg.security_protocol in ("SSL", "SASL_SSL"):
        out.update(
            ssl_check_hostname=kcfg.ssl_check_hostname,
            ssl_cafile=_readable(kcfg.ssl_cafile, "kafka.ssl_cafile"),
            ssl_certfile=_readable(kcfg.ssl_certfile, "kafka.ssl_certfile"),
            ssl_keyfile=_readable(kcfg.ssl_keyfile, "kafka.ssl_keyfile"),
            ssl_password=_secret(kcfg.ssl_key_password_env, kcfg.ssl_key_password_file, "kafka TLS key passphrase"),
        )
    return out


def producer_settings(cfg: Config, bootstrap: str) -> dict[str, Any]:
    """KafkaProducer settings for throughput with acks from every replica (docs/DESIGN.md §4)."""
    p, k = cfg.producer, cfg.kafka
    return {
        **client_kwargs(k, bootstrap),
        "acks": "all",
        "enable_idempotence": True,  # retries cannot duplicate or reorder a stream's frames
        "linger_ms": p.linger_ms,
        "batch_size": p.batch_size,
        "max_request_size": k.max_request_size,
        "compression_type": p.compression_type,
        "max_block_ms": p.max_block_ms,
        **delivery_timeouts(p.delivery_timeout_ms, p.linger_ms, k.request_timeout_ms),
    }


def delivery_timeouts(delivery_ms: int, linger_ms: int, request_ms: int) -> dict[str, int]:
    """The client insists on delivery_timeout_ms > linger_ms + request_timeout_ms."""
    request_ms = max(1, min(request_ms, delivery_ms - linger_ms - 1))
    return {"delivery_timeout_ms": max(delivery_ms, linger_ms + request_ms + 1), "request_timeout_ms": request_ms}


def scoring_producer_settings(cfg: Config, bootstrap: str) -> dict[str, Any]:
    """The scoring consumer's producer: a batch waits for its acks, so give up within publish_timeout_s."""
    settings = producer_settings(cfg, bootstrap)
    timeout_ms = int(cfg.consumer.publish_timeout_s * 1000)
    settings.update(delivery_timeouts(timeout_ms, cfg.producer.linger_ms, settings["request_timeout_ms"]))
    return settings


def consumer_settings(cfg: Config, bootstrap: str) -> dict[str, Any]:
    """KafkaConsumer settings of the scoring group (consumer.max_batch is >= 1: validate_config)."""
    k, c = cfg.kafka, cfg.consumer
    # The partition fetch limit must let the largest admissible frame through in one fetch.
    partition_bytes = max(1024 * 1024, c.max_frame_bytes + DLQ_HEADROOM)
    return {
        **client_kwargs(k, bootstrap),
        "group_id": c.group_id,
        "group_instance_id": c.group_instance_id,
        "enable_auto_commit": False,
        "auto_offset_reset": c.auto_offset_reset,
        "session_timeout_ms": k.session_timeout_ms,
        "heartbeat_interval_ms": k.heartbeat_interval_ms,
        "max_poll_interval_ms": max_poll_interval_ms(cfg),
        "fetch_max_wait_ms": k.fetch_max_wait_ms,
        "max_partition_fetch_bytes": partition_bytes,
        "fetch_max_bytes": max(52_428_800, partition_bytes),
        # Up to two batches per poll: while a backlog is worked off the pending queue fills up to
        # max_pending_frames, and backpressure (pause) can act.
        "max_poll_records": 2 * c.max_batch,
        "partition_assignment_strategy": [ASSIGNORS[c.assignor]],
    }


def max_poll_interval_ms(cfg: Config) -> int:
    """kafka-python's max_poll_interval_ms for the scoring member: 2 minutes, or its longest stall
    between polls (a batch's publish, every retry timing out) plus 20 s if that is longer.

    It is also how long the client waits for a JoinGroup answer (plus 5 s). The client's default,
    300 s, once left a new member hanging in poll() for 305 s, holding no partition, when the
    embedded broker never answered its join (docs/RELIABILITY.md §8); a shorter wait gives up and
    joins again. Below a stall, the client would leave the group on its own; the 2 minutes also
    leave room for the alert-state restore, which runs between polls too (its time at scale was not
    measured)."""
    c = cfg.consumer
    return int(max(120.0, (c.retries + 1) * c.publish_timeout_s + 20) * 1000)


def session_refused_line(kcfg: KafkaConfig, group_id: str) -> str:
    """What `score` says when the cluster refuses our session timeout (InvalidSessionTimeoutError on join)."""
    return (
        f"the Kafka cluster refused kafka.session_timeout_ms {kcfg.session_timeout_ms} for group {group_id} "
        "(outside its group.min.session.timeout.ms .. group.max.session.timeout.ms; a stock Apache Kafka "
        "allows 6000 .. 1800000): set kafka.session_timeout_ms in that range"
    )


def close_member(consumer: Any) -> None:
    """Close a group member without committing; the group's leader closes without a LeaveGroup.

    On the embedded broker (Tansu 0.6.0) a LeaveGroup that arrives while the group is rebalancing
    removes the member but keeps it as the group's leader, so every later member is told to wait
    for that departed leader's assignment (SyncGroup error 27) forever: the wedge seen when every
    member of a group stopped with SIGTERM at once (docs/RELIABILITY.md). A leader that just goes
    away is evicted after kafka.session_timeout_ms, and eviction does clear the leader. Members
    that are not the leader still leave at once, so their partitions move without that wait.
    kafka-python keeps whether this member leads in its coordinator (no public API says so).
    """
    coordinator = getattr(consumer, "_coordinator", None)
    if coordinator is not None and getattr(coordinator, "_is_leader", False):
        coordinator.reset_generation()  # no member id: close() then sends no LeaveGroup
    consumer.close(autocommit=False)


# ---- the resilient producer ---------------------------------------------------------------------


class KeyedRecord(NamedTuple):
    """What a ResilientProducer sends; `tag` identifies it in delivery reports (e.g. (stream, seq))."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    tag: Any = None


class ResilientProducer:
    """A KafkaProducer created on first use and re-created when the broker forgot it.

    `on_result(record, error)` runs for every record once the broker acknowledged it (error None) or
    it failed (error = exception); a send that raises at once is reported the same way. It runs on
    the client's I/O thread, so keep it short.
    """

    def __init__(
        self,
        settings: dict[str, Any],
        on_result: Callable[[KeyedRecord, BaseException | None], None] | None = None,
        on_recreate: Callable[[], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_result = on_result
        self.on_recreate = on_recreate  # called (on this thread: keep it short) after each re-creation
        self._producer = None
        self._recreate = threading.Event()
        self._created_at = 0.0
        self.recreated = 0
        self._partitions: dict[tuple[str, bytes], int] = {}

    @property
    def client(self) -> KafkaProducer:
        if (
            self._recreate.is_set()
            and self._producer is not None
            and time.monotonic() - self._created_at >= RECREATE_MIN_INTERVAL_S
        ):
            log.warning("producer: the broker no longer knows this producer; re-creating the Kafka producer")
            old, self._producer = self._producer, None
            # Records still queued in the old client fail and are reported through on_result.
            try:
                old.close(timeout=1)
            except Exception as e:  # closing a broken client must not stop the new one
                log.warning("producer: closing the old producer failed (%s)", e)
            self.recreated += 1
            self._recreate.clear()
            if self.on_recreate is not None:
                self.on_recreate()
        if self._producer is None:
            self._recreate.clear()
            self._partitions.clear()  # a restarted broker may have made the topics anew
            self._producer = KafkaProducer(**self.settings)
            self._created_at = time.monotonic()
        return self._producer

    def _partition(self, client, topic: str, key: bytes | None) -> int | None:
        """The default partitioner's choice for a key (partition_of), remembered per (topic, key).

        Remembering it saves a third of send()'s time, which matters at thousands of records/s.
        """
        if key is None:
            return None
        found = self._partitions.get((topic, key))
        if found is None:
            parts = client.partitions_for(topic)  # waits for metadata, like send() would
            if not parts:
                return None
            ordered = sorted(parts)
            found = ordered[partition_of(key, len(ordered))]
            self._partitions[(topic, key)] = found
        return found

    def _failed(self, record: KeyedRecord, error: BaseException) -> None:
        self.note_failure(error)
        if self.on_result is not None:
            self.on_result(record, error)

    def _acked(self, record: KeyedRecord, _metadata: Any) -> None:
        if self.on_result is not None:
            self.on_result(record, None)

    def note_failure(self, error: BaseException) -> None:
        """A send failed (seen by the caller on its future): re-create the client if the error calls for it."""
        if type(error).__name__ not in RECORD_ERRORS:
            self._recreate.set()

    def send(self, record: KeyedRecord):
        """Queue one record; returns the client's future, or None when the send failed at once.

        Without on_result no callbacks are attached (they cost more than the rest of send());
        the caller then checks the futures and reports failures with note_failure().
        """
        client = self.client  # a configuration error here is the caller's to see, not a record failure
        try:
            partition = self._partition(client, record.topic, record.key)
            fut = client.send(
                record.topic, value=record.value, key=record.key, headers=record.headers, partition=partition
            )
        except (KafkaError, BufferError, AssertionError, ValueError) as e:
            # kafka-python raises at once for a record over max_request_size or metadata it
            # could not get within max_block_ms; both are failures of this record, not of the process.
            self._failed(record, e)
            return None
        if self.on_result is not None:
            fut.add_callback(self._acked, record)
            fut.add_errback(self._failed, record)
        return fut

    def flush(self, timeout_s: float | None = None) -> None:
        if self._producer is None:
            return
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaTimeoutError:
            pass  # the records still pending are reported by on_result when they time out

    def close(self, timeout_s: float = 10.0) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            producer.close(timeout=timeout_s)
