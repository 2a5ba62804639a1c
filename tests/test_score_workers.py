"""`score --workers N` against the real broker: N members in one group under one supervisor."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import signal
import time

import pytest

from cli.workers import worker_threads
from pipelines.wire import decode_score
from tests.conftest import distinct_partition_prefix, read_topic, write_config
from tests.test_pipeline import Proc
from tests.test_pipeline_consumer import _produce_folder

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _assigned(proc: Proc, worker: str) -> set[int]:
    """Partitions of `worker`'s latest assignment, from its prefixed log lines."""
    lines = [line for line in proc.err if line.startswith(f"[{worker}]") and "partitions assigned:" in line]
    return {int(m) for m in re.findall(r"\[(\d+)\]", lines[-1])} if lines else set()


def test_two_workers_share_the_partitions_score_every_frame_once_and_stop_on_sigterm(
    kafka_cfg, untrained_checkpoint, tmp_path
):
    cfg = dataclasses.replace(
        kafka_cfg,
        consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=8, max_wait_ms=20, device="cpu"),
    )
    path = write_config(cfg, tmp_path / "c.yaml")
    proc = Proc(
        ["--config", str(path), "score", "--workers", "2", "--name", "sv", "--model", str(untrained_checkpoint)], "sv"
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # both members in, the 4 partitions split between them (no rebalance mid-test)
            a, b = _assigned(proc, "sv-w0"), _assigned(proc, "sv-w1")
            if a and b and not (a & b) and len(a | b) == 4:
                break
            assert proc.p.poll() is None and time.monotonic() < deadline, proc.text()
            time.sleep(0.1)
        n = 120
        _produce_folder(cfg, n, 4, distinct_partition_prefix(4))
        scores = read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.scores_topic, n, timeout_s=60)
        keys = [(s.stream, s.seq) for s in (decode_score(r.value) for r in scores)]
        time.sleep(0.5)  # nothing more may come: a second copy would show here
        proc.p.send_signal(signal.SIGTERM)
        rc = proc.p.wait(timeout=90)
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
    time.sleep(0.2)  # the reader threads drain the last lines
    assert len(keys) == n and len(set(keys)) == n, f"{len(set(keys))} distinct of {len(keys)} scores\n{proc.text()}"
    assert rc == 0, proc.text()
    summaries = [line for line in proc.out if line.startswith("score summary")]
    assert len(summaries) == 1, proc.text()
    assert f"frames {n}, scored {n}, dead letters 0" in summaries[0], summaries[0]
    assert "FAILED" not in summaries[0]


def test_worker_threads_share_the_cores_out():
    assert [worker_threads(n, 16) for n in (1, 2, 3, 16, 32)] == [16, 8, 5, 1, 1]


def test_a_dead_worker_is_reported_with_its_exit_code_and_fails_the_run(kafka_cfg, untrained_checkpoint, tmp_path):
    cfg = dataclasses.replace(kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, device="cpu"))
    path = write_config(cfg, tmp_path / "c.yaml")
    proc = Proc(
        ["--config", str(path), "score", "--workers", "2", "--name", "sv", "--model", str(untrained_checkpoint)], "sv"
    )
    try:
        deadline = time.monotonic() + 90
        while not (_assigned(proc, "sv-w0") and _assigned(proc, "sv-w1")):
            assert proc.p.poll() is None and time.monotonic() < deadline, proc.text()
            time.sleep(0.1)
        started = next(line for line in proc.err if "workers started" in line)
        pid = int(re.search(r"sv-w1 pid (\d+)", started).group(1))
        os.kill(pid, signal.SIGKILL)
        rc = proc.p.wait(timeout=90)
    finally:
        if proc.p.poll() is None:
            proc.p.kill()
    time.sleep(0.2)
    assert rc == 1, proc.text()
    summaries = [line for line in proc.out if line.startswith("score summary")]
    assert len(summaries) == 1 and "FAILED: sv-w1 exited with code -9" in summaries[0], proc.text()


def test_more_workers_than_partitions_is_warned_at_start(kafka_cfg, caplog):
    from cli.workers import warn_partitions

    ours = logging.getLogger("signwatch.cli")
    ours.addHandler(caplog.handler)  # `signwatch` may not propagate to the root (setup_logging)
    try:
        with caplog.at_level(logging.WARNING, logger="signwatch.cli"):
            warn_partitions(kafka_cfg.kafka.bootstrap_servers, kafka_cfg, 4)
            assert not caplog.records
            warn_partitions(kafka_cfg.kafka.bootstrap_servers, kafka_cfg, 6)
    finally:
        ours.removeHandler(caplog.handler)
    assert "6 workers but topic" in caplog.text and "has 4 partitions: 2 worker(s) will get none" in caplog.text
