"""A `run_monitor.py` command as a child process, its stdout and stderr collected line by line as
they come: the one home for the soak (cli/soak.py), the fault-injection run (scripts/fault_run.py)
and the fault tests (tests/reliability.py), which all watch members through what they print."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class MonitorProcess:
    """`python run_monitor.py ARGS` in the repository, stdin closed; stderr folded into stdout
    (`lines`), or with separate_stderr kept apart in `err` (to check what goes to which)."""

    def __init__(self, args: list[str], env: dict[str, str], separate_stderr: bool = False) -> None:
        self.p = subprocess.Popen(
            [sys.executable, str(REPO / "run_monitor.py"), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if separate_stderr else subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.lines: list[str] = []
        self.err: list[str] = []
        # Daemons: a child that hangs must not keep the parent alive after it gives up on it.
        self.reader = self._collect(self.p.stdout, self.lines)
        if separate_stderr:
            self._collect(self.p.stderr, self.err)

    @staticmethod
    def _collect(pipe, sink: list[str]) -> threading.Thread:
        t = threading.Thread(target=lambda: sink.extend(iter(pipe.readline, "")), daemon=True)
        t.start()
        return t

    def text(self) -> str:
        return "".join(self.err) + "".join(self.lines)

    def assigned(self) -> set[int]:
        """Partitions of a `score` member's latest assignment, from its 'partitions assigned/revoked'
        lines (empty before the first, or after a revocation that left it none)."""
        for line in reversed(list(self.err) + list(self.lines)):
            if "partitions assigned:" in line:
                return {int(m) for m in re.findall(r"\[(\d+)\]", line)}
            if "partitions revoked:" in line:
                held = line.split("still holding:", 1)[1] if "still holding:" in line else ""
                return {int(m) for m in re.findall(r"\[(\d+)\]", held)}
        return set()
