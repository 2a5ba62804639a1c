"""Subcommands of the streaming area: broker, produce {camera,replay,folder}, score, demo, bench pipeline."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pipelines.stop_signals
from cli import early_signals
from cli.options import add_device_option, add_json_option
from cli.options import fail as _err
from pipelines.config import Config

log = logging.getLogger("signwatch.cli")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is logged, not when the handler was made: a
    process that runs several commands (the test suite, a notebook) sees each one's lines where
    that command's stderr is."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(verbose: bool = False) -> None:
    """Our log lines to stderr, one per event; the Kafka client's only when they matter."""
    ours = logging.getLogger("signwatch")
    if not ours.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        ours.addHandler(handler)
        ours.propagate = False
    ours.setLevel(logging.DEBUG if verbose else logging.INFO)
    # kafka-python logs every reconnect attempt as a warning; our own lines already say what failed.
    logging.getLogger("kafka").setLevel(logging.WARNING if verbose else logging.CRITICAL)


def stop_on_signals(stop: threading.Event) -> contextlib.AbstractContextManager[threading.Event]:
    """SIGTERM or a first Ctrl-C sets `stop` (clean shutdown, said on stderr); a second Ctrl-C
    interrupts at once; a signal held since main started (cli.early_signals) sets `stop` right away."""
    return pipelines.stop_signals.stop_on_signals(stop, held=early_signals.take_held, announce=True)


def _ready(what: str) -> None:
    """The line scripts and tests wait for (not a sleep): the broker is reached, the topics are
    checked and a signal now stops the command cleanly. Printed only then, so a command refused
    for bad input still says one line."""
    print(f"{what}: ready (SIGTERM or Ctrl-C stops it cleanly)", file=sys.stderr, flush=True)


def _kafka_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT[,...]",
        help="Kafka cluster to use (overrides kafka.bootstrap_servers); without one, produce and score use the "
        "broker `run_monitor.py broker` runs, and demo and bench start their own",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging, including the Kafka client's warnings")


def _apply_kafka_args(cfg: Config, args: argparse.Namespace) -> None:
    if getattr(args, "bootstrap_servers", None):
        cfg.kafka.bootstrap_servers = args.bootstrap_servers
    setup_logging(getattr(args, "verbose", False))


def _shared_broker(cfg: Config, what: str) -> str | None:
    """Point cfg at the broker shared with the other processes (pipelines.broker.resolve_shared_bootstrap);
    the one-line refusal when there is none, else None."""
    from pipelines.broker import BrokerError, resolve_shared_bootstrap

    try:
        resolve_shared_bootstrap(cfg, what)
    except BrokerError as e:
        return str(e)
    return None


# --- broker --------------------------------------------------------------------------------------


def cmd_broker(args: argparse.Namespace, cfg: Config) -> int:
    from pipelines.broker import (
        BrokerError,
        EmbeddedBroker,
        broker_state_path,
        ensure_topics,
        forget_broker,
        output_ends,
        record_broker,
        recorded_broker,
    )

    setup_logging(args.verbose)
    if cfg.kafka.bootstrap_servers:
        return _err(
            f"kafka.bootstrap_servers is set ({cfg.kafka.bootstrap_servers}); `broker` runs the embedded broker, "
            "which is only for deployments without a cluster"
        )
    running = recorded_broker()
    if running:
        return _err(
            f"a broker is already running at {running[0]} (pid {running[1]}, recorded in {broker_state_path()}); "
            "the other commands use it: stop it first to start another"
        )
    port = args.port if args.port is not None else cfg.kafka.embedded_port
    broker = EmbeddedBroker(port=port, start_timeout_s=cfg.kafka.embedded_start_timeout_s)
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            try:
                broker.start()
                ensure_topics(broker.bootstrap, cfg)
                # Recorded only once the topics exist: a command that finds it can use it at once.
                state = record_broker(broker.bootstrap)
                print(f"bootstrap servers: {broker.bootstrap}", flush=True)
                log.info("broker: address recorded in %s for produce, score and console", state)
                print(
                    "embedded broker running (memory storage: a restart loses every record); Ctrl-C stops it",
                    file=sys.stderr,
                    flush=True,
                )
                while not stop.wait(0.5):
                    if not broker.running:
                        return _err("the embedded broker exited unexpectedly" + output_ends(broker.log_path), 1)
            finally:
                forget_broker()
                broker.close()
    except BrokerError as e:
        return _err(str(e), 1)
    print("embedded broker stopped", file=sys.stderr)
    return 0


# --- produce -------------------------------------------------------------------------------------


def _produce_common(p: argparse.ArgumentParser, fps_default: str = "producer.fps") -> None:
    _kafka_args(p)
    p.add_argument(
        "--fps", type=float, help=f"frames per second per stream (default {fps_default}; 0 = as fast as possible)"
    )
    p.add_argument("--encoding", choices=("jpeg", "png"), help="wire encoding (default producer.encoding)")
    p.add_argument("--quality", type=int, help="JPEG quality 1-100 (default producer.jpeg_quality)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames in total")
    p.add_argument("--topic", help="frames topic (default kafka.frames_topic)")


def _csv(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_produce(args: argparse.Namespace, cfg: Config) -> int:
    from pipelines.broker import BrokerError, ensure_topics, open_broker
    from pipelines.producers import FrameProducer, produce

    _apply_kafka_args(cfg, args)
    problem = _apply_produce_options(cfg, args)
    if problem:
        return _err(problem)
    stop = threading.Event()
    # Build the source first: a wrong path or option is reported before any broker is touched.
    try:
        if args.source_kind == "camera":
            ticks, source, pace = _camera_source(args, cfg, stop)
        else:
            ticks, source, pace = _recorded_source(args, cfg)
    except (ValueError, FileNotFoundError) as e:
        return _err(str(e))
    problem = _shared_broker(cfg, "produce")
    if problem:
        return _err(problem)
    try:
        with stop_on_signals(stop), open_broker(cfg) as handle:
            ensure_topics(handle.bootstrap, cfg)
            _ready("produce")
            producer = FrameProducer(cfg, handle.bootstrap)
            try:
                summary = produce(ticks, producer, cfg, source, stop, fps=pace, max_frames=args.max_frames)
            finally:
                report = producer.close()
    except BrokerError as e:
        return _err(str(e), 1)
    except ValueError as e:  # e.g. a video file OpenCV cannot open
        return _err(str(e), 1)
    print(summary.line(), flush=True)
    return 1 if report.undelivered or report.errors else 0


def _apply_produce_options(cfg: Config, args: argparse.Namespace) -> str | None:
    """--encoding, --quality, --topic and --fps into the config; the one-line problem, or None."""
    if args.encoding:
        cfg.producer.encoding = args.encoding
    if args.quality is not None:
        if not 1 <= args.quality <= 100:
            return f"--quality must be 1..100, got {args.quality}"
        cfg.producer.jpeg_quality = args.quality
    if args.topic:
        cfg.kafka.frames_topic = args.topic
    if args.fps is not None and args.fps < 0:
        return f"--fps must be >= 0, got {args.fps}"
    return None


def _camera_source(args: argparse.Namespace, cfg: Config, stop: threading.Event) -> tuple[Iterator, str, float]:
    """`produce camera`: (ticks, source name, pace for produce()); ValueError for a wrong source or option.

    A video file is checked here, before any broker is touched: its --roi against its frame size, and
    it plays at its own frame rate unless --fps is given (a live camera's ROI is checked on its first frame)."""
    from pipelines.producers import camera_ticks, check_roi, parse_roi, parse_size, video_file_info

    roi = parse_roi(args.roi) if args.roi else None
    size = parse_size(args.resize) if args.resize else None
    src = args.source
    is_file = Path(src).is_file()
    if not src.isdigit() and "://" not in src and not is_file:
        raise ValueError(f"camera source {src!r}: not a device index, a URL or an existing video file")
    fps = cfg.producer.fps if args.fps is None else args.fps
    if is_file:
        info = video_file_info(src)
        if roi is not None:
            check_roi(roi, info.width, info.height)
        if args.fps is None and info.fps > 0:
            fps = info.fps
        log.info("camera %s: %dx%d video file, played at %.3g frames/s", src, info.width, info.height, fps)
    ticks = camera_ticks(src, args.stream, stop, roi=roi, size=size, fps=fps, loop=args.loop)
    # A live camera paces itself (camera_ticks drops frames above --fps); a file is paced by produce().
    pace = fps if is_file else 0.0
    return ticks, f"camera:{src}", pace


def _recorded_source(args: argparse.Namespace, cfg: Config) -> tuple[Iterator, str, float]:
    """`produce replay` and `produce folder`: recorded sequences dealt to --streams streams."""
    from pipelines.producers import cure_gaps, cure_sequences, folder_sequences, replay_ticks

    root = Path(args.root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a directory")
    if args.streams < 1:
        raise ValueError(f"--streams must be >= 1, got {args.streams}")
    if args.source_kind == "replay":
        levels = [int(v) for v in _csv(args.levels)] if args.levels else None
        seqs = cure_sequences(root, _csv(args.challenges), levels, _csv(args.signs))
        if not seqs:
            raise ValueError(f"{root}: no CURE-TSR frames match (check the folder layout and the filters)")
    else:
        seqs = folder_sequences(root, _folder_truth(args))
        if not seqs:
            raise ValueError(f"{root}: no images found")
    gaps = cure_gaps(root, seqs, args.gap) if args.source_kind == "replay" else None
    shuffle = args.shuffle if args.source_kind == "replay" else None  # `produce folder` has no --shuffle
    ticks = replay_ticks(seqs, args.streams, prefix=args.prefix, loop=args.loop, gaps=gaps, shuffle=shuffle)
    return ticks, args.source_kind, cfg.producer.fps if args.fps is None else args.fps


def _folder_truth(args: argparse.Namespace) -> tuple[str, int] | None:
    """`produce folder --challenge --level`: the ground truth every frame is labelled with, or None."""
    if not args.challenge:
        return None
    from monitor.cure_tsr import challenge_code
    from pipelines.wire import CHALLENGE_NAMES

    truth = (CHALLENGE_NAMES[challenge_code(args.challenge)], args.level)
    if not 0 <= args.level <= 5:
        raise ValueError(f"--level must be 0..5, got {args.level}")
    return truth


# --- score ---------------------------------------------------------------------------------------


def cmd_score(args: argparse.Namespace, cfg: Config) -> int:
    from pipelines.broker import BrokerError, ensure_topics, open_broker
    from pipelines.config import ConfigError, validate_config
    from pipelines.consumer import ScoringConsumer

    _apply_kafka_args(cfg, args)
    c = cfg.consumer
    for name in ("model", "calibration", "device", "max_batch", "group_instance_id"):
        value = getattr(args, name, None)
        if value is not None:
            setattr(c, name, value)
    if args.group:
        c.group_id = args.group
    if not c.model:
        return _err("no model: pass --model PATH or set consumer.model in the config")
    if args.workers < 1:
        return _err(f"--workers must be >= 1, got {args.workers}")
    try:  # the options were set past the config's validation: check them the same way (max_batch > 0, ...)
        validate_config(cfg, "score")
    except ConfigError as e:
        return _err(str(e))
    problem = _shared_broker(cfg, "score")  # before the model: a refusal should not wait for a load
    if problem:
        return _err(problem)
    try:
        scorer, hook, loaded = _load_scoring(cfg)
    except ValueError as e:
        return _err(str(e))
    stop = threading.Event()
    if args.workers > 1:  # the checks above ran once here; each worker loads its own model
        del scorer, hook  # the supervisor scores nothing: do not hold a model's memory for the run
        return _score_workers(cfg, args, stop)
    try:
        with stop_on_signals(stop), open_broker(cfg) as handle:
            ensure_topics(handle.bootstrap, cfg)
            _ready("score")
            log.info(
                "score: model %s on %s, group %s, topic %s -> %s",
                scorer.model_id,
                scorer.device,
                c.group_id,
                cfg.kafka.frames_topic,
                cfg.kafka.scores_topic,
            )
            for line in loaded:  # said once the broker answered: a refusal before stays one line
                print(f"score: {line}", file=sys.stderr, flush=True)
            consumer = ScoringConsumer(cfg, handle.bootstrap, scorer, on_scored=hook, name=args.name, stop=stop)
            summary = consumer.run(max_records=args.max_frames, idle_exit_s=args.idle_exit)
    except BrokerError as e:
        return _err(str(e), 1)
    _report_summary(summary, args.summary_json)
    return 0


def _load_scoring(cfg: Config) -> tuple:
    """(scorer, alerting hook or None, lines saying what was loaded: an operator must see whether alerts
    are on) as consumer.model/calibration name them. ValueError (one line naming the file) when either
    cannot be used."""
    import monitor

    c = cfg.consumer
    try:
        scorer = monitor.load_model(c.model, device=c.device, expect_size=c.input_size)
    except (OSError, ValueError) as e:  # CheckpointError is a ValueError; its message names the file
        raise ValueError(str(e) if str(e).startswith("checkpoint ") else f"model {c.model}: {e}") from None
    loaded = [f"model {scorer.model_id} ({c.model}) on {scorer.device}"]
    if not c.calibration:
        return scorer, None, [*loaded, "no calibration: raw scores only, no alerts (pass --calibration)"]
    from calibration.calibration_file import load_calibration
    from calibration.detector import Detector
    from pipelines.alerting import AlertingHook

    try:  # refuses, in one line, a calibration made for another model
        cal = load_calibration(c.calibration, model_id=scorer.model_id)
    except (OSError, ValueError) as e:
        raise ValueError(str(e)) from None
    # The alert state follows partitions between members (rebuilt from the scores topic).
    return (
        scorer,
        AlertingHook(Detector(scorer, cal), cfg.alerts, cfg.baseline),
        loaded + calibration_lines(c.calibration, cal, cfg.alerts),
    )


def calibration_lines(path: str, cal, alerts) -> list[str]:
    """What `score` says about its calibration and alert rule (calibration.detector.Calibration,
    calibration.settings.AlertConfig)."""
    t = cal.threshold
    from calibration.calibration_file import wire_label

    fitted = f", fitted on frames seen through {wire_label(cal.wire)}"
    rule = f"alerts on: raise when {alerts.k} of the last {alerts.n} frames are anomalous"
    if alerts.evidence:
        rule += f" or their evidence reaches {alerts.evidence_h:g} within {alerts.evidence_n} frames"
    return [
        f"calibration {path}: threshold {t.threshold:.4g} (target false-alarm rate {t.target_fpr:.2%}){fitted}",
        rule + f"; clear when fewer than {alerts.clear_k} of the last {alerts.clear_n} are",
    ]


def _report_summary(summary, summary_json: str | None) -> None:
    """The summary line on stdout; a worker of `score --workers` logs it and writes it as JSON for
    its supervisor, whose one line adds the workers' up."""
    if summary_json:
        log.info("%s", summary.line())
        Path(summary_json).write_text(json.dumps(dataclasses.asdict(summary), default=str))
    else:
        print(summary.line(), flush=True)


def _score_workers(cfg: Config, args: argparse.Namespace, stop: threading.Event) -> int:
    """`score --workers N`: N scoring processes in one group under one supervisor (cli/workers.py)."""
    from cli.workers import run_workers
    from pipelines.broker import BrokerError

    try:
        with stop_on_signals(stop):
            return run_workers(cfg, args, stop)
    except BrokerError as e:
        return _err(str(e), 1)


# --- registration --------------------------------------------------------------------------------


def _replay_stream_args(p: argparse.ArgumentParser, prefix: str) -> None:
    """--streams, --prefix and --loop of the sources that deal recorded frames to parallel streams."""
    p.add_argument("--streams", type=int, default=1, help="parallel streams (default 1)")
    p.add_argument("--prefix", default=prefix, help=f"stream ids are PREFIX-0 .. PREFIX-(N-1) (default {prefix})")
    p.add_argument("--loop", action="store_true", help="start again at the end")


def _bench_source_args(p: argparse.ArgumentParser) -> None:
    """--model and --data of the pipeline benchmarks."""
    p.add_argument("--model", help="checkpoint (default: an untrained one; scoring cost does not depend on training)")
    p.add_argument(
        "--data", help="image folder to take frames from (default ../shared/data/belgiumtsc, else synthetic)"
    )


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    """The streaming area's subcommands: broker, produce, score, demo; bench pipeline and bench soak."""
    _register_broker(sub)
    _register_produce(sub)
    _register_score(sub)
    _register_demo(sub)
    _register_bench_pipeline(bench_sub)
    _register_bench_soak(bench_sub)


def _register_broker(sub: argparse._SubParsersAction) -> None:
    """`broker`: the embedded broker in the foreground."""
    p = sub.add_parser(
        "broker",
        help="run the embedded Kafka-compatible broker in the foreground",
        description="Start the embedded Tansu broker (memory storage) on a loopback port, create the "
        "topics, print its bootstrap address and run until Ctrl-C/SIGTERM.",
    )
    p.add_argument("--port", type=int, help="port to listen on (default kafka.embedded_port; 0 = any free port)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=cmd_broker, clean_stop=True)  # honours a SIGTERM held since main started


def _register_replay(kinds: argparse._SubParsersAction) -> None:
    """`produce replay`: a CURE-TSR layout as parallel streams with ground-truth headers."""
    rep = kinds.add_parser(
        "replay",
        help="replay a CURE-TSR layout as parallel streams with ground-truth headers",
        description="Replay the sign sequences of a CURE-TSR layout (monitor.cure_tsr), dealt round "
        "robin to --streams parallel streams; every frame carries its challenge, level, "
        "sign and sequence as headers.",
    )
    rep.add_argument("root", help="CURE-TSR root (Real_Train/ChallengeFree/..., or a set built by `synth`)")
    rep.add_argument("--challenges", metavar="A,B", help="challenge types to keep, names or codes (e.g. none,rain,5)")
    rep.add_argument("--levels", metavar="1,3", help="challenge levels to keep (0 = challenge-free)")
    rep.add_argument("--signs", metavar="A,B", help="sign types to keep, names or codes (e.g. stop,yield)")
    rep.add_argument(
        "--gap",
        type=int,
        default=0,
        metavar="N",
        help="play N clean frames (the ChallengeFree frames of the same sequence, ground truth none/0) "
        "between consecutive sequences of a stream, so episodes are separated by clear frames (default 0)",
    )
    rep.add_argument(
        "--shuffle",
        type=int,
        metavar="SEED",
        help="each stream plays its challenge-free sequences first, then its others in an order shuffled "
        "with SEED (default: sorted, so the same condition opens every stream, in its warm-up)",
    )
    _replay_stream_args(rep, prefix="replay")
    _produce_common(rep)


def _register_produce(sub: argparse._SubParsersAction) -> None:
    """`produce camera|replay|folder`: frames from a source to the frames topic."""
    p = sub.add_parser(
        "produce",
        help="send frames from a camera, a CURE-TSR replay or an image folder to Kafka",
        description="Encode frames (JPEG by default) and send them to the frames topic, key = stream id, "
        "with the headers of docs/WIRE.md. Prints a summary on exit, including every frame "
        "the broker did not acknowledge; exits 1 if there was any.",
    )
    kinds = p.add_subparsers(dest="source_kind", metavar="SOURCE", required=True)
    cam = kinds.add_parser(
        "camera",
        help="a camera device index, an RTSP/HTTP URL or a video file",
        description="Read a camera (device index like 0, RTSP/HTTP URL) or a video file with OpenCV. "
        "A live source that drops is reopened with exponential backoff; a video file "
        "ends at its last frame unless --loop.",
    )
    cam.add_argument("source", help="device index, URL or video file")
    cam.add_argument("--stream", default="camera-0", help="stream id (record key) (default camera-0)")
    cam.add_argument("--roi", metavar="X,Y,W,H", help="crop each frame to this region first")
    cam.add_argument("--resize", metavar="WxH", help="resize each (cropped) frame to this size")
    cam.add_argument("--loop", action="store_true", help="play a video file again from the start at its end")
    _produce_common(cam, fps_default="a video file's own rate, else producer.fps")
    _register_replay(kinds)
    fol = kinds.add_parser(
        "folder",
        help="replay the images of a folder (sorted; tracks stay together)",
        description="Replay every image under a folder in sorted order, grouped into tracks "
        "('<track>_<frame>' names, e.g. BelgiumTSC) or folders, dealt to --streams streams.",
    )
    fol.add_argument("root", help="image folder (searched recursively)")
    _replay_stream_args(fol, prefix="folder")
    fol.add_argument(
        "--challenge", help="label every frame with this ground-truth challenge (e.g. none for clean images)"
    )
    fol.add_argument("--level", type=int, default=0, help="ground-truth level for --challenge (default 0)")
    _produce_common(fol)
    p.set_defaults(func=cmd_produce, clean_stop=True)  # honours a SIGTERM held since main started


def _register_score(sub: argparse._SubParsersAction) -> None:
    """`score`: a scoring consumer (with calibrated alerts when given a calibration)."""
    p = sub.add_parser(
        "score",
        help="run a scoring consumer: frames topic -> GradCon scores -> scores topic",
        description="Join the scoring consumer group, decode and micro-batch frames, score them with "
        "the model and publish one JSON score per frame; bad records go to the dead-letter "
        "topic. Offsets are committed only after the broker acknowledged the results "
        "(at-least-once). Prints metrics every consumer.metrics_interval_s and a summary on "
        "exit (Ctrl-C/SIGTERM finish the batch in hand first).",
    )
    _kafka_args(p)
    p.add_argument("--model", help="checkpoint to score with (default consumer.model)")
    p.add_argument(
        "--calibration",
        help="calibration file: calibrated decisions, condition names and alerts "
        "(default consumer.calibration; none: scores only)",
    )
    add_device_option(p, default=None)
    p.add_argument("--group", help="consumer group id (default consumer.group_id)")
    p.add_argument(
        "--group-instance-id",
        dest="group_instance_id",
        help="static membership id: a restarted member takes its partitions back without a rebalance",
    )
    p.add_argument(
        "--max-batch", dest="max_batch", type=int, help="frames per scoring batch (default consumer.max_batch)"
    )
    p.add_argument("--name", help="consumer name in logs and dead letters (default host-pid)")
    p.add_argument("--max-frames", type=int, help="exit after handling this many records (scored or dead-lettered)")
    p.add_argument("--idle-exit", type=float, metavar="SECONDS", help="exit when no frame arrived for this long")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="scoring processes on this host, members of the same group, each with torch threads = cores / N "
        "(default 1); needs kafka.partitions >= members over all hosts; --max-frames and --idle-exit apply "
        "to each worker",
    )
    p.add_argument("--summary-json", dest="summary_json", help=argparse.SUPPRESS)  # set by the supervisor
    p.set_defaults(func=cmd_score, clean_stop=True)  # honours a SIGTERM held since main started


def _register_demo(sub: argparse._SubParsersAction) -> None:
    """`demo`: the whole monitor in one process (options in cli/demo.py)."""
    p = sub.add_parser(
        "demo",
        help="the whole monitor in one process: broker, model, calibration, episodes, alerts, console",
        description="Start the embedded broker (unless kafka.bootstrap_servers is set; then demo-only "
        "topics are used), take --model or train a quick one, calibrate (or take --calibration), "
        "replay unseen sign tracks on several streams whose condition changes over time (clear, "
        "rain, clear, blur, ...), score them with calibrated alerts, show the live console and "
        "print one row per episode: alert raised, condition named, delay.",
    )
    _kafka_args(p)
    from cli.demo import add_demo_arguments

    add_demo_arguments(p)
    p.set_defaults(func=cmd_demo, clean_stop=True)  # honours a SIGTERM held since main started


def _register_bench_pipeline(bench_sub: argparse._SubParsersAction) -> None:
    """`bench pipeline`: scorer-only vs end-to-end frames/s, and latency."""
    p = bench_sub.add_parser(
        "pipeline",
        help="scorer-only vs end-to-end frames/s through the broker, calibrated and not, and latency",
        description="From one run: scorer-only frames/s on pre-decoded batches; end-to-end frames/s "
        "draining a backlog through the broker (poll, decode, score, publish, acks, "
        "commit), uncalibrated and calibrated (the hook `score --calibration` runs) side by side; "
        "their ratios (targets: uncalibrated >= 0.75 x scorer only, calibrated >= 0.85 x uncalibrated); and calibrated capture-to-publish latency "
        "p50/p95/p99 at half the measured calibrated capacity (target p99 <= 250 ms).",
    )
    _kafka_args(p)
    _bench_source_args(p)
    p.add_argument("--frames", type=int, default=6000, help="frames in the end-to-end backlog (default 6000)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of the latency run (default 10)")
    p.add_argument("--streams", type=int, default=4, help="streams the frames are spread over (default 4)")
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="rounds of (scorer only, end to end) measured side by side; the best of each is kept (default 2)",
    )
    p.add_argument(
        "--producer-linger-ms",
        dest="producer_linger_ms",
        type=int,
        default=20,
        help="linger_ms of the latency run's producer process, the load generator (default 20; its wait "
        "is part of the measured latency)",
    )
    p.add_argument(
        "--calibration",
        help="calibration file for the calibrated runs (default: a quick calibration like the demo's on --data)",
    )
    p.add_argument(
        "--feed",
        action="store_true",
        help="also measure the feed's capacity with a null scorer (per core, with 1..cores worker processes) "
        "and the broker's own ceiling: what a GPU host could be fed",
    )
    add_device_option(p, default=None)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    add_json_option(p, "also write the figures as flat JSON keys", metavar="PATH")
    p.set_defaults(func=cmd_bench_pipeline)


def _register_bench_soak(bench_sub: argparse._SubParsersAction) -> None:
    """`bench soak`: sustained load minute by minute."""
    p = bench_sub.add_parser(
        "soak",
        help="sustained load: latency, dead letters and consumer memory minute by minute",
        description="Measure the end-to-end capacity, then stream at --load of it from --streams "
        "streams (plus one poison record a second) for --minutes into a scoring "
        "process; print per minute the frames, capture-to-score latency p50/p95/p99, "
        "dead letters and the consumer's RSS, and at the end its RSS slope (MiB/min).",
    )
    _kafka_args(p)
    p.add_argument("--minutes", type=float, default=10.0, help="how long to stream (default 10)")
    p.add_argument(
        "--load", type=float, default=0.8, help="fraction of the measured capacity to stream at (default 0.8)"
    )
    p.add_argument("--rate", type=float, help="frames/s in total (skips measuring the capacity)")
    p.add_argument("--streams", type=int, default=8, help="streams (default 8)")
    _bench_source_args(p)
    p.add_argument(
        "--capacity-frames",
        dest="capacity_frames",
        type=int,
        default=3000,
        help="backlog used to measure the capacity (default 3000)",
    )
    add_device_option(p, default=None)
    add_json_option(p, "also write the figures (per minute, RSS samples) as JSON", metavar="PATH")
    p.set_defaults(func=cmd_bench_soak, clean_stop=True)  # honours a SIGTERM held since main started


def _check_before_work(cfg: Config, model: str | None) -> str | None:
    """What a command that will score must have before it starts: a loadable model of the expected
    input size (when one is named) and a reachable cluster (when one is configured). One line, or None."""
    from pipelines.broker import BrokerError, check_reachable

    if model:
        import monitor

        try:
            monitor.load_model(model, device="cpu", expect_size=cfg.consumer.input_size)
        except (OSError, ValueError) as e:  # CheckpointError names the file
            return str(e)
    if cfg.kafka.bootstrap_servers:
        try:
            check_reachable(cfg.kafka.bootstrap_servers, cfg.kafka.connect_timeout_s, cfg.kafka)
        except BrokerError as e:
            return str(e)
    return None


def cmd_bench_pipeline(args: argparse.Namespace, cfg: Config) -> int:
    from cli.bench_pipeline import run_bench
    from pipelines.broker import BrokerError

    _apply_kafka_args(cfg, args)
    if args.frames < cfg.consumer.max_batch or args.streams < 1 or args.seconds <= 0:
        return _err(f"--frames must be >= consumer.max_batch ({cfg.consumer.max_batch}), --streams >= 1, --seconds > 0")
    problem = _check_before_work(cfg, args.model)
    if problem:
        return _err(problem, 1)
    try:
        if args.feed:
            from cli.bench_feed import feed_capacity

            return run_bench(cfg, args, feed_capacity)
        return run_bench(cfg, args)
    except BrokerError as e:
        return _err(str(e), 1)
    except (OSError, ValueError) as e:
        return _err(f"bench pipeline: {e}", 1)


def cmd_demo(args: argparse.Namespace, cfg: Config) -> int:
    from cli.demo import run_demo
    from pipelines.broker import BrokerError

    _apply_kafka_args(cfg, args)
    if args.frames < 1 or args.streams < 1 or args.epochs < 1 or (args.fps is not None and args.fps < 0):
        return _err("--frames, --streams and --epochs must be >= 1 and --fps >= 0")
    problem = _check_before_work(cfg, getattr(args, "model", None))
    if problem:
        return _err(problem, 1)
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            return run_demo(cfg, args, stop)
    except BrokerError as e:
        return _err(str(e), 1)
    except (OSError, ValueError, RuntimeError) as e:
        return _err(str(e), 1)


def cmd_bench_soak(args: argparse.Namespace, cfg: Config) -> int:
    from cli.soak import run_soak
    from pipelines.broker import BrokerError

    _apply_kafka_args(cfg, args)
    if args.minutes <= 0 or args.streams < 1 or not 0 < args.load <= 1.5 or (args.rate is not None and args.rate <= 0):
        return _err("--minutes must be > 0, --streams >= 1, --load in (0, 1.5] and --rate > 0")
    if args.capacity_frames < cfg.consumer.max_batch:
        return _err(f"--capacity-frames must be >= consumer.max_batch ({cfg.consumer.max_batch})")
    problem = _check_before_work(cfg, args.model)
    if problem:
        return _err(problem, 1)
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            return run_soak(cfg, args)
    except BrokerError as e:
        return _err(str(e), 1)
    except (OSError, ValueError, RuntimeError) as e:
        return _err(f"bench soak: {e}", 1)
