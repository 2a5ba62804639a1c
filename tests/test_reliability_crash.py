"""Consumer crash: at-least-once scoring, and alerts that redelivered frames cannot fool.

1. In process, deterministic: a second member is handed every frame again (as after a crash
   before any commit). It publishes their scores again (at-least-once) but no alert event twice:
   it rebuilt its alert state from the scores topic, so the redelivered frames are duplicates to it.
2. For real: two `score` processes share a group while a producer streams 5,000 frames from 8
   streams (with condition episodes); one is killed with SIGKILL mid-stream and started again.
   Every frame is scored at least once (duplicates counted), each alert id is raised and cleared
   at most once, and the alert events equal those of a crash-free run over the same scores.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time

import pytest

import monitor
from pipelines.alerting import AlertingHook
from pipelines.broker import ensure_topics
from pipelines.consumer import ScoringConsumer
from pipelines.producers import FrameProducer
from pipelines.wire import FrameMeta, GroundTruth, decode_score
from tests.conftest import distinct_partition_prefix, fresh_config, read_topic, write_config
from tests.helpers import SHARED_DATA, belgium_frames
from tests.reliability import (
    Member,
    account,
    alert_counts,
    episode_frames,
    make_calibration,
    offline_alert_events,
    wait_for,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def calibration(untrained_checkpoint, tmp_path_factory):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    return make_calibration(untrained_checkpoint, tmp_path_factory.mktemp("cal"))


@pytest.fixture(scope="module")
def images():
    return belgium_frames(64)


def _send(
    producer: FrameProducer,
    frames,
    streams: list[str],
    start: int,
    stop: int,
    rate: float = 0.0,
    halt: threading.Event | None = None,
) -> None:
    """Frames start..stop-1 of every stream, round robin, at `rate` frames/s in total (0: at once)."""
    interval = len(streams) / rate if rate > 0 else 0.0
    t_next = time.monotonic()
    for i in range(start, stop):
        if halt is not None and halt.is_set():
            return
        if interval:
            t_next += interval
            time.sleep(max(0.0, t_next - time.monotonic()))
        now = time.time_ns()
        for s, stream in enumerate(streams):
            value, (challenge, level) = frames[s][i]
            truth = GroundTruth(challenge, level, "sign", f"{stream}-track")
            producer.send(FrameMeta(stream, i, now, "test", "jpeg", truth), value)


def _hook(checkpoint, calibration, cfg) -> tuple:
    from calibration.calibration_file import load_calibration
    from calibration.detector import Detector

    scorer = monitor.load_model(checkpoint, device="cpu")
    return scorer, AlertingHook(Detector(scorer, load_calibration(calibration, model_id=scorer.model_id)), cfg.alerts)


def test_a_member_handed_frames_again_publishes_no_alert_twice(kafka_cfg, untrained_checkpoint, calibration, images):
    cfg = dataclasses.replace(
        kafka_cfg, consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=32, metrics_interval_s=0)
    )
    bootstrap = cfg.kafka.bootstrap_servers
    streams = [f"{distinct_partition_prefix(4)}-{i}" for i in range(4)]
    frames = episode_frames(images, len(streams), 160)
    producer = FrameProducer(cfg, bootstrap)
    _send(producer, frames, streams, 0, 100)
    producer.flush()

    # Member A scores the first 100 frames of each stream.
    scorer, hook_a = _hook(untrained_checkpoint, calibration, cfg)
    a = ScoringConsumer(cfg, bootstrap, scorer, on_scored=hook_a, name="a", out=sys.stderr)
    assert a.run(max_records=400).scored == 400
    after_a = alert_counts(
        [r.value for r in read_topic(bootstrap, cfg.kafka.alerts_topic, 0, timeout_s=5, until=lambda r: False)]
    )
    assert sum(n for (_, state), n in after_a.items() if state == "raised") >= 4, f"no episodes to test with: {after_a}"

    # Member B (another group: every frame is delivered to it again) meets those 400 and 60 new ones per stream.
    _send(producer, frames, streams, 100, 160)
    assert producer.close().undelivered == 0
    cfg_b = dataclasses.replace(cfg, consumer=dataclasses.replace(cfg.consumer, group_id=cfg.consumer.group_id + "-b"))
    scorer, hook_b = _hook(untrained_checkpoint, calibration, cfg)
    b = ScoringConsumer(cfg_b, bootstrap, scorer, on_scored=hook_b, name="b", out=sys.stderr)
    summary = b.run(max_records=640)
    assert summary.scored == 640 and hook_b.restored_streams == 4

    scores = read_topic(bootstrap, cfg.kafka.scores_topic, 1040, timeout_s=20)
    expected = {(s, i) for s in streams for i in range(160)}
    acc = account([r.value for r in scores], expected)
    assert (acc.distinct, acc.duplicates, len(acc.lost)) == (640, 400, 0), acc.line("redelivery")
    alerts = alert_counts(
        [r.value for r in read_topic(bootstrap, cfg.kafka.alerts_topic, 0, timeout_s=5, until=lambda r: False)]
    )
    twice = {k: n for k, n in alerts.items() if k[1] in ("raised", "cleared") and n > 1}
    assert not twice, f"alert events published more than once: {twice}"
    online = {k for k in alerts if k[1] in ("raised", "cleared")}
    assert online == offline_alert_events(acc.first, cfg.alerts, calibration)
    assert all(after_a[k] == alerts[k] for k in after_a if k[1] != "updated")  # B re-published none of A's events
    assert online - set(after_a), "B raised or cleared nothing of its own: the continuation was not tested"


def test_kill_9_of_a_member_mid_stream_loses_no_frame_and_fools_no_alert(
    kafka_broker, untrained_checkpoint, calibration, images, tmp_path
):
    streams_n, per_stream, rate = 8, 625, 250.0  # 5,000 frames in 20 s
    bootstrap = kafka_broker.bootstrap
    cfg = fresh_config(bootstrap)
    cfg.consumer = dataclasses.replace(
        cfg.consumer,
        model=str(untrained_checkpoint),
        calibration=str(calibration),
        device="cpu",
        max_batch=32,
        max_wait_ms=30,
        metrics_interval_s=5.0,
    )
    ensure_topics(bootstrap, cfg)
    path = write_config(cfg, tmp_path / "crash.yaml")
    streams = [f"cam-{i}" for i in range(streams_n)]
    frames = episode_frames(images, streams_n, per_stream)

    members = [Member(path, "m0"), Member(path, "m1")]
    try:
        wait_for(
            lambda: all(m.assigned() for m in members) and len(members[0].assigned() | members[1].assigned()) == 4,
            60,
            "both members to share the 4 partitions",
            members,
        )
        producer = FrameProducer(cfg, bootstrap)
        feeder = threading.Thread(target=_send, args=(producer, frames, streams, 0, per_stream, rate), daemon=True)
        t_start = time.monotonic()
        feeder.start()
        time.sleep(7.0)  # ~1,750 frames in: batches are being scored and published all the time
        victim = members[1]
        victim_partitions = victim.assigned()
        kill_ns = time.time_ns()
        victim.kill()
        time.sleep(2.0)
        members.append(Member(path, "m1-restarted"))
        feeder.join(60)
        assert not feeder.is_alive()
        report = producer.close()
        assert report.undelivered == 0 and report.delivered == streams_n * per_stream, report.describe()
        produced_s = time.monotonic() - t_start

        expected = {(s, i) for s in streams for i in range(per_stream)}

        def all_scored(records) -> bool:
            return len({(d.stream, d.seq) for d in (decode_score(r.value) for r in records)}) >= len(expected)

        scores = read_topic(bootstrap, cfg.kafka.scores_topic, 0, timeout_s=120, until=all_scored)
        drained_s = time.monotonic() - t_start
    finally:
        codes = {m.name: m.stop() for m in members if m.name != "m1"}
    for name, rc in codes.items():
        assert rc == 0, f"{name} exited {rc}:\n" + next(m.text() for m in members if m.name == name)[-3000:]

    acc = account([r.value for r in scores], expected)
    assert not acc.lost, f"{len(acc.lost)} frames never scored, e.g. {acc.lost[:10]}"
    # Recovery: from the kill to the first score of the victim's partitions published by someone else.
    records = [decode_score(r.value) for r in scores]
    resumed = sorted(s.scored_ns for s in records if s.origin.partition in victim_partitions and s.scored_ns > kill_ns)
    recovery_s = (resumed[0] - kill_ns) / 1e9
    after = [s for s in records if s.origin.partition in victim_partitions and s.scored_ns > kill_ns]
    late = [(s.scored_ns - s.capture_ns) / 1e9 for s in after]
    # Caught up: the victim's partitions scored within 1 s of capture from then on.
    behind = [s.scored_ns for s in after if s.scored_ns - s.capture_ns >= 1e9]
    caught_up_s = ((max(behind) - kill_ns) / 1e9) if behind else recovery_s

    alerts = alert_counts(
        [r.value for r in read_topic(bootstrap, cfg.kafka.alerts_topic, 0, timeout_s=5, until=lambda r: False)]
    )
    twice = {k: n for k, n in alerts.items() if k[1] in ("raised", "cleared") and n > 1}
    assert not twice, f"alert events published more than once: {twice}"
    online = {k for k in alerts if k[1] in ("raised", "cleared")}
    offline = offline_alert_events(acc.first, cfg.alerts, calibration)
    assert online == offline, (
        f"online - offline: {sorted(online - offline)[:5]}, offline - online: {sorted(offline - online)[:5]}"
    )
    raised = sum(1 for k in online if k[1] == "raised")
    assert raised >= 20, f"only {raised} alerts raised: the episodes did not exercise alerting"

    summaries = [m.summary() for m in members if m.name != "m1"]
    print(
        f"\ncrash: {acc.line('kill -9 of 1 of 2 members')}; produced in {produced_s:.1f} s, all scored "
        f"{drained_s:.1f} s after the first frame; victim held partitions {sorted(victim_partitions)}; "
        f"its partitions resumed {recovery_s:.1f} s after the kill (restart 2.0 s after it); "
        f"their max capture->score latency after the kill {max(late):.1f} s, back under 1 s for good "
        f"{caught_up_s:.1f} s after the kill; "
        f"alerts raised {raised}, each once; alert events equal a crash-free run's"
    )
    for s in summaries:
        print(f"  {s[:200] if s else None}")
