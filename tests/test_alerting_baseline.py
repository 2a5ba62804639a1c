"""Per-stream baselines wired into the calibrated hook (pipelines.alerting.CalibratedHook), on real
frames (BelgiumTSC tracks, conditions rendered by monitor.challenges) scored by a real (untrained)
GradCon model and a calibration fitted on other tracks."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from calibration.baseline import ATYPICAL_MESSAGE
from calibration.calibrate import fit_calibration
from calibration.detector import FEATURE_COLUMNS, Detector, compute_features
from calibration.settings import AlertConfig, BaselineConfig
from monitor.challenges import apply_challenge
from monitor.checkpoint import load_model, make_untrained_checkpoint
from monitor.settings import ConfigError
from pipelines.alerting import CalibratedHook
from pipelines.config import config_from_dict
from pipelines.wire import Origin, ScoreRecord, decode_alert, encode_alert

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "belgiumtsc"
# A short warm-up so a test stream is warm after 40 frames (the default is 300).
BASE = BaselineConfig(enabled=True, warmup=40, memory=40, adopt_after=0)


@pytest.fixture(scope="module")
def setup():
    return build()


def build():
    """(scorer, calibration fitted on every track but the first, the first track's frames)."""
    paths = sorted(DATA.glob("*/*.png"))
    if len(paths) < 60:
        pytest.skip("no BelgiumTSC data")
    imgs = [cv2.imread(str(p)) for p in paths]
    tracks = [p.parent.name + "/" + p.name.split("_")[0] for p in paths]
    with tempfile.TemporaryDirectory() as d:
        make_untrained_checkpoint(Path(d) / "m.pt", seed=0)
        scorer = load_model(Path(d) / "m.pt", device="cpu")
    # The fleet: every track but the first (the test streams' sign is one the calibration never saw).
    first = tracks[0]
    fleet = [(im, t) for im, t in zip(imgs, tracks, strict=True) if t != first]
    x, _ = compute_features(scorer, [im for im, _ in fleet])
    cal = fit_calibration(x, [t for _, t in fleet], model_id=scorer.model_id, fpr=0.01)
    sign = [im for im, t in zip(imgs, tracks, strict=True) if t == first]
    return scorer, cal, sign


def records(scorer, stream: str, frames: list, first_seq: int) -> list[ScoreRecord]:
    r = scorer.score(frames)
    return [
        ScoreRecord(
            stream,
            first_seq + i,
            float(r.score[i]),
            float(r.recon[i]),
            tuple(r.layer_cos[i]),
            scorer.model_id,
            (first_seq + i) * 1000,
            0,
            0,
            "test",
            Origin("signwatch.frames", 0, first_seq + i),
            image=frames[i],
        )
        for i in range(len(frames))
    ]


def camera(sign: list, n: int, seed: int, effect=None) -> list:
    """A fixed camera on one sign: its frames cycled with a little sensor noise, an effect on top."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        im = sign[i % len(sign)].astype(np.int16) + rng.normal(0, 2, sign[i % len(sign)].shape).round().astype(np.int16)
        im = np.clip(im, 0, 255).astype(np.uint8)
        out.append(effect(im, i) if effect else im)
    return out


def play(hook, scorer, stream: str, segments: list) -> list:
    """Feed segments of frames in batches of 16; the alert events, in order."""
    frames = [f for seg in segments for f in seg]
    events = []
    for i in range(0, len(frames), 16):
        events += hook(records(scorer, stream, frames[i : i + 16], i))
    return events


def test_atypical_stream_is_reported_once_and_later_onsets_are_found(setup):
    scorer, cal, sign = setup
    hook = CalibratedHook(Detector(scorer, cal), AlertConfig(), BASE)

    def dim(im, i):  # a view steadily off the fleet's normal from frame 0 (a camera set far too dark)
        return (im // 6).astype(np.uint8)

    def dim_noisy(im, i):  # ...and then a condition on top of it
        return apply_challenge(dim(im, i), "noise", 5, seed=i)

    events = play(
        hook,
        scorer,
        "cam-dark",
        [camera(sign, 120, 1, dim), camera(sign, 15, 2, dim_noisy), camera(sign, 40, 3, dim)],
    )
    states = [(e.state, e.onset_seq) for e in events]
    atypical = [e for e in events if e.state == "atypical"]
    assert len(atypical) == 1 and atypical[0].message == ATYPICAL_MESSAGE, states
    raised = [e for e in events if e.state == "raised"]
    # No condition alert from the atypical view itself; the one onset is found within 5 frames.
    assert len(raised) == 1 and 120 <= raised[0].onset_seq <= 125, states
    assert raised[0].condition != "atypical"  # the held frames' mark is no condition name
    assert any(e.state == "cleared" and e.alert_id == raised[0].alert_id for e in events), states
    assert decode_alert(encode_alert(atypical[0])) == atypical[0]


def test_fleet_decisions_only_the_atypical_stream_raises_an_alert_that_does_not_clear(setup):
    # The failure the atypical view fixes (issue 11): same frames, fleet decisions only.
    scorer, cal, sign = setup
    hook = CalibratedHook(Detector(scorer, cal), AlertConfig(), BaselineConfig(enabled=False, atypical=False))
    assert hook.bank is None
    events = play(hook, scorer, "cam-dark", [camera(sign, 120, 1, lambda im, i: (im // 6).astype(np.uint8))])
    assert [e.state for e in events] == ["raised"] and events[0].onset_seq <= 5


def test_with_baselines_off_the_atypical_view_is_still_reported(setup, caplog):
    # The default (baseline.enabled false, baseline.atypical true): no per-stream change detection,
    # but a view off the fleet's normal is reported once, with score's log line, and no alert is raised.
    scorer, cal, sign = setup
    off = BaselineConfig(enabled=False, warmup=40)
    hook = CalibratedHook(Detector(scorer, cal), AlertConfig(), off)
    assert hook.bank is not None and not hook.bank.changes
    with caplog.at_level("WARNING", logger="signwatch.alerting"):
        events = play(hook, scorer, "cam-dark", [camera(sign, 120, 1, lambda im, i: (im // 6).astype(np.uint8))])
    assert [(e.state, e.message) for e in events] == [("atypical", ATYPICAL_MESSAGE)]
    assert any("cam-dark: " + ATYPICAL_MESSAGE in r.getMessage() and "--roi" in r.getMessage() for r in caplog.records)
    # A typical stream is not held: an onset on it raises as with fleet decisions only.
    dark = play(
        hook,
        scorer,
        "cam1",
        [camera(sign, 60, 4), camera(sign, 15, 5, lambda im, i: apply_challenge(im, "darkening", 4, seed=i))],
    )
    raised = [e for e in dark if e.state == "raised"]
    assert len(raised) == 1 and 60 <= raised[0].onset_seq <= 65, [(e.state, e.onset_seq) for e in dark]


def test_typical_stream_onset_and_reset(setup):
    scorer, cal, sign = setup
    hook = CalibratedHook(Detector(scorer, cal), AlertConfig(), BASE)

    def dark(im, i):
        return apply_challenge(im, "darkening", 4, seed=i)

    events = play(hook, scorer, "cam1", [camera(sign, 80, 4), camera(sign, 15, 5, dark), camera(sign, 40, 6)])
    assert not any(e.state == "atypical" for e in events)
    raised = [e for e in events if e.state == "raised"]
    assert len(raised) == 1 and 80 <= raised[0].onset_seq <= 85, [(e.state, e.onset_seq) for e in events]
    assert any(e.state == "cleared" for e in events)
    assert hook.bank.streams["cam1"].warm
    assert hook.reset_baseline("cam1") == []  # not atypical: nothing to end
    assert not hook.bank.streams["cam1"].warm


def test_reset_ends_the_atypical_state(setup):
    scorer, cal, sign = setup
    hook = CalibratedHook(Detector(scorer, cal), AlertConfig(), BASE)
    events = play(hook, scorer, "cam-dark", [camera(sign, 60, 1, lambda im, i: (im // 6).astype(np.uint8))])
    assert [e.state for e in events] == ["atypical"]
    out = hook.reset_baseline("cam-dark", capture_ns=123)
    assert [(e.state, e.alert_id, e.ended_ns) for e in out] == [("typical", events[0].alert_id, 123)]


def test_baseline_section_is_checked():
    cfg = config_from_dict({"baseline": {"enabled": True, "warmup": 60}})
    assert cfg.baseline.enabled and cfg.baseline.warmup == 60
    for bad, name in [({"cap": 2.0}, "baseline.cap"), ({"warmup": 1}, "baseline.warmup"), ({"shrink": 2}, "shrink")]:
        with pytest.raises(ConfigError, match=name):
            config_from_dict({"baseline": bad})
    with pytest.raises(ConfigError, match="unknown setting baseline.nope"):
        config_from_dict({"baseline": {"nope": 1}})


@pytest.mark.kafka
@pytest.mark.slow
def test_reset_control_record_through_the_broker(setup, kafka_cfg, tmp_path):
    """`run_monitor.py reset-baseline` (another process) writes a control record between a stream's
    frames; the consumer applies it there: never scored, the atypical state ends with 'typical'."""
    import subprocess
    import sys
    import threading

    from kafka import KafkaProducer

    from pipelines.alerting import AlertingHook
    from pipelines.consumer import ScoringConsumer
    from pipelines.wire import FrameMeta, decode_score, encode_frame, frame_headers, frame_key
    from tests.conftest import read_topic, write_config

    scorer, cal, sign = setup
    k = kafka_cfg.kafka
    frames = camera(sign, 70, 1, lambda im, i: (im // 6).astype(np.uint8))
    producer = KafkaProducer(bootstrap_servers=k.bootstrap_servers)

    def send(lo: int, hi: int) -> None:
        for seq in range(lo, hi):
            meta = FrameMeta("cam-dark", seq, 1_000_000_000 + seq * 33_000_000, "test")
            producer.send(
                k.frames_topic, encode_frame(frames[seq]), key=frame_key("cam-dark"), headers=frame_headers(meta)
            )
        producer.flush()

    send(0, 60)
    root = Path(__file__).resolve().parents[1]
    cfg_path = write_config(kafka_cfg, tmp_path / "cfg.yaml")
    cmd = [sys.executable, str(root / "run_monitor.py"), "--config", str(cfg_path), "reset-baseline", "cam-dark"]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "baseline reset of stream cam-dark sent" in done.stdout, done.stderr
    send(60, 70)
    producer.close()

    hook = AlertingHook(Detector(scorer, cal), AlertConfig(), BASE)
    consumer = ScoringConsumer(kafka_cfg, k.bootstrap_servers, scorer, on_scored=hook, name="reset", out=sys.stderr)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        alerts = read_topic(k.bootstrap_servers, k.alerts_topic, 2, timeout_s=60)
        scores = read_topic(k.bootstrap_servers, k.scores_topic, 70, timeout_s=30)
    finally:
        consumer.stop()
        thread.join(30)
    events = [decode_alert(r.value) for r in alerts]
    assert [e.state for e in events] == ["atypical", "typical"], events
    assert events[0].onset_seq == 39 and events[1].message == "baseline reset by the operator"
    assert sorted(decode_score(r.value).seq for r in scores) == list(range(70))  # the control was not scored
    assert not hook.inner.bank.streams["cam-dark"].warm  # learning again: 10 frames since the reset


@pytest.mark.kafka
@pytest.mark.slow
def test_atypical_view_by_default_through_the_broker(setup, kafka_cfg):
    """The deployment's default `baseline:` section (baselines on, the atypical view judged; only
    the warm-up shortened for the test), as `score` builds its hook: a camera whose whole view is
    off the fleet's normal gets one 'atypical' event with the ROI hint on the alerts topic, and no
    condition alert (its own normal is that view: no change against it either)."""
    import sys
    import threading

    from kafka import KafkaProducer

    from pipelines.alerting import AlertingHook
    from pipelines.consumer import ScoringConsumer
    from pipelines.wire import FrameMeta, encode_frame, frame_headers, frame_key
    from tests.conftest import read_topic

    scorer, cal, sign = setup
    k = kafka_cfg.kafka
    assert kafka_cfg.baseline.enabled and kafka_cfg.baseline.atypical  # the defaults
    kafka_cfg.baseline.warmup = 40
    frames = camera(sign, 60, 1, lambda im, i: (im // 6).astype(np.uint8))
    producer = KafkaProducer(bootstrap_servers=k.bootstrap_servers)
    for seq, im in enumerate(frames):
        meta = FrameMeta("cam-noroi", seq, 1_000_000_000 + seq * 33_000_000, "test")
        producer.send(k.frames_topic, encode_frame(im), key=frame_key("cam-noroi"), headers=frame_headers(meta))
    producer.close()

    hook = AlertingHook(Detector(scorer, cal), kafka_cfg.alerts, kafka_cfg.baseline)  # as cli/stream_commands.py
    consumer = ScoringConsumer(kafka_cfg, k.bootstrap_servers, scorer, on_scored=hook, name="noroi", out=sys.stderr)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    try:
        assert len(read_topic(k.bootstrap_servers, k.scores_topic, 60, timeout_s=60)) == 60
        alerts = read_topic(k.bootstrap_servers, k.alerts_topic, 10, timeout_s=5)
    finally:
        consumer.stop()
        thread.join(30)
    events = [decode_alert(r.value) for r in alerts]
    assert [(e.state, e.message) for e in events] == [("atypical", ATYPICAL_MESSAGE)], events
    assert events[0].onset_seq == 39  # judged at the end of the stream's first warm-up


def test_control_records_are_checked():
    from pipelines.wire import HeaderError, control_headers, parse_control

    assert parse_control(control_headers("cam-1")).stream == "cam-1"
    assert parse_control([("stream", b"cam-1")]) is None  # a frame's headers: not a control
    with pytest.raises(HeaderError, match="header 'control' is 'reboot', expected one of reset-baseline"):
        parse_control([("control", b"reboot"), ("stream", b"cam-1")])
    with pytest.raises(HeaderError, match="missing header 'stream'"):
        parse_control([("control", b"reset-baseline")])


def test_frames_of_an_open_alert_are_not_learned(setup):
    # A fleet alert in a stream's warm-up: none of the frames after its raise, nor the clear ones
    # while it is still open (the tracker clears after clear_n quiet frames), becomes the stream's
    # normal. (Its frames before the raise are: here merely suspect, the evidence rule raises on
    # the 6th; before change verdicts start, judge_after, suspect frames are learned.)
    scorer, cal, sign = setup
    hook = CalibratedHook(Detector(scorer, cal), AlertConfig(), BASE)

    def dark(im, i):
        return apply_challenge(im, "darkening", 4, seed=i)

    events = play(hook, scorer, "cam-ep", [camera(sign, 20, 7), camera(sign, 15, 8, dark), camera(sign, 25, 9)])
    raised = [e for e in events if e.state == "raised"]
    cleared = [e for e in events if e.state == "cleared"]
    assert len(raised) == len(cleared) == 1 and not hook.tracker.is_open("cam-ep")
    raised_at = raised[0].onset_seq + raised[0].frames - 1
    cleared_at = cleared[0].onset_seq + cleared[0].frames - 1
    assert 20 <= raised_at < 35 <= cleared_at < 60
    # Every frame was learned but those after the raise up to the clear (no frame was anomalous).
    assert hook.bank.streams["cam-ep"].n == 60 - (cleared_at - raised_at)


def _feature_records(stream: str, n: int, first_seq: int) -> list[ScoreRecord]:
    """Score records for feature rows given directly (Detector(None, ...).detect_features reads x)."""
    return [
        ScoreRecord(stream, s, 0.0, 0.0, (0.0,) * 4, "m", s * 33_333_333, 0, 0, "test", Origin("f", 0, s))
        for s in range(first_seq, first_seq + n)
    ]


def _sign(rng: np.random.Generator, offset: np.ndarray, n: int) -> np.ndarray:
    """n feature rows of one sign: its offset from the fleet's centre, jitter 0.1, a 64-pixel crop."""
    return np.column_stack([offset + rng.normal(0, 0.1, (n, len(offset))), np.full(n, np.log(64))])


def _change_calibration(rng: np.random.Generator, labels: tuple[int, int, int] = (4, 7, 9)):
    """A calibration of synthetic feature rows with a classifier of changes: 60 signs, and darkening,
    blur and rain each moving its own two features by 1 to 4 (labelled `labels`: other codes name
    the same rows otherwise)."""
    d = len(FEATURE_COLUMNS) - 1
    offsets = rng.normal(0, 1.0, (60, d))
    clean = np.concatenate([_sign(rng, o, 4) for o in offsets])
    groups = np.repeat([f"t{i}" for i in range(60)], 4)
    rows, codes = [], []
    for code, label in zip((4, 7, 9), labels, strict=True):  # darkening, blur, rain: each its own two features
        x = clean.copy()
        s = rng.uniform(1.0, 4.0, len(x))
        x[:, code] += s
        x[:, code + 10] -= s
        rows.append(x)
        codes += [label] * len(x)
    return fit_calibration(
        clean, groups, np.concatenate(rows), codes, np.full(len(codes), 3), np.tile(groups, 3), model_id="m", fpr=0.01
    )


def test_decisions_of_interleaved_batches_equal_those_frame_by_frame():
    """The hook's batch-wide steps (each batch's fleet units, finiteness, and the names of a changed
    stream's frames made for all its frames in the batch at once) decide as it does frame by frame:
    six streams, subtle and strong changes (named by the classifier of changes), a non-finite row."""
    rng = np.random.default_rng(5)
    cal = _change_calibration(rng)
    d = len(FEATURE_COLUMNS) - 1
    streams = []
    for k in range(6):
        x = _sign(rng, rng.normal(0, 1.0, d), 150)
        for start in (60, 110):
            code, move = (4, 7, 9)[(k + start) % 3], (1.5, 3.0)[k % 2]
            x[start : start + 25, code] += move
            x[start : start + 25, code + 10] -= move
        streams.append(x)
    streams[2][100, 3] = np.nan
    order = [(k, j) for s in range(0, 150, 5) for k in range(6) for j in range(s, s + 5)]  # runs of 5 frames

    def run(batch: int) -> tuple[list, list]:
        hook = CalibratedHook(Detector(None, cal), AlertConfig(), BASE)
        recs, events = [], []
        for b in range(0, len(order), batch):
            part = order[b : b + batch]
            rs = [_feature_records(f"cam{k}", 1, i)[0] for k, i in part]
            events += hook.decide(rs, np.stack([streams[k][i] for k, i in part]))
            recs += rs
        return recs, events

    (one, one_events), (many, many_events) = run(1), run(64)
    for a, b in zip(one, many, strict=True):
        assert (a.stream, a.seq, a.is_anomalous, a.condition, a.change_onset) == (
            b.stream, b.seq, b.is_anomalous, b.condition, b.change_onset
        )  # fmt: skip
        assert a.anomaly == pytest.approx(b.anomaly, rel=1e-9, nan_ok=True)
        assert a.confidence == pytest.approx(b.confidence, rel=1e-9, abs=1e-12, nan_ok=True)
    assert [(e.alert_id, e.state, e.condition, e.frames) for e in one_events] == [
        (e.alert_id, e.state, e.condition, e.frames) for e in many_events
    ]
    named = [r for r in many if r.change_onset is not None]
    assert len(named) >= 6 and {r.condition for r in many} >= {"rain", "blur", "darkening"}


def test_a_subtle_change_the_fleet_does_not_flag_is_named_by_the_classifier_of_changes():
    """A sign that sits far off the fleet's centre, then a change of one condition's features that the
    fleet does not flag itself: the stream's baseline raises it, and it is named by what changed."""
    rng = np.random.default_rng(11)
    d = len(FEATURE_COLUMNS) - 1

    def sign(offset: np.ndarray, n: int) -> np.ndarray:
        return _sign(rng, offset, n)

    cal = _change_calibration(rng)
    assert cal.change_classifier is not None
    stream = sign(rng.normal(0, 1.0, d), 130)
    stream[60:90, 9] += 1.5  # rain, subtle against the fleet's spread of signs (1.0)
    stream[60:90, 19] -= 1.5
    hook = CalibratedHook(Detector(None, cal), AlertConfig(), BASE)
    events = []
    for i in range(0, len(stream), 16):
        events += hook.decide(_feature_records("cam", len(stream[i : i + 16]), i), stream[i : i + 16])
    fleet = Detector(None, cal).detect_features(stream[60:90])
    assert fleet.is_anomalous.mean() < 0.5  # mostly the baseline's to find
    raised = [e for e in events if e.state == "raised"]
    # The onset is where the CUSUM's run began: a clear frame just before the change can open it (its
    # surprise is above `ref` 5 % of the time), so up to two frames early is the same onset.
    assert len(raised) == 1 and 58 <= raised[0].onset_seq <= 65, [(e.state, e.onset_seq) for e in events]
    assert raised[0].condition == "rain"


def test_records_carry_the_change_surprise_once_their_stream_is_judged():
    """A score record's `change`: None while its stream's baseline warms up, the surprise against the
    stream's own normal after. Two cameras: one on a sign off the fleet's centre, one on a typical
    sign that then changes subtly. The fleet's anomaly ranks the first camera's clear frames with the
    second's changed ones; the stream-aware anomaly (the larger of the two surprises) tells them apart."""
    from calibration.metrics import auroc

    rng = np.random.default_rng(13)
    cal = _change_calibration(rng)
    d = len(FEATURE_COLUMNS) - 1
    off = _sign(rng, rng.normal(0, 1.0, d), 130)  # clear throughout
    near = _sign(rng, np.zeros(d), 130)
    near[60:90, 9] += 1.0  # rain, subtle against the fleet's spread of signs (1.0)
    near[60:90, 19] -= 1.0
    hook = CalibratedHook(Detector(None, cal), AlertConfig(), BASE)
    recs: dict[str, list[ScoreRecord]] = {"off": [], "near": []}
    for i in range(0, 130, 16):
        for name, frames in (("off", off), ("near", near)):
            rs = _feature_records(name, len(frames[i : i + 16]), i)
            hook.decide(rs, frames[i : i + 16])
            recs[name] += rs
    for rs in recs.values():
        assert all(r.change is None for r in rs[:30])  # warming up: no normal to judge against yet
        first = min(r.seq for r in rs if r.change is not None)
        assert first < 60 and all(r.change is not None for r in rs[first:])
    clear = [r for r in recs["off"] + recs["near"][:58] + recs["near"][100:] if r.change is not None]
    changed = recs["near"][62:90]
    fleet = auroc([r.anomaly for r in clear], [r.anomaly for r in changed])
    aware = auroc([r.stream_anomaly() for r in clear], [r.stream_anomaly() for r in changed])
    assert fleet < 0.75 and aware > 0.95, (fleet, aware)


def test_a_change_the_fleet_flags_too_is_named_by_what_changed():
    """A strong change the fleet flags itself is named by the classifier of changes as well (the frame's
    difference from its stream's learned mean), not by the fleet's name of the frame's absolute
    statistics, which also carry the sign's own offset from the fleet (docs/DESIGN.md §5.7). To tell
    the two apart, the fleet's classifier here is one fit with the labels swapped round."""
    cal = _change_calibration(np.random.default_rng(12))
    swapped = _change_calibration(np.random.default_rng(12), labels=(9, 4, 7))  # the same rows, named otherwise
    cal = dataclasses.replace(cal, classifier=swapped.classifier)
    rng = np.random.default_rng(13)
    stream = _sign(rng, np.zeros(len(FEATURE_COLUMNS) - 1), 100)  # a typical sign: its fleet verdicts count
    stream[70:, 4] += 3.0  # darkening, strong: the fleet flags it; the stream ends inside it
    stream[70:, 14] -= 3.0
    hook = CalibratedHook(Detector(None, cal), AlertConfig(), BASE)
    recs = []
    for i in range(0, len(stream), 16):
        rs = _feature_records("cam", len(stream[i : i + 16]), i)
        hook.decide(rs, stream[i : i + 16])
        recs += rs
    fleet = Detector(None, cal).detect_features(stream[70:])
    assert fleet.is_anomalous.mean() > 0.5 and list(fleet.condition).count("rain") > 15  # the swapped name
    changed = [r for r in recs if r.seq >= 72]
    assert all(r.is_anomalous and r.change_onset in (None, 70, 71) for r in changed)
    names = [r.condition for r in changed]
    # The classifier of changes has no name for a few frames; the fleet's ("rain") stands for those.
    assert names.count("darkening") >= 0.6 * len(names) and set(names) <= {"darkening", "rain"}, names


def test_a_change_is_named_by_the_summed_evidence_of_its_frames_so_far():
    """Each frame of a change is named by the classifier of changes on the summed evidence of the
    change's frames up to it (naive Bayes over the frames; tests/test_conditions.py shows where that
    differs from a vote), against the stream's learned mean; a later change sums afresh, so rain's
    evidence does not name the darkening that follows it."""
    rng = np.random.default_rng(21)
    cal = _change_calibration(rng)
    clf = cal.change_classifier
    stream = _sign(rng, np.zeros(len(FEATURE_COLUMNS) - 1), 200)
    for start, k in ((60, 9), (140, 4)):  # rain's two features, then darkening's
        s = rng.uniform(1.5, 3.5, 30)
        stream[start : start + 30, k] += s
        stream[start : start + 30, k + 10] -= s
    hook = CalibratedHook(Detector(None, cal), AlertConfig(), BASE)
    recs, means = [], {}
    for i in range(len(stream)):
        rs = _feature_records("cam", 1, i)
        hook.decide(rs, stream[i : i + 1])
        recs += rs
        means[i] = hook.bank.streams["cam"].m
    for start, name in ((60, "rain"), (140, "darkening")):
        changed = [r for r in recs[start - 3 : start + 30] if r.is_anomalous]
        assert len(changed) >= 20
        m = means[changed[0].seq]
        assert all(means[r.seq] is m for r in changed)  # nothing is learned during a change
        d = hook.bank.fleet_units(stream[[r.seq for r in changed]]) - m
        ev = np.cumsum(clf.evidence(d), axis=0)
        want = clf.name_evidence(ev, np.cumsum(d, axis=0) / np.arange(1, len(d) + 1)[:, None])
        got = [r.condition for r in changed]
        assert got == want and got.count(name) >= 0.9 * len(got), got


def test_a_long_change_whose_look_changes_is_named_by_its_recent_frames():
    """Rain for 240 frames that turns into darkening without a clear frame between: the stream stays
    changed throughout, and the frames after the turn are named darkening once the last
    `alerts.condition_window` frames' evidence says so; a sum over the whole change would go on
    naming rain for a time that grows with how long the rain lasted. The alert is updated to darkening."""
    rng = np.random.default_rng(22)
    cal = _change_calibration(rng)
    stream = _sign(rng, np.zeros(len(FEATURE_COLUMNS) - 1), 400)
    for (a, b), k in (((60, 300), 9), ((300, 360), 4)):  # rain's two features, then darkening's
        s = rng.uniform(2.0, 3.5, b - a)
        stream[a:b, k] += s
        stream[a:b, k + 10] -= s
    hook = CalibratedHook(Detector(None, cal), AlertConfig(), BASE)
    recs, events = [], []
    for i in range(0, len(stream), 16):
        rs = _feature_records("cam", len(stream[i : i + 16]), i)
        events += hook.decide(rs, stream[i : i + 16])
        recs += rs
    assert all(r.is_anomalous for r in recs[65:360])  # one change throughout
    assert [r.condition for r in recs[270:300]].count("rain") >= 28
    after = [r.condition for r in recs[300:360]]
    assert after[30:].count("darkening") >= 29, after
    raised = [e for e in events if e.state == "raised"]
    assert len(raised) == 1 and raised[0].condition == "rain"
    assert any(e.state == "updated" and e.condition == "darkening" and e.alert_id == raised[0].alert_id for e in events)
