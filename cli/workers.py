"""`score --workers N`: N members of the scoring group on one host, under one supervisor.

Each worker is a normal `run_monitor.py score` process (its own interpreter, so Python's lock is
not shared) joining the same consumer group; Kafka spreads the frames topic's partitions over
them, so a host needs kafka.partitions >= members over all hosts, or the extra members idle.
On CPU each worker gets torch threads = cores / N (OMP_NUM_THREADS, unless the user set it).

The supervisor starts the embedded broker when no cluster is configured (the workers connect to
it), forwards each worker's log lines prefixed with its name, and on SIGTERM/SIGINT stops every
worker (each finishes and commits the batch in hand) and exits 0. A worker that exits non-zero
while not asked to stop is reported with its exit code, the others are stopped and the supervisor
exits 1: restarting is left to the process manager that runs the supervisor (systemd, Kubernetes),
which sees one failed unit instead of a member silently cycling.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any, NamedTuple

import yaml

from pipelines.config import Config, config_to_dict

log = logging.getLogger("signwatch.cli")

RUN_MONITOR = Path(__file__).resolve().parents[1] / "run_monitor.py"
STOP_GRACE_S = 60.0  # how long a stopped worker may take to finish its batch before it is killed


class Worker(NamedTuple):
    name: str
    proc: subprocess.Popen
    summary_path: Path
    forwarder: threading.Thread  # copies its log lines to ours


class WorkersSummary(NamedTuple):
    workers: int
    frames: int  # records handled: scored + dead letters
    scored: int
    dead_letters: int
    duplicates: int
    missing: int
    failed: list[str]  # "worker-1 exited with code 3"

    def line(self) -> str:
        failed = f"; FAILED: {', '.join(self.failed)}" if self.failed else ""
        return (
            f"score summary [{self.workers} workers]: frames {self.frames}, scored {self.scored}, "
            f"dead letters {self.dead_letters}, duplicates {self.duplicates}, missing {self.missing}{failed}"
        )


def worker_threads(workers: int, cores: int | None = None) -> int:
    """Torch CPU threads per worker: the host's cores shared out, at least one each."""
    return max(1, (cores or os.cpu_count() or 1) // workers)


def worker_command(config_path: Path, args: Any, name: str, summary_path: Path) -> list[str]:
    """The argv of one worker: `score` with the supervisor's effective config and this worker's name."""
    cmd = [sys.executable, str(RUN_MONITOR), "--config", str(config_path), "score", "--name", name]
    cmd += ["--summary-json", str(summary_path)]
    if args.max_frames is not None:
        cmd += ["--max-frames", str(args.max_frames)]
    if args.idle_exit is not None:
        cmd += ["--idle-exit", str(args.idle_exit)]
    if args.verbose:
        cmd.append("--verbose")
    return cmd


def _forward(prefix: str, stream: IO[str], out: IO[str]) -> None:
    """Copy a worker's lines to ours with its name in front, so interleaved logs stay readable."""
    for line in stream:
        out.write(f"[{prefix}] {line}")
        out.flush()


def _worker_config(cfg: Config, bootstrap: str) -> dict:
    """The config every worker reads: the supervisor's, with options applied and the broker's address."""
    k = dataclasses.replace(cfg.kafka, bootstrap_servers=bootstrap)
    return config_to_dict(dataclasses.replace(cfg, kafka=k))


def _start(cfg: Config, args: Any, bootstrap: str, tmp: Path) -> list[Worker]:
    base = args.name or f"{os.uname().nodename}-{os.getpid()}"
    workers = []
    for i in range(args.workers):
        name = f"{base}-w{i}"
        wcfg = _worker_config(cfg, bootstrap)
        if cfg.consumer.group_instance_id:  # static membership ids must differ per member
            wcfg["consumer"]["group_instance_id"] = f"{cfg.consumer.group_instance_id}-w{i}"
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(wcfg, sort_keys=False))
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(worker_threads(args.workers)))  # torch reads it at start
        summary = tmp / f"{name}.json"
        proc = subprocess.Popen(
            worker_command(path, args, name, summary), stderr=subprocess.PIPE, text=True, env=env, bufsize=1
        )
        forwarder = threading.Thread(target=_forward, args=(name, proc.stderr, sys.stderr), daemon=True)
        forwarder.start()
        workers.append(Worker(name, proc, summary, forwarder))
    log.info(
        "score: %d workers started (%s), torch threads each %s",
        len(workers),
        ", ".join(f"{w.name} pid {w.proc.pid}" for w in workers),
        os.environ.get("OMP_NUM_THREADS", worker_threads(args.workers)),
    )
    return workers


def _supervise(workers: list[Worker], stop: threading.Event) -> list[str]:
    """Wait for every worker; on `stop` or a worker's failure, stop the rest. The failures, in words."""
    failed: dict[str, str] = {}
    stopped_at: float | None = None
    while any(w.proc.poll() is None for w in workers):
        for w in workers:
            rc = w.proc.poll()
            if rc not in (None, 0) and stopped_at is None and w.name not in failed:
                failed[w.name] = f"{w.name} exited with code {rc}"
                log.error("score: worker %s (pid %d) exited with code %d; stopping the others", w.name, w.proc.pid, rc)
        if (stop.is_set() or failed) and stopped_at is None:
            stopped_at = time.monotonic()
            for w in workers:
                if w.proc.poll() is None:
                    w.proc.send_signal(signal.SIGTERM)
        if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE_S:
            for w in workers:
                if w.proc.poll() is None:
                    log.error("score: worker %s did not stop within %.0f s; killed", w.name, STOP_GRACE_S)
                    failed[w.name] = f"{w.name} killed after {STOP_GRACE_S:.0f} s"
                    w.proc.kill()
        time.sleep(0.1)
    for w in workers:  # one that failed after the others were asked to stop is still a failure
        rc = w.proc.returncode
        if rc != 0 and w.name not in failed:
            failed[w.name] = f"{w.name} exited with code {rc}"
    return list(failed.values())


def summarise(workers: list[Worker], failed: list[str]) -> WorkersSummary:
    """The workers' own summaries (the JSON each wrote on exit) added up."""
    totals = {"scored": 0, "dead_letters": 0, "duplicates": 0, "missing": 0}
    for w in workers:
        try:
            data = json.loads(w.summary_path.read_text())
        except (OSError, ValueError):
            continue  # a worker that died wrote none; it is in `failed`
        for key in totals:
            totals[key] += int(data.get(key, 0))
    return WorkersSummary(
        len(workers),
        totals["scored"] + totals["dead_letters"],
        totals["scored"],
        totals["dead_letters"],
        totals["duplicates"],
        totals["missing"],
        failed,
    )


def warn_partitions(bootstrap: str, cfg: Config, workers: int) -> None:
    """Say so at start when some workers can only idle: a partition has one member of a group."""
    from pipelines.broker import partition_counts

    n = partition_counts(bootstrap, cfg, [cfg.kafka.frames_topic]).get(cfg.kafka.frames_topic)
    if n is not None and workers > n:
        log.warning(
            "score: %d workers but topic %s has %d partitions: %d worker(s) will get none and idle "
            "(a deployment needs kafka.partitions >= members over all hosts)",
            workers,
            cfg.kafka.frames_topic,
            n,
            workers - n,
        )


def run_workers(cfg: Config, args: Any, stop: threading.Event) -> int:
    """Open (or reach) the broker, start the workers, supervise them, print one summary line."""
    from pipelines.broker import ensure_topics, open_broker

    with open_broker(cfg) as handle, tempfile.TemporaryDirectory(prefix="signwatch-workers-") as tmp:
        ensure_topics(handle.bootstrap, cfg)
        warn_partitions(handle.bootstrap, cfg, args.workers)
        workers = _start(cfg, args, handle.bootstrap, Path(tmp))
        try:
            failed = _supervise(workers, stop)
        finally:
            for w in workers:  # an interrupt of the supervisor itself must not leave workers behind
                if w.proc.poll() is None:
                    w.proc.kill()
                    w.proc.wait()
            for w in workers:  # their last lines (each one's own summary) before ours
                w.forwarder.join(timeout=5)
        summary = summarise(workers, failed)
    print(summary.line(), flush=True)
    return 1 if summary.failed else 0
