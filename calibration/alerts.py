"""Per-stream alert state machine: per-frame decisions -> "raised" / "updated" / "cleared" AlertEvents.

Pure (no I/O, no clock): every time comes from the frames' capture_ns, so a replay gives the same
alerts as the live run, and tests need no sleeping.

Rules (AlertConfig):
- raise when at least k of the last n frames are anomalous; the alert starts at the first
  anomalous frame of that window (the onset, not the k-th frame), and its id is
  "<stream>:<onset seq>", so a consumer that crashed and replays the same frames re-raises the
  SAME alert id, which downstream can deduplicate;
- name the dominant condition: the majority over anomalous (with evidence, also suspect) frames of
  the last `condition_window` frames of the alert ("unknown" only if nothing else was named); a
  raise that is due while no name leads every other by `name_margin` votes waits up to `name_wait`
  frames for one to (its onset stays where it was), then a tie goes to the condition seen last:
  the first name is the one an operator acts on, and an onset's first frames name it worst; the
  name only changes when another condition has strictly more votes (no naming flap on ties);
  confidence = summed confidence of the frames voting for it / number of anomalous frames (their
  average probability of the named condition, counting frames that named something else as 0);
- "updated" when the dominant condition changes, and every `update_every` frames while it lasts;
- evidence (on when evidence_h > 0): also raise when the most recent frames, at most evidence_n
  of them, each counting min(anomaly value, evidence_cap) - evidence_ref, sum to at least
  evidence_h (a CUSUM whose memory is bounded to evidence_n frames). The anomaly value is a
  surprise in nats (-ln P(clean value >= v), calibration.detector.TailMap), so the sum is a
  likelihood-ratio-style test on a calibrated scale: a mild condition whose frames
  mostly stay under the per-frame threshold, but well above what clean frames show, is seen in a
  few frames; the cap keeps one extreme frame from raising on its own. Frames whose value is above
  evidence_ref are "suspect": they vote for the name (the hook names them; see CalibratedHook);
  the onset is where the shortest run of recent frames whose sum reaches evidence_h begins;
- clear with hysteresis: fewer than clear_k anomalous frames among the last clear_n (and, with
  evidence, a negative sum over those of them since the onset: frames before the onset would
  clear a young alert); after that, a new alert needs k of n or enough evidence again, so an
  isolated anomalous frame never re-raises;
- duplicates: a frame whose seq is not above the stream's last seq (a redelivery after a consumer
  crash) changes nothing and emits nothing. A seq more than `seq_reset_gap` below the last one
  means the camera restarted its numbering: the window continues from it.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, ClassVar, NamedTuple

from calibration.settings import AlertConfig

if TYPE_CHECKING:
    from calibration.detector import Calibration


def alert_rules(cfg: AlertConfig | None, calibration: Calibration) -> AlertConfig:
    """The rules the alert machine runs for a calibration: `cfg` (the defaults when None), except
    that a calibration which names no condition (fit without a challenge set: every frame is
    "unknown") raises without waiting `name_wait` frames for a name that cannot come. The one
    reading, for the hook and for every offline replay that must give the alerts it published."""
    cfg = cfg or AlertConfig()
    if calibration.classifier is not None or cfg.name_wait == 0:
        return cfg
    return dataclasses.replace(cfg, name_wait=0)


class Origin(NamedTuple):
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None


class FrameDecision(NamedTuple):
    """What the alert machine needs about one scored frame."""

    stream: str
    seq: int
    is_anomalous: bool
    condition: str = "unknown"
    confidence: float = 0.0
    value: float = 0.0  # the anomaly value (anomaly_mean / anomaly_max in the alert events)
    capture_ns: int = 0
    origin: Origin = Origin()
    # A per-stream change detector (calibration.baseline) saw a change begin at this seq: raise now,
    # with the onset there (None: the k-of-n and evidence rules alone decide).
    onset_seq: int | None = None


@dataclass(frozen=True)
class AlertExample:
    """The frame an operator should look at for an alert: where it is in Kafka, and its seq."""

    topic: str
    partition: int
    offset: int
    seq: int


@dataclass(frozen=True)
class AlertEvent:
    """One alert event of a stream: raised, updated while it lasts, cleared when it ends.

    The one alert type from the state machine to the wire: pipelines.wire encodes and decodes it
    as is (docs/WIRE.md). anomaly_mean / anomaly_max: the mean and the largest anomaly value of the
    alert's frames so far. example: the most anomalous frame, None when frames carry no Kafka origin.
    """

    alert_id: str
    stream: str
    state: str  # raised | updated | cleared | stale (its stream went silent while it was open) | atypical | typical
    condition: str | None
    confidence: float | None
    started_ns: int
    ended_ns: int | None
    frames: int
    anomalous_frames: int
    anomaly_mean: float
    anomaly_max: float
    example: AlertExample | None = None
    # Only on "atypical" / "typical" events (a stream's view is steadily off the fleet's normal, from
    # the hook's per-stream baseline, not from this state machine): what the operator should do.
    message: str | None = None

    # raised / updated / cleared: a condition alert; stale: its stream went silent while it was open.
    # atypical / typical: the stream's view is / is no longer off the fleet's normal
    # (pipelines.alerting; its condition alerts are held meanwhile).
    STATES: ClassVar[tuple[str, ...]] = ("raised", "updated", "cleared", "stale", "atypical", "typical")
    CONDITION_STATES: ClassVar[tuple[str, ...]] = ("raised", "updated", "cleared", "stale")

    @property
    def onset_seq(self) -> int:
        """The seq of the alert's first frame (its id is "<stream>:<onset seq>")."""
        return int(self.alert_id.rsplit(":", 1)[1])


@dataclass
class _OpenAlert:
    alert_id: str
    started_ns: int
    frames: int = 0
    anomalous_frames: int = 0
    value_sum: float = 0.0
    value_max: float = float("-inf")
    example: FrameDecision | None = None  # the most anomalous frame so far
    condition: str = "unknown"
    confidence: float = 0.0
    since_update: int = 0
    onset_seq: int = field(init=False)  # from the id "<stream>:<onset seq>", read once, not per frame

    def __post_init__(self) -> None:
        self.onset_seq = int(self.alert_id.rsplit(":", 1)[1])


@dataclass
class _StreamState:
    last_seq: int | None = None
    window: deque = field(default_factory=deque)  # recent FrameDecision, newest last
    alert: _OpenAlert | None = None
    frames_since_clear: int = 0  # only frames after the last clear count towards a new alert
    undecided: int = 0  # frames a due raise has waited for its name to be decided (alerts.name_wait)
    due: FrameDecision | None = None  # the onset of that waiting raise: waiting does not move it
    stale: bool = False  # its open alert was reported stale; the next frame reports it live again


class AlertTracker:
    """Alert state of every stream; `observe` one frame at a time, in each stream's seq order."""

    def __init__(self, cfg: AlertConfig | None = None) -> None:
        self.cfg = cfg or AlertConfig()
        c = self.cfg
        if not (1 <= c.k <= c.n):
            raise ValueError(f"alerts: need 1 <= k <= n, got k={c.k}, n={c.n}")
        if not (1 <= c.clear_k <= c.clear_n):
            raise ValueError(f"alerts: need 1 <= clear_k <= clear_n, got clear_k={c.clear_k}, clear_n={c.clear_n}")
        self._evidence = c.evidence
        if self._evidence and not (c.evidence_n >= 1 and c.evidence_cap > c.evidence_ref):
            raise ValueError(
                f"alerts: evidence needs evidence_n >= 1 and evidence_cap > evidence_ref, got "
                f"n={c.evidence_n}, cap={c.evidence_cap}, ref={c.evidence_ref}"
            )
        self._keep = max(c.n, c.clear_n, c.condition_window, c.evidence_n if self._evidence else 1)
        self._streams: dict[str, _StreamState] = {}
        self.duplicates = 0  # frames ignored as redeliveries

    # -- public ------------------------------------------------------------------------------

    def observe(self, d: FrameDecision) -> list[AlertEvent]:
        """One frame's decision -> the alert records it causes (usually none)."""
        st = self._streams.get(d.stream)
        if st is None:  # (not setdefault: that would build a state for every frame)
            st = self._streams[d.stream] = _StreamState()
        if st.last_seq is not None and d.seq <= st.last_seq:
            if st.last_seq - d.seq <= self.cfg.seq_reset_gap:
                self.duplicates += 1
                return []
            # The camera restarted its numbering: keep the window (the scene did not change).
        st.last_seq = d.seq
        st.window.append(d)
        while len(st.window) > self._keep:
            st.window.popleft()
        st.frames_since_clear += 1
        if st.alert is None:
            return self._maybe_raise(d.stream, st)
        events = self._continue(d, st)
        if st.stale:
            st.stale = False
            if st.alert is not None and not events:  # the stream is back: the alert is live again
                events = [self._event(d.stream, st.alert, "updated", None)]
        return events

    def stale(self, silent: Iterable[str]) -> list[AlertEvent]:
        """The open alerts of streams that went silent (how long is silent is the caller's to say),
        each once as a 'stale' event: without it an alert on a dead camera says ALERT forever."""
        events = []
        for stream in silent:
            st = self._streams.get(stream)
            if st is not None and st.alert is not None and not st.stale:
                st.stale = True
                events.append(self._event(stream, st.alert, "stale", None))
        return events

    def active(self) -> dict[str, AlertEvent]:
        """The open alert of each stream that has one, as an event with state 'updated'."""
        return {s: self._event(s, st.alert, "updated", None) for s, st in self._streams.items() if st.alert}

    def is_open(self, stream: str) -> bool:
        """Whether the stream has an open alert (what per-stream baselines must not learn from)."""
        st = self._streams.get(stream)
        return st is not None and st.alert is not None

    def stream_ids(self) -> list[str]:
        """The streams the tracker holds state for."""
        return list(self._streams)

    def forget(self, stream: str) -> None:
        """Drop a stream's state (another consumer now scores it)."""
        self._streams.pop(stream, None)

    def replay(
        self, stream: str, decisions: list[FrameDecision], open_alert: AlertEvent | None = None
    ) -> list[AlertEvent]:
        """Rebuild a stream's state from its frames (a restore after a consumer crash).

        Starts the stream afresh; with `open_alert` (the latest event of an alert still open when
        `decisions` begin), continues that alert under its id and counts; then observes `decisions`
        in order and returns the events they cause.
        """
        st = _StreamState()
        if open_alert is not None:
            a = open_alert
            st.alert = _OpenAlert(
                alert_id=a.alert_id,
                started_ns=a.started_ns,
                frames=a.frames,
                anomalous_frames=a.anomalous_frames,
                value_sum=a.anomaly_mean * a.frames,
                value_max=a.anomaly_max,
                condition=a.condition or "unknown",
                confidence=float(a.confidence or 0.0),
            )
        self._streams[stream] = st
        events: list[AlertEvent] = []
        for d in decisions:
            events.extend(self.observe(d))
        return events

    # -- transitions ---------------------------------------------------------------------------

    def _maybe_raise(self, stream: str, st: _StreamState) -> list[AlertEvent]:
        c = self.cfg
        since = list(st.window)[-st.frames_since_clear :]
        onsets = []
        hits = [f for f in since[-c.n :] if f.is_anomalous]
        if len(hits) >= c.k:
            onsets.append(hits[0])
        latest = since[-1] if since else None
        if latest is not None and latest.onset_seq is not None:
            # The stream's own change detector raised: its onset is where the change began.
            onsets.append(next((f for f in since if f.seq >= latest.onset_seq), latest))
        if self._evidence:
            # Runs of the most recent frames, shortest first: the first to hold enough evidence
            # raises, and its first frame is the onset, so suspect frames just before it (an odd
            # clean track) neither start nor name the alert.
            total = 0.0
            for f in reversed(since[-c.evidence_n :]):
                total += self._evidence_of(f)
                if total >= c.evidence_h:
                    onsets.append(f)  # crossing needs a positive term: f is above evidence_ref
                    break
        if not onsets:
            st.undecided, st.due = 0, None
            return []
        if st.due is not None and st.due in since:
            onsets.append(st.due)
        onset = min(onsets, key=lambda f: f.seq)
        a = _OpenAlert(alert_id=f"{stream}:{onset.seq}", started_ns=onset.capture_ns)
        for f in since[since.index(onset) :]:
            self._count(a, f)
        votes = self._votes(st, a)
        if st.undecided < c.name_wait and not self._decided(votes, c.name_margin):
            st.undecided += 1  # raise with the next frames, once one name leads by name_margin
            st.due = onset
            return []
        st.undecided, st.due = 0, None
        a.condition, a.confidence = self._dominant(votes, None, a.confidence)
        st.alert = a
        return [self._event(stream, a, "raised", None)]

    def _continue(self, d: FrameDecision, st: _StreamState) -> list[AlertEvent]:
        c, a = self.cfg, st.alert
        assert a is not None
        self._count(a, d)
        a.since_update += 1
        last = _newest(st.window, c.clear_n)
        if (
            len(last) >= c.clear_n
            and sum(1 for f in last if f.is_anomalous) < c.clear_k
            and (not self._evidence or self._evidence_sum(last[-a.frames :]) < 0)
        ):
            # Ended when the condition stopped being seen: the first normal frame after the last
            # anomalous (or, with evidence, suspect) one (clear_k > 1 can leave some inside the window).
            last_hit = max((i for i, f in enumerate(last) if self._hit(f)), default=-1)
            ended = last[last_hit + 1].capture_ns if last_hit + 1 < len(last) else d.capture_ns
            rec = self._event(d.stream, a, "cleared", ended)
            st.alert = None
            st.frames_since_clear = 0
            return [rec]
        previous = a.condition
        a.condition, a.confidence = self._dominant(self._votes(st, a), previous, a.confidence)
        if a.condition != previous or (c.update_every > 0 and a.since_update >= c.update_every):
            a.since_update = 0
            return [self._event(d.stream, a, "updated", None)]
        return []

    # -- helpers ----------------------------------------------------------------------------------

    def _hit(self, f: FrameDecision) -> bool:
        """Anomalous, or (with evidence on) suspect: its anomaly value is above evidence_ref."""
        return f.is_anomalous or (self._evidence and f.value > self.cfg.evidence_ref)

    def _evidence_of(self, f: FrameDecision) -> float:
        """min(value, cap) - ref: nats of surprise beyond what clean frames usually show; a NaN
        value is no evidence either way."""
        c = self.cfg
        return min(f.value, c.evidence_cap) - c.evidence_ref if f.value == f.value else 0.0

    def _evidence_sum(self, frames: list) -> float:
        return sum(self._evidence_of(f) for f in frames)

    @staticmethod
    def _count(a: _OpenAlert, f: FrameDecision) -> None:
        a.frames += 1
        if f.is_anomalous:
            a.anomalous_frames += 1
        a.value_sum += f.value
        if f.value > a.value_max or a.example is None:
            a.value_max = max(a.value_max, f.value)
            a.example = f

    def _votes(self, st: _StreamState, a: _OpenAlert) -> list[FrameDecision]:
        """The frames that vote for the alert's name: anomalous ones since its onset among the last
        condition_window, and with evidence on, suspect ones that name a condition."""
        onset_seq, ev, ref = a.onset_seq, self._evidence, self.cfg.evidence_ref
        # (_hit inlined: this runs for every frame of an open alert)
        return [
            f
            for f in _newest(st.window, self.cfg.condition_window)
            if f.seq >= onset_seq and (f.is_anomalous or (ev and f.value > ref and f.condition != "clean"))
        ]

    @staticmethod
    def _tally(window: list[FrameDecision]) -> dict[str, int]:
        votes: dict[str, int] = {}
        for f in window:
            votes[f.condition] = votes.get(f.condition, 0) + 1
        return votes

    @classmethod
    def _decided(cls, window: list[FrameDecision], margin: int = 1) -> bool:
        """One named condition (not "unknown") has at least `margin` more votes than any other."""
        top = sorted((v for c, v in cls._tally(window).items() if c != "unknown"), reverse=True) + [0, 0]
        return top[0] - top[1] >= margin

    @classmethod
    def _dominant(cls, window: list[FrameDecision], current: str | None, confidence: float) -> tuple[str, float]:
        if not window:
            return (current or "unknown"), confidence
        votes: dict[str, int] = {}  # _tally's, in the same pass
        conf: dict[str, float] = {}
        latest: dict[str, int] = {}
        for i, f in enumerate(window):
            k = f.condition
            votes[k] = votes.get(k, 0) + 1
            conf[k] = conf.get(k, 0.0) + float(f.confidence)
            latest[k] = i
        # "unknown" is no condition: it names the alert only when no frame named one. A tie (left
        # after name_wait) goes to the condition seen last: with a small k an isolated false alarm
        # just before a real onset would otherwise name the alert by its (over)confidence. Measured
        # on demo replays at k=2 of 3 (26 runs, 762 episodes at levels 4-5): named wrong when raised
        # 4 times with ties broken by confidence, 2 times with this rule.
        named = {c: v for c, v in votes.items() if c != "unknown"} or votes
        best = max(named, key=lambda c: (named[c], latest[c]))
        # Hysteresis on the name: keep the current one unless another has strictly more votes.
        if current is not None and current in votes and votes[current] >= votes[best]:
            best = current
        return best, conf[best] / len(window)

    @staticmethod
    def _event(stream: str, a: _OpenAlert, state: str, ended_ns: int | None) -> AlertEvent:
        ex = a.example
        example = (
            None
            if ex is None or ex.origin.topic is None
            else AlertExample(ex.origin.topic, ex.origin.partition, ex.origin.offset, ex.seq)
        )
        return AlertEvent(
            alert_id=a.alert_id,
            stream=stream,
            state=state,
            condition=a.condition,
            confidence=round(float(a.confidence), 4),
            started_ns=int(a.started_ns),
            ended_ns=None if ended_ns is None else int(ended_ns),
            frames=a.frames,
            anomalous_frames=a.anomalous_frames,
            anomaly_mean=float(a.value_sum / a.frames) if a.frames else 0.0,
            anomaly_max=float(a.value_max) if a.frames else 0.0,
            example=example,
        )


def _newest(window: deque, n: int) -> list:
    """list(window)[-n:] without copying the rest of the window first."""
    return list(islice(window, max(0, len(window) - n), None))
