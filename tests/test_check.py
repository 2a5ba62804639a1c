"""The promise measured through the real pipeline: `produce replay --gap` puts clean frames between
sequences, a scoring consumer with calibrated alerts scores them through the session broker, and
`check` reads scores and alerts back and judges the episodes (calibration/episodes.py). Plus the
gap source and the episode judging (stuck alerts, per condition and level) on their own."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

import run_monitor
from calibration import episodes as ep
from calibration.episodes import FrameTruth
from pipelines.producers import cure_gaps, cure_sequences, replay_ticks
from tests.conftest import write_config
from tests.helpers import SHARED_DATA, belgium_paths
from tests.test_demo import demo_parts  # noqa: F401  (the module's quick model and calibration)

GAP = 12  # > alerts.clear_n (10): an episode's alert clears inside the gap that follows it
CHALLENGES = ("haze", "rain")
TRACKS = 3


@pytest.fixture(scope="module")
def cure_set(tmp_path_factory):
    """A tiny CURE-TSR layout built by the code from BelgiumTSC tracks: ChallengeFree plus haze and rain at level 5."""
    from cli import demo_tracks
    from monitor.challenges import build_challenge_set

    belgium_paths()  # skips without ../shared/data
    split = demo_tracks.split_tracks(SHARED_DATA, seed=0)
    tracks = [t for t in split.test if len(t.paths) == 3][:TRACKS]
    root = tmp_path_factory.mktemp("cure") / "set"
    build_challenge_set([p for t in tracks for p in t.paths], root, challenges=CHALLENGES, levels=[5], workers=1)
    return root


def _truths(ticks) -> dict[str, list[tuple[str, int, str]]]:
    out: dict[str, list[tuple[str, int, str]]] = {}
    for tick in ticks:
        for f in tick:
            out.setdefault(f.stream, []).append((f.truth.challenge, f.truth.level, f.truth.sequence))
    return out


def test_gap_puts_the_sequences_own_clean_frames_between_sequences(cure_set):
    seqs = cure_sequences(cure_set, challenge_types=list(CHALLENGES))
    assert len(seqs) == len(CHALLENGES) * TRACKS
    plain = _truths(replay_ticks(seqs, 2))
    gapped = _truths(replay_ticks(seqs, 2, gaps=cure_gaps(cure_set, seqs, GAP)))
    for stream, rows in gapped.items():
        assert rows[:3] == plain[stream][:3]  # no gap before a stream's first sequence
        kept = [r for r in rows if r[0] != "none"]
        assert kept == plain[stream]  # the sequences themselves, in the same order
        n_seqs = len({r[2] for r in kept})
        assert len(rows) - len(kept) == GAP * (n_seqs - 1)
        # every gap: level 0, ChallengeFree frames of the sequence that follows it
        for i, r in enumerate(rows):
            if r[0] == "none":
                nxt = next(x for x in rows[i:] if x[0] != "none")
                assert r[1] == 0 and "/ChallengeFree/" in r[2]
                assert r[2].rsplit("/", 2)[1:] == nxt[2].rsplit("/", 2)[1:]  # same sign, class/track


def test_gap_errors_name_the_input(cure_set, tmp_path):
    seqs = cure_sequences(cure_set, challenge_types=["rain"])
    with pytest.raises(ValueError, match="--gap must be >= 0"):
        cure_gaps(cure_set, seqs, -1)
    assert cure_gaps(cure_set, seqs, 0) == {}
    other = tmp_path / "empty"
    (other / "Real_Test" / "ChallengeFree").mkdir(parents=True)
    with pytest.raises(ValueError, match="has no ChallengeFree frames"):
        cure_gaps(other, seqs, 3)


def _rows(spec: list[tuple[str, int, int]]) -> list[FrameTruth]:
    out, seq = [], 0
    for challenge, level, n in spec:
        out += [FrameTruth(seq + i, challenge, level) for i in range(n)]
        seq += n
    return out


def _alert(stream: str, onset: int, frames: int, condition: str | None, state: str = "raised") -> dict:
    return {"alert_id": f"{stream}:{onset}", "stream": stream, "state": state, "condition": condition, "frames": frames}


def test_stuck_alerts_open_at_the_end_or_across_too_many_clear_frames():
    rows = {
        "a": _rows([("rain", 5, 5), ("none", 0, 30)]),  # raised on rain, never cleared: stuck at the end
        "b": _rows([("rain", 5, 5), ("none", 0, 30)]),  # cleared after 10 clear frames: fine
        "c": _rows([("rain", 5, 5), ("none", 0, 25), ("haze", 5, 5)]),  # cleared after 24 clear frames: stuck
        "d": _rows([("rain", 5, 5), ("none", 0, 20)]),  # open at the end, but only 20 clear frames
    }
    alerts = [
        _alert("a", 1, 2, "rain"),
        _alert("b", 1, 2, "rain"),
        _alert("b", 1, 14, "rain", "cleared"),
        _alert("c", 1, 2, "rain"),
        _alert("c", 1, 28, "rain", "cleared"),
        _alert("d", 1, 2, "rain"),
    ]
    stuck = ep.stuck_alerts(rows, alerts, stuck_clear=20)
    assert [(s.stream, s.clear_run, s.open_at_end) for s in stuck] == [("a", 30, True), ("c", 24, False)]
    assert ep.stuck_alerts(rows, alerts, stuck_clear=30) == []


def test_per_condition_and_level_and_false_alerts_per_clear_frame():
    rows = {"s": _rows([("none", 0, 20), ("rain", 4, 10), ("none", 0, 20), ("rain", 5, 10), ("none", 0, 10)])}
    alerts = [_alert("s", 21, 2, "rain"), _alert("s", 40, 2, "snow"), _alert("s", 52, 3, "haze")]
    out = ep.evaluate_episodes(rows, alerts)
    table = ep.by_condition_level(out)
    assert list(table) == [("none", 0), ("rain", 4), ("rain", 5)]
    assert table[("none", 0)]["frames"] == 50 and table[("none", 0)]["alerts"] == 1
    assert (table[("rain", 4)]["ok"], table[("rain", 4)]["mean_delay"]) == (1, 2.0)
    assert (table[("rain", 5)]["detected"], table[("rain", 5)]["named"], table[("rain", 5)]["ok"]) == (1, 0, 0)
    assert ep.false_alerts_per_clear_frame(out) == pytest.approx(1 / 50)
    assert ep.false_alerts_per_clear_frame(ep.evaluate_episodes({"s": _rows([("rain", 4, 3)])}, [])) is None


def test_wrong_names_counts_what_each_condition_was_named_instead():
    spec = [("none", 0, 20), ("rain", 4, 10), ("none", 0, 20), ("rain", 5, 10), ("none", 0, 20)]
    spec += [("rain", 3, 10), ("none", 0, 20), ("haze", 3, 10), ("none", 0, 20), ("rain", 2, 10), ("none", 0, 5)]
    rows = {"s": _rows(spec)}
    # rain 4 named snow; rain 5 right; rain 3 no alert; haze 3 named rain; rain 2 (under min_level) named snow
    alerts = [_alert("s", 21, 2, "snow"), _alert("s", 51, 2, "rain"), _alert("s", 111, 2, "rain")]
    alerts.append(_alert("s", 141, 2, "snow"))
    out = ep.evaluate_episodes(rows, alerts)
    assert ep.wrong_names(out) == {"haze": {"rain": 1}, "rain": {"no alert": 1, "snow": 1}}
    assert ep.wrong_names(out, min_level=2) == {"haze": {"rain": 1}, "rain": {"snow": 2, "no alert": 1}}
    assert ep.wrong_names(ep.evaluate_episodes(rows, alerts[1:2]), min_level=5) == {}


def test_warmup_totals_split_episodes_by_their_streams_first_verdict():
    from cli.check_command import verdicts_from
    from pipelines.wire import Origin, ScoreRecord

    spec = [("none", 0, 20), ("rain", 4, 10), ("none", 0, 20), ("haze", 5, 10), ("none", 0, 20), ("rain", 3, 10)]
    spec += [("none", 0, 5)]
    rows = {"a": _rows(spec), "b": _rows(spec), "c": _rows(spec)}
    # a: verdicts from seq 45, so rain 4 (onset 20) began before, haze 5 (50) and rain 3 (80) after;
    # b: verdicts from seq 50, haze's onset itself; c: never judged (baselines off, or warming up)
    changes = {"a": 45, "b": 50}
    records = [
        ScoreRecord(st, r.seq, 0.0, 0.0, (0.0,) * 4, "m", 0, 0, 0, "test", Origin("f", 0, r.seq))
        for st in rows
        for r in rows[st]
    ]
    records = [
        dataclasses.replace(rec, change=1.0) if rec.seq >= changes.get(rec.stream, 10**9) else rec for rec in records
    ]
    assert verdicts_from(records[::-1]) == changes  # the first judged frame, whatever order they come in
    alerts = [_alert(st, 21, 2, "rain") for st in rows] + [_alert(st, 51, 2, "snow") for st in rows]
    alerts.append(_alert("a", 81, 3, "rain"))
    out = ep.evaluate_episodes(rows, alerts)
    got = ep.warmup_totals(out, changes)
    assert got == {
        "before_verdicts_episodes": 1 + 1 + 3,  # a: rain 4; b: rain 4; c: all three
        "before_verdicts_detected": 1 + 1 + 2,
        "before_verdicts_ok": 1 + 1 + 1,
        "after_verdicts_episodes": 2 + 2,  # a and b: haze 5 (named snow) and rain 3 (only a's alerted)
        "after_verdicts_detected": 2 + 1,
        "after_verdicts_ok": 1,
    }
    assert ep.warmup_totals(out, changes, min_level=4)["after_verdicts_episodes"] == 2  # rain 3 left out


def test_frame_aurocs_per_level_against_every_clear_frame():
    ch = ["none"] * 4 + ["rain"] * 3 + ["rain"] * 2 + ["snow"] * 2 + ["haze"]
    lv = [0] * 4 + [3] * 3 + [5] * 2 + [2] * 2 + [4]
    v = [0.0, 1.0, 2.0, 3.0] + [4.0, 0.5, None] + [2.5, float("nan")] + [9.0, 9.0] + [2.0]
    got = ep.frame_aurocs(ch, lv, v, min_level=3)
    # rain 3: 4.0 beats all 4 clear, 0.5 beats 1 -> 5/8; the None is left out. rain 5: 2.5 beats 3 of 4.
    # haze 4: 2.0 beats 2 and ties 1 -> 2.5/4. snow is level 2, under min_level.
    assert got == {("haze", 4): 0.625, ("rain", 3): 0.625, ("rain", 5): 0.75}
    assert ep.frame_aurocs(["rain"], [3], [1.0]) == {}  # no clear frame to compare with
    with pytest.raises(ValueError, match="differ in length"):
        ep.frame_aurocs(["none", "rain"], [0, 3], [1.0])


def _wait_scored(consumer, frames: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while consumer.scored + consumer.dead_letters < frames and time.monotonic() < deadline:
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.kafka
def test_replay_with_gap_through_the_broker_checked_by_the_check_command(kafka_cfg, demo_parts, cure_set, tmp_path):  # noqa: F811
    from cli.demo_replay import DemoReplay

    _, scorer, cal, _ = demo_parts
    bootstrap = kafka_cfg.kafka.bootstrap_servers
    config = write_config(kafka_cfg, tmp_path / "config.yaml")
    streams, per_stream = 2, TRACKS * len(CHALLENGES) // 2  # sequences per stream
    frames = streams * (per_stream * 3 + (per_stream - 1) * GAP)
    replay = DemoReplay(kafka_cfg, bootstrap, scorer, cal)
    replay.start()
    try:
        rc = run_monitor.main(
            ["--config", str(config), "produce", "replay", str(cure_set), "--challenges", ",".join(CHALLENGES)]
            + ["--gap", str(GAP), "--streams", str(streams), "--fps", "0"]
        )
        assert rc == 0
        _wait_scored(replay.consumer, frames)
    finally:
        summary = replay.close()
    assert summary is not None and summary.scored == frames

    out = tmp_path / "check.json"
    assert run_monitor.main(["--config", str(config), "check", "--idle", "2", "--json", str(out)]) == 0
    fig = json.loads(out.read_text())
    assert fig["scored_frames"] == fig["truth_frames"] == frames and fig["streams"] == streams
    # episodes counted right: every sequence is an episode of its own, every gap a clear one
    assert fig["episodes"] == TRACKS * len(CHALLENGES)
    assert fig["haze_5_episodes"] == fig["rain_5_episodes"] == TRACKS
    assert fig["clear_episodes"] == streams * (per_stream - 1)
    assert fig["clear_frames"] == fig["none_0_frames"] == streams * (per_stream - 1) * GAP  # the gap frames
    # what check read back is what the consumer's hook decided
    collected = replay.collected
    own = ep.episode_totals(ep.evaluate_episodes(collected.by_stream, collected.alerts))
    assert {k: fig[k] for k in own} == own
    assert fig["alert_records"] == len(collected.alerts)
    assert fig["stuck_alerts"] == 0  # every alert clears inside the 12 clear frames that follow it
    assert fig["atypical_streams"] == 0  # replayed signs of the fleet's kind: no atypical view
    assert "before_verdicts_episodes" not in fig  # the demo's hook keeps no per-stream baselines
    # the per-frame AUROC from the records read back, the fleet's and the stream-aware anomaly
    assert fig["auroc_frames"] == frames
    for score in ("anomaly", "stream_anomaly"):
        cells = {k.split("_auroc_")[0]: v for k, v in fig.items() if k.endswith(f"_auroc_{score}")}
        cells.pop("mean", None)
        # one per condition level judged (levels >= 3), none for the clear frames
        assert set(cells) == {f"{c}_{lv}" for c in CHALLENGES for lv in (3, 4, 5) if f"{c}_{lv}_episodes" in fig}
        per = list(cells.values())
        assert all(0.0 <= a <= 1.0 for a in per)
        assert fig[f"mean_auroc_{score}"] == pytest.approx(sum(per) / len(per), abs=1e-4)


def test_atypical_streams_are_the_streams_with_an_atypical_event():
    from cli.check_command import atypical_streams

    alerts = [
        _alert("cam-10", 5, 1, None, "atypical"),
        _alert("cam-2", 5, 1, None, "atypical"),
        _alert("cam-2", 9, 1, None, "typical"),
        _alert("cam-3", 21, 2, "rain"),
    ]
    assert atypical_streams(alerts) == ["cam-2", "cam-10"]


@pytest.mark.kafka
def test_check_without_ground_truth_exits_with_one_line(kafka_cfg, tmp_path, capsys):
    config = write_config(kafka_cfg, tmp_path / "config.yaml")
    assert run_monitor.main(["--config", str(config), "check", "--idle", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "carries ground truth" in err[0], err
