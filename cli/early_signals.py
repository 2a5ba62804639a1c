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
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_held: list[int] = []  # signals that arrived before a command took over, in order
_previous: dict = {}  # signal -> its handler before install(); empty when not installed


def _hold(signum: int, _frame: object) -> None:
    if _held:  # a second signal before the command took over: act now (a hang must stay interruptible)
        release()
        return
    _held.append(signum)


def install() -> None:
    """Hold SIGTERM/SIGINT until a command takes over (call it first in main; only the main thread
    can install handlers, elsewhere this does nothing)."""
    if threading.current_thread() is not threading.main_thread() or _previous:
        return
    for sig in STOP_SIGNALS:
        _previous[sig] = signal.signal(sig, _hold)


def take_held() -> int | None:
    """The first signal held so far (None if none), for a command installing its own handling."""
    if not _held:
        return None
    first = _held[0]
    _held.clear()
    return first


def release(replay: bool = True) -> None:
    """The handling from before install() back (for a script: SIGINT raises KeyboardInterrupt,
    SIGTERM ends the process), and, with `replay` (commands without a clean stop), a held signal
    delivered again now; without it (a command that has finished), a signal held since is dropped."""
    if not _previous:
        return
    for sig, old in _previous.items():
        signal.signal(sig, old if old is not None else signal.SIG_DFL)
    _previous.clear()
    held = take_held()
    if held is not None and replay:
        signal.raise_signal(held)
