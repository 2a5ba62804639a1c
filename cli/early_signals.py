"""SIGTERM and SIGINT from the first line of `main`, before the heavy imports (torch, cv2, kafka).

Importing torch alone takes seconds on a busy machine; a signal that arrived then used to kill the
process with the default action (exit -15, no summary), because the command's own handling
(cli.stream_commands.stop_on_signals) was not installed yet. Now the signal is held here: a command
that stops cleanly (its parser sets `clean_stop=True`) finds it when it installs its handling and
stops at once, cleanly; any other command gets the default behaviour back, and the held signal
is delivered again, as if it had just arrived. A second signal while one is held acts at once
(the default action), so a command stuck before its handling is in place can still be stopped.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_held: list[int] = []  # signals that arrived before a command took over, in order
_installed = False


def _hold(signum: int, _frame: object) -> None:
    if _held:  # a second signal before the command took over: act now (a hang must stay interruptible)
        release()
        return
    _held.append(signum)


def install() -> None:
    """Hold SIGTERM/SIGINT until a command takes over (main thread only; call it first in main)."""
    global _installed
    for sig in STOP_SIGNALS:
        signal.signal(sig, _hold)
    _installed = True


def take_held() -> int | None:
    """The first signal held so far (None if none), for a command installing its own handling."""
    if not _held:
        return None
    first = _held[0]
    _held.clear()
    return first


def release() -> None:
    """For commands without a clean stop: the default handling back (SIGINT raises
    KeyboardInterrupt, SIGTERM ends the process), and a held signal delivered again now."""
    global _installed
    if not _installed:
        return
    _installed = False
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    held = take_held()
    if held is not None:
        signal.raise_signal(held)
