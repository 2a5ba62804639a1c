"""Alerts on streams that went silent: a real scoring member, the calibrated alert hook and the real broker.

Four streams send 60 frames each with condition episodes and then stop, some in the middle of an
episode (an open alert). Before, those alerts stayed 'raised' forever; now the member publishes each
open alert once as 'stale' after consumer.stale_alert_after_s of silence, and nothing else.
"""

from __future__ import annotations

import dataclasses
import sys
import threading

import pytest

import monitor
from calibration.calibration_file import load_calibration
from calibration.detector import Detector
from pipelines.alerting import AlertingHook
from pipelines.consumer import ScoringConsumer
from pipelines.producers import FrameProducer
from pipelines.wire import FrameMeta
from tests.conftest import distinct_partition_prefix, read_topic
from tests.helpers import SHARED_DATA, belgium_frames
from tests.reliability import alert_counts, episode_frames, make_calibration, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FRAMES = 60


def test_open_alerts_of_silent_streams_become_stale_once(kafka_cfg, untrained_checkpoint, tmp_path):
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} is not there")
    cfg = dataclasses.replace(
        kafka_cfg,
        consumer=dataclasses.replace(kafka_cfg.consumer, max_batch=32, metrics_interval_s=0, stale_alert_after_s=2.0),
    )
    bootstrap = cfg.kafka.bootstrap_servers
    scorer = monitor.load_model(untrained_checkpoint, device="cpu")
    calibration = load_calibration(make_calibration(untrained_checkpoint, tmp_path), model_id=scorer.model_id)
    hook = AlertingHook(Detector(scorer, calibration), cfg.alerts)
    streams = [f"{distinct_partition_prefix(4)}-{i}" for i in range(4)]
    frames = episode_frames(belgium_frames(64), len(streams), FRAMES)
    producer = FrameProducer(cfg, bootstrap)
    for i in range(FRAMES):
        for s, stream in enumerate(streams):
            producer.send(FrameMeta(stream, i, 1_000_000_000 + i * 40_000_000, "test", "jpeg", None), frames[s][i][0])
    assert producer.close().undelivered == 0

    member = ScoringConsumer(cfg, bootstrap, scorer, on_scored=hook, name="stale", out=sys.stderr)
    runner = threading.Thread(target=member.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: member.scored == FRAMES * len(streams), 120, "every frame to be scored")
        opened = set(hook.tracker.active())
        assert opened, "no stream ended inside an episode: nothing to test"
        wait_for(lambda: member.stale_alerts == len(opened), 15, "the open alerts to be published as stale")
        threading.Event().wait(3)  # another silence period: no second stale event
    finally:
        member.stop()
        runner.join(60)
    counts = alert_counts(
        [r.value for r in read_topic(bootstrap, cfg.kafka.alerts_topic, 0, timeout_s=5, until=lambda r: False)]
    )
    stale = {aid for (aid, state), n in counts.items() if state == "stale" for _ in range(n)}
    assert sum(n for (_, state), n in counts.items() if state == "stale") == len(opened)
    assert {aid.rsplit(":", 1)[0] for aid in stale} == opened
