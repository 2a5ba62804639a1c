"""Wire-true calibration and evaluation: frames are seen through the producers' encoding (issue 11).

Real crops from ../shared/data/belgiumtsc, an untrained model (the features it gives still move
with the codec), the real broker for the consumer's warning.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np
import pytest
import yaml

import monitor
from calibration.calibrate import calibrate_folders, features_of_paths, wire_to_apply
from calibration.calibration_file import CalibrationError, load_calibration, save_calibration, wire_label
from calibration.detector import SIDE_COLUMN, Detector, compute_features, fit_gaussian
from calibration.evaluate import evaluate_dir
from monitor.challenges import apply_challenge, build_challenge_set
from monitor.codec import NO_ENCODING, CodecError, WireEncoding
from monitor.cure_tsr import load_image, read_cure_tsr, recorded_wire, track_of
from tests.helpers import belgium_paths

JPEG90 = WireEncoding("jpeg", 90)


@pytest.fixture(scope="module")
def scorer(untrained_checkpoint):
    return monitor.load_model(untrained_checkpoint, device="cpu")


def _tracks(n_tracks: int, per_track: int) -> list:
    """The first frames of the first n_tracks tracks of the shared crops."""
    by_track: dict[str, list] = {}
    for p in belgium_paths():
        by_track.setdefault(track_of(p), []).append(p)
    chosen = sorted(by_track)[:n_tracks]
    return [p for t in chosen for p in by_track[t][:per_track]]


@pytest.fixture(scope="module")
def noisy_folder(tmp_path_factory):
    """A plain folder of real crops under noise at level 3, written losslessly (PNG), 6 tracks."""
    import cv2

    root = tmp_path_factory.mktemp("noisy")
    for p in _tracks(6, 4):
        (root / p.parent.name).mkdir(exist_ok=True)
        cv2.imwrite(str(root / p.parent.name / p.name), apply_challenge(load_image(p), "noise", 3, seed=1))
    return root


def test_wire_encoding_parses_what_it_describes():
    for w in (JPEG90, WireEncoding("jpeg", 75), WireEncoding("png", 0), NO_ENCODING):
        assert WireEncoding.parse(w.describe()).same_as(w)
    assert WireEncoding("png", 90).same_as(WireEncoding("png", 0))
    with pytest.raises(CodecError, match="'jpeg q101'"):
        WireEncoding.parse("jpeg q101")


def test_calibrate_sees_frames_through_jpeg_not_as_they_lie(scorer, noisy_folder):
    """Noise at level 3 is what JPEG smooths away: calibrate's clean Gaussian is the one of the
    JPEG-roundtripped frames, and differs from the one of the PNG files as they lie."""
    paths = sorted(noisy_folder.rglob("*.png"))
    images = [load_image(p) for p in paths]
    raw = compute_features(scorer, images)[0]
    through_jpeg = compute_features(scorer, JPEG90.roundtrip(images))[0]
    assert np.allclose(features_of_paths(scorer, paths, wire=JPEG90), through_jpeg, atol=1e-5)
    assert not np.allclose(raw, through_jpeg, atol=1e-2)  # the codec moves the features the detector reads

    cal = calibrate_folders(scorer, noisy_folder, fpr=0.2, confidence=0.5, wire=JPEG90)
    assert cal.wire == JPEG90
    assert np.allclose(cal.gaussian.mean, fit_gaussian(through_jpeg, covariate=SIDE_COLUMN).mean, atol=1e-4)
    assert not np.allclose(cal.gaussian.mean, fit_gaussian(raw, covariate=SIDE_COLUMN).mean, atol=1e-2)
    as_they_lie = calibrate_folders(scorer, noisy_folder, fpr=0.2, confidence=0.5)
    assert as_they_lie.wire == NO_ENCODING
    assert np.allclose(as_they_lie.gaussian.mean, fit_gaussian(raw, covariate=SIDE_COLUMN).mean, atol=1e-4)


def test_calibration_file_round_trips_its_wire_and_old_files_load_as_unknown(scorer, noisy_folder, tmp_path):
    cal = calibrate_folders(scorer, noisy_folder, fpr=0.2, confidence=0.5, wire=WireEncoding("jpeg", 75))
    path = tmp_path / "cal.yaml"
    save_calibration(path, cal)
    assert yaml.safe_load(path.read_text())["wire"] == {"encoding": "jpeg", "quality": 75}
    again = load_calibration(path)
    assert again.wire == WireEncoding("jpeg", 75) and wire_label(again.wire) == "jpeg q75"

    d = yaml.safe_load(path.read_text())
    del d["wire"]  # a file written before the entry existed
    old = tmp_path / "old.yaml"
    old.write_text(yaml.safe_dump(d))
    assert load_calibration(old).wire is None and wire_label(None) == "unknown"

    d["wire"] = {"encoding": "webp", "quality": 80}
    old.write_text(yaml.safe_dump(d))
    with pytest.raises(CalibrationError, match=r"old.yaml: wire must be a mapping with encoding jpeg, png or none"):
        load_calibration(old)


def test_synth_writes_frames_as_decoded_records_it_and_nothing_is_encoded_twice(scorer, tmp_path):
    sources = _tracks(5, 2)
    out = tmp_path / "set"
    build_challenge_set(sources, out, challenges=["noise"], levels=[3], seed=2, workers=1, wire=JPEG90)
    assert recorded_wire(out) == JPEG90
    frames = read_cure_tsr(out)
    clean_files = [f.path for f in frames if f.name.challenge_type == 0]
    # The ChallengeFree copy of the first source is that source as the consumer decodes it after JPEG q90.
    assert np.array_equal(load_image(clean_files[0]), JPEG90.roundtrip([load_image(sources[0])], full_size=True)[0])

    # Already through JPEG q90: read as it lies when the same wire is asked, refused for another.
    assert wire_to_apply(JPEG90, out) == (NO_ENCODING, JPEG90)
    assert wire_to_apply(NO_ENCODING, out) == (NO_ENCODING, JPEG90)
    with pytest.raises(CalibrationError, match=r"written through jpeg q90 \(its manifest\), not png"):
        wire_to_apply(WireEncoding("png", 0), out)
    # A plain folder (no manifest) gets the roundtrip at read time.
    assert wire_to_apply(JPEG90, sources[0].parent) == (JPEG90, JPEG90)

    cal = calibrate_folders(scorer, out, out, fpr=0.3, confidence=0.5, wire=JPEG90, min_level=3)
    as_they_lie = compute_features(scorer, [load_image(p) for p in clean_files])[0]
    assert cal.wire == JPEG90
    assert np.allclose(cal.gaussian.mean, fit_gaussian(as_they_lie, covariate=SIDE_COLUMN).mean, atol=1e-4)
    table = evaluate_dir(scorer, out, wire=JPEG90)
    assert table.wire == "jpeg q90" and table.flat()["wire"] == "jpeg q90"


def test_synth_without_a_wire_keeps_frames_lossless_and_evaluate_applies_it(scorer, tmp_path):
    sources = _tracks(2, 2)
    out = tmp_path / "set"
    build_challenge_set(sources, out, challenges=["noise"], levels=[3], seed=2, workers=1)
    assert recorded_wire(out) == NO_ENCODING
    clean_file = next(f.path for f in read_cure_tsr(out) if f.name.challenge_type == 0)
    assert np.array_equal(load_image(clean_file), load_image(sources[0]))
    assert wire_to_apply(JPEG90, out) == (JPEG90, JPEG90)


@pytest.mark.kafka
@pytest.mark.slow
def test_score_warns_once_when_frames_arrive_in_another_encoding_than_the_calibration(
    kafka_cfg, scorer, noisy_folder, caplog
):
    """Frames sent as PNG against a calibration fit for JPEG q90: exactly one warning line, naming
    the stream, the frame's encoding header and the calibration's wire."""
    from pipelines.alerting import AlertingHook
    from pipelines.consumer import ScoringConsumer
    from pipelines.producers import FrameProducer, folder_sequences, produce, replay_ticks
    from tests.conftest import read_topic
    from tests.helpers import SHARED_DATA

    cal = calibrate_folders(scorer, noisy_folder, fpr=0.2, confidence=0.5, wire=JPEG90)
    cfg = dataclasses.replace(kafka_cfg, producer=dataclasses.replace(kafka_cfg.producer, encoding="png"))
    producer = FrameProducer(cfg, cfg.kafka.bootstrap_servers)
    ticks = replay_ticks(folder_sequences(SHARED_DATA, ("none", 0)), 1, prefix="pngcam")
    produce(ticks, producer, cfg, "folder", threading.Event(), fps=0, max_frames=24)
    assert producer.close().undelivered == 0

    caplog.set_level(logging.WARNING, logger="signwatch.alerting")
    hook = AlertingHook(Detector(scorer, cal), cfg.alerts)
    consumer = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, on_scored=hook, name="wirecheck")
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        assert len(read_topic(cfg.kafka.bootstrap_servers, cfg.kafka.scores_topic, 24, timeout_s=60)) == 24
    finally:
        consumer.stop()
        thread.join(30)
    lines = [r.getMessage() for r in caplog.records if "encoding header" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("stream pngcam") and "'png'" in lines[0] and "jpeg q90" in lines[0]


def test_the_hook_warns_once_per_stream_and_encoding_and_only_across_jpeg_and_lossless(scorer, noisy_folder, caplog):
    from pipelines.alerting import CalibratedHook
    from pipelines.wire import Origin, ScoreRecord

    images = [load_image(p) for p in _tracks(2, 3)]
    r = scorer.score(images)

    def records(stream: str, encoding: str) -> list[ScoreRecord]:
        return [
            ScoreRecord(
                stream, i, float(r.score[i]), float(r.recon[i]), tuple(r.layer_cos[i]), scorer.model_id,
                0, 0, 0, "test", Origin("signwatch.frames", 0, i), image=images[i], encoding=encoding,
            )
            for i in range(len(images))
        ]  # fmt: skip

    cal = calibrate_folders(scorer, noisy_folder, fpr=0.2, confidence=0.5, wire=JPEG90)

    def warnings_after(cal_wire, batches) -> list[str]:
        hook = CalibratedHook(Detector(scorer, dataclasses.replace(cal, wire=cal_wire)))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="signwatch.alerting"):
            for stream, encoding in batches:
                hook(records(stream, encoding))
        return [rec.getMessage() for rec in caplog.records if "encoding header" in rec.getMessage()]

    got = warnings_after(JPEG90, [("a", "jpeg"), ("a", "png"), ("a", "png"), ("b", "png"), ("b", "bmp")])
    assert [w.split(":")[0] for w in got] == ["stream a", "stream b", "stream b"]
    assert warnings_after(NO_ENCODING, [("a", "png"), ("a", "bmp")]) == []  # lossless either way
    assert len(warnings_after(NO_ENCODING, [("a", "jpeg"), ("a", "jpeg")])) == 1
    assert warnings_after(None, [("a", "png")]) == []  # an old calibration file: wire unknown


def test_synth_command_defaults_to_the_producers_encoding_and_takes_options(tmp_path, capsys):
    import shutil

    import run_monitor

    clean = tmp_path / "clean"
    for p in _tracks(2, 2):
        (clean / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, clean / p.parent.name / p.name)
    base = ["synth", "--data", str(clean), "--challenges", "noise", "--levels", "3", "--out"]
    assert run_monitor.main([*base, str(tmp_path / "a")]) == 0
    assert recorded_wire(tmp_path / "a") == JPEG90  # the default config's producer: JPEG q90
    assert run_monitor.main([*base, str(tmp_path / "b"), "--wire-encoding", "jpeg", "--jpeg-quality", "60"]) == 0
    assert recorded_wire(tmp_path / "b") == WireEncoding("jpeg", 60)
    assert run_monitor.main([*base, str(tmp_path / "c"), "--wire-encoding", "png"]) == 0
    assert recorded_wire(tmp_path / "c").describe() == "png"
    capsys.readouterr()
    assert run_monitor.main([*base, str(tmp_path / "d"), "--jpeg-quality", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --jpeg-quality must be 1..100, got 0"
