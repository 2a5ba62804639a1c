"""Command-line options that subcommands of several areas share (monitor, pipelines, calibration).

Each helper adds one option with the name, default and help the commands have always had; the
arguments say where a command's option differs (commands that fall back on the config leave the
default None and say so in their help).
"""

from __future__ import annotations

import argparse
import json
import sys

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


def write_json(path: str | None, figures: dict) -> None:
    """--json PATH: the figures as flat keys (nothing when no path was given)."""
    if path:
        from pathlib import Path

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
