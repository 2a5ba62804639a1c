"""SIGTERM and Ctrl-C (SIGINT) as a clean stop: the one handling of both, used by the console
(pipelines/console.py) and by the commands that stream (cli/stream_commands.py)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_signals(
    stop: threading.Event, *, held: Callable[[], int | None] | None = None, announce: bool = False
) -> Iterator[threading.Event]:
    """SIGTERM or a first Ctrl-C sets `stop`: the caller finishes the work in hand and ends cleanly.

    A second Ctrl-C while stopping raises KeyboardInterrupt (a stuck call must stay interruptible);
    a repeated SIGTERM changes nothing (a supervisor may send it more than once). The SIGINT handler
    is installed explicitly: a background job of a non-interactive shell starts with SIGINT
    ignored, and Python then never raises KeyboardInterrupt.
    held: asked once the handlers are in place for a signal that arrived before them
    (cli.early_signals.take_held); one that did sets `stop` at once.
    announce: say once on stderr that the work in hand is being finished (not over a live screen).
    Only the main thread can install handlers; elsewhere this only yields `stop`.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: Any) -> None:
        if signum == signal.SIGINT and stop.is_set():
            raise KeyboardInterrupt
        if announce and not stop.is_set():
            print(
                f"\n{signal.Signals(signum).name}: finishing the work in hand, then stopping "
                "(Ctrl-C again to interrupt)",
                file=sys.stderr,
            )
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    early = held() if held is not None else None
    if early is not None:
        handler(early, None)
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            # None: a handler not installed from Python; the default is the nearest we can restore.
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
