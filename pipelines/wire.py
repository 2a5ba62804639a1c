"""What travels over Kafka: the frame record (value, key, headers) and the JSON score/alert records.

The format is documented for people in docs/WIRE.md; this module is its single implementation.
Parsing is strict: a frame whose headers are missing or malformed raises HeaderError with a
one-line reason, so the consumer can dead-letter it instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from calibration.alerts import AlertEvent, AlertExample
from monitor.challenge_types import WIRE_NAMES
from monitor.codec import CodecError, encode_image

# Encodings a producer may put on the wire: monitor.codec.ENCODINGS. The consumer sniffs the bytes
# anyway (decode_image); the header says what the producer meant, so a mismatch is visible when
# debugging. What a frame's `encoding` header may name: ours plus lossless formats other producers may send.
WIRE_ENCODINGS = ("jpeg", "png", "bmp")

# CURE-TSR challenge codes (docs/DESIGN.md §3) -> the names used in headers and score records
# (the wire column of monitor.challenge_types.CHALLENGE_TABLE).
CHALLENGE_NAMES: dict[int, str] = WIRE_NAMES

HEADER_STREAM = "stream"
HEADER_SEQ = "seq"
HEADER_CAPTURE_NS = "capture_ns"
HEADER_SOURCE = "source"
HEADER_ENCODING = "encoding"
TRUTH_HEADERS = ("challenge", "level", "sign", "sequence")

Headers = Sequence[tuple[str, bytes | None]]


class WireError(ValueError):
    """A record does not follow the wire format; the message is one line."""


class HeaderError(WireError):
    """A frame's headers are missing or malformed."""


@dataclass(frozen=True)
class GroundTruth:
    """What a replayed frame really shows: its challenge, level 0 (none) .. 5, sign and sequence."""

    challenge: str
    level: int
    sign: str = ""
    sequence: str = ""

    @property
    def is_clean(self) -> bool:
        return self.challenge == "none"

    def to_dict(self) -> dict[str, Any]:
        return {"challenge": self.challenge, "level": self.level, "sign": self.sign, "sequence": self.sequence}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> GroundTruth:
        return GroundTruth(str(d["challenge"]), int(d["level"]), str(d.get("sign", "")), str(d.get("sequence", "")))


@dataclass(frozen=True)
class FrameMeta:
    """A frame's headers, typed. `capture_ns` is wall-clock time.time_ns() at capture."""

    stream: str
    seq: int
    capture_ns: int
    source: str
    encoding: str = "jpeg"
    truth: GroundTruth | None = None


def encode_frame(img: np.ndarray, encoding: str = "jpeg", quality: int = 90) -> bytes:
    """uint8 BGR (H, W, 3) or grey (H, W) image -> JPEG (default) or lossless PNG bytes (monitor.codec)."""
    try:
        return encode_image(img, encoding, quality)
    except CodecError as e:
        raise WireError(str(e)) from None


def frame_key(stream: str) -> bytes:
    """The record key: the stream id, so one stream's frames share a partition and stay in order."""
    return stream.encode("utf-8")


# Control records on the frames topic (docs/WIRE.md): keyed by the stream they act on, so the
# consumer meets them in that stream's order among its frames; never scored.
HEADER_CONTROL = "control"
CONTROL_RESET_BASELINE = "reset-baseline"  # forget the stream's baseline: learn its normal again
CONTROL_KINDS = (CONTROL_RESET_BASELINE,)


@dataclass(frozen=True)
class ControlRecord:
    stream: str
    kind: str  # one of CONTROL_KINDS


def control_headers(stream: str, kind: str = CONTROL_RESET_BASELINE) -> list[tuple[str, bytes]]:
    """A control record's headers (its key is frame_key(stream), its value empty)."""
    if not stream or kind not in CONTROL_KINDS:
        raise WireError(
            f"a control record needs a stream id and one of {', '.join(CONTROL_KINDS)}, got {stream!r}, {kind!r}"
        )
    return [(HEADER_CONTROL, kind.encode("utf-8")), (HEADER_STREAM, stream.encode("utf-8"))]


def parse_control(headers: Headers | None) -> ControlRecord | None:
    """A control record's headers -> ControlRecord; None for a frame (no `control` header).
    Raises HeaderError for an unknown control or one without its stream."""
    h = _header_map(headers)
    if HEADER_CONTROL not in h:
        return None
    kind = h[HEADER_CONTROL]
    if kind not in CONTROL_KINDS:
        raise HeaderError(f"header 'control' is {kind[:40]!r}, expected one of {', '.join(CONTROL_KINDS)}")
    return ControlRecord(_required(h, HEADER_STREAM), kind)


def frame_headers(meta: FrameMeta) -> list[tuple[str, bytes]]:
    """FrameMeta -> Kafka headers (all values UTF-8 strings, integers in decimal)."""
    if not meta.stream:
        raise WireError("a frame needs a non-empty stream id")
    headers = [
        (HEADER_STREAM, meta.stream.encode("utf-8")),
        (HEADER_SEQ, str(int(meta.seq)).encode()),
        (HEADER_CAPTURE_NS, str(int(meta.capture_ns)).encode()),
        (HEADER_SOURCE, meta.source.encode("utf-8")),
        (HEADER_ENCODING, meta.encoding.encode("utf-8")),
    ]
    t = meta.truth
    if t is not None:
        headers += [
            ("challenge", t.challenge.encode("utf-8")),
            ("level", str(int(t.level)).encode()),
            ("sign", t.sign.encode("utf-8")),
            ("sequence", t.sequence.encode("utf-8")),
        ]
    return headers


def _header_map(headers: Headers | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in headers or ():
        try:
            key, raw = item
        except (TypeError, ValueError):
            raise HeaderError(f"header entry {item!r} is not a (key, value) pair") from None
        if key in out:
            raise HeaderError(f"header {key!r} appears more than once")
        if raw is None:
            raise HeaderError(f"header {key!r} has no value")
        try:
            out[key] = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise HeaderError(f"header {key!r} is not UTF-8 ({bytes(raw)[:16].hex()})") from None
    return out


def _required(h: dict[str, str], key: str) -> str:
    if key not in h:
        raise HeaderError(f"missing header {key!r}")
    if not h[key]:
        raise HeaderError(f"header {key!r} is empty")
    return h[key]


def _int(h: dict[str, str], key: str, lo: int = 0, hi: int | None = None) -> int:
    text = _required(h, key)
    # int() accepts '+5', ' 5' and '5_000'; the format is plain decimal digits only.
    if not text.isascii() or not text.isdigit():
        raise HeaderError(f"header {key!r} is not a non-negative integer: {text[:40]!r}")
    value = int(text)
    if value < lo or (hi is not None and value > hi):
        raise HeaderError(f"header {key!r} is {value}, outside {lo}..{hi}")
    return value


def parse_frame_headers(headers: Headers | None) -> FrameMeta:
    """Kafka headers -> FrameMeta; raises HeaderError naming the first missing or malformed header."""
    h = _header_map(headers)
    stream = _required(h, HEADER_STREAM)
    seq = _int(h, HEADER_SEQ)
    capture_ns = _int(h, HEADER_CAPTURE_NS)
    source = _required(h, HEADER_SOURCE)
    encoding = _required(h, HEADER_ENCODING)
    if encoding not in WIRE_ENCODINGS:
        raise HeaderError(f"header 'encoding' is {encoding[:20]!r}, expected one of {', '.join(WIRE_ENCODINGS)}")
    truth = None
    if any(k in h for k in TRUTH_HEADERS):
        # All four or none: evaluation groups frames by sign and sequence, so a frame with a challenge
        # but no sequence would be scored into no track and skew the figures without a word.
        missing = [k for k in TRUTH_HEADERS if k not in h]
        if missing:
            raise HeaderError(
                f"partial ground truth: missing header {missing[0]!r} (all of {', '.join(TRUTH_HEADERS)} or none)"
            )
        challenge = _required(h, "challenge")
        level = _int(h, "level", 0, 5)
        truth = GroundTruth(challenge, level, h["sign"], h["sequence"])
    return FrameMeta(stream, seq, capture_ns, source, encoding, truth)


# ---------------------------------------------------------------------------------------------
# Score and alert records: compact JSON, one per frame / per alert event, key = stream id.


def _dumps(obj: dict[str, Any]) -> bytes:
    # allow_nan=False: NaN/inf are not JSON; a non-finite score is a bug to surface, not to ship.
    return json.dumps(obj, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _loads(data: bytes, what: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WireError(f"{what} record is not JSON ({e})") from None
    if not isinstance(obj, dict):
        raise WireError(f"{what} record is a JSON {type(obj).__name__}, expected an object")
    return obj


@dataclass(frozen=True)
class Origin:
    """Where a record came from in Kafka."""

    topic: str
    partition: int
    offset: int

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass
class ScoreRecord:
    """One scored frame. The calibration fields stay None (and off the wire) until a hook sets them.

    `image` is the frame as decoded for scoring, handed to post-processing hooks (image statistics):
    in the consumer its prepared copy (monitor.preprocess.prepare_frames), or, for a hook that
    reads only its statistics, None and the row itself in `statistics`; neither is serialised.
    """

    stream: str
    seq: int
    score: float
    recon: float
    layer_cos: tuple[float, float, float, float]
    model_id: str
    capture_ns: int
    received_ns: int
    scored_ns: int
    source: str
    origin: Origin
    truth: GroundTruth | None = None
    anomaly: float | None = None
    is_anomalous: bool | None = None
    condition: str | None = None
    confidence: float | None = None
    # The seq where the stream's change detector (calibration.baseline) says the change began, on the
    # frame it raised at (None otherwise): the alert's onset, so a restore from the scores topic
    # (pipelines.alerting.frame_decision) raises it under the same id as the live hook did.
    change_onset: int | None = None
    # Nats of surprise against the stream's own normal (calibration.baseline's change surprise) on
    # frames its baseline judges; None while it warms up, and without per-stream baselines. The
    # stream-aware anomaly of the frame is max(anomaly, change) (stream_anomaly).
    change: float | None = None
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    # The frame's (h, w) as sent; `image` may be smaller (the consumer's prepared copy). Never serialised.
    native_shape: tuple[int, int] | None = field(default=None, compare=False)
    # The frame's `encoding` header, for the hook's wire check; like `image`, never serialised.
    encoding: str | None = field(default=None, compare=False)
    # The frame's image statistics row, made in the consumer's decode pool for a hook that asks for
    # them (pipelines.hook.StatisticsHook) instead of its image; never serialised.
    statistics: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "stream": self.stream,
            "seq": self.seq,
            "score": float(self.score),
            "recon": float(self.recon),
            "layer_cos": [float(c) for c in self.layer_cos],
            "model_id": self.model_id,
            "capture_ns": self.capture_ns,
            "received_ns": self.received_ns,
            "scored_ns": self.scored_ns,
            "source": self.source,
            "origin": self.origin.to_dict(),
            "truth": self.truth.to_dict() if self.truth is not None else None,
        }
        for name in ("anomaly", "is_anomalous", "condition", "confidence"):
            value = getattr(self, name)
            if value is not None:
                d[name] = bool(value) if name == "is_anomalous" else (float(value) if name != "condition" else value)
        if self.change_onset is not None:
            d["change_onset"] = int(self.change_onset)
        if self.change is not None:
            d["change"] = float(self.change)
        return d

    def stream_anomaly(self) -> float | None:
        """The frame's surprise against the fleet's clean model or its stream's own normal, whichever
        is larger (both are nats, -ln of a tail probability); None without a calibration."""
        if self.anomaly is None:
            return None
        return max(float(self.anomaly), float(self.change)) if self.change is not None else float(self.anomaly)


def encode_score(record: ScoreRecord) -> bytes:
    return _dumps(record.to_dict())


def decode_score(data: bytes) -> ScoreRecord:
    return score_from_dict(_loads(data, "score"))


def score_from_dict(d: Any) -> ScoreRecord:
    """A score record already parsed from JSON (or built in process, e.g. ScoreRecord.to_dict())."""
    try:
        o = d["origin"]
        return ScoreRecord(
            stream=d["stream"],
            seq=int(d["seq"]),
            score=float(d["score"]),
            recon=float(d["recon"]),
            layer_cos=tuple(float(c) for c in d["layer_cos"]),  # type: ignore[arg-type]
            model_id=d["model_id"],
            capture_ns=int(d["capture_ns"]),
            received_ns=int(d["received_ns"]),
            scored_ns=int(d["scored_ns"]),
            source=d["source"],
            origin=Origin(o["topic"], int(o["partition"]), int(o["offset"])),
            truth=GroundTruth.from_dict(d["truth"]) if d.get("truth") else None,
            anomaly=d.get("anomaly"),
            is_anomalous=d.get("is_anomalous"),
            condition=d.get("condition"),
            confidence=d.get("confidence"),
            change_onset=None if d.get("change_onset") is None else int(d["change_onset"]),
            change=None if d.get("change") is None else float(d["change"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise WireError(f"score record is missing or has a malformed field ({type(e).__name__}: {e})") from None


# Alert events are calibration.alerts.AlertEvent (with its AlertExample), encoded as they are.

# Fields renamed on the wire (new -> old): records written before the rename are still read.
_ALERT_OLD_NAMES = {"anomaly_mean": "score_mean", "anomaly_max": "score_max"}


def _check_state(state: str) -> None:
    if state not in AlertEvent.STATES:
        raise WireError(f"alert state must be one of {', '.join(AlertEvent.STATES)}, got {state!r}")


def alert_to_dict(alert: AlertEvent) -> dict[str, Any]:
    _check_state(alert.state)
    ex = alert.example
    return {
        "alert_id": alert.alert_id,
        "stream": alert.stream,
        "state": alert.state,
        "condition": alert.condition,
        "confidence": None if alert.confidence is None else float(alert.confidence),
        "started_ns": alert.started_ns,
        "ended_ns": alert.ended_ns,
        "frames": alert.frames,
        "anomalous_frames": alert.anomalous_frames,
        "anomaly_mean": float(alert.anomaly_mean),
        "anomaly_max": float(alert.anomaly_max),
        "example": None
        if ex is None
        else {"topic": ex.topic, "partition": ex.partition, "offset": ex.offset, "seq": ex.seq},
        "message": alert.message,
    }


def _renamed(d: dict[str, Any], name: str) -> Any:
    return d[name] if name in d else d[_ALERT_OLD_NAMES[name]]


def alert_from_dict(d: Any) -> AlertEvent:
    """An alert record already parsed from JSON; reads the fields' names from before the rename too."""
    try:
        ex = d.get("example")
        alert = AlertEvent(
            alert_id=d["alert_id"],
            stream=d["stream"],
            state=d["state"],
            condition=d.get("condition"),
            confidence=d.get("confidence"),
            started_ns=int(d["started_ns"]),
            ended_ns=None if d.get("ended_ns") is None else int(d["ended_ns"]),
            frames=int(d["frames"]),
            anomalous_frames=int(d["anomalous_frames"]),
            anomaly_mean=float(_renamed(d, "anomaly_mean")),
            anomaly_max=float(_renamed(d, "anomaly_max")),
            example=None
            if ex is None
            else AlertExample(ex["topic"], int(ex["partition"]), int(ex["offset"]), int(ex["seq"])),
            message=d.get("message"),  # records written before the atypical state have none
        )
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise WireError(f"alert record is missing or has a malformed field ({type(e).__name__}: {e})") from None
    _check_state(alert.state)
    return alert


def encode_alert(alert: AlertEvent) -> bytes:
    return _dumps(alert_to_dict(alert))


def decode_alert(data: bytes) -> AlertEvent:
    return alert_from_dict(_loads(data, "alert"))


# ---------------------------------------------------------------------------------------------
# Dead letters (Kafka Connect's convention): original key, value and headers plus dlq.* headers.

DLQ_PREFIX = "dlq."


@dataclass(frozen=True)
class DeadLetterInfo:
    origin: Origin
    error: str
    stage: str  # validate | decode | score
    consumer: str


def one_line(text: str, limit: int = 300) -> str:
    """Collapse an error message to one bounded line (headers and logs are read line by line)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def dead_letter_headers(original: Headers | None, info: DeadLetterInfo) -> list[tuple[str, bytes]]:
    """The original headers as sent, in order (even malformed, even dlq.* ones from an earlier dead
    letter that was re-published), followed by this dead letter's dlq.* ones. Readers take the last
    occurrence of each dlq.* header (parse_dead_letter_headers), so ours never clash with an original's.
    A null header value goes out empty: the Kafka client sends header values as bytes only."""
    kept = [(k, bytes(v) if v is not None else b"") for k, v in (original or ()) if isinstance(k, str)]
    return kept + [
        ("dlq.origin.topic", info.origin.topic.encode("utf-8")),
        ("dlq.origin.partition", str(info.origin.partition).encode()),
        ("dlq.origin.offset", str(info.origin.offset).encode()),
        ("dlq.error", one_line(info.error).encode("utf-8")),
        ("dlq.stage", info.stage.encode("utf-8")),
        ("dlq.consumer", info.consumer.encode("utf-8")),
    ]


def header_text(headers: Iterable[tuple[str, bytes | None]] | None, key: str) -> str | None:
    """One header's value as text, leniently (the last one wins, None when absent or empty): for
    tools that show what a record that may be malformed says, e.g. a dead letter's stream."""
    found = None
    for k, v in headers or ():
        if k == key:
            found = bytes(v or b"").decode("utf-8", "replace") or None
    return found


def parse_dead_letter_headers(headers: Iterable[tuple[str, bytes | None]]) -> DeadLetterInfo:
    """The dlq.* headers of a dead letter -> DeadLetterInfo (for tools, the console and tests)."""
    # A dict keeps the last value of a repeated key: ours, appended after the original's headers.
    h = {
        k: bytes(v or b"").decode("utf-8", "replace")
        for k, v in headers
        if isinstance(k, str) and k.startswith(DLQ_PREFIX)
    }
    try:
        origin = Origin(h["dlq.origin.topic"], int(h["dlq.origin.partition"]), int(h["dlq.origin.offset"]))
        return DeadLetterInfo(origin, h["dlq.error"], h["dlq.stage"], h.get("dlq.consumer", ""))
    except (KeyError, ValueError) as e:
        raise WireError(f"dead letter headers incomplete or malformed ({e})") from None
