"""Alerts that survive a consumer crash: the calibrated hook, plus its state rebuilt from Kafka.

`CalibratedHook` (below) keeps each stream's alert state in memory. When a member
of the scoring group dies, the member that takes over its partitions is sent again the frames the
dead one had scored but not committed. With a fresh state it would see an episode from its middle
and raise it again, under another id; a clear it missed would leave the alert open forever.

So on taking over partitions, `AlertingHook.restore` rebuilds the state of their streams the way
Kafka Streams restores a store from its changelog: the scores topic is the changelog. It reads the
score records of those partitions from the last `consumer.alert_restore_minutes` (each carries the
calibrated decision: is_anomalous, condition, confidence, anomaly), replays them, first publication
of each frame only, through the same deterministic state machine, and reads the alerts published
for those streams. Afterwards:

- frames redelivered to us (already in the scores topic) are recognised as duplicates by the
  state machine (seq not above the last replayed one) and change nothing;
- an alert event the replay produces again that is already in the alerts topic, (alert_id, state)
  for raised and cleared, is not published a second time;
- when the window begins inside an episode the alerts topic shows open (its onset is older than
  the window), the replay continues that alert under its published id, so the episode keeps one id;
- a raise or clear the replay produces that is missing from the alerts topic (the dead member was
  killed between the acks of its scores and of its alerts) is published now, provided the replay
  saw at least alerts.n frames (alerts.evidence_n, if larger and the evidence rule is on) before the
  episode's onset (otherwise its onset could differ from the one the dead member computed). The
  evidence rule needs nothing more: it sums the `anomaly` values the score records carry, and
  suspect frames carry their `condition` (CalibratedHook, above).

Scores and alerts of a stream share a partition number with its frames (same key, same partition
count; ensure_topics checks the counts), so the partitions taken over name what to read.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from calibration.alerts import AlertEvent, AlertTracker, FrameDecision, Origin, alert_rules
from calibration.baseline import ATYPICAL_MESSAGE, BaselineBank, BaselineVerdict
from calibration.detector import feature_matrix
from calibration.features import image_features
from calibration.settings import AlertConfig, BaselineConfig
from monitor.scorer import ScoreResult
from pipelines.hook import RestoreContext
from pipelines.kafka_clients import KeyedRecord, client_kwargs, partition_of
from pipelines.wire import (
    CONTROL_RESET_BASELINE,
    ControlRecord,
    ScoreRecord,
    WireError,
    decode_alert,
    decode_score,
    encode_alert,
)

log = logging.getLogger("signwatch.alerting")


# The condition of a frame whose fleet verdict the stream's baseline held back (an atypical view):
# for the alert machine it is no anomaly and no evidence (CalibratedHook; docs/WIRE.md).
HELD = "atypical"


def frame_decision(rec: ScoreRecord) -> FrameDecision:
    """A calibrated score record (annotated by the hook, or read back from the scores topic) as the
    alert state machine sees it."""
    o = rec.origin
    held = rec.condition == HELD
    return FrameDecision(
        rec.stream,
        int(rec.seq),
        bool(rec.is_anomalous),
        rec.condition or "unknown",
        float(rec.confidence or 0.0),
        0.0 if held else float(rec.anomaly or 0.0),
        int(rec.capture_ns),
        Origin(o.topic, o.partition, o.offset),
        None if rec.change_onset is None else int(rec.change_onset),
    )


class CalibratedHook:
    """The consumer's on_scored hook: calibrated decisions for a scored batch, then alerts.

    Annotates each ScoreRecord (anomaly, is_anomalous, condition, confidence) in place, using the
    frame's image statistics (in the consumer made in its decode pool and carried in `.statistics`;
    otherwise from `.image`, the frame or its prepared copy) and the scorer's values
    already on the record (nothing is scored twice), and returns the AlertEvents the batch caused.
    With evidence on, a suspect frame (anomaly above alerts.evidence_ref, is_anomalous False) carries
    the classifier's name as its condition, so a restore from the scores topic replays the same votes.
    Records must arrive in each stream's seq order, as Kafka delivers one partition.

    With per-stream baselines on (the `baseline:` section's default, which `score` and `demo` pass;
    calibration.baseline), each frame also updates its stream's own normal (never with a frame its
    alert was open for), and the alert machine sees both verdicts: while the baseline
    holds the fleet's verdict back (an atypical stream, or the first warm-up of one that looks
    so), fleet anomalies neither raise nor feed evidence, and the stream gets one "atypical" event
    instead; a change against the stream's own normal raises (onset where the change began,
    each frame named by the classifier of changes on the summed evidence of the change's last
    alerts.condition_window frames, the fleet's name where that has none) and keeps the
    alert open while it lasts. The record's `anomaly` stays the fleet's figure; `is_anomalous`
    and `condition` are the combined decision.
    With baselines off (`baseline.enabled` false) and `baseline.atypical` on (its default), the
    atypical view is still judged and held the same way, with no
    change detection: a stream off the fleet's normal is reported, not stuck in an alert. It holds
    a stream's alerts while its first frames are all off the fleet's normal, so a stream that
    starts inside an episode is not alerted on it. `baseline` None: fleet decisions only.
    """

    def __init__(self, detector, cfg: AlertConfig | None = None, baseline: BaselineConfig | None = None) -> None:
        self.detector = detector
        self.tracker = AlertTracker(alert_rules(cfg, detector.calibration))
        # With baselines off the bank still judges each stream's first frames for an atypical view
        # (baseline.atypical, on in the deployment's default section), without change detection
        # (calibration.baseline). baseline None: fleet decisions only, as library callers had them.
        cfg_b = baseline if baseline is not None else BaselineConfig(enabled=False, atypical=False)
        self.changes = cfg_b.enabled
        on = cfg_b.enabled or cfg_b.atypical
        self.bank = BaselineBank.from_calibration(detector.calibration, cfg_b, self.changes) if on else None
        self._atypical: dict[str, AlertEvent] = {}  # stream -> its open "atypical" event
        self._last_seq: dict[str, int] = {}  # a redelivered frame must not be learned twice
        self._evidence: dict[str, _ChangeEvidence] = {}  # stream -> its current change's summed naming evidence
        self._wire_warned: set[tuple[str, str]] = set()  # (stream, encoding) already warned of

    def _check_wire(self, records: list) -> None:
        """Warn once per stream and encoding when frames arrive in another encoding than the
        calibration was fit for: JPEG moves the fine statistics the detector reads, so its threshold
        and figures then do not hold. JPEG's quality is not in the header, so only jpeg vs lossless
        is told apart; a calibration of unknown wire (an old file) is not judged."""
        fit = getattr(self.detector.calibration, "wire", None)
        if fit is None:
            return
        for rec in records:
            enc = rec.encoding
            key = (rec.stream, enc)
            if enc is None or key in self._wire_warned or (enc == "jpeg") == (fit.encoding == "jpeg"):
                continue
            self._wire_warned.add(key)
            log.warning(
                "stream %s: frames arrive with encoding header %r, but the calibration was fit for %s; "
                "its threshold and detection figures do not hold for them (calibrate with --wire-encoding %s)",
                rec.stream,
                enc,
                fit.describe(),
                "jpeg" if enc == "jpeg" else "png",
            )

    def __call__(self, records: list) -> list[AlertEvent]:
        if not records:
            return []
        self._check_wire(records)
        scores = ScoreResult(
            np.array([r.score for r in records], dtype=np.float64),
            np.array([r.recon for r in records], dtype=np.float64),
            np.array([r.layer_cos for r in records], dtype=np.float64).reshape(len(records), 4),
        )
        # One feature matrix for both verdicts: the fleet's (detector) and each stream's own (bank).
        return self.decide(records, feature_matrix(scores, self._statistics(records)), scores)

    def _statistics(self, records: list) -> np.ndarray:
        """Each record's image statistics row: as the consumer's decode pool made it (`.statistics`,
        by frame_statistics below), or made here from `.image` where a record has none (offline
        callers; a frame whose statistics failed in the pool, which kept its image for this)."""
        rows = [r.statistics for r in records]
        todo = [i for i, row in enumerate(rows) if row is None]
        if todo:
            # .image is the prepared 64x64 copy: the crop's size as sent is in .native_shape (the
            # size correction's covariate, docs/DESIGN.md §5.4).
            sizes = [records[i].native_shape for i in todo]
            made = self.frame_statistics([records[i].image for i in todo], None if None in sizes else sizes)
            for j, i in enumerate(todo):
                rows[i] = made[j]
        return np.stack(rows)

    @staticmethod
    def frame_statistics(frames: Any, native_sizes: Sequence | None) -> np.ndarray:
        """The image statistics the detector reads (calibration.features), one row per frame; a pure
        function of the frames, so the consumer runs it in its decode pool (pipelines.hook.StatisticsHook)."""
        return image_features(frames, native_sizes)

    def decide(self, records: list, x: np.ndarray, scores: ScoreResult | None = None) -> list[AlertEvent]:
        """The records' decisions and alerts from their feature rows (calibration.detector.FEATURE_COLUMNS):
        everything the hook does after the image statistics, so an offline replay with cached feature
        rows (scripts/stream_replay_experiment.py) runs the same path as `score`."""
        # With evidence on, suspect frames (anomaly above evidence_ref) carry the classifier's name
        # too, so the alert can be named before any frame crosses the threshold, and a restore
        # (pipelines.alerting) replays the same votes from the score records.
        cfg = self.tracker.cfg
        det = self.detector.detect_features(x, scores, evidence_ref=cfg.suspect_above)
        by_change = self.detector.calibration.change_classifier is not None
        names = self._classifier_names(x) if self.changes and not by_change else None
        units = self.bank.fleet_units(x) if self.bank is not None else None  # once per batch, not per frame
        batch = None if units is None else _Batch(records, units, names, self._change_classifier())
        # The batch's values as Python objects once (tolist), not one numpy scalar at a time.
        anomaly, flagged, confidence = det.anomaly.tolist(), det.is_anomalous.tolist(), det.confidence.tolist()
        condition = [str(c) for c in det.condition.tolist()]
        alerts: list[AlertEvent] = []
        for i, rec in enumerate(records):
            rec.anomaly, rec.is_anomalous, rec.condition = float(anomaly[i]), bool(flagged[i]), condition[i]
            rec.confidence = float(confidence[i])
            d = frame_decision(rec)
            if batch is not None:
                d = self._with_baseline(rec, d, i, batch, alerts)
            alerts.extend(self.tracker.observe(d))
        return alerts

    def stale(self, silent: list[str]) -> list[AlertEvent]:
        """'stale' events for the open alerts of these silent streams (hook.StaleAwareHook)."""
        return self.tracker.stale(silent)

    def control(self, record: ControlRecord, received_ns: int = 0) -> list[AlertEvent]:
        """A control record from the frames topic, in its stream's order (pipelines.consumer)."""
        if record.kind == CONTROL_RESET_BASELINE:
            return self.reset_baseline(record.stream, received_ns)
        return []

    def reset_baseline(self, stream: str, capture_ns: int = 0) -> list[AlertEvent]:
        """The operator's reset of one stream's baseline (a control record, docs/WIRE.md): its normal
        is learned again from its next frames; an open atypical state ends ("typical")."""
        if self.bank is None:
            return []
        self.bank.reset(stream)
        self._evidence.pop(stream, None)
        return self._end_atypical(stream, capture_ns, "baseline reset by the operator")

    def forget(self, stream: str) -> None:
        """Drop a stream's state (another consumer now scores it); its baseline is learned again if it comes back."""
        self.tracker.forget(stream)
        self._atypical.pop(stream, None)
        self._last_seq.pop(stream, None)
        self._evidence.pop(stream, None)
        if self.bank is not None:
            self.bank.streams.pop(stream, None)

    def _classifier_names(self, x: np.ndarray) -> np.ndarray:
        """The classifier's name for every frame, also those the fleet calls clean (a change
        against a stream's own normal is named by what it looks like)."""
        cal = self.detector.calibration
        if cal.classifier is None:
            return np.full(len(x), "unknown", dtype=object)
        return cal.classifier.predict(cal.gaussian.standardise(x)).condition

    def _change_classifier(self) -> Any:
        """The classifier of changes, None without one (or with baselines' change detection off)."""
        return self.detector.calibration.change_classifier if self.changes else None

    def _change_name(self, stream: str, i: int, batch: _Batch) -> str:
        """The name of a change the stream's baseline raised at the batch's frame i: the classifier of
        changes on the summed evidence of the change's frames up to this one (its last
        alerts.condition_window frames: _ChangeEvidence), each frame's difference from the stream's
        learned mean, both in fleet units (calibration.detector.fleet_units
        of the same calibration); the classifier's name of the frame (or "unknown") without one.
        Summed evidence (naive Bayes, docs/DESIGN.md §5.6): a name every frame of the change finds
        plausible beats one that wins half of them and is ruled out by the rest."""
        b = self.bank.streams.get(stream) if self.bank is not None else None
        if batch.classifier is None or b is None:
            return batch.fallback(i)
        acc = self._evidence.get(stream)
        if acc is None or acc.m is not b.m:  # a new change: the baseline has learned since the last one
            acc = self._evidence[stream] = _ChangeEvidence(b.m, self.tracker.cfg.condition_window)
        return batch.summed_name(stream, i, acc)

    def _with_baseline(self, rec, d: FrameDecision, i: int, batch: _Batch, alerts: list) -> FrameDecision:
        """Update the stream's baseline with the batch's frame i; the decision the alert machine sees."""
        assert self.bank is not None
        last = self._last_seq.get(rec.stream)
        if last is not None and last >= d.seq and last - d.seq <= self.tracker.cfg.seq_reset_gap:
            return d  # a redelivery: the tracker ignores it too
        self._last_seq[rec.stream] = d.seq
        is_open = self.tracker.is_open(rec.stream)
        v = self.bank.update_units(rec.stream, batch.units[i], d.value, d.is_anomalous, is_open, batch.finite[i])
        alerts.extend(self._atypical_events(rec, v))
        if v.hold_fleet:
            # The fleet's verdict on this stream is its view, not a condition: no vote, no evidence
            # (and an alert the baseline raised can clear). The score record says so, so a restore
            # from the scores topic replays the same decision (frame_decision).
            d = d._replace(is_anomalous=False, condition=HELD, value=0.0)
        if not v.changed:
            self._evidence.pop(rec.stream, None)
        else:
            # What changed names the change (docs/DESIGN.md §5.7): the difference from the stream's own
            # normal leaves out the sign's own offset from the fleet, which the frame's absolute
            # statistics carry. The fleet's name stands where the classifier of changes has none.
            named = self._change_name(rec.stream, i, batch)
            if named in ("clean", "unknown") and d.condition not in ("clean", "unknown", HELD):
                named = d.condition
            d = d._replace(is_anomalous=True, condition=named, onset_seq=d.seq - v.onset_lag if v.onset else None)
        rec.is_anomalous, rec.condition, rec.change_onset = d.is_anomalous, d.condition, d.onset_seq
        rec.change = float(v.change) if v.warm else None
        return d

    def _atypical_events(self, rec, v: BaselineVerdict) -> list[AlertEvent]:
        if v.atypical and rec.stream not in self._atypical:
            e = AlertEvent(
                alert_id=f"{rec.stream}:atypical:{rec.seq}",
                stream=rec.stream,
                state="atypical",
                condition=None,
                confidence=None,
                started_ns=int(rec.capture_ns),
                ended_ns=None,
                frames=1,
                anomalous_frames=int(bool(rec.is_anomalous)),
                anomaly_mean=float(rec.anomaly),
                anomaly_max=float(rec.anomaly),
                message=v.message or ATYPICAL_MESSAGE,
            )
            self._atypical[rec.stream] = e
            # score's own report of it (issue 14): the operator reading its log learns it too.
            log.warning(
                "stream %s: %s (its first %d frames are steadily off the fleet's normal; set the camera's --roi "
                "to the sign, then `run_monitor.py reset-baseline %s`)",
                rec.stream,
                e.message,
                self.bank.cfg.warmup if self.bank is not None else 0,
                rec.stream,
            )
            return [e]
        if not v.atypical and rec.stream in self._atypical:
            return self._end_atypical(rec.stream, int(rec.capture_ns), "view back to the fleet's normal")
        return []

    def _end_atypical(self, stream: str, ended_ns: int, message: str) -> list[AlertEvent]:
        e = self._atypical.pop(stream, None)
        if e is None:
            return []
        return [dataclasses.replace(e, state="typical", ended_ns=int(ended_ns), message=message)]


class _ChangeEvidence:
    """One stream's current change: the mean it is judged against, and the naming evidence
    (ConditionClassifier.evidence) and differences from that mean of its last `window` - 1 frames
    (zero rows before its first), n frames so far. Its frames are named by the sums over the last
    `window` frames (alerts.condition_window, the frames the alert's name is voted over): a change
    whose look changes (rain turning to snow) is named by what it looks like now, not by its past."""

    def __init__(self, m: np.ndarray, window: int) -> None:
        self.m, self.window, self.n = m, max(1, int(window)), 0
        self.evidence: np.ndarray | None = None  # (window - 1, C + E)
        self.change: np.ndarray | None = None  # (window - 1, D)

    def windows(self, evidence: np.ndarray, change: np.ndarray) -> tuple[np.ndarray, ...]:
        """For the next k frames' rows, each one's sums over the window ending at it, the number of the
        change's frames in that window, and the history rows (window - 1 + k, .) the next state is cut
        from. Each sum adds its window's rows in the same order whatever k is, so a frame gets the same
        sums in a batch of any size."""
        w, k = self.window, len(evidence)
        if self.evidence is None or self.change is None:
            self.evidence, self.change = np.zeros((w - 1, evidence.shape[1])), np.zeros((w - 1, change.shape[1]))
        ev, ch = np.vstack([self.evidence, evidence]), np.vstack([self.change, change])
        sev, sch = ev[:k].copy(), ch[:k].copy()
        for i in range(1, w):
            sev += ev[i : i + k]
            sch += ch[i : i + k]
        return sev, sch, np.minimum(self.n + np.arange(1, k + 1), w), ev, ch


class _Batch:
    """One batch's inputs to the per-stream baselines, made once per batch, not per frame: its rows in
    fleet units and their finiteness, and the names of changes (summed_name)."""

    def __init__(self, records: list, units: np.ndarray, names: np.ndarray | None, classifier: Any) -> None:
        self.records, self.units, self.names, self.classifier = records, units, names, classifier
        self.finite: list[bool] = np.isfinite(units).all(axis=1).tolist()
        self._rows: dict[str, list[int]] | None = None  # stream -> its frames' indices, when first needed
        # frame -> (the change's state it was named with, its frame count before it, its name, the state after it)
        self._named: dict[int, tuple[_ChangeEvidence, int, str, np.ndarray, np.ndarray]] = {}

    def fallback(self, i: int) -> str:
        """Frame i's name without a classifier of changes: the fleet classifier's (or "unknown")."""
        return str(self.names[i]) if self.names is not None else "unknown"

    def summed_name(self, stream: str, i: int, acc: _ChangeEvidence) -> str:
        """Frame i's name by the summed evidence of its stream's change over the window ending at it
        (acc, which this adds frame i to). Made for the stream's frames from i on in one call, as if
        each of them continued the change, and kept for those that do: the same sums, so the same names.
        (A stream is named only while it is changed, when its baseline learns nothing: acc's mean is
        the one it is judged against; each frame's evidence row is the one the classifier makes alone.)"""
        got = self._named.get(i)
        if got is None or got[0] is not acc or got[1] != acc.n:
            later = [j for j in self._stream_rows(stream) if j >= i]
            d = self.units[later] - acc.m
            sev, sch, n, ev, ch = acc.windows(self.classifier.evidence(d), d)
            names = self.classifier.name_evidence(sev, sch / n[:, None])
            w = acc.window
            for k, j in enumerate(later):  # the state after frame j: the window's rows but its oldest
                self._named[j] = (acc, acc.n + k, names[k], ev[k + 1 : k + w], ch[k + 1 : k + w])
            got = self._named[i]
        acc.evidence, acc.change, acc.n = got[3], got[4], acc.n + 1
        return got[2]

    def _stream_rows(self, stream: str) -> list[int]:
        if self._rows is None:
            self._rows = defaultdict(list)
            for j, rec in enumerate(self.records):
                self._rows[rec.stream].append(j)
        return self._rows[stream]


def read_partitions(
    cfg,
    bootstrap: str,
    topic: str,
    partitions: Sequence[int],
    since_ms: int | None,
    deadline: float,
    quiet_polls: int = 2,
) -> list:
    """Records of `topic`'s `partitions` from `since_ms` (None: the beginning) to the end, by partition.

    The end is where polls come back empty (end offsets are not trusted: Tansu's are wrong,
    docs/DESIGN.md §4); nobody else writes these partitions while we restore them.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        **client_kwargs(cfg.kafka, bootstrap),
        enable_auto_commit=False,
        group_id=None,
        fetch_max_wait_ms=50,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        request_timeout_ms=max(1000, int(min(30.0, deadline - time.monotonic()) * 1000)),
    )
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        if since_ms is None:
            consumer.seek_to_beginning(*tps)
            live = list(tps)
        else:
            found = consumer.offsets_for_times({tp: since_ms for tp in tps})
            live = []
            for tp in tps:
                o = found.get(tp)
                # No record at or after the time (Tansu answers offset 0 with timestamp -1): nothing to read.
                if o is None or o.timestamp is None or o.timestamp < 0:
                    continue
                consumer.seek(tp, o.offset)
                live.append(tp)
            if not live:
                return []
            consumer.pause(*[tp for tp in tps if tp not in live])
        out: list = []
        empty = 0
        while empty < quiet_polls and time.monotonic() < deadline:
            polled = consumer.poll(timeout_ms=200)
            n = 0
            for records in polled.values():
                out.extend(records)
                n += len(records)
            empty = empty + 1 if n == 0 else 0
        return out
    finally:
        consumer.close()


def _open_at(records: list, t_ns: int | None) -> Any:
    """The published alert of a stream that was open at capture time t_ns (None: now), or None.

    Open: raised (or updated) with its onset before t_ns, and not cleared at or before t_ns.
    """
    opened: dict[str, Any] = {}
    cleared: dict[str, int] = {}
    for a in records:
        if a.state not in AlertEvent.CONDITION_STATES:
            continue  # atypical / typical: a stream's state, not a condition alert to continue
        if a.state == "cleared":
            cleared[a.alert_id] = a.ended_ns if a.ended_ns is not None else a.started_ns
        else:
            opened[a.alert_id] = a  # the latest record of it: its counts are the most recent
    best = None
    for aid, a in opened.items():
        if t_ns is not None and a.started_ns >= t_ns:
            continue
        end = cleared.get(aid)
        if end is not None and (t_ns is None or end <= t_ns):
            continue
        if best is None or a.started_ns > best.started_ns:
            best = a
    return best


class AlertingHook:
    """The consumer's on_scored hook with alert state that follows partitions between members."""

    def __init__(self, detector: Any, alert_cfg: Any = None, baseline_cfg: BaselineConfig | None = None) -> None:
        self.inner = CalibratedHook(detector, alert_cfg, baseline_cfg)
        self.tracker = self.inner.tracker
        self._published: set[tuple[str, str]] = set()  # (alert_id, state) seen in the alerts topic at the last restore
        self.restored_streams = 0
        self.suppressed = 0  # alert events not published again
        self.reconciled = 0  # alert events published at restore (the dead member never got them out)

    def control(self, record: ControlRecord, received_ns: int = 0) -> list[AlertEvent]:
        return self.inner.control(record, received_ns)

    def frame_statistics(self, frames: Any, native_sizes: Sequence | None) -> np.ndarray:
        return self.inner.frame_statistics(frames, native_sizes)

    def __call__(self, records: list) -> list:
        alerts = self.inner(records)
        if not self._published:
            return alerts
        out = []
        for a in alerts:
            key = (a.alert_id, a.state)
            if a.state in ("raised", "cleared") and key in self._published:
                self.suppressed += 1
                continue
            out.append(a)
        return out

    def stale(self, silent: list[str]) -> list:
        return self.inner.stale(silent)

    # -- restore ------------------------------------------------------------------------------------

    def restore(self, ctx: RestoreContext, timeout_s: float = 20.0) -> None:
        """Rebuild the alert state of the streams of `ctx.partitions` (called on the consumer's main thread)."""
        cfg, bootstrap = ctx.cfg, ctx.bootstrap
        k = cfg.kafka
        parts = sorted(set(ctx.partitions))
        self._forget_partitions(parts, k.partitions)
        deadline = time.monotonic() + timeout_s
        since_ms = int(time.time() * 1000 - cfg.consumer.alert_restore_minutes * 60_000)
        score_records = read_partitions(cfg, bootstrap, k.scores_topic, parts, since_ms, deadline)
        # Alerts are few; read them further back so an episode older than the window keeps its id.
        alert_records = read_partitions(cfg, bootstrap, k.alerts_topic, parts, since_ms - 3_600_000, deadline)

        decisions = _decisions(score_records)
        published = _published_alerts(alert_records)
        self._published |= {(a.alert_id, a.state) for alerts in published.values() for a in alerts}
        missing: list[AlertEvent] = []
        for stream in set(decisions) | set(published):
            missing += self._replay_stream(decisions.get(stream, []), published.get(stream, []), stream)
        self.restored_streams += len(decisions)
        if missing:
            self._publish(ctx, missing)
        log.info(
            "restore: partitions %s: %d score records, %d alert records read; %d streams replayed; "
            "%d alert events published that were missing",
            parts,
            len(score_records),
            len(alert_records),
            len(decisions),
            len(missing),
        )

    def _forget_partitions(self, parts: Sequence[int], partitions: int) -> None:
        """Drop the state of the streams of `parts`: it is rebuilt from the topics."""
        for stream in self.tracker.stream_ids():
            if partition_of(stream, partitions) in parts:
                self.inner.forget(stream)

    def _replay_stream(self, ds: list[FrameDecision], published: list[AlertEvent], stream: str) -> list[AlertEvent]:
        """Replay one stream's decisions; returns the raise/clear events missing from the alerts topic."""
        seed = _open_at(published, ds[0].capture_ns if ds else None)
        # When the window begins inside a published episode, the replay continues it under its id.
        events = self.tracker.replay(stream, ds, open_alert=seed)
        if not ds:
            return []
        # An episode the replay saw from well before its onset is the one the dead member saw: an
        # event of it missing from the alerts topic was lost with that member and is published now.
        # (The raise window, n frames or with evidence evidence_n, ends at the raise and holds the onset.)
        trusted_from = ds[0].seq + self.tracker.cfg.raise_window
        return [
            e
            for e in events
            if e.state in ("raised", "cleared")
            and (e.alert_id, e.state) not in self._published
            and ((seed is not None and e.alert_id == seed.alert_id) or e.onset_seq >= trusted_from)
        ]

    def _publish(self, ctx: RestoreContext, events: list[AlertEvent]) -> None:
        topic = ctx.cfg.kafka.alerts_topic
        records = []
        for e in events:
            records.append(KeyedRecord(topic, e.stream.encode("utf-8"), encode_alert(e), []))
            self._published.add((e.alert_id, e.state))
        failed = ctx.publish(records)
        self.reconciled += len(events) - failed
        if failed:
            log.warning("restore: %d missing alert events could not be published", failed)


def _decisions(score_records: list) -> dict[str, list[FrameDecision]]:
    """Each stream's calibrated decisions, first publication of each frame only, in offset order."""
    decisions: dict[str, list[FrameDecision]] = defaultdict(list)
    seen: set[tuple[str, int, int]] = set()
    for r in score_records:  # partition by partition, in offset order: each stream in its order
        try:
            s = decode_score(r.value)
        except (WireError, ValueError, TypeError, KeyError):
            continue
        if s.is_anomalous is None or (s.stream, s.seq, s.capture_ns) in seen:
            continue  # not calibrated, or a duplicate (the first publication counts)
        seen.add((s.stream, s.seq, s.capture_ns))
        decisions[s.stream].append(frame_decision(s))
    return decisions


def _published_alerts(alert_records: list) -> dict[str, list[AlertEvent]]:
    """Each stream's alert events in the alerts topic, in offset order (unreadable ones skipped)."""
    published: dict[str, list[AlertEvent]] = defaultdict(list)
    for r in alert_records:
        try:
            a = decode_alert(r.value)
        except (WireError, ValueError, TypeError, KeyError):
            continue
        published[a.stream].append(a)
    return published
