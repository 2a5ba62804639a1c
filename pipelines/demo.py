"""`demo`: the whole pipeline in one process, on the embedded broker unless a cluster is configured.

Steps (each a function, so later steps such as calibration, alerts and the console can be added):
1. model    - the --model checkpoint, else a quickly trained one (few epochs on clean crops);
2. broker   - embedded broker (or the configured cluster, with demo-only topics) and topics;
3. consumer - an in-process scoring consumer in a thread, joined to its group before frames flow;
4. replay   - several streams of sign tracks; some streams meet a condition half way through
              (rain, exposure, ...), with ground truth in the headers;
5. summary  - throughput, latency, dead letters and the mean score per stream before/after onset.
"""
from __future__ import annotations

import dataclasses
import logging
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Sequence

import numpy as np

from monitor.config import Config
from pipelines.producers import FrameSequence, SourceFrame, Tick
from pipelines.wire import AlertRecord, GroundTruth, ScoreRecord

log = logging.getLogger("signwatch.demo")

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "belgiumtsc"
# Conditions given to the streams in turn (None: the stream stays clean); onset half way through.
DEMO_CONDITIONS: tuple[tuple[str, int] | None, ...] = (None, ("rain", 3), ("exposure", 4), ("gaussian_blur", 4),
                                                       None, ("snow", 4), ("darkening", 3), ("haze", 4))


class DemoModel(NamedTuple):
    path: str
    note: str


def prepare_model(cfg: Config, args: Any, workdir: Path) -> DemoModel:
    """Step 1: the checkpoint to score with."""
    if args.model:
        return DemoModel(args.model, f"model {args.model}")
    from monitor.cure_tsr import training_images

    data = Path(args.data) if args.data else DEFAULT_DATA
    items = training_images(data)
    if not items:
        raise ValueError(f"--data {data}: no images to train a model on (pass --model)")
    out = workdir / "demo-model.pt"
    try:
        from monitor.train import train_model
    except ImportError:
        from monitor.checkpoint import make_untrained_checkpoint

        make_untrained_checkpoint(out, seed=0)
        return DemoModel(str(out), "UNTRAINED model (monitor.train is not available): scores are not meaningful")
    t0 = time.monotonic()
    log.info("demo: training a quick model (%d epochs on %d clean crops from %s) ...", args.epochs, len(items), data)
    model_id, result = train_model([p for p, _ in items], [g for _, g in items], out, channels=cfg.train.channels,
                                   epochs=args.epochs, batch_size=cfg.train.batch_size, lr=cfg.train.lr,
                                   alpha=cfg.train.alpha, seed=cfg.train.seed, data_root=str(data))
    return DemoModel(str(out), f"quick model {model_id} ({args.epochs} epoch{'s' if args.epochs > 1 else ''}, val loss {result.best_val_loss:.4f}, "
                               f"trained in {time.monotonic() - t0:.0f} s; train longer with `train` for real use)")


def demo_config(cfg: Config, embedded: bool) -> Config:
    """Step 2: on a real cluster the demo writes to topics and a group of its own."""
    if embedded:
        return cfg
    tag = uuid.uuid4().hex[:8]
    k = dataclasses.replace(cfg.kafka, frames_topic=f"signwatch.demo-{tag}.frames", scores_topic=f"signwatch.demo-{tag}.scores",
                            alerts_topic=f"signwatch.demo-{tag}.alerts", dead_letter_topic=f"signwatch.demo-{tag}.deadletter")
    return dataclasses.replace(cfg, kafka=k, consumer=dataclasses.replace(cfg.consumer, group_id=f"signwatch-demo-{tag}"))


def demo_ticks(sequences: Sequence[FrameSequence], streams: int, frames: int,
               conditions: Sequence[tuple[str, int] | None] = DEMO_CONDITIONS) -> Iterator[Tick]:
    """Step 4's source: `streams` streams of clean tracks; stream i meets conditions[i] after half its frames."""
    from monitor.challenges import apply_challenge
    from monitor.cure_tsr import load_image

    per_stream = frames // streams + (1 if frames % streams else 0)
    plans = [list(sequences[i::streams]) or list(sequences) for i in range(streams)]

    def frames_of(i: int) -> Iterator[tuple[Path, GroundTruth | None]]:
        while True:  # loop over the stream's tracks as often as needed
            for s in plans[i]:
                yield from zip(s.paths, s.truths)

    iters = [frames_of(i) for i in range(streams)]
    emitted = 0
    for n in range(per_stream):
        tick: Tick = []
        for i in range(streams):
            if emitted >= frames:
                break
            path, truth = next(iters[i])
            img = load_image(path)
            cond = conditions[i % len(conditions)]
            if cond is not None and n >= per_stream // 2:
                img = apply_challenge(img, cond[0], cond[1], seed=n)
                truth = GroundTruth(cond[0], cond[1], truth.sign if truth else "", truth.sequence if truth else "")
            tick.append(SourceFrame(f"demo-{i}", img, truth))
            emitted += 1
        if tick:
            yield tick


class Collected:
    """The scores seen by the in-process consumer (what the summary is made of)."""

    def __init__(self, chained: Callable[[list[ScoreRecord]], Sequence[AlertRecord]] | None = None) -> None:
        self.chained = chained
        self.lock = threading.Lock()
        self.by_stream: dict[str, list[tuple[int, float, str]]] = defaultdict(list)  # (seq, score, challenge)
        self.count = 0

    def __call__(self, records: list[ScoreRecord]) -> Sequence[AlertRecord]:
        alerts = self.chained(records) if self.chained else []
        with self.lock:
            for r in records:
                self.by_stream[r.stream].append((r.seq, r.score, r.truth.challenge if r.truth else "?"))
            self.count += len(records)
        return alerts


def print_summary(collected: Collected, summary: Any, produced: int, streams: int, model: DemoModel, elapsed: float,
                  rate: float | None, out=print) -> None:
    """Step 5."""
    m = summary.metrics
    out(f"demo: {produced} frames from {streams} streams -> scored {summary.scored}, dead letters {summary.dead_letters}, "
        f"in {elapsed:.1f} s")
    out(f"  {model.note}")
    p = (lambda v: "n/a" if v is None else f"{v:.0f}")
    out(f"  consumer: {p(rate)} frames/s from first frame to last commit, mean batch {m.mean_batch:.1f}, capture->publish latency "
        f"p50/p95/p99 {p(m.p50_ms)}/{p(m.p95_ms)}/{p(m.p99_ms)} ms")
    out(f"  {'stream':<8} {'frames':>6}  {'condition (second half)':<24} {'mean score, clean':>18} {'after onset':>12}")
    for stream in sorted(collected.by_stream):
        rows = collected.by_stream[stream]
        clean = [s for _, s, c in rows if c == "none"]
        cond = [(c, s) for _, s, c in rows if c != "none"]
        name = cond[0][0] if cond else "-"
        after = f"{np.mean([s for _, s in cond]):.5f}" if cond else "-"
        before = f"{np.mean(clean):.5f}" if clean else "-"
        out(f"  {stream:<8} {len(rows):>6}  {name:<24} {before:>18} {after:>12}")


def run_demo(cfg: Config, args: Any, stop: threading.Event | None = None) -> int:
    """The demo, step by step; returns the exit code. `stop` (Ctrl-C/SIGTERM) ends the replay early."""
    from monitor.cure_tsr import list_images
    from pipelines.broker import ensure_topics, open_broker
    from pipelines.consumer import ScoringConsumer
    from pipelines.producers import FrameProducer, folder_sequences, produce

    import monitor

    data = Path(args.data) if args.data else DEFAULT_DATA
    if not data.is_dir() or not list_images(data):
        raise ValueError(f"--data {data}: no image folder to replay (e.g. ../shared/data/belgiumtsc)")
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signwatch-demo-") as tmp:
        model = prepare_model(cfg, args, Path(tmp))                                       # 1. model
        scorer = monitor.load_model(model.path, device=cfg.consumer.device)
        with open_broker(cfg) as handle:                                                  # 2. broker
            cfg = demo_config(cfg, handle.embedded)
            ensure_topics(handle.bootstrap, cfg)
            collected = Collected()
            consumer = ScoringConsumer(cfg, handle.bootstrap, scorer, on_scored=collected, name="demo")  # 3. consumer
            result: dict[str, Any] = {}
            runner = threading.Thread(target=lambda: result.update(summary=consumer.run()), name="demo-consumer", daemon=True)
            runner.start()
            deadline = time.monotonic() + 60
            while not consumer.assigned:
                if time.monotonic() > deadline or not runner.is_alive():
                    consumer.stop()
                    raise RuntimeError("demo: the consumer did not join its group within 60 s")
                time.sleep(0.05)
            t0 = time.monotonic()
            producer = FrameProducer(cfg, handle.bootstrap)                               # 4. replay
            seqs = folder_sequences(data, truth=("none", 0))
            stop = stop or threading.Event()
            fps = cfg.producer.fps if args.fps is None else args.fps
            log.info("demo: replaying %d frames on %d streams at %s frames/s per stream", args.frames, args.streams,
                     fps if fps > 0 else "full speed")
            try:
                produced = produce(demo_ticks(seqs, args.streams, args.frames), producer, cfg, "demo", stop, fps=fps)
            finally:
                report = producer.close()
            deadline = time.monotonic() + 60
            while consumer.scored + consumer.dead_letters < report.delivered and time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.05)
            consumer.stop()
            runner.join(60)
        summary = result.get("summary")
        if summary is None:
            raise RuntimeError("demo: the consumer did not finish")
        rate = None
        if consumer.first_record_mono is not None and consumer.last_batch_mono is not None:
            span = consumer.last_batch_mono - consumer.first_record_mono
            rate = summary.scored / span if span > 0 else None
        print_summary(collected, summary, produced.frames, args.streams, model, time.monotonic() - t0, rate)  # 5. summary
        if report.undelivered:
            print(f"  producer: {report.describe()}")
        print(f"  total demo time {time.monotonic() - t_start:.0f} s")
    return 0 if summary.scored + summary.dead_letters >= report.delivered else 1


def add_demo_arguments(p: Any) -> None:
    """The demo's own command-line options (the demo subcommand is registered in pipelines/cli.py)."""
    p.add_argument("--frames", type=int, default=2000, help="frames to replay in total (default 2000)")
    p.add_argument("--streams", type=int, default=4, help="parallel streams (default 4)")
    p.add_argument("--fps", type=float, help="frames per second per stream (default producer.fps; 0 = full speed)")
    p.add_argument("--model", help="checkpoint to score with (default: train a quick one)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the quick model (default 3)")
    p.add_argument("--data", help="clean image folder to replay and train on (default ../shared/data/belgiumtsc)")
    p.add_argument("--no-console", action="store_true", help="print the summary only, without the live console")
