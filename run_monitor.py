#!/usr/bin/env python3
"""signwatch command line: train, evaluate and run the streaming traffic-sign condition monitor.

Each area registers its own subcommands (package cli/): cli.model_commands (synth, train, evaluate,
bench scorer), cli.stream_commands (broker, produce, score, demo, bench pipeline/soak),
cli.calibration_commands (calibrate), cli.console_command (console), cli.check_command (check).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# Before numpy is imported: its OpenBLAS would start a thread per core for the image statistics'
# matrix product (calibration/features.py, banding), on cores the scorer threads already keep busy,
# and spin there. Measured on 2 shared cores (load average ~20), the statistics of 1,236 crops took
# 180-270 us of process CPU per frame with one BLAS thread against 300-360 with the default (three
# alternating runs each). OPENBLAS_NUM_THREADS set by the user wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

_AREAS = (
    "cli.model_commands",
    "cli.stream_commands",
    "cli.calibration_commands",
    "cli.console_command",
    "cli.check_command",
    "cli.baseline_command",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_monitor.py",
        description="Traffic-sign condition monitor: GradCon anomaly scoring of camera frames over Kafka.",
    )
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="deployment config file (every setting has a default); also accepted after the subcommand",
    )
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


def split_config_option(argv: list[str]) -> tuple[list[str], str | None]:
    """Take --config out of argv wherever it stands: operators write it after the subcommand too
    (`score --config x.yaml`), and argparse would only accept it before. ValueError (one line) when
    it has no value or two different ones."""
    rest: list[str] = []
    found: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":  # everything after is positional
            rest.extend(argv[i:])
            break
        if arg.startswith("--config="):
            found.append(arg.split("=", 1)[1])
        elif arg == "--config":
            if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                raise ValueError("--config needs a YAML file")
            found.append(argv[i + 1])
            i += 1
        else:
            rest.append(arg)
        i += 1
    if len(set(found)) > 1:
        raise ValueError(f"--config given twice with different files: {', '.join(found)}")
    return rest, (found[0] if found else None)


def main(argv: list[str] | None = None) -> int:
    # First, before any heavy import (the commands' modules pull in torch, cv2 and kafka): a
    # SIGTERM during those seconds is held, then becomes a clean stop (cli/early_signals.py).
    from cli import early_signals

    early_signals.install()
    from monitor.settings import ConfigError
    from pipelines.config import load_config

    parser = build_parser()
    try:
        argv, config = split_config_option(list(sys.argv[1:] if argv is None else argv))
    except ValueError as e:
        parser.error(str(e))
    args = parser.parse_args(argv)
    args.config = config
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
