"""`reset-baseline STREAM`: the operator's reset of a stream's baseline, across processes.

Writes one control record (docs/WIRE.md, "Control records") to the frames topic, keyed by the
stream: the scoring consumer that owns the stream meets it in the stream's order among its frames,
forgets the stream's baseline there (its normal is learned again from the next frames) and ends
its atypical state. Nothing is scored; the record is committed past like a frame.
"""

from __future__ import annotations

import argparse
import sys

from pipelines.config import Config


def cmd_reset_baseline(args: argparse.Namespace, cfg: Config) -> int:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from pipelines.broker import BrokerError, resolve_shared_bootstrap
    from pipelines.kafka_clients import client_kwargs
    from pipelines.wire import control_headers, frame_key

    if args.bootstrap_servers:
        cfg.kafka.bootstrap_servers = args.bootstrap_servers
    try:  # the running `broker` or the configured cluster: the scoring consumer must read the same topic
        bootstrap = resolve_shared_bootstrap(cfg, "reset-baseline")
    except BrokerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.stream:
        print("error: reset-baseline: the stream id is empty", file=sys.stderr)
        return 2
    producer = None
    try:
        producer = KafkaProducer(**client_kwargs(cfg.kafka, bootstrap), acks="all")
        meta = producer.send(
            cfg.kafka.frames_topic, key=frame_key(args.stream), value=b"", headers=control_headers(args.stream)
        ).get(timeout=cfg.kafka.connect_timeout_s + cfg.kafka.request_timeout_ms / 1000)
    except KafkaError as e:
        print(f"error: reset-baseline: could not write to {bootstrap} ({type(e).__name__}: {e})", file=sys.stderr)
        return 1
    finally:
        if producer is not None:
            producer.close(timeout=2)
    print(f"baseline reset of stream {args.stream} sent: {meta.topic}[{meta.partition}]@{meta.offset}")
    return 0


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reset-baseline",
        help="reset a stream's baseline (after fixing its ROI, aim or lens, or to accept its view as normal)",
        description="Write a control record to the frames topic: the consumer scoring STREAM forgets its "
        "per-stream baseline at that point in the stream and learns it again from the next frames "
        "(baseline.warmup of them); an 'atypical' state ends with a 'typical' alert event.",
    )
    p.add_argument("stream", help="the stream id (the frames' key and `stream` header)")
    p.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT", help="Kafka to write to (default: kafka.bootstrap_servers)"
    )
    p.set_defaults(func=cmd_reset_baseline)
