"""The wire format: frame encoding, headers, score/alert JSON records, dead-letter headers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calibration.alerts import AlertEvent, AlertExample
from monitor.preprocess import decode_image
from pipelines.wire import (
    DeadLetterInfo,
    FrameMeta,
    GroundTruth,
    HeaderError,
    Origin,
    ScoreRecord,
    WireError,
    dead_letter_headers,
    decode_alert,
    decode_score,
    encode_alert,
    encode_frame,
    encode_score,
    frame_headers,
    frame_key,
    one_line,
    parse_dead_letter_headers,
    parse_frame_headers,
)


def _img(h=37, w=53, c=3, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, c) if c else (h, w), dtype=np.uint8)


def test_png_is_lossless_for_colour_and_grey():
    for img in (_img(), _img(c=0)):
        out = decode_image(encode_frame(img, "png"))
        assert out.dtype == np.uint8 and np.array_equal(out, img)


def test_jpeg_decodes_to_the_same_shape_and_close_values():
    img = np.full((40, 60, 3), (30, 120, 200), np.uint8)
    data = encode_frame(img, "jpeg", quality=95)
    assert data[:3] == b"\xff\xd8\xff"
    out = decode_image(data)
    assert out.shape == img.shape
    assert np.abs(out.astype(int) - img).max() <= 4


@pytest.mark.parametrize("bad", [np.zeros((0, 5, 3), np.uint8), np.zeros((4, 4), np.float32), "not an image"])
def test_encode_refuses_non_images(bad):
    with pytest.raises(WireError):
        encode_frame(bad)  # type: ignore[arg-type]


def test_encode_refuses_unknown_encoding_and_quality():
    with pytest.raises(WireError, match="encoding"):
        encode_frame(_img(), "gif")
    with pytest.raises(WireError, match="quality"):
        encode_frame(_img(), "jpeg", quality=0)


def test_headers_round_trip_with_and_without_truth():
    truth = GroundTruth("rain", 3, "stop", "Real_Test/Rain-3/06/06_0001")
    for meta in (
        FrameMeta("cam-ü", 41, 1_700_000_000_123_456_789, "camera:rtsp://x", "jpeg"),
        FrameMeta("replay-0", 0, 5, "replay", "png", truth),
    ):
        headers = frame_headers(meta)
        assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in headers)
        assert parse_frame_headers(headers) == meta
    assert frame_key("cam-ü") == "cam-ü".encode()


def _headers(**changes) -> list[tuple[str, bytes | None]]:
    base = dict(frame_headers(FrameMeta("s", 7, 123, "replay", "jpeg", GroundTruth("none", 0, "stop", "q"))))
    for k, v in changes.items():
        if v is ...:
            base.pop(k)
        else:
            base[k] = v
    return list(base.items())


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"seq": ...}, "missing header 'seq'"),
        ({"stream": b""}, "header 'stream' is empty"),
        ({"seq": b"12a"}, "'seq' is not a non-negative integer"),
        ({"seq": b"-1"}, "'seq' is not a non-negative integer"),
        ({"seq": b" 5"}, "'seq' is not a non-negative integer"),
        # Non-ASCII digits: str.isdigit() accepts all three and int() parses the last two, so only an
        # ASCII check refuses them with the header's name (superscript two would raise a bare ValueError).
        ({"seq": "\u00b2".encode()}, "'seq' is not a non-negative integer"),  # superscript two
        ({"seq": "\u0663".encode()}, "'seq' is not a non-negative integer"),  # Arabic-Indic three
        ({"capture_ns": "\uff15".encode()}, "'capture_ns' is not a non-negative integer"),  # fullwidth five
        ({"level": "\u0663".encode()}, "'level' is not a non-negative integer"),
        ({"level": "\uff15".encode()}, "'level' is not a non-negative integer"),
        ({"level": "\u00b2".encode()}, "'level' is not a non-negative integer"),
        ({"capture_ns": b"\xff\xfe"}, "'capture_ns' is not UTF-8"),
        ({"encoding": b"gif"}, "'encoding' is 'gif'"),
        ({"level": b"9"}, "'level' is 9, outside 0..5"),
        ({"level": ...}, "partial ground truth: missing header 'level'"),
        ({"sign": ..., "sequence": ...}, "partial ground truth: missing header 'sign'"),
        ({"challenge": ...}, "partial ground truth: missing header 'challenge'"),
        ({"source": None}, "'source' has no value"),
    ],
)
def test_malformed_headers_name_the_problem(changes, message):
    with pytest.raises(HeaderError) as e:
        parse_frame_headers(_headers(**changes))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_duplicate_and_absent_headers_are_refused():
    h = _headers() + [("seq", b"8")]
    with pytest.raises(HeaderError, match="more than once"):
        parse_frame_headers(h)
    with pytest.raises(HeaderError, match="missing header 'stream'"):
        parse_frame_headers(None)


def _score(**kw) -> ScoreRecord:
    base = dict(
        stream="s",
        seq=3,
        score=0.123456789012345,
        recon=0.0101,
        layer_cos=(0.1, -0.2, 0.3, 1.0 / 3.0),
        model_id="abc",
        capture_ns=1,
        received_ns=2,
        scored_ns=3,
        source="replay",
        origin=Origin("t.frames", 2, 99),
        truth=GroundTruth("haze", 5, "yield", "x"),
    )
    base.update(kw)
    return ScoreRecord(**base)


def test_score_record_is_compact_json_and_round_trips_exactly():
    r = _score(image=np.zeros((2, 2), np.uint8))
    data = encode_score(r)
    assert b" " not in data and b"image" not in data
    d = json.loads(data)
    assert set(d) == {
        "stream",
        "seq",
        "score",
        "recon",
        "layer_cos",
        "model_id",
        "capture_ns",
        "received_ns",
        "scored_ns",
        "source",
        "origin",
        "truth",
    }
    assert d["origin"] == {"topic": "t.frames", "partition": 2, "offset": 99}
    back = decode_score(data)
    assert back == r and back.score == r.score and back.layer_cos == r.layer_cos


def test_score_record_carries_calibration_fields_only_when_set():
    d = json.loads(encode_score(_score(truth=None, anomaly=2.5, is_anomalous=True, condition="rain", confidence=0.9)))
    assert d["truth"] is None
    assert (d["anomaly"], d["is_anomalous"], d["condition"], d["confidence"]) == (2.5, True, "rain", 0.9)


def test_change_travels_only_when_judged_and_the_stream_anomaly_is_the_larger_surprise():
    judged = _score(anomaly=2.5, change=7.25)
    d = json.loads(encode_score(judged))
    assert d["change"] == 7.25 and decode_score(encode_score(judged)) == judged
    assert "change" not in json.loads(encode_score(_score(anomaly=2.5)))
    assert judged.stream_anomaly() == 7.25
    assert _score(anomaly=2.5, change=0.5).stream_anomaly() == 2.5
    assert _score(anomaly=2.5).stream_anomaly() == 2.5  # warming up, or no baselines: the fleet's
    assert _score(change=3.0).stream_anomaly() is None  # no calibration: no anomaly at all


def test_non_finite_scores_are_refused_and_garbage_is_a_wire_error():
    with pytest.raises(ValueError):
        encode_score(_score(score=float("nan")))
    for bad in (b"not json", b"[1,2]", b'{"stream": "s"}'):
        with pytest.raises(WireError):
            decode_score(bad)


def test_alert_record_round_trips():
    a = AlertEvent("a-1", "cam", "raised", "snow", 0.8, 10, None, 5, 4, 0.5, 0.9, AlertExample("t", 1, 2, 3))
    assert decode_alert(encode_alert(a)) == a
    with pytest.raises(WireError, match="state"):
        encode_alert(AlertEvent("a", "c", "exploded", None, None, 0, None, 0, 0, 0.0, 0.0, None))


def test_alert_records_carry_anomaly_mean_and_max_and_old_records_still_decode():
    a = AlertEvent("cam:4", "cam", "cleared", "rain", 0.9, 10, 20, 5, 4, 6.5, 9.25, None)
    d = json.loads(encode_alert(a))
    assert (d["anomaly_mean"], d["anomaly_max"]) == (6.5, 9.25) and "score_mean" not in d and "score_max" not in d
    # Records written before the rename (score_mean / score_max) are still in the alerts topic.
    old = {k: v for k, v in d.items() if not k.startswith("anomaly_")} | {"score_mean": 6.5, "score_max": 9.25}
    assert decode_alert(json.dumps(old).encode()) == a


def test_dead_letter_headers_keep_the_original_and_add_one_line_origin():
    original = [("stream", b"s"), ("seq", b"\xff"), ("odd", None)]
    info = DeadLetterInfo(Origin("t.frames", 3, 1234), "bad\nthing   happened", "decode", "host-1")
    h = dead_letter_headers(original, info)
    assert h[:3] == [("stream", b"s"), ("seq", b"\xff"), ("odd", b"")]
    back = parse_dead_letter_headers(h)
    assert back == DeadLetterInfo(Origin("t.frames", 3, 1234), "bad thing happened", "decode", "host-1")


def test_a_re_published_dead_letter_keeps_its_old_dlq_headers_and_reads_as_the_new_failure():
    """docs/WIRE.md: the original headers unchanged. A dead letter re-published to the frames topic and
    failing again keeps its first failure's dlq.* headers; ours come after them and are the ones read."""
    first = DeadLetterInfo(Origin("t.frames", 1, 5), "empty payload", "validate", "host-1")
    once = dead_letter_headers(_headers(), first)
    second = DeadLetterInfo(Origin("t.frames", 2, 77), "jpeg payload could not be decoded", "decode", "host-2")
    twice = dead_letter_headers(once, second)
    assert twice[: len(once)] == once  # every original header, in order, the old dlq.* ones included
    assert parse_dead_letter_headers(twice) == second
    assert len(one_line("x" * 1000)) == 300
