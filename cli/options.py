"""Command-line options that subcommands of several areas share (monitor, pipelines, calibration).

Each helper adds one option with the name, default and help the commands have always had; the
arguments say where a command's option differs (commands that fall back on the config leave the
default None and say so in their help).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

JSON_HELP = "write the figures as flat JSON keys"


def add_device_option(p: argparse.ArgumentParser, help: str | None = None, *, default: str | None = "auto") -> None:
    """--device: where the model runs (auto | cpu | cuda | cuda:N); default None: consumer.device."""
    if help is None:
        help = f"auto | cpu | cuda | cuda:N (default {default or 'consumer.device'})"
    p.add_argument("--device", default=default, help=help)


def add_json_option(p: argparse.ArgumentParser, help: str = JSON_HELP, *, metavar: str | None = None) -> None:
    """--json PATH: where a command also writes its figures."""
    p.add_argument("--json", metavar=metavar, help=help)


def fail(msg: str, code: int = 2) -> int:
    """Print the one-line error a command ends with (to stderr) and return its exit status."""
    print(f"error: {msg}", file=sys.stderr)
    return code


def add_subset_args(p: argparse.ArgumentParser) -> None:
    """--subset, --test-fraction, --split-seed: one side of a track-wise split of an image folder."""
    p.add_argument(
        "--subset",
        choices=("all", "train", "test"),
        default="all",
        help="use all images, or only the train/test side of a track-wise split (default all)",
    )
    p.add_argument("--test-fraction", type=float, default=0.3, help="fraction of tracks on the test side (default 0.3)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the track-wise split (default 0)")


def select_subset(items: list[tuple[Path, str]], args: argparse.Namespace) -> list[tuple[Path, str]]:
    """Keep one side of a deterministic track-wise split (add_subset_args); the same options give the
    same tracks in every command (synth, train, calibrate)."""
    if args.subset == "all":
        return items
    from monitor.cure_tsr import split_by_track

    group = dict(items)
    train, test = split_by_track([p for p, _ in items], args.test_fraction, args.split_seed, group=lambda p: group[p])
    keep = set(train if args.subset == "train" else test)
    return [(p, g) for p, g in items if p in keep]
