"""Bad configuration and files: every command refuses them before doing any work, with one line on
stderr that names the setting or file and what is expected, and a non-zero exit.

The commands run as real processes (what an operator sees), a few at a time: one module fixture
runs every case, the parametrized tests check one case each. Hostile checkpoints, calibration
files and configs (pickled code, YAML python tags) are refused without running their code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch
import yaml

from pipelines.broker import free_port

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "belgiumtsc"


class _Evil:
    """Unpickling this runs `touch MARKER`: a checkpoint must never be loaded that way."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cases(tmp: Path, good: Path) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (argv after run_monitor.py, texts the one error line must contain)."""
    from monitor.checkpoint import make_untrained_checkpoint, read_checkpoint
    from tests.reliability import make_calibration

    dead = f"127.0.0.1:{free_port()}"  # nobody listens there
    other = tmp / "other.pt"
    make_untrained_checkpoint(other, seed=1)
    size56 = tmp / "size56.pt"
    ckpt = read_checkpoint(good)
    ckpt["model_config"] = {**ckpt["model_config"], "size": 56}
    torch.save(ckpt, size56)
    evil_pt = tmp / "evil.pt"
    torch.save({"format": "signwatch-gradcon", "payload": _Evil(tmp / "pwned-by-checkpoint")}, evil_pt)
    cal_other = make_calibration(other, tmp, tracks=8) if DATA.is_dir() else tmp / "missing-cal.yaml"
    evil_cal = tmp / "evil-cal.yaml"
    evil_cal.write_text(f"!!python/object/apply:os.system ['touch {tmp / 'pwned-by-calibration'}']\n")
    evil_cfg = tmp / "evil-cfg.yaml"
    evil_cfg.write_text(f"kafka: !!python/object/apply:os.system ['touch {tmp / 'pwned-by-config'}']\n")

    def cfg(name: str, text: str) -> str:
        p = tmp / f"{name}.yaml"
        p.write_text(text)
        return str(p)

    ok = cfg("ok", yaml.safe_dump({"kafka": {"bootstrap_servers": dead, "connect_timeout_s": 2.0}}))
    data = str(DATA)
    return {
        # The config file itself.
        "config file missing": (
            ["--config", str(tmp / "nope.yaml"), "score", "--model", str(good)],
            ["nope.yaml", "not found"],
        ),
        "config unknown key": (
            ["--config", cfg("k", "kafka:\n  partitons: 3\n"), "broker"],
            ["kafka.partitons", "expected one of"],
        ),
        "config wrong type": (
            ["--config", cfg("t", "consumer:\n  max_batch: lots\n"), "score"],
            ["consumer.max_batch", "must be int"],
        ),
        "config bad value": (
            ["--config", cfg("v", "producer:\n  encoding: gif\n"), "produce", "folder", data],
            ["producer.encoding", "jpeg, png"],
        ),
        "config negative": (
            ["--config", cfg("n", "consumer:\n  max_pending_mb: -1\n"), "score"],
            ["consumer.max_pending_mb", "> 0"],
        ),
        "config session timeout": (
            ["--config", cfg("s", "kafka:\n  session_timeout_ms: 1000\n  heartbeat_interval_ms: 1000\n"), "score"],
            ["kafka.heartbeat_interval_ms", "below kafka.session_timeout_ms (1000)"],
        ),
        "config choice": (
            ["--config", cfg("st", "consumer:\n  auto_offset_reset: newest\n"), "score"],
            ["consumer.auto_offset_reset", "earliest, latest"],
        ),
        "config not yaml": (["--config", cfg("y", "kafka: {partitions: [\n"), "console"], ["not valid YAML"]),
        "config python tag": (["--config", str(evil_cfg), "score"], ["evil-cfg.yaml", "not valid YAML"]),
        # Models.
        "score model missing": (["--config", ok, "score", "--model", str(tmp / "no.pt")], ["no.pt", "not found"]),
        "score no model": (["--config", ok, "score"], ["no model", "--model"]),
        "score model for 56x56": (["--config", ok, "score", "--model", str(size56)], ["size56.pt", "56x56", "28x28"]),
        "score pickled code": (
            ["--config", ok, "score", "--model", str(evil_pt)],
            ["evil.pt", "not a readable PyTorch checkpoint"],
        ),
        "score not a checkpoint": (
            ["--config", ok, "score", "--model", cfg("notpt", "hello\n")],
            ["notpt.yaml", "checkpoint"],
        ),
        "calibrate model missing": (
            ["calibrate", "--model", str(tmp / "no.pt"), "--data", data, "--out", str(tmp / "c.yaml")],
            ["no.pt", "not found"],
        ),
        "calibrate model for 56x56": (
            ["calibrate", "--model", str(size56), "--data", data, "--out", str(tmp / "c.yaml")],
            ["size56.pt", "56", "28x28"],
        ),
        "evaluate model missing": (["evaluate", "--model", str(tmp / "no.pt"), "--data", data], ["no.pt", "not found"]),
        "evaluate data missing": (["evaluate", "--model", str(good), "--data", str(tmp / "nodata")], ["nodata"]),
        "bench scorer model missing": (["bench", "scorer", "--model", str(tmp / "no.pt")], ["no.pt", "not found"]),
        "bench pipeline model missing": (
            ["--config", ok, "bench", "pipeline", "--model", str(tmp / "no.pt")],
            ["no.pt", "not found"],
        ),
        "demo model missing": (["demo", "--model", str(tmp / "no.pt")], ["no.pt"]),
        # Calibration files.
        "score calibration for another model": (
            ["--config", ok, "score", "--model", str(good), "--calibration", str(cal_other)],
            [cal_other.name, "made for model", "run calibrate"],
        ),
        "score calibration missing": (
            ["--config", ok, "score", "--model", str(good), "--calibration", str(tmp / "nocal.yaml")],
            ["nocal.yaml", "not found"],
        ),
        "score calibration python tag": (
            ["--config", ok, "score", "--model", str(good), "--calibration", str(evil_cal)],
            ["evil-cal.yaml", "not valid YAML"],
        ),
        "evaluate calibration for another model": (
            [
                "evaluate",
                "--model",
                str(good),
                "--data",
                data,
                "--calibration",
                str(cal_other),
                "--report",
                str(tmp / "rep"),
            ],
            [cal_other.name, "made for model"],
        ),
        # An unreachable broker: one line within kafka.connect_timeout_s, not a hang or a traceback.
        "score broker unreachable": (
            ["--config", ok, "score", "--model", str(good)],
            [dead, "cannot reach", "kafka.bootstrap_servers"],
        ),
        "produce broker unreachable": (
            ["--config", ok, "produce", "folder", data, "--max-frames", "5"],
            [dead, "cannot reach"],
        ),
        "console broker unreachable": (["--config", ok, "console", "--once"], [dead]),
        "bench pipeline broker unreachable": (
            ["--config", ok, "bench", "pipeline", "--frames", "300"],
            [dead, "cannot reach"],
        ),
        "bench soak broker unreachable": (["--config", ok, "bench", "soak", "--minutes", "1"], [dead, "cannot reach"]),
        "demo broker unreachable": (["--config", ok, "demo", "--model", str(good)], [dead, "cannot reach"]),
        "broker address malformed": (
            ["--config", cfg("bad-addr", "kafka:\n  bootstrap_servers: localhost\n"), "score", "--model", str(good)],
            ["kafka.bootstrap_servers", "HOST:PORT"],
        ),
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory, untrained_checkpoint):
    tmp = tmp_path_factory.mktemp("badcfg")
    cases = _cases(tmp, untrained_checkpoint)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}

    def run(item):
        name, (argv, _) = item
        t = time.monotonic()
        try:
            p = subprocess.run(
                [sys.executable, str(REPO / "run_monitor.py"), *argv],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            return name, (p.returncode, p.stdout, p.stderr, time.monotonic() - t)
        except subprocess.TimeoutExpired as e:
            return name, (None, e.stdout or "", e.stderr or "", time.monotonic() - t)

    with ThreadPoolExecutor(3) as pool:
        out = dict(pool.map(run, cases.items()))
    return cases, out, tmp


CASE_NAMES = [
    "config file missing",
    "config unknown key",
    "config wrong type",
    "config bad value",
    "config negative",
    "config session timeout",
    "config choice",
    "config not yaml",
    "config python tag",
    "score model missing",
    "score no model",
    "score model for 56x56",
    "score pickled code",
    "score not a checkpoint",
    "calibrate model missing",
    "calibrate model for 56x56",
    "evaluate model missing",
    "evaluate data missing",
    "bench scorer model missing",
    "bench pipeline model missing",
    "demo model missing",
    "score calibration for another model",
    "score calibration missing",
    "score calibration python tag",
    "evaluate calibration for another model",
    "score broker unreachable",
    "produce broker unreachable",
    "console broker unreachable",
    "bench pipeline broker unreachable",
    "bench soak broker unreachable",
    "demo broker unreachable",
    "broker address malformed",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_one_line_and_a_non_zero_exit(results, name):
    cases, out, _ = results
    argv, must = cases[name]
    rc, stdout, stderr, seconds = out[name]
    assert rc is not None, f"{name}: still running after 60 s (a hang):\n{stderr[-2000:]}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert rc != 0, f"{name}: exit 0\nstdout: {stdout[-1000:]}\nstderr: {stderr[-2000:]}"
    assert len(lines) == 1, f"{name}: {len(lines)} lines on stderr:\n{stderr[-3000:]}"
    line = lines[0]
    assert line.startswith("error: "), line
    for text in must:
        assert text in line, f"{name}: {text!r} not in {line!r}"
    assert "Traceback" not in stderr and not stdout.strip(), f"{name}: work started?\n{stdout[-1000:]}"
    if "unreachable" in name:
        assert seconds < 20, f"{name}: took {seconds:.1f} s"


@pytest.mark.slow
def test_hostile_files_did_not_run_their_code(results):
    _, _, tmp = results
    for marker in ("pwned-by-checkpoint", "pwned-by-calibration", "pwned-by-config"):
        assert not (tmp / marker).exists(), f"{marker}: code in a file was executed"


@pytest.mark.slow
def test_every_case_is_checked(results):
    cases, _, _ = results
    assert len(CASE_NAMES) == len(set(CASE_NAMES)) and set(CASE_NAMES) == set(cases)
