"""What a new operator met running broker, scorer, producer and console as separate processes (issue 14):
finding the broker, the config file, files passed in the wrong place, what `score` loaded, and
calibrate's early answer on whether the data can support the target."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import run_monitor
from calibration.threshold import (
    BinomialBoundThreshold,
    ThresholdError,
    min_clean_frames,
    support_check,
    supported_fpr,
)
from monitor.codec import WireEncoding
from monitor.settings import ConfigError
from pipelines.broker import (
    BrokerError,
    broker_state_path,
    forget_broker,
    record_broker,
    recorded_broker,
    resolve_shared_bootstrap,
)
from pipelines.config import Config, load_config
from tests.helpers import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]


# --- finding the broker ---------------------------------------------------------------------------


def test_state_file_lives_in_the_runtime_dir_and_is_ignored_once_its_process_is_gone(private_runtime_dir):
    assert broker_state_path() == private_runtime_dir / "signwatch" / "broker.json"
    assert recorded_broker() is None
    record_broker("127.0.0.1:9092")
    assert recorded_broker() == ("127.0.0.1:9092", os.getpid())
    forget_broker(pid=os.getpid() + 1)  # not its writer: left alone
    assert recorded_broker() is not None
    forget_broker()
    assert not broker_state_path().exists()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record_broker("127.0.0.1:9092", pid=dead.pid)  # a broker killed before it could remove its file
    assert recorded_broker() is None
    broker_state_path().write_text("{not json")
    assert recorded_broker() is None


def test_shared_bootstrap_prefers_the_config_then_the_recorded_broker_else_refuses():
    cfg = Config()
    with pytest.raises(BrokerError, match=r"^produce: no broker to use: start one with `run_monitor.py broker`"):
        resolve_shared_bootstrap(cfg, "produce")
    record_broker("127.0.0.1:4321")
    try:
        assert resolve_shared_bootstrap(cfg, "score") == "127.0.0.1:4321" == cfg.kafka.bootstrap_servers
        cfg.kafka.bootstrap_servers = "kafka:9092"
        assert resolve_shared_bootstrap(cfg, "score") == "kafka:9092"
    finally:
        forget_broker()


@pytest.mark.parametrize(
    "argv",
    [
        ["produce", "folder", str(SHARED_DATA), "--max-frames", "5"],
        ["score", "--model", "m.pt"],
        ["console", "--once"],
        ["check"],
        ["reset-baseline", "cam1"],
    ],
)
def test_commands_refuse_to_start_a_private_broker(argv, capsys):
    # Before: produce started its own broker, "delivered" every frame into it and exited 0.
    if argv[0] == "produce" and not SHARED_DATA.is_dir():
        pytest.skip("no shared data")
    t0 = time.monotonic()
    assert run_monitor.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {argv[0]}: no broker to use") and err.count("\n") == 0, err
    assert "run_monitor.py broker" in err and "--bootstrap-servers" in err
    assert time.monotonic() - t0 < 5  # refused at once: no broker started, no model loaded


@pytest.mark.kafka
def test_broker_command_records_its_address_for_the_others_and_removes_it_on_exit(untrained_checkpoint):
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
        assert line.startswith("bootstrap servers: "), line
        bootstrap = line.split(": ", 1)[1].strip()
        assert recorded_broker() == (bootstrap, p.pid)
        # A second `broker` would leave the others guessing which one to use.
        second = subprocess.run(
            [sys.executable, str(REPO / "run_monitor.py"), "broker"], cwd=REPO, text=True, capture_output=True
        )
        assert second.returncode == 2 and f"already running at {bootstrap} (pid {p.pid}" in second.stderr
        # score finds it without --bootstrap-servers, scores nothing, and exits when idle
        r = subprocess.run(
            [sys.executable, str(REPO / "run_monitor.py"), "score", "--model", str(untrained_checkpoint)]
            + ["--device", "cpu", "--idle-exit", "1"],
            cwd=REPO,
            text=True,
            capture_output=True,
            timeout=120,
        )
        assert r.returncode == 0 and f"using {bootstrap} (run_monitor.py broker, pid {p.pid}" in r.stderr, r.stderr
        p.terminate()
        assert p.wait(timeout=15) == 0
    finally:
        if p.poll() is None:
            p.kill()
    assert not broker_state_path().exists()


# --- the config file ------------------------------------------------------------------------------


def test_config_is_accepted_after_the_subcommand_too(tmp_path, capsys):
    # Before: `score --config x` was "unrecognized arguments".
    path = tmp_path / "c.yaml"
    path.write_text("consumer:\n  max_batch: 0\n")
    for argv in (["--config", str(path), "score"], ["score", "--config", str(path)], ["score", f"--config={path}"]):
        assert run_monitor.main([*argv, "--model", "x.pt"]) == 2
        err = capsys.readouterr().err
        assert "consumer.max_batch" in err and "unrecognized" not in err, (argv, err)
    assert run_monitor.split_config_option(["produce", "camera", "v.avi", "--config", "a.yaml"]) == (
        ["produce", "camera", "v.avi"],
        "a.yaml",
    )
    with pytest.raises(ValueError, match="--config given twice with different files: a.yaml, b.yaml"):
        run_monitor.split_config_option(["--config", "a.yaml", "score", "--config", "b.yaml"])
    with pytest.raises(ValueError, match="--config needs a YAML file"):
        run_monitor.split_config_option(["score", "--config"])


def test_paths_in_a_config_are_relative_to_the_config_file(tmp_path, monkeypatch):
    # Before: resolved from the working directory, so the same config broke when run from elsewhere.
    (tmp_path / "deploy").mkdir()
    path = tmp_path / "deploy" / "c.yaml"
    path.write_text(f"consumer:\n  model: models/m.pt\n  calibration: {tmp_path}/abs.yaml\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("deploy/c.yaml")
    assert Path(cfg.consumer.model) == tmp_path / "deploy" / "models" / "m.pt"
    assert cfg.consumer.calibration == f"{tmp_path}/abs.yaml"  # absolute paths stay as they are
    assert load_config(None).consumer.model is None


def test_yaml_errors_say_line_and_column(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kafka:\n  partitions: 4\n  client_id: [a, b\nconsumer:\n  max_batch: 4\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not valid YAML \(line \d+, column \d+: ") as e:
        load_config(path)
    assert str(e.value).count("\n") == 0
    path.write_text("kafka:\n\tpartitions: 4\n")  # a tab where YAML wants spaces
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 2, column 1: found character '\\t'"):
        load_config(path)


def test_a_model_passed_as_calibration_names_the_file(untrained_checkpoint, capsys):
    # Before: "'utf-8' codec can't decode byte 0x80 in position 64", without the file's name.
    argv = ["score", "--bootstrap-servers", "127.0.0.1:1", "--model", str(untrained_checkpoint), "--device", "cpu"]
    assert run_monitor.main([*argv, "--calibration", str(untrained_checkpoint)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: calibration file {untrained_checkpoint}: not a YAML text file (byte 0x80"), err
    assert "model checkpoint" in err


@pytest.mark.kafka
def test_score_says_what_it_loaded_once_the_broker_answers(kafka_cfg, untrained_checkpoint, tmp_path, capsys):
    # Before: nothing said whether a calibration was loaded and alerts were on.
    import monitor
    from calibration.calibrate import fit_calibration
    from calibration.calibration_file import save_calibration
    from calibration.detector import FEATURE_COLUMNS

    scorer = monitor.load_model(untrained_checkpoint, device="cpu")
    rng = np.random.default_rng(0)
    cal = fit_calibration(
        rng.normal(size=(400, len(FEATURE_COLUMNS))),
        [f"t{i}" for i in range(400)],
        model_id=scorer.model_id,
        fpr=0.01,
        wire=WireEncoding("jpeg", 90),
    )
    save_calibration(tmp_path / "cal.yaml", cal)
    from tests.conftest import write_config

    config = write_config(kafka_cfg, tmp_path / "c.yaml")  # this test's own topics and group
    argv = ["score", "--config", str(config), "--model", str(untrained_checkpoint), "--device", "cpu"]
    argv += ["--idle-exit", "0.5"]
    assert run_monitor.main(argv) == 0
    err = capsys.readouterr().err
    assert f"score: model {scorer.model_id} ({untrained_checkpoint}) on cpu" in err
    assert "no calibration: raw scores only, no alerts" in err
    assert run_monitor.main([*argv, "--calibration", str(tmp_path / "cal.yaml")]) == 0
    err = capsys.readouterr().err
    t = cal.threshold.threshold
    assert f"calibration {tmp_path / 'cal.yaml'}: threshold {t:.4g} (target false-alarm rate 1.00%)" in err
    assert "fitted on frames seen through jpeg q90" in err
    assert "alerts on: raise when 2 of the last 3 frames are anomalous or their evidence reaches 8" in err


# --- calibrate's early answer ----------------------------------------------------------------------


def test_supported_fpr_is_what_the_binomial_bound_can_reach():
    assert min_clean_frames(0.01, 0.95) == 299
    assert support_check(299, 0.01, 0.95) is None
    line = support_check(100, 0.01, 0.95)
    assert line == (
        "100 clean tracks cannot support a 1.00% false-alarm rate at 95% confidence (it needs 299); "
        "they can support 2.95%"
    )
    for n in (1, 30, 100, 298):
        a = supported_fpr(n, 0.95)
        values = np.random.default_rng(n).random(n)
        assert BinomialBoundThreshold(a * 1.0001, 0.95).fit(values).supported  # just at it: supported
        assert not BinomialBoundThreshold(a * 0.999, 0.95).fit(values).supported  # just below: not
    assert supported_fpr(0, 0.95) == 1.0
    with pytest.raises(ThresholdError, match="target false-alarm rate must be in"):
        support_check(10, 1.5, 0.95)


def _clean_folder(tmp_path: Path, tracks: int) -> Path:
    from monitor.cure_tsr import list_images, track_of

    paths = list_images(SHARED_DATA) if SHARED_DATA.is_dir() else []
    if not paths:
        pytest.skip("no shared data")
    chosen = set(sorted({track_of(p) for p in paths})[:tracks])
    clean = tmp_path / "clean"
    for p in paths:
        if track_of(p) in chosen:
            (clean / p.parent.name).mkdir(parents=True, exist_ok=True)
            (clean / p.parent.name / p.name).write_bytes(p.read_bytes())
    return clean


def test_calibrate_refuses_before_scoring_and_says_what_the_data_supports(tmp_path, capsys):
    # Before: it scored every frame (2 min 22 s on the full set) and only then refused, without the
    # rate the data could support. The model does not exist: refusing first proves nothing was loaded.
    clean = _clean_folder(tmp_path, 40)
    argv = ["calibrate", "--model", str(tmp_path / "absent.pt"), "--data", str(clean), "--out", str(tmp_path / "c")]
    assert run_monitor.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "40 clean tracks cannot support a 1.00% false-alarm rate" in err, err
    assert f"they can support {supported_fpr(40, 0.95):.2%}" in err and "--allow-unsupported" in err
    # --subset takes one side of the same track-wise split train and synth use
    assert run_monitor.main([*argv, "--subset", "test", "--test-fraction", "0.5", "--split-seed", "3"]) == 2
    assert "20 clean tracks cannot support" in capsys.readouterr().err
    # enough tracks for the target: the check passes and calibrate goes on to the model (one line still)
    assert run_monitor.main([*argv, "--subset", "train", "--fpr", "0.2"]) == 2
    out, err = capsys.readouterr()
    assert not out and err.count("\n") == 1 and "absent.pt" in err, (out, err)


def test_calibrate_says_what_its_subset_supports_before_scoring(tmp_path, untrained_checkpoint, capsys):
    clean = _clean_folder(tmp_path, 40)
    argv = ["calibrate", "--model", str(untrained_checkpoint), "--data", str(clean), "--device", "cpu"]
    argv += ["--subset", "train", "--fpr", "0.2", "--out", str(tmp_path / "cal.yaml")]
    assert run_monitor.main(argv) == 0
    out = capsys.readouterr().out
    assert "clean frames from 28 tracks (train): they can support a false-alarm rate down to 10.15%" in out, out
    assert out.index("they can support") < out.index("binomial_bound:")  # said before the threshold was chosen


def test_config_yaml_written_by_tests_still_loads(tmp_path):
    # write_config dumps every setting; the relative-path rule must leave its absolute paths alone.
    from tests.conftest import write_config

    cfg = Config()
    cfg.consumer.model = str(tmp_path / "m.pt")
    path = write_config(cfg, tmp_path / "c.yaml")
    assert load_config(path).consumer.model == str(tmp_path / "m.pt")
    assert yaml.safe_load(path.read_text())["consumer"]["model"] == str(tmp_path / "m.pt")
