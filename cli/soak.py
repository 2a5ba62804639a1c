"""`bench soak`: sustained load on a real scoring process, minute by minute.

1. Measure the end-to-end capacity (frames/s) of one in-process consumer draining a backlog
   (cli.bench_pipeline.end_to_end), unless --rate is given.
2. Start a scoring consumer as its own process (`run_monitor.py score`, what a deployment runs),
   on fresh topics.
3. Stream frames at --load (default 0.8) of that capacity from --streams (default 8) streams for
   --minutes, plus a trickle of poison records (one a second: truncated, empty, not an image), so
   the dead-letter path is soaked too. The producer lingers 25 ms to batch a few frames per
   request (the embedded broker slows down with the number of stored batches).
4. Every minute print: frames produced and scored, latency from capture until the score is
   readable downstream (p50/p95/p99, read back from the scores topic by a group-less reader),
   dead letters, and the consumer's resident memory (VmRSS, sampled every 2 s).
5. At the end: the consumer's RSS slope in MiB/min (least squares over the samples after the
   first minute, which holds the warm-up, and over the second half of a run of 4 minutes or
   more), its summary line, and whether every frame was scored.

Memory that grows without bound shows as a slope that does not fall towards 0 as the run gets
longer; a few MiB/min over a short run is allocator warm-up. The embedded broker keeps every
record in memory (docs/DESIGN.md §4) and its fetches slow down as topics grow: its own RSS is printed
too, and latency creeping up over a long run on the embedded broker is the broker, not the consumer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from cli.monitor_process import MonitorProcess
from pipelines.config import Config, config_to_dict
from pipelines.metrics import LatencyHistogram

log = logging.getLogger("signwatch.soak")

SOAK_LINGER_MS = 25


def rss_mib(pid: int) -> float | None:
    """Resident set size of a process in MiB (Linux /proc), None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def slope_per_minute(samples: list[tuple[float, float]], skip_s: float = 60.0) -> float | None:
    """Least-squares slope (MiB/min) of (seconds, MiB) samples after the first skip_s seconds."""
    pts = [(t, v) for t, v in samples if t >= skip_s]
    if len(pts) < 3:
        pts = samples
    if len(pts) < 3:
        return None
    t = np.array([p[0] for p in pts]) / 60.0
    v = np.array([p[1] for p in pts])
    if np.ptp(t) == 0:
        return None
    return float(np.polyfit(t, v, 1)[0])


class _Minute:
    def __init__(self) -> None:
        self.produced = 0
        self.scored = 0
        self.dead = 0
        self.latency = LatencyHistogram()
        self.rss: list[float] = []
        self.broker_rss: list[float] = []


def poison_records(encoded: list[bytes]) -> list[tuple[str, bytes]]:
    good = encoded[0]
    return [("truncated jpeg", good[: len(good) // 2]), ("empty", b""), ("not an image", b"this is not a picture")]


class Soak:
    def __init__(
        self,
        cfg: Config,
        bootstrap: str,
        model: str,
        encoded: list[bytes],
        streams: int,
        rate: float,
        minutes: float,
        broker_pid: int | None = None,
        out=print,
    ) -> None:
        self.cfg, self.bootstrap, self.model = cfg, bootstrap, model
        self.encoded, self.streams, self.rate, self.minutes = encoded, streams, rate, minutes
        self.broker_pid = broker_pid
        self.out = out
        self.stop = threading.Event()
        self.t0 = 0.0
        self.minutes_data: dict[int, _Minute] = {}
        self.lock = threading.Lock()
        self.samples: list[tuple[float, float]] = []
        self.produced = 0
        self.poison_sent = 0
        self.scored_keys: set[tuple[str, int]] = set()
        self.duplicates = 0
        self.dead_letters = 0
        self.undelivered = 0
        self.lines: list[str] = []

    def _minute(self, t: float) -> _Minute:
        m = int((t - self.t0) // 60)
        with self.lock:
            return self.minutes_data.setdefault(m, _Minute())

    # -- threads ---------------------------------------------------------------------------------

    def _produce(self) -> None:
        from kafka import KafkaProducer

        from pipelines.kafka_clients import client_kwargs
        from pipelines.producers import FrameProducer, Pacer
        from pipelines.wire import FrameMeta, frame_headers, frame_key

        producer = FrameProducer(self.cfg, self.bootstrap)
        raw = KafkaProducer(**client_kwargs(self.cfg.kafka, self.bootstrap), linger_ms=5)  # the poison, unaccounted
        pacer = Pacer(self.rate / self.streams, self.stop)
        poison = poison_records(self.encoded)
        end = self.t0 + self.minutes * 60
        i = 0
        next_poison = self.t0 + 1.0
        try:
            while not self.stop.is_set() and time.monotonic() < end:
                pacer.wait()
                now_ns = time.time_ns()
                for j in range(self.streams):
                    stream = f"soak-{j}"
                    producer.send(
                        FrameMeta(stream, producer.next_seq(stream), now_ns, "soak", "jpeg"),
                        self.encoded[(i * self.streams + j) % len(self.encoded)],
                    )
                self.produced += self.streams
                self._minute(time.monotonic()).produced += self.streams
                i += 1
                if time.monotonic() >= next_poison:  # a poison record a second, keyed to its own stream
                    kind, value = poison[self.poison_sent % len(poison)]
                    meta = FrameMeta("soak-poison", self.poison_sent, now_ns, "soak", "jpeg")
                    raw.send(
                        self.cfg.kafka.frames_topic,
                        key=frame_key(meta.stream),
                        value=value,
                        headers=frame_headers(meta),
                    )
                    self.poison_sent += 1
                    next_poison += 1.0
        finally:
            raw.close(timeout=10)
            report = producer.close()
            self.undelivered = report.undelivered
            if report.undelivered:
                self.out(f"  producer: {report.describe()}")

    def _read(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from pipelines.kafka_clients import client_kwargs

        k = self.cfg.kafka
        c = KafkaConsumer(
            **client_kwargs(k, self.bootstrap),
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        tps = [TopicPartition(t, p) for t in (k.scores_topic, k.dead_letter_topic) for p in range(k.partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        pattern = re.compile(rb'"stream":"([^"]*)","seq":(\d+),.*"capture_ns":(\d+)')
        try:
            while not self.stop.is_set() or self._reading_tail():
                for tp, records in c.poll(timeout_ms=200).items():
                    now_ns, now = time.time_ns(), time.monotonic()
                    m = self._minute(now)
                    if tp.topic == k.dead_letter_topic:
                        m.dead += len(records)
                        self.dead_letters += len(records)
                        continue
                    lat = []
                    for r in records:
                        found = pattern.search(r.value)  # no full JSON parse: the reader must keep up
                        if not found:
                            continue
                        key = (found.group(1).decode(), int(found.group(2)))
                        if key in self.scored_keys:
                            self.duplicates += 1
                            continue
                        self.scored_keys.add(key)
                        lat.append((now_ns - int(found.group(3))) / 1e6)
                    m.scored += len(lat)
                    m.latency.add(lat)
        finally:
            c.close()

    def _reading_tail(self) -> bool:
        return len(self.scored_keys) < self.produced and time.monotonic() < self._drain_deadline

    def _sample(self, pid: int) -> None:
        while not self.stop.wait(2.0):
            now = time.monotonic()
            v = rss_mib(pid)
            if v is None:
                return
            self.samples.append((now - self.t0, v))
            m = self._minute(now)
            m.rss.append(v)
            if self.broker_pid:
                b = rss_mib(self.broker_pid)
                if b is not None:
                    m.broker_rss.append(b)

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        """Start the scoring process, stream for `minutes` printing a row a minute, drain, stop it; the figures."""
        cfg_path = Path(tempfile.mkdtemp(prefix="signwatch-soak-")) / "soak.yaml"
        proc = self._start_scorer(cfg_path)
        self.proc_pid = proc.pid
        try:
            self._wait_joined(proc)
            self._stream()
        finally:
            self.stop.set()
            rc = _stop_process(proc)
            shutil.rmtree(cfg_path.parent, ignore_errors=True)
        return self._figures(rc)

    def _start_scorer(self, cfg_path: Path) -> subprocess.Popen:
        """`run_monitor.py score` in a process of its own, on this soak's config; its output lines kept."""
        import yaml

        cfg_path.write_text(yaml.safe_dump(config_to_dict(self.cfg), sort_keys=False))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        member = MonitorProcess(["--config", str(cfg_path), "score", "--model", self.model, "--name", "soak"], env)
        self.lines = member.lines
        return member.p

    def _wait_joined(self, proc: subprocess.Popen, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while not any("partitions assigned" in line for line in self.lines):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("soak: the scoring process did not join its group:\n" + "".join(self.lines[-20:]))
            time.sleep(0.1)

    def _stream(self) -> None:
        """Reader and RSS sampler threads, then the producer for `minutes`; a row per finished minute."""
        self.t0 = time.monotonic()
        self._drain_deadline = float("inf")
        threads = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._sample, args=(self.proc_pid,), daemon=True),
        ]
        for t in threads:
            t.start()
        self.out(
            f"  {'minute':>6} {'produced':>9} {'scored':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
            f"{'dead letters':>12} {'consumer RSS MiB':>17}" + (f" {'broker RSS MiB':>15}" if self.broker_pid else "")
        )
        printed = -1
        producer = threading.Thread(target=self._produce, daemon=True)
        producer.start()
        while producer.is_alive():
            producer.join(1.0)
            done = int((time.monotonic() - self.t0) // 60) - 1
            while printed < done:
                printed += 1
                self._print_minute(printed)
        self._drain_deadline = time.monotonic() + 60
        while self._reading_tail():
            time.sleep(0.2)
        self.stop.set()
        for t in threads:
            t.join(10)
        last = int((time.monotonic() - self.t0) // 60)
        while printed < last:
            printed += 1
            if printed in self.minutes_data:
                self._print_minute(printed)

    def _figures(self, rc: int) -> dict[str, Any]:
        summary = next((line.strip() for line in reversed(self.lines) if line.startswith("score summary")), "")
        slope = slope_per_minute(self.samples)
        half = slope_per_minute(self.samples, skip_s=self.minutes * 30) if self.minutes >= 4 else None
        return {
            "consumer_exit_code": rc,
            "consumer_summary": summary,
            "rss_slope_mib_per_min": slope,
            "rss_slope_second_half_mib_per_min": half,
            "rss_first_mib": self.samples[0][1] if self.samples else None,
            "rss_last_mib": self.samples[-1][1] if self.samples else None,
            "rss_max_mib": max((v for _, v in self.samples), default=None),
        }

    def _print_minute(self, i: int) -> None:
        m = self.minutes_data.get(i) or _Minute()
        h = m.latency

        def ms(v: float | None) -> str:
            return "n/a" if v is None else f"{v:.0f}"

        rss = f"{np.mean(m.rss):.0f} (max {max(m.rss):.0f})" if m.rss else "n/a"
        broker = f" {np.mean(m.broker_rss):15.0f}" if m.broker_rss else ""
        self.out(
            f"  {i + 1:>6} {m.produced:>9} {m.scored:>8} {ms(h.percentile(50)):>7} {ms(h.percentile(95)):>7} "
            f"{ms(h.percentile(99)):>7} {m.dead:>12} {rss:>17}{broker}"
        )


def _stop_process(proc: subprocess.Popen) -> int:
    """SIGTERM (a clean shutdown) if still running, SIGKILL after 60 s; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    time.sleep(0.2)
    return rc


def run_soak(cfg: Config, args: Any) -> int:
    import monitor
    from cli.bench_pipeline import bench_frames, delete_topics
    from pipelines.broker import ensure_topics, open_broker

    tmp = tempfile.TemporaryDirectory(prefix="signwatch-soak-")
    try:
        model = args.model
        if model is None:
            model = os.path.join(tmp.name, "untrained.pt")
            monitor.make_untrained_checkpoint(model, seed=0)
        scorer = monitor.load_model(
            model, device=args.device or cfg.consumer.device, expect_size=cfg.consumer.input_size
        )
        frames = bench_frames(cfg, args.data, max(args.capacity_frames, 512))
        with open_broker(cfg) as handle:
            rate = _soak_rate(cfg, handle.bootstrap, scorer, frames.encoded, args)
            del scorer  # the consumer under test is its own process
            scfg = _soak_config(cfg, handle.bootstrap, args)
            ensure_topics(handle.bootstrap, scfg)
            broker_pid = handle.broker.pid if handle.broker is not None else None
            soak = Soak(
                scfg,
                handle.bootstrap,
                model,
                frames.encoded,
                args.streams,
                rate,
                args.minutes,
                broker_pid,
                out=lambda line: print(line, flush=True),
            )
            try:
                figures = soak.run()
            finally:
                delete_topics(scfg, handle.bootstrap)
    finally:
        tmp.cleanup()
    _print_totals(soak, figures)
    figures.update(_soak_figures(soak, rate, args))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
        print(f"  wrote {args.json}", flush=True)
    ok = figures["consumer_exit_code"] == 0 and len(soak.scored_keys) >= soak.produced - soak.undelivered
    return 0 if ok else 1


def _soak_rate(cfg: Config, bootstrap: str, scorer: Any, encoded: list[bytes], args: Any) -> float:
    """--rate, or --load of the end-to-end capacity measured on a backlog; the plan printed."""
    from cli.bench_pipeline import end_to_end

    if args.rate:
        print(
            f"soak: streaming {args.rate:.0f} frames/s from {args.streams} streams for {args.minutes:g} min, "
            f"plus 1 poison record/s",
            flush=True,
        )
        return args.rate
    fps = end_to_end(cfg, bootstrap, scorer, encoded[: args.capacity_frames], args.streams).fps
    rate = args.load * fps
    print(
        f"soak: capacity {fps:.0f} frames/s end to end (one consumer, backlog of {args.capacity_frames} "
        f"frames); streaming at {args.load:.0%} of it: {rate:.0f} frames/s from {args.streams} streams "
        f"for {args.minutes:g} min, plus 1 poison record/s",
        flush=True,
    )
    return rate


def _soak_config(cfg: Config, bootstrap: str, args: Any) -> Config:
    """Fresh topics, lingering producer batches, the scoring process pointed at this broker."""
    from cli.bench_pipeline import fresh_topics

    scfg = fresh_topics(cfg)
    # Producer batches of a few frames, not one: the embedded broker's fetches slow down with the
    # number of stored batches (docs/DESIGN.md §4), which would otherwise dominate a long soak.
    scfg = dataclasses.replace(
        scfg,
        producer=dataclasses.replace(scfg.producer, linger_ms=max(scfg.producer.linger_ms, SOAK_LINGER_MS)),
    )
    return dataclasses.replace(
        scfg,
        kafka=dataclasses.replace(scfg.kafka, bootstrap_servers=bootstrap),
        consumer=dataclasses.replace(scfg.consumer, metrics_interval_s=0, device=args.device or cfg.consumer.device),
    )


def _print_totals(soak: Soak, figures: dict[str, Any]) -> None:
    slope = figures["rss_slope_mib_per_min"]
    half = figures.get("rss_slope_second_half_mib_per_min")
    print(
        f"  consumer RSS: {figures['rss_first_mib']:.0f} MiB at the start, {figures['rss_last_mib']:.0f} at the end, "
        f"max {figures['rss_max_mib']:.0f}; slope after the first minute {'n/a' if slope is None else f'{slope:+.2f}'} MiB/min"
        + (f", over the second half {half:+.2f} MiB/min" if half is not None else ""),
        flush=True,
    )
    print(
        f"  frames: produced {soak.produced}, scored {len(soak.scored_keys)} (duplicates {soak.duplicates}), "
        f"undelivered {soak.undelivered}, poison records {soak.poison_sent}, dead letters {soak.dead_letters}",
        flush=True,
    )
    print(f"  {figures['consumer_summary'][:400]}", flush=True)


def _soak_figures(soak: Soak, rate: float, args: Any) -> dict[str, Any]:
    """--json: the totals, a row per minute and the RSS samples."""
    return dict(
        rate_fps=round(rate, 1),
        streams=args.streams,
        minutes=args.minutes,
        produced=soak.produced,
        scored=len(soak.scored_keys),
        duplicates=soak.duplicates,
        undelivered=soak.undelivered,
        poison=soak.poison_sent,
        dead_letters=soak.dead_letters,
        per_minute=[
            {
                "minute": i + 1,
                "produced": m.produced,
                "scored": m.scored,
                "p50_ms": m.latency.percentile(50),
                "p95_ms": m.latency.percentile(95),
                "p99_ms": m.latency.percentile(99),
                "dead_letters": m.dead,
                "rss_mib": float(np.mean(m.rss)) if m.rss else None,
                "broker_rss_mib": float(np.mean(m.broker_rss)) if m.broker_rss else None,
            }
            for i, m in sorted(soak.minutes_data.items())
        ],
        rss_samples=[(round(t, 1), round(v, 1)) for t, v in soak.samples],
    )
