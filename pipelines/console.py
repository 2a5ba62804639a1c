"""The live alert console: what every stream is doing, which alerts are open, and whether the
pipeline itself is healthy.

The console's parts, each usable alone:
- `ConsoleState` (pipelines/console_state.py) holds what the records say; it is fed record by record.
- `render` (pipelines/console_layout.py) draws a snapshot of it; pipelines/console_format.py writes
  its numbers and sparklines.
- `KafkaFeed` (pipelines/console_feed.py) reads the scores, alerts and dead-letter topics with a
  group-less consumer.
- this module ties state, feed and a rich Live display together (`run_console`, `LiveConsole`).
  The demo embeds them: it shares one ConsoleState, feeds it from its own callbacks and wraps its
  run in LiveConsole.

`run_monitor.py console` is the command line (cli/console_command.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.live import Live

from pipelines.config import Config
from pipelines.console_feed import (
    IterFeed,
    KafkaFeed,
    apply_event,
    fetch_example_frames,
    tap_kafka_logs,
)
from pipelines.console_layout import export_snapshot, render
from pipelines.console_state import ConsoleState
from pipelines.stop_signals import stop_on_signals

__all__ = ["LiveConsole", "render", "run_console"]


# ----------------------------------------------------------------------------- live display


class LiveConsole:
    """A rich Live view of a ConsoleState that redraws itself `refresh_per_second` times a second.

    Whoever holds the state feeds it (a KafkaFeed loop, or the demo's own callbacks from any
    thread); this only draws. In full-screen mode the last screen is printed again on exit so the
    terminal keeps it.
    """

    def __init__(
        self,
        state: ConsoleState,
        console: Console | None = None,
        refresh_per_second: float | None = None,
        screen: bool | None = None,
    ) -> None:
        self.state = state
        self.console = console or Console()
        self.refresh_per_second = refresh_per_second or state.cfg.refresh_per_second
        self.screen = self.console.is_terminal if screen is None else screen
        self._live: Live | None = None

    def _size(self) -> tuple[int, int]:
        w, h = self.console.size
        # Outside the alternate screen Live crops at height-1 and adds an ellipsis line.
        return w, (h if self.screen else max(8, h - 1))

    def renderable(self) -> RenderableType:
        return render(self.state, *self._size())

    def __enter__(self) -> LiveConsole:
        self._live = Live(
            console=self.console,
            get_renderable=self.renderable,
            refresh_per_second=self.refresh_per_second,
            screen=self.screen,
            transient=False,
            redirect_stdout=not self.screen,
            redirect_stderr=not self.screen,
        )
        self._live.start(refresh=True)
        return self

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def __exit__(self, *exc: object) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            if not self.console.is_terminal:
                self.console.line()  # Live ends its one non-terminal render without a newline
            if self.screen:  # the alternate screen is gone: leave the final view in the scrollback
                self.console.print(render(self.state, self.console.width, None))


class CaughtUp:
    """Whether the console has read what was there when it started: the feed polled after its
    assignment and then `quiet_s` passed without a new record (end offsets are no guide: they are
    wrong on Tansu, see KafkaFeed). --once stops there; the live view says so once (on_caught_up)."""

    def __init__(self, quiet_s: float) -> None:
        self.quiet_s = quiet_s
        self._last_new: float | None = None

    def after_poll(self, feed: Any, got_records: bool, now: float) -> bool:
        if got_records:
            self._last_new = now
        if not feed.ready:
            return False
        self._last_new = self._last_new or now
        return now - self._last_new >= self.quiet_s


def _drain(feed: Any, state: ConsoleState, deadline: float, quiet_s: float, stop: threading.Event) -> None:
    """Read until the feed has been quiet for quiet_s after it is caught up, the deadline, or `stop`."""
    caught_up = CaughtUp(quiet_s)
    while time.monotonic() < deadline and not stop.is_set():
        events = feed.poll(0.1)
        for ev in events:
            apply_event(state, ev)
        if isinstance(feed, KafkaFeed):
            state.set_feed_problem(feed.problem)
        if isinstance(feed, IterFeed):
            if feed.done.is_set() and not events:
                return
            continue
        if caught_up.after_poll(feed, bool(events), time.monotonic()):
            return


def run_console(
    cfg: Config,
    bootstrap: str | None = None,
    source: Any = None,
    console: Console | None = None,
    once: bool = False,
    *,
    state: ConsoleState | None = None,
    from_beginning: bool = False,
    duration: float | None = None,
    export_svg: str | Path | None = None,
    export_html: str | Path | None = None,
    size: tuple[int, int | None] | None = None,
    stop: threading.Event | None = None,
    quiet_s: float = 1.0,
    screen: bool | None = None,
    on_caught_up: Callable[[], None] | None = None,
) -> int:
    """Run the console; returns an exit status (0 on a normal end, SIGINT (Ctrl-C) or SIGTERM included).

    source: None (read Kafka at `bootstrap`), a KafkaConsumer (used as is; we assign it), or an
    iterable of ConsoleEvent / (kind, data[, ts_ns[, key]]) tuples. once: drain what is there now
    (until `quiet_s` without new records, or `duration` seconds, default 30), print one snapshot
    and return (SIGINT/SIGTERM cut the reading short; the snapshot is still printed). Otherwise a
    live view until `duration`, SIGINT, SIGTERM or `stop` is set.
    size: (width, height) of the snapshot/export; default the console's width and, with once, the
    content's height. on_caught_up: called once when the live view has read what was there (CaughtUp).
    """
    console = console or Console()
    state = state or ConsoleState.for_config(cfg)
    stop = stop or threading.Event()
    width = size[0] if size else console.width
    start = time.monotonic()
    # Handlers first: a signal that arrives while the feed starts must not be lost or kill us.
    with stop_on_signals(stop):
        feed = _open_feed(cfg, bootstrap, source, state, from_beginning, once, duration)
        try:
            with tap_kafka_logs(state):
                if once:
                    try:
                        if isinstance(feed, KafkaFeed):
                            feed.connect()  # fail_fast: an unreachable broker raises here, before any output
                        _drain(feed, state, start + (duration if duration is not None else 30.0), quiet_s, stop)
                    except KeyboardInterrupt:
                        pass
                    height = size[1] if size else None
                    console.print(render(state, width, height))
                else:
                    until = None if duration is None else start + duration
                    _live(feed, state, console, screen, stop, until, CaughtUp(quiet_s), on_caught_up)
                    height = size[1] if size else console.height
        finally:
            feed.close()
    if export_svg or export_html:
        snap = state.snapshot()
        # The HTML shows each open alert's example frame, read from Kafka by its origin.
        examples = fetch_example_frames(cfg, bootstrap, snap.open) if export_html else None
        export_snapshot(snap, width, height, svg=export_svg, html=export_html, examples=examples)
    return 0


def _open_feed(
    cfg: Config,
    bootstrap: str | None,
    source: Any,
    state: ConsoleState,
    from_beginning: bool,
    once: bool,
    duration: float | None,
) -> Any:
    """The feed run_console reads: Kafka at `bootstrap`, a given KafkaConsumer, or an iterable."""
    if source is None:
        if not bootstrap:
            raise ValueError("run_console needs a bootstrap server or a source")
        # A script wants a quick, clear failure; a live screen waits for the broker to come up.
        feed: Any = KafkaFeed(
            cfg,
            bootstrap,
            from_beginning=from_beginning,
            clock=state.clock,
            fail_fast=once,
            connect_timeout_s=min(10.0, duration or 10.0) if once else 5.0,
        )
        state.set_source(feed.describe())
    elif hasattr(source, "poll") and hasattr(source, "assign"):
        feed = KafkaFeed(cfg, bootstrap, consumer=source, from_beginning=from_beginning, clock=state.clock)
        state.set_source(feed.describe())
    else:
        feed = IterFeed(source)
        if state.source is None:
            state.set_source("in-process feed")
    return feed


def _live(
    feed: Any,
    state: ConsoleState,
    console: Console,
    screen: bool | None,
    stop: threading.Event,
    until: float | None,
    caught_up: CaughtUp,
    on_caught_up: Callable[[], None] | None,
) -> None:
    """The live view: feed the state until `until` (monotonic), Ctrl-C, SIGTERM or `stop`; once it
    has caught up with what was there, on_caught_up() (once)."""
    with LiveConsole(state, console, screen=screen):
        try:
            while not stop.is_set():
                if until is not None and time.monotonic() >= until:
                    break
                events = feed.poll(0.05)
                for ev in events:
                    apply_event(state, ev)
                if isinstance(feed, KafkaFeed):
                    state.set_feed_problem(feed.problem)
                if on_caught_up is not None and caught_up.after_poll(feed, bool(events), time.monotonic()):
                    on_caught_up()
                    on_caught_up = None  # once
        except KeyboardInterrupt:
            pass
