"""The demo's promise, on a short replay through the session broker: every condition episode raises
exactly one alert naming the injected condition within 10 frames of its onset, clear episodes raise
none, and every frame is scored. Plus the schedule and the episode bookkeeping on their own."""

from __future__ import annotations

import json
from itertools import pairwise

import pytest

import run_monitor
from calibration import episodes as ep
from calibration.calibration_file import load_detector
from calibration.episodes import EpisodeOutcome
from cli import demo_calibration, demo_episodes, demo_replay, demo_tracks
from cli.demo_outcomes import Row
from pipelines.config import Config
from tests.conftest import read_topic
from tests.helpers import SHARED_DATA, belgium_paths

STREAMS, PER_STREAM = 4, 130  # 3 condition streams x 3 episodes: each default condition once, ~5 s at full speed


@pytest.fixture(scope="module")
def demo_parts(tmp_path_factory):
    """A briefly trained model and a quick calibration on tracks the replay never shows (files in tmp only)."""
    import monitor
    from calibration.calibration_file import load_calibration, save_calibration
    from monitor.train import train_model

    belgium_paths()  # skips without ../shared/data
    split = demo_tracks.split_tracks(SHARED_DATA, seed=0)
    tmp = tmp_path_factory.mktemp("demo")
    paths, groups = demo_tracks.track_frames(split.train)
    train_model(paths, groups, tmp / "model.pt", epochs=5, seed=0)
    scorer = monitor.load_model(tmp / "model.pt", device="cpu")
    save_calibration(
        tmp / "calibration.yaml", demo_calibration.quick_calibration(scorer, split.calibration, Config(), seed=0)
    )
    cal = load_calibration(tmp / "calibration.yaml", model_id=scorer.model_id)
    return split, scorer, cal, tmp


@pytest.mark.slow
@pytest.mark.kafka
def test_every_episode_raises_one_alert_naming_it_within_10_frames(kafka_cfg, demo_parts):
    split, scorer, cal, _ = demo_parts
    names = {t.name for t in split.test}
    assert not names & {t.name for t in split.train + split.calibration}  # replayed tracks are unseen
    schedule = demo_episodes.demo_schedule([PER_STREAM] * STREAMS)
    plans = demo_episodes.deal_tracks(split.test, STREAMS)
    result = demo_replay.replay_episodes(
        kafka_cfg, kafka_cfg.kafka.bootstrap_servers, scorer, cal, plans, schedule, seed=0, fps=0
    )

    frames = STREAMS * PER_STREAM
    assert result.produced == result.report.delivered == frames
    assert (result.summary.scored, result.summary.dead_letters, result.summary.hook_errors) == (frames, 0, 0)
    for stream, rows in result.collected.by_stream.items():  # every seq of every stream, once
        assert sorted(r.seq for r in rows) == list(range(PER_STREAM)), stream

    planned = {(f"demo-{i}", s.start): s.length for i, segs in enumerate(schedule) for s in segs}
    outcomes = ep.evaluate_episodes(result.collected.by_stream, result.collected.alerts, planned)
    episodes = [o for o in outcomes if not o.clear]
    assert sorted(o.challenge for o in episodes) == sorted(demo_episodes.DEMO_CONDITIONS)
    assert all(o.complete for o in episodes) and {o.level for o in episodes} == {3, 4, 5}  # level 3 included
    for o in episodes:
        assert o.raised == 1, o
        assert o.named == o.expected, o
        assert o.delay is not None and o.delay < ep.MAX_DELAY, o
    clear = [o for o in outcomes if o.clear]
    assert len(clear) == 1 + 3 * 4 and all(o.raised == 0 for o in clear), [o for o in clear if o.raised]

    # What the alerts topic holds is what the hook returned: one raised and one cleared per episode.
    published = read_topic(
        kafka_cfg.kafka.bootstrap_servers,
        kafka_cfg.kafka.alerts_topic,
        0,
        timeout_s=30,
        until=lambda recs: sum(json.loads(r.value)["state"] == "cleared" for r in recs) >= len(episodes),
    )
    states = [
        (a["alert_id"], a["state"]) for a in map(lambda r: json.loads(r.value), published) if a["state"] != "updated"
    ]
    assert sorted(states) == sorted(
        (a["alert_id"], a["state"]) for a in result.collected.alerts if a["state"] != "updated"
    )
    assert sum(s == "raised" for _, s in states) == sum(s == "cleared" for _, s in states) == len(episodes)


@pytest.mark.slow
@pytest.mark.kafka
def test_demo_command_with_model_and_calibration_prints_console_and_json(kafka_broker, demo_parts, tmp_path, capsys):
    """The command end to end with --model and --calibration (no training, no calibrating): the
    step lines, a console snapshot (stdout is not a terminal here), the episode table, flat JSON."""
    _, scorer, _, files = demo_parts
    out_json = tmp_path / "demo.json"
    rc = run_monitor.main(
        [
            "demo",
            "--bootstrap-servers",
            kafka_broker.bootstrap,
            "--frames",
            "270",
            "--streams",
            "3",
            "--fps",
            "0",
            "--model",
            str(files / "model.pt"),
            "--calibration",
            str(files / "calibration.yaml"),
            "--json",
            str(out_json),
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, out + err
    for step in range(1, 8):
        assert f"[{step}/7] " in out
    assert "a snapshot at the end" in out and "alerts (0 open, 4 total)" in out  # the console's final snapshot
    assert "demo: 270 frames from 3 streams -> scored 270, dead letters 0" in out
    figures = json.loads(out_json.read_text())
    assert all(not isinstance(v, (dict, list)) for v in figures.values())
    assert figures["frames"] == figures["scored"] == 270 and figures["model_id"] == scorer.model_id
    assert figures["episodes"] == 4 and figures["episodes_ok"] == 4 and figures["false_alerts_clear"] == 0
    assert f"exactly one alert naming it within {ep.MAX_DELAY} frames: 4/4" in out


@pytest.mark.slow
def test_saved_model_and_calibration_load_as_a_detector(demo_parts, tmp_path):
    """--save-dir keeps what the demo made; the README's detector API reads it back."""
    from argparse import Namespace

    from tests.helpers import belgium_frames

    split, scorer, cal, files = demo_parts
    line = demo_calibration.save_artifacts(
        tmp_path / "keep",
        demo_calibration.DemoModel(str(files / "model.pt"), ""),
        cal,
        Namespace(model=None, calibration=None),
    )
    assert "model.pt" in line and "calibration.yaml" in line
    det = load_detector(tmp_path / "keep" / "model.pt", tmp_path / "keep" / "calibration.yaml", device="cpu")
    r = det.detect(belgium_frames(8))
    assert r.anomaly.shape == r.is_anomalous.shape == r.condition.shape == r.confidence.shape == (8,)
    assert det.threshold == cal.threshold.threshold


# ------------------------------------------------------------------------------------ pure parts


def test_schedule_control_stream_whole_episodes_and_different_conditions_side_by_side():
    schedule = demo_episodes.demo_schedule([130, 130, 130, 130])
    assert schedule[0] == [demo_episodes.Segment("none", 0, 0, 130)]  # the control stream
    for segs in schedule:
        assert sum(s.length for s in segs) == 130 and segs[0].start == 0
        assert all(a.start + a.length == b.start for a, b in pairwise(segs))  # contiguous
        assert all(s.length == 15 for s in segs if s.challenge != "none")  # no episode cut short
        assert all((a.challenge == "none") != (b.challenge == "none") for a, b in pairwise(segs))  # alternating
    firsts = [next(s for s in segs if s.challenge != "none") for segs in schedule[1:]]
    assert [s.challenge for s in firsts] == ["rain", "exposure", "gaussian_blur"]
    assert [s.start for s in firsts] == [20, 25, 30]  # staggered onsets
    with pytest.raises(ValueError):
        demo_episodes.demo_schedule([50], conditions=["clean"])


def _rows(pattern: list[tuple[str, int, int]]) -> list[Row]:
    """(challenge, level, frames) runs -> consecutive rows from seq 0."""
    out, seq = [], 0
    for challenge, level, n in pattern:
        for _ in range(n):
            out.append(Row(seq, challenge, level, False, "", 0.0, 0.0))
            seq += 1
    return out


def _alert(stream: str, onset: int, frames: int, condition: str, state: str = "raised") -> dict:
    return {"alert_id": f"{stream}:{onset}", "stream": stream, "state": state, "condition": condition, "frames": frames}


def test_episode_outcomes_delay_name_count_and_false_alerts():
    rows = {
        "s-1": _rows(
            [
                ("none", 0, 20),
                ("rain", 4, 15),
                ("none", 0, 20),
                ("haze", 5, 15),
                ("none", 0, 20),
                ("snow", 5, 15),
                ("none", 0, 10),
            ]
        )
    }
    alerts = [
        _alert("s-1", 21, 2, "rain"),
        _alert("s-1", 21, 20, "rain", "cleared"),  # ok: raised at seq 22, delay 2
        _alert("s-1", 55, 12, "snow"),
        _alert("s-1", 55, 30, "haze", "cleared"),  # raised at 66: late, named wrong
        _alert("s-1", 45, 3, "rain"),  # raised at 47, in a clear episode
        _alert("s-1", 91, 2, "snow"),
        _alert("s-1", 100, 2, "snow"),  # two alerts for one episode
    ]
    out = ep.evaluate_episodes(rows, alerts)
    by = {(o.challenge, o.onset): o for o in out}
    rain, haze, snow = by[("rain", 20)], by[("haze", 55)], by[("snow", 90)]
    assert (rain.raised, rain.named, rain.delay, rain.ok) == (1, "rain", 2, True)
    assert (haze.raised, haze.named, haze.final, haze.delay, haze.ok) == (1, "snow", "haze", 11, False)
    assert by[("none", 35)].raised == 1 and not by[("none", 35)].ok
    assert (snow.raised, snow.named, snow.delay, snow.ok) == (2, "snow", 2, False)
    assert [o.raised for o in out if o.clear] == [0, 1, 0, 0]
    t = ep.episode_totals(out)
    assert (
        t["episodes"],
        t["episodes_detected"],
        t["episodes_named"],
        t["episodes_exactly_one_alert"],
        t["episodes_ok"],
        t["false_alerts_clear"],
    ) == (3, 3, 2, 2, 1, 1)
    assert t["mean_delay_frames"] == 5.0 and t["max_delay_frames"] == 11


def test_blur_of_either_kind_is_named_blur_and_cut_short_episodes_do_not_count():
    assert ep.expected_condition("lens_blur") == ep.expected_condition("gaussian_blur") == "blur"
    o = EpisodeOutcome("s", "rain", 4, 0, 9, 15, 0, None, None, None, "rain")
    assert not o.complete and ep.episode_totals([o])["episodes"] == 0
