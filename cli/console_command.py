"""`run_monitor.py console`: the live console over Kafka, or one snapshot of it (--once)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from rich.console import Console

from pipelines.broker import BrokerError, check_reachable, resolve_shared_bootstrap
from pipelines.config import Config
from pipelines.console import run_console
from pipelines.console_state import ConsoleState


def _bootstrap(args: argparse.Namespace, cfg: Config, err: Console) -> str | None:
    """--bootstrap-servers, kafka.bootstrap_servers or the running `run_monitor.py broker`; None after
    saying so in one line (an embedded broker of its own would show an empty screen: the console only reads)."""
    if args.bootstrap_servers:
        cfg.kafka.bootstrap_servers = args.bootstrap_servers
    try:
        return resolve_shared_bootstrap(cfg, "console")
    except BrokerError as e:
        err.print(
            f"error: {e}; or run the console inside `run_monitor.py demo`",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        return None


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, in one line, or None."""
    if args.duration is not None and args.duration <= 0:
        return "--duration must be positive"
    if (args.width is not None and args.width < 20) or (args.height is not None and args.height < 3):
        return "the screen must be at least 20 columns (--width) and 3 rows (--height)"
    return None


def _screen(args: argparse.Namespace) -> tuple[Console, tuple[int, int | None] | None]:
    """The console to draw on and the fixed size asked for (None: follow the terminal)."""
    if not (args.width or args.height):
        return Console(), None
    console = Console(width=args.width or None)
    return console, (args.width or console.width, args.height or (None if args.once else console.height))


def _print_summary(state: ConsoleState, seconds: float) -> None:
    """A live view leaves a record of what it saw when it ends (Ctrl-C, SIGTERM, --duration)."""
    snap = state.snapshot()
    print(
        f"console summary: {snap.frames} score records ({snap.anomalous} anomalous, {snap.duplicates} duplicates), "
        f"{snap.total_alerts} alerts ({snap.open_alerts} open), {snap.dead_letter_total} dead letters, "
        f"{snap.malformed} unreadable records, {len(snap.streams)} streams, in {seconds:.1f} s",
        flush=True,
    )


def _caught_up_line(state: ConsoleState, console: Console) -> Callable[[], None] | None:
    """Without a terminal (a log, a script, a service) a live console shows nothing until it ends:
    one line on stderr says when it has read what was there and is live. The stream is taken now,
    before the live view redirects sys.stderr into itself."""
    if console.is_terminal:
        return None
    stream = sys.stderr

    def say() -> None:
        snap = state.snapshot()
        print(
            f"console: caught up ({snap.frames} score records, {snap.total_alerts} alerts, "
            f"{snap.dead_letter_total} dead letters); live until Ctrl-C or SIGTERM",
            file=stream,
            flush=True,
        )

    return say


def _cmd_console(args: argparse.Namespace, cfg: Config) -> int:
    err = Console(stderr=True)
    problem = _argument_problem(args)
    if problem:
        err.print(f"error: {problem}", markup=False, highlight=False)
        return 2
    bootstrap = _bootstrap(args, cfg, err)
    if not bootstrap:
        return 2
    if args.once:  # a script wants a quick, clear failure (a live screen waits for the broker instead)
        try:
            check_reachable(bootstrap, cfg.kafka.connect_timeout_s, cfg.kafka)
        except BrokerError as e:
            err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
            return 1
    console, size = _screen(args)
    state = ConsoleState.for_config(cfg)
    t0 = time.monotonic()
    try:
        rc = run_console(
            cfg,
            bootstrap,
            None,
            console,
            once=args.once,
            state=state,
            from_beginning=args.from_beginning,
            duration=args.duration,
            export_svg=args.export_svg,
            export_html=args.export_html,
            size=size,
            on_caught_up=None if args.once else _caught_up_line(state, console),
        )
        if not args.once:
            _print_summary(state, time.monotonic() - t0)
        return rc
    except Exception as e:
        from kafka.errors import KafkaError

        if isinstance(e, KafkaError):
            detail = " ".join(str(e).split()) or type(e).__name__
            err.print(
                f"error: cannot read from Kafka at {bootstrap}: {detail}", markup=False, highlight=False, soft_wrap=True
            )
            return 1
        raise


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    """Add the `console` subcommand (run_monitor.py calls this for every area)."""
    p = sub.add_parser(
        "console",
        help="live alert console: streams, alerts, dead letters and pipeline health",
        description="Live view of the scores, alerts and dead-letter topics. Reads without a consumer group, "
        "so it never disturbs the scorers. Ctrl-C (SIGINT) or SIGTERM ends it (exit 0), also as a "
        "background job.",
    )
    p.add_argument(
        "--bootstrap-servers",
        metavar="HOST:PORT",
        help="Kafka to read (default: kafka.bootstrap_servers, else the broker `run_monitor.py broker` runs)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="read what is there now (until ~1 s without new records), print one snapshot and exit",
    )
    p.add_argument(
        "--from-beginning", action="store_true", help="read all history, not only the last console.lookback_minutes"
    )
    p.add_argument(
        "--duration",
        type=float,
        metavar="SEC",
        help="stop after SEC seconds (with --once: the most time to spend reading; default 30)",
    )
    p.add_argument("--export-svg", metavar="PATH", help="on exit, save the screen as SVG")
    p.add_argument(
        "--export-html",
        metavar="PATH",
        help="on exit, save the screen as HTML, with each open alert's example frame (read from Kafka by its origin)",
    )
    p.add_argument("--width", type=int, metavar="COLS", help="screen width for the snapshot/export (default: terminal)")
    p.add_argument(
        "--height",
        type=int,
        metavar="ROWS",
        help="screen height for the snapshot/export (default: terminal; with --once, all rows)",
    )
    p.set_defaults(func=_cmd_console)
