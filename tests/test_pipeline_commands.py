"""The demo, bench pipeline and broker commands, end to end on a real embedded broker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import run_monitor
from tests.helpers import SHARED_DATA

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[1]


def _need_data():
    if not SHARED_DATA.is_dir():
        pytest.skip("no shared data")


def test_demo_scores_every_replayed_frame(untrained_checkpoint, capsys):
    _need_data()
    rc = run_monitor.main(
        [
            "demo",
            "--frames",
            "120",
            "--streams",
            "3",
            "--fps",
            "0",
            "--no-console",
            "--model",
            str(untrained_checkpoint),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    assert "demo: 120 frames from 3 streams -> scored 120, dead letters 0" in out
    assert "embedded Tansu at" in err
    for stream, condition in (("demo-0", "-"), ("demo-1", "rain"), ("demo-2", "exposure")):
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(stream))
        assert line.split()[1] == "40" and line.split()[2] == condition


def test_bench_pipeline_reports_flat_json(untrained_checkpoint, tmp_path, capsys):
    _need_data()
    path = tmp_path / "bench.json"
    rc = run_monitor.main(
        [
            "bench",
            "pipeline",
            "--model",
            str(untrained_checkpoint),
            "--frames",
            "512",
            "--seconds",
            "1",
            "--json",
            str(path),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    figures = json.loads(path.read_text())
    for key in (
        "scorer_only_fps",
        "end_to_end_fps",
        "ratio",
        "calibrated_end_to_end_fps",
        "calibrated_ratio",
        "cpu_e2e_calibrated_calibration_stage_ms",
        "cpu_e2e_calibrated_calibration_statistics_ms",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
    ):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert isinstance(figures["load_average_start"], float) and isinstance(figures["load_average_end"], float)
    assert all(not isinstance(v, (dict, list)) for v in figures.values())
    assert "scorer only:" in out and "end to end, uncalibrated:" in out and "end to end, calibrated:" in out
    assert "calibration stage (hook)" in out and "calibration statistics (decode threads)" in out and "p99" in out


def test_broker_command_prints_its_address_and_stops_cleanly_on_sigterm():
    from pipelines.broker import partition_counts, topic_names
    from pipelines.config import Config

    p = subprocess.Popen(
        [sys.executable, str(REPO / "run_monitor.py"), "broker"],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = p.stdout.readline()
        assert line.startswith("bootstrap servers: 127.0.0.1:"), line + p.stderr.read()
        bootstrap = line.split(": ", 1)[1].strip()
        cfg = Config()
        assert set(partition_counts(bootstrap, cfg, topic_names(cfg)).values()) == {4}  # topics are ready
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
    finally:
        if p.poll() is None:
            p.kill()
    time.sleep(0.2)
    import socket

    host, port = bootstrap.split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()
