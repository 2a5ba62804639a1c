#!/usr/bin/env python3
"""signwatch command line: train, evaluate and run the streaming traffic-sign condition monitor.

Each area registers its own subcommands (package cli/): cli.model_commands (synth, train, evaluate,
bench scorer), cli.stream_commands (broker, produce, score, demo, bench pipeline/soak),
cli.calibration_commands (calibrate), cli.console_command (console).
"""

from __future__ import annotations

import argparse
import importlib
import sys

_AREAS = ("cli.model_commands", "cli.stream_commands", "cli.calibration_commands", "cli.console_command")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_monitor.py",
        description="Traffic-sign condition monitor: GradCon anomaly scoring of camera frames over Kafka.",
    )
    parser.add_argument("--config", metavar="YAML", help="deployment config file (every setting has a default)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = sub.add_parser("bench", help="benchmarks that print measured figures (scorer, pipeline, soak)")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCH")
    bench.set_defaults(func=lambda args, cfg: bench.print_help() or 2)
    for name in _AREAS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that area is not built yet
                continue
            raise
        module.register(sub, bench_sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # First, before any heavy import (the commands' modules pull in torch, cv2 and kafka): a
    # SIGTERM during those seconds is held, then becomes a clean stop (cli/early_signals.py).
    from cli import early_signals

    early_signals.install()
    from monitor.settings import ConfigError
    from pipelines.config import load_config

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "clean_stop", False):
        early_signals.release()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        cfg = load_config(args.config)
        return int(args.func(args, cfg) or 0)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        early_signals.release(replay=False)  # main may run inside another program (tests): leave no holder behind


if __name__ == "__main__":
    sys.exit(main())
