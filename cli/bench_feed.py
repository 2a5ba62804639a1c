"""`bench pipeline --feed`: what the feed delivers when scoring costs nothing, and the broker's ceiling.

A GPU scores far faster than this host's cores feed it, so a GPU host's capacity is set by what
Kafka, decoding and the calibration stage deliver. To measure that on any host the same pipeline
runs with NullScorer (below), a measuring tool that answers every batch with zeros at once:
1. feed per core: one consumer draining a backlog through the calibrated hook, with its CPU split;
   1000 / (core-ms per frame) is what one core of this host can feed;
2. feed with k workers, k = 1..cores: k consumer processes, each draining a backlog of its own
   topics (the per-member work of k members of one group, without the group's join), frames/s
   over all of them from the first frame polled to the last batch committed;
3. the broker's ceiling: produce, then consume (a plain consumer, no decode) the same records.
The calibrated hook sees scores of zero: every frame is then normal to the detector, so the
condition classifier's share of the hook (run on anomalous frames) is not in these figures.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any, NamedTuple

import numpy as np
import torch

from monitor.scorer import ScoreResult

# Issue 13's target for what Kafka + decode + calibration deliver per core with a null scorer.
FEED_TARGET_PER_CORE = 5000


class NullScorer:
    """A Scorer stand-in that scores nothing: zeros for every frame, at once.

    Implements what the consumer and the hook ask of a scorer (preprocess, score_tensor, score,
    model_id, device) so the rest of the pipeline runs unchanged. A measuring tool for the feed's
    capacity, never a model: its scores mean nothing.
    """

    def __init__(self, model_id: str, channels: int = 3, size: int = 28) -> None:
        self.model_id, self.channels, self.size = model_id, channels, size
        self.device = torch.device("cpu")
        self.beta = 0.0

    def preprocess(self, frames: Any) -> torch.Tensor:
        from monitor.preprocess import to_model_input

        return to_model_input(frames, self.channels, self.size)

    def score_tensor(self, x: torch.Tensor) -> ScoreResult:
        n = int(x.shape[0])
        return ScoreResult(np.zeros(n), np.zeros(n), np.zeros((n, 4)))

    def score(self, frames: Any) -> ScoreResult:
        return self.score_tensor(self.preprocess(frames))


class Ceiling(NamedTuple):
    produce_fps: float
    consume_fps: float


def broker_ceiling(cfg: Any, bootstrap: str, encoded: list[bytes], streams: int) -> Ceiling:
    """Frames/s the broker takes (our producer, as `produce` sends) and gives back (a plain
    consumer reading every partition from the start, no decode)."""
    from kafka import KafkaConsumer, TopicPartition

    from cli.bench_pipeline import delete_topics, fresh_topics, send_frames
    from pipelines.broker import ensure_topics
    from pipelines.kafka_clients import consumer_settings

    cfg = fresh_topics(cfg)
    ensure_topics(bootstrap, cfg)
    try:
        produce_s = send_frames(cfg, bootstrap, encoded, streams, 0)
        settings = {k: v for k, v in consumer_settings(cfg, bootstrap).items() if k != "group_instance_id"}
        consumer = KafkaConsumer(**{**settings, "group_id": None})
        try:
            tps = [TopicPartition(cfg.kafka.frames_topic, p) for p in range(cfg.kafka.partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            got, t = 0, time.perf_counter()
            deadline = time.monotonic() + 120
            while got < len(encoded) and time.monotonic() < deadline:
                got += sum(len(r) for r in consumer.poll(timeout_ms=200).values())
            consume_s = time.perf_counter() - t
        finally:
            consumer.close()
    finally:
        delete_topics(cfg, bootstrap)
    return Ceiling(len(encoded) / produce_s, got / consume_s)


def _feed_worker(cfg: Any, bootstrap: str, scorer: NullScorer, make_hook: Any, n: int, threads: int, go, results):
    """Entry point of one feed worker process: drain `n` frames of its own topics once all are ready."""
    from pipelines.consumer import ScoringConsumer

    torch.set_num_threads(threads)
    try:
        consumer = ScoringConsumer(cfg, bootstrap, scorer, on_scored=make_hook(), name="feed")
        go.wait(timeout=120)  # every worker built (torch imported), then all start together
        summary = consumer.run(max_records=n)
        results.put((consumer.first_record_mono, consumer.last_batch_mono, summary.scored, ""))
    except BaseException as e:  # reported to the parent with the figures' context
        results.put((0.0, 0.0, 0, f"{type(e).__name__}: {e}"))


def feed_with_workers(cfg: Any, bootstrap: str, scorer: NullScorer, make_hook: Any, frames: Any, args: Any, k: int):
    """Frames/s of k feed worker processes draining len(frames.encoded) frames between them."""
    from cli.bench_pipeline import delete_topics, fresh_topics, send_frames
    from pipelines.broker import ensure_topics

    per = len(frames.encoded) // k
    cfgs = [fresh_topics(cfg) for _ in range(k)]
    for c in cfgs:
        ensure_topics(bootstrap, c)
        send_frames(c, bootstrap, frames.encoded[:per], args.streams, 0)
    ctx = multiprocessing.get_context("spawn")  # this process runs torch and Kafka client threads
    go, results = ctx.Barrier(k), ctx.Queue()
    threads = max(1, (os.cpu_count() or 1) // k)
    procs = [
        ctx.Process(target=_feed_worker, args=(c, bootstrap, scorer, make_hook, per, threads, go, results), daemon=True)
        for c in cfgs
    ]
    try:
        for p in procs:
            p.start()
        out = [results.get(timeout=300) for _ in procs]
    finally:
        for p in procs:
            p.join(30)
        for c in cfgs:
            delete_topics(c, bootstrap)
    errors = [e for *_, e in out if e]
    if errors or sum(o[2] for o in out) != per * k:
        raise RuntimeError(f"bench feed with {k} workers: {errors or 'not every frame was scored'}")
    return per * k / (max(o[1] for o in out) - min(o[0] for o in out))


def feed_capacity(
    cfg: Any, handle: Any, scorer: Any, frames: Any, args: Any, broker_pid: int | None, hooks: Any
) -> dict[str, float]:
    """Measure and print the feed's capacity (per core, with 1..cores workers) and the broker's
    ceiling, side by side in this run; the figures as flat JSON keys."""
    from cli.bench_pipeline import end_to_end

    null = NullScorer(scorer.model_id, scorer.channels, scorer.size)
    null_hooks = hooks.with_scorer(null)
    one = end_to_end(cfg, handle.bootstrap, null, frames.encoded, args.streams, broker_pid, null_hooks)
    n = len(frames.encoded)
    ours = sum(v for k, v in one.cpu.items() if k != "broker process")
    figures: dict[str, float] = {"feed_one_consumer_fps": round(one.fps, 1)}
    print(f"  feed (null scorer, calibrated hook; cli/bench_feed.py): one consumer {one.fps:.0f} frames/s", flush=True)
    print(f"                CPU by part: {one.cpu_line}", flush=True)
    if ours > 0:
        per_core = n / ours
        figures["feed_per_core_fps"] = round(per_core, 1)
        figures["feed_per_core_target_met"] = per_core >= FEED_TARGET_PER_CORE
        print(
            f"                per core of the consumer process (broker not counted): {per_core:.0f} frames/s "
            f"(target >= {FEED_TARGET_PER_CORE})",
            flush=True,
        )
    for k in range(1, (os.cpu_count() or 1) + 1):
        fps = feed_with_workers(cfg, handle.bootstrap, null, null_hooks, frames, args, k)
        figures[f"feed_workers_{k}_fps"] = round(fps, 1)
        print(f"  feed, {k} worker process(es), own topics each: {fps:8.0f} frames/s", flush=True)
    ceiling = broker_ceiling(cfg, handle.bootstrap, frames.encoded, args.streams)
    figures.update(broker_produce_fps=round(ceiling.produce_fps, 1), broker_consume_fps=round(ceiling.consume_fps, 1))
    print(
        f"  broker ceiling: produce {ceiling.produce_fps:.0f} frames/s (one producer), consume "
        f"{ceiling.consume_fps:.0f} frames/s (one plain consumer, no decode), same {n} records",
        flush=True,
    )
    return figures
