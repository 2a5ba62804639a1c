"""One decode and one resize per frame (issue 13): the consumer's prepared copies give the calibrated
hook the very decisions the full frames give, through the real broker too.

Real crops from ../shared/data/belgiumtsc (some enlarged past 256 px, so they are decoded at a
reduced scale), conditions rendered by monitor/challenges.py, an untrained model, a calibration
fitted on them with its condition classifier.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import monitor
from calibration.calibrate import fit_calibration
from calibration.detector import Detector, compute_features
from calibration.features import FEATURE_NAMES, image_features
from monitor.challenge_types import challenge_code
from monitor.challenges import apply_challenge
from monitor.codec import WireEncoding
from monitor.preprocess import decode_frame, prepare_frames
from pipelines.alerting import AlertingHook, CalibratedHook
from pipelines.wire import Origin, ScoreRecord, decode_alert, decode_score, parse_frame_headers
from tests.helpers import belgium_frames

JPEG90 = WireEncoding("jpeg", 90)
CONDITIONS = ("noise", "darkening", "gaussian_blur")


@pytest.fixture(scope="module")
def scorer(untrained_checkpoint):
    return monitor.load_model(untrained_checkpoint, device="cpu")


def _crops() -> list[np.ndarray]:
    """Real crops, every fourth enlarged to a short side of 300 px (a reduced decode at 1/2)."""
    crops = belgium_frames(48)
    for i in range(0, len(crops), 4):
        h, w = crops[i].shape[:2]
        f = 300 / min(h, w)
        crops[i] = cv2.resize(crops[i], (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC)
    return crops


@pytest.fixture(scope="module")
def calibration(scorer):
    crops = _crops()
    groups = [f"t{i // 2}" for i in range(len(crops))]
    clean_x, _ = compute_features(scorer, JPEG90.roundtrip(crops))
    xs, codes, levels = [], [], []
    for name in CONDITIONS:
        xs.append(compute_features(scorer, JPEG90.roundtrip([apply_challenge(c, name, 4, seed=1) for c in crops]))[0])
        codes += [challenge_code(name)] * len(crops)
        levels += [4] * len(crops)
    return fit_calibration(
        clean_x, groups, np.concatenate(xs), codes, levels, groups * len(CONDITIONS),
        model_id=scorer.model_id, fpr=0.1, confidence=0.5, wire=JPEG90,
    )  # fmt: skip


def _episode_frames() -> list[np.ndarray]:
    """Clean crops, then the same crops noisy, then darkened, as the consumer decodes them after JPEG q90."""
    crops = _crops()[:24]
    raw = (
        crops
        + [apply_challenge(c, "noise", 4, seed=2) for c in crops]
        + [apply_challenge(c, "darkening", 4) for c in crops]
    )
    return JPEG90.roundtrip(raw)


def _records(scorer, frames: list[np.ndarray], images: list[np.ndarray], sized: bool = False) -> list[ScoreRecord]:
    """sized: each record also carries its frame's size (as the consumer's do: .image is then a prepared copy)."""
    r = scorer.score(frames)
    return [
        ScoreRecord(
            f"cam{i % 2}", i // 2, float(r.score[i]), float(r.recon[i]), tuple(r.layer_cos[i]), scorer.model_id,
            i * 1_000_000, 0, 0, "test", Origin("signwatch.frames", i % 2, i), image=images[i], encoding="jpeg",
            native_shape=frames[i].shape[:2] if sized else None,
        )
        for i in range(len(frames))
    ]  # fmt: skip


def _run(hook: AlertingHook, records: list[ScoreRecord], batch: int = 16) -> list:
    events = []
    for i in range(0, len(records), batch):
        events += hook(records[i : i + batch])
    return events


def test_the_hook_decides_exactly_the_same_on_prepared_copies_as_on_full_frames(scorer, calibration):
    frames = _episode_frames()
    assert any(min(f.shape[:2]) < 256 and min(f.shape[:2]) >= 128 for f in frames)  # some were decoded reduced
    prepared = prepare_frames(frames)
    assert np.array_equal(image_features(frames), image_features(prepared, [f.shape[:2] for f in frames]))
    # Without its size a prepared copy would be taken for a 64 px crop (the size correction's covariate).
    assert not np.array_equal(image_features(frames), image_features(prepared))
    full = _records(scorer, frames, frames)
    copies = _records(scorer, frames, list(prepared), sized=True)
    full_events = _run(AlertingHook(Detector(scorer, calibration)), full)
    copy_events = _run(AlertingHook(Detector(scorer, calibration)), copies)
    assert any(r.is_anomalous for r in full) and any(not r.is_anomalous for r in full)
    assert {e.state for e in full_events} >= {"raised"}
    assert [(r.anomaly, r.is_anomalous, r.condition, r.confidence) for r in full] == [
        (r.anomaly, r.is_anomalous, r.condition, r.confidence) for r in copies
    ]
    assert full_events == copy_events


def _wire_values(frames: list[np.ndarray]) -> list[bytes]:
    from pipelines.wire import encode_frame

    return [encode_frame(f, "jpeg", 90) for f in frames]


def test_the_decode_pool_makes_exactly_the_statistics_the_hook_would_and_the_hook_uses_them(scorer, calibration):
    from pipelines.frame_queue import decode_chunk

    crops = _crops()[:16]  # every fourth over 256 px: decoded at a reduced scale, its size as sent kept
    values = _wire_values(crops)
    values.insert(5, b"\xff\xd8 not a jpeg")  # a bad frame keeps its place and its exception
    hook = AlertingHook(Detector(scorer, calibration))  # what `score --calibration` hands the consumer
    out = decode_chunk(values, 10**8, scorer.preprocess, hook.frame_statistics)
    assert isinstance(out[5], Exception)
    good = [o for o in out if not isinstance(o, Exception)]
    prepared = np.stack([g[0] for g in good])
    sizes = [g[2] for g in good]
    assert any(min(s) >= 256 for s in sizes)  # decoded at a reduced scale: the size as sent travels
    assert np.array_equal(np.stack([g[3] for g in good]), image_features(prepared, sizes))
    # The hook decides the same from the rows (no image) as from the prepared copies.
    r = scorer.score_tensor(torch.cat([g[1] for g in good]))
    with_rows, with_images = [], []
    for i, g in enumerate(good):
        rec = ScoreRecord(
            "cam", i, float(r.score[i]), float(r.recon[i]), tuple(r.layer_cos[i]), scorer.model_id, i, 0, 0, "test",
            Origin("signwatch.frames", 0, i), native_shape=g[2],
        )  # fmt: skip
        # Record 2 has no row (its statistics failed in the pool): it carries its image instead.
        with_rows.append(dataclasses.replace(rec, image=g[0]) if i == 2 else dataclasses.replace(rec, statistics=g[3]))
        with_images.append(dataclasses.replace(rec, image=g[0]))
    events = _run(hook, with_rows)
    assert events == _run(AlertingHook(Detector(scorer, calibration)), with_images)
    assert [(r.is_anomalous, r.condition) for r in with_rows] == [(r.is_anomalous, r.condition) for r in with_images]
    assert [r.anomaly for i, r in enumerate(with_rows) if i != 2] == [
        r.anomaly for i, r in enumerate(with_images) if i != 2
    ]
    # Record 2's row, made alone, may differ in float32's last bits: calibration.features' banding
    # (a matrix product) depends on how many frames it is computed with.
    assert with_rows[2].anomaly == pytest.approx(with_images[2].anomaly, rel=1e-5)


def _statistics_refusing_black(prepared: np.ndarray, sizes: list) -> np.ndarray:
    """The hook's statistics, failing for an all-black frame (a fault the real ones do not have)."""
    if any(not p.any() for p in prepared):
        raise ValueError("an all-black frame")
    return CalibratedHook.frame_statistics(prepared, sizes)


def test_a_frame_whose_statistics_fail_loses_only_its_row_and_is_still_decoded(scorer):
    from pipelines.frame_queue import decode_chunk

    crops = _crops()[:8]
    crops[3] = np.zeros((48, 48, 3), np.uint8)
    out = decode_chunk(_wire_values(crops), 10**8, scorer.preprocess, _statistics_refusing_black)
    assert not any(isinstance(o, Exception) for o in out)  # every frame decoded and prepared: all are scored
    assert out[3][3] is None
    # The others' rows, made one by one after the chunk failed, are each frame's statistics alone.
    for o in (o for i, o in enumerate(out) if i != 3):
        assert np.array_equal(o[3], image_features(o[0][None], [o[2]])[0])


def test_colour_ratios_are_the_channel_sums_they_are_defined_as() -> None:
    prepared = prepare_frames(belgium_frames(16)).astype(np.float64)
    sums = prepared.reshape(16, -1, 3).sum(1) + 1e-6
    stats = image_features(prepare_frames(belgium_frames(16))).astype(np.float64)
    blue, red = FEATURE_NAMES.index("blue_ratio"), FEATURE_NAMES.index("red_ratio")
    np.testing.assert_array_equal(stats[:, blue], (sums[:, 0] / sums.sum(1)).astype(np.float32))
    np.testing.assert_array_equal(stats[:, red], (sums[:, 2] / sums.sum(1)).astype(np.float32))


def _write_folder(root: Path, frames: list[np.ndarray]) -> None:
    """One track per stream-sized run of frames, written losslessly so the producer's JPEG is the only codec."""
    for i, f in enumerate(frames):
        (root / "00001").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "00001" / f"00000_{i:05d}.png"), f)


class _Watched(AlertingHook):
    """The real hook, noting for each record whether it came with its statistics row and without its image."""

    def __init__(self, detector: Detector) -> None:
        super().__init__(detector)
        self.carried: list[bool] = []

    def __call__(self, records: list) -> list:
        self.carried += [r.statistics is not None and r.image is None for r in records]
        return super().__call__(records)


@pytest.mark.kafka
def test_the_consumer_publishes_the_decisions_offline_scoring_of_its_frames_gives(
    kafka_cfg, scorer, calibration, tmp_path
):
    from pipelines.consumer import ScoringConsumer
    from pipelines.producers import FrameProducer, folder_sequences, produce, replay_ticks
    from tests.conftest import read_topic

    crops = _crops()[:24]
    raw = crops + [apply_challenge(c, "noise", 4, seed=2) for c in crops]
    _write_folder(tmp_path / "frames", raw)
    cfg = dataclasses.replace(kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=8))
    producer = FrameProducer(cfg, cfg.kafka.bootstrap_servers)
    ticks = replay_ticks(folder_sequences(tmp_path / "frames"), 1, prefix="prep")
    produce(ticks, producer, cfg, "folder", threading.Event(), fps=0, max_frames=len(raw))
    assert producer.close().undelivered == 0
    hook = _Watched(Detector(scorer, calibration))
    consumer = ScoringConsumer(cfg, cfg.kafka.bootstrap_servers, scorer, on_scored=hook, name="prep")
    thread = threading.Thread(target=consumer.run, kwargs={"max_records": len(raw)}, daemon=True)
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    boot = cfg.kafka.bootstrap_servers
    published = [decode_score(r.value) for r in read_topic(boot, cfg.kafka.scores_topic, len(raw), timeout_s=30)]
    alerts = [decode_alert(r.value) for r in read_topic(boot, cfg.kafka.alerts_topic, 10**6, timeout_s=3)]
    # Offline: the frames as the consumer decodes them (full frames, not its prepared copies), the
    # scorer's values it published, a fresh hook: the same decisions and alerts.
    sent = read_topic(boot, cfg.kafka.frames_topic, len(raw), timeout_s=30)
    decoded = {parse_frame_headers(r.headers).seq: decode_frame(r.value) for r in sent}
    image = {seq: d.image for seq, d in decoded.items()}
    assert sum(min(im.shape[:2]) >= 128 and min(im.shape[:2]) < 200 for im in image.values()) >= 6  # reduced
    offline = [
        dataclasses.replace(
            s,
            anomaly=None,
            is_anomalous=None,
            condition=None,
            image=image[s.seq],
            native_shape=decoded[s.seq].native_shape,
        )
        for s in published
    ]
    offline_alerts = _run(AlertingHook(Detector(scorer, calibration)), offline, batch=8)
    assert [s.anomaly for s in offline] == pytest.approx([s.anomaly for s in published], abs=1e-9, rel=0)
    assert [(s.is_anomalous, s.condition) for s in offline] == [(s.is_anomalous, s.condition) for s in published]
    assert any(s.is_anomalous for s in published) and any(not s.is_anomalous for s in published)
    # Every frame came to the hook with its statistics row from the decode pool, and no image.
    assert len(hook.carried) == len(raw) and all(hook.carried)
    assert [(a.alert_id, a.state, a.condition) for a in offline_alerts] == [
        (a.alert_id, a.state, a.condition) for a in alerts
    ]
