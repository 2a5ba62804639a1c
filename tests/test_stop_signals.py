"""SIGTERM and Ctrl-C as a clean stop (pipelines/stop_signals.py), with real signals sent to this
process (pytest runs tests on the main thread, where handlers can be installed)."""

from __future__ import annotations

import signal
import threading

import pytest

from cli import stream_commands
from pipelines.stop_signals import stop_on_signals


def test_sigterm_sets_stop_and_a_second_changes_nothing(capsys):
    stop = threading.Event()
    with stop_on_signals(stop, announce=True):
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set()
        signal.raise_signal(signal.SIGTERM)  # a supervisor's repeat: no interrupt, no second line
    err = capsys.readouterr().err
    assert err.count("SIGTERM: finishing the work in hand") == 1


def test_a_second_ctrl_c_interrupts():
    stop = threading.Event()
    with pytest.raises(KeyboardInterrupt), stop_on_signals(stop):
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        signal.raise_signal(signal.SIGINT)


def test_quiet_without_announce_and_the_previous_handlers_come_back(capsys):
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()
    with stop_on_signals(stop):
        signal.raise_signal(signal.SIGINT)
    assert stop.is_set() and capsys.readouterr().err == ""  # the console: nothing over its screen
    assert {sig: signal.getsignal(sig) for sig in before} == before


def test_a_signal_held_before_the_handlers_stops_at_once():
    asked = []
    before = signal.getsignal(signal.SIGTERM)

    def held() -> int:
        # Asked only once the handlers are in place: a signal arriving meanwhile is not lost.
        asked.append(signal.getsignal(signal.SIGTERM) is not before)
        return signal.SIGTERM

    stop = threading.Event()
    with stop_on_signals(stop, held=held):
        assert stop.is_set() and asked == [True]


def test_off_the_main_thread_it_only_yields_stop():
    got = []
    before = signal.getsignal(signal.SIGTERM)

    def run() -> None:
        stop = threading.Event()
        with stop_on_signals(stop) as s:
            got.append(s is stop and signal.getsignal(signal.SIGTERM) is before)

    t = threading.Thread(target=run)
    t.start()
    t.join(5)
    assert got == [True]


def test_the_streaming_commands_use_it_with_held_signals_and_the_stderr_line(capsys):
    from cli import early_signals

    early_signals.install()
    try:
        signal.raise_signal(signal.SIGTERM)  # held: no command has taken over yet
        stop = threading.Event()
        with stream_commands.stop_on_signals(stop):
            assert stop.is_set()
    finally:
        early_signals.release(replay=False)
    assert "SIGTERM: finishing the work in hand" in capsys.readouterr().err
