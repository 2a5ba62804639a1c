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
    """`python run_monitor.py ARGS` in the repository, stdin closed, stderr folded into stdout."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.p = subprocess.Popen(
            [sys.executable, str(REPO / "run_monitor.py"), *args],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        self.lines: list[str] = []
        # A daemon: a child that hangs must not keep the parent alive after it gives up on it.
        self.reader = threading.Thread(target=lambda: self.lines.extend(iter(self.p.stdout.readline, "")), daemon=True)
        self.reader.start()

    def text(self) -> str:
        return "".join(self.lines)

    def assigned(self) -> set[int]:
        """Partitions of a `score` member's latest assignment, from its 'partitions assigned/revoked'
        lines (empty before the first, or after a revocation that left it none)."""
        for line in reversed(list(self.lines)):
            if "partitions assigned:" in line:
                return {int(m) for m in re.findall(r"\[(\d+)\]", line)}
            if "partitions revoked:" in line:
                held = line.split("still holding:", 1)[1] if "still holding:" in line else ""
                return {int(m) for m in re.findall(r"\[(\d+)\]", held)}
        return set()
