"""Command-line options that subcommands of several areas share (monitor, pipelines, calibration).

Each helper adds one option with the name, default and help the commands have always had; the
arguments say where a command's option differs (commands that fall back on the config leave the
default None and say so in their help).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

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


def add_wire_options(p: argparse.ArgumentParser) -> None:
    """--wire-encoding, --jpeg-quality: the encoding frames are seen through (default: the producers')."""
    p.add_argument(
        "--wire-encoding",
        choices=("jpeg", "png", "none"),
        help="pass every frame through this encoding first, as the consumer decodes it "
        "(default: producer.encoding in the config; none: frames as they lie on disk)",
    )
    p.add_argument("--jpeg-quality", type=int, help="JPEG quality 1-100 (default: producer.jpeg_quality)")


def wire_of(args: argparse.Namespace, cfg: Any) -> Any:
    """The WireEncoding the wire options ask for, the producers' (cfg.producer) where not given.
    Raises monitor.codec.CodecError (a ValueError, one line) for a quality out of range."""
    from monitor.codec import NO_ENCODING, CodecError, WireEncoding

    encoding = args.wire_encoding or cfg.producer.encoding
    if encoding == "none":
        return NO_ENCODING
    quality = args.jpeg_quality if args.jpeg_quality is not None else cfg.producer.jpeg_quality
    if not 1 <= quality <= 100:
        raise CodecError(f"--jpeg-quality must be 1..100, got {quality}")
    return WireEncoding(encoding, quality if encoding == "jpeg" else 0)


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


def write_json(path: str | None, figures: dict) -> None:
    """--json PATH: the figures as flat keys (nothing when no path was given)."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
