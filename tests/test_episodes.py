"""The one judge of episodes (calibration.episodes), on hand-made alert sequences, and the offline
replay (calibration.episode_replay) judged by it.

Two rules were in use before: the demo and `check` gave an alert to the episode whose frames held
the frame that raised it (so a raise just after an episode ended was a false alert on the clear
stretch), and the replay gave an episode every raise up to the next episode (so a raise deep in a
clear stretch was never a false alert). The cases below tell the one rule apart from both.
"""

from __future__ import annotations

import numpy as np

from calibration import episodes as ep
from calibration.episode_replay import episode_figures, episode_replay
from calibration.episodes import FrameTruth
from calibration.settings import AlertConfig

# One stream: clear 0-19, rain L4 20-34, clear 35-54, haze L5 55-69, clear 70-89, snow L3 90-104,
# clear 105-124, rain L3 125-139 then rain L5 140-154 back to back, clear 155-174.
SCHEDULE = [
    ("none", 0, 20),
    ("rain", 4, 15),
    ("none", 0, 20),
    ("haze", 5, 15),
    ("none", 0, 20),
    ("snow", 3, 15),
    ("none", 0, 20),
    ("rain", 3, 15),
    ("rain", 5, 15),
    ("none", 0, 20),
]


def _rows(spec: list[tuple[str, int, int]]) -> list[FrameTruth]:
    out, seq = [], 0
    for challenge, level, n in spec:
        out += [FrameTruth(seq + i, challenge, level) for i in range(n)]
        seq += n
    return out


def _raised(onset: int, raised_at: int, condition: str, stream: str = "s") -> dict:
    """A "raised" record as pipelines.wire writes it: its frames run from the onset to the raise."""
    return {
        "alert_id": f"{stream}:{onset}",
        "stream": stream,
        "state": "raised",
        "condition": condition,
        "frames": raised_at - onset + 1,
    }


def _judge(alerts: list[dict]) -> dict[tuple[str, int], ep.EpisodeOutcome]:
    return {(o.challenge, o.onset): o for o in ep.evaluate_episodes({"s": _rows(SCHEDULE)}, alerts)}


def test_a_timely_raise_naming_the_condition_meets_the_episode():
    out = _judge([_raised(20, 22, "rain")])
    assert (out[("rain", 20)].raised, out[("rain", 20)].delay, out[("rain", 20)].ok) == (1, 2, True)
    assert out[("rain", 20)].delay < ep.MAX_DELAY


def test_a_late_raise_inside_the_episode_misses_it():
    out = _judge([_raised(25, 30, "rain")])  # raised on the 11th frame: delay 10 is one too many
    assert (out[("rain", 20)].raised, out[("rain", 20)].delay, out[("rain", 20)].ok) == (1, 10, False)
    assert _judge([_raised(25, 29, "rain")])[("rain", 20)].ok  # delay 9: in time


def test_two_raises_in_one_episode_miss_it():
    out = _judge([_raised(56, 57, "haze"), _raised(62, 63, "haze")])
    assert (out[("haze", 55)].raised, out[("haze", 55)].ok) == (2, False)


def test_a_raise_naming_another_condition_misses_the_episode():
    out = _judge([_raised(91, 92, "rain")])
    assert (out[("snow", 90)].raised, out[("snow", 90)].named, out[("snow", 90)].ok) == (1, "rain", False)


def test_a_raise_that_began_in_the_episode_but_came_after_it_is_the_episodes_late_alert():
    """Onset on the rain episode's last frame, raised on the clear frame after it: the episode's
    alert (late: delay 16), not a false alert. The raise-frame rule made it a false alert."""
    out = _judge([_raised(34, 36, "rain")])
    assert (out[("rain", 20)].raised, out[("rain", 20)].delay, out[("rain", 20)].ok) == (1, 16, False)
    assert [o.raised for o in out.values() if o.clear] == [0, 0, 0, 0, 0]
    assert ep.episode_totals(list(out.values()))["false_alerts_clear"] == 0


def test_a_raise_that_began_in_one_episode_and_came_in_the_next_is_the_first_ones():
    out = _judge([_raised(138, 141, "rain")])  # onset in rain L3 (125-139), raised in rain L5 (140-)
    assert (out[("rain", 125)].raised, out[("rain", 125)].delay) == (1, 16)
    assert out[("rain", 140)].raised == 0


def test_a_raise_with_its_onset_on_the_clear_frame_before_an_episode_is_the_episodes():
    out = _judge([_raised(54, 56, "haze")])  # a clear frame flagged just before haze began
    assert (out[("haze", 55)].raised, out[("haze", 55)].delay, out[("haze", 55)].ok) == (1, 1, True)
    assert out[("none", 35)].raised == 0


def test_a_raise_deep_in_a_clear_stretch_is_a_false_alert_even_after_an_episode():
    """Haze met in time, then an alert begun and raised on clear frames 10 frames after it: a false
    alert on the clear stretch, and haze still met. The replay's old window gave it to haze."""
    out = _judge([_raised(56, 57, "haze"), _raised(80, 81, "haze")])
    assert (out[("haze", 55)].raised, out[("haze", 55)].ok) == (1, True)
    assert out[("none", 70)].raised == 1 and not out[("none", 70)].ok
    totals = ep.episode_totals(list(out.values()))
    assert (totals["false_alerts_clear"], totals["episodes_ok"]) == (1, 1)
    assert ep.owner(ep.episodes_of({"s": _rows(SCHEDULE)}), 80, 81) == 4  # the clear stretch 70-89


def _decisions(flags: list[int], condition: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = np.array(flags, dtype=bool)
    return np.where(f, 9.0, 0.0), f, np.array([condition if x else "clean" for x in f])


def test_the_replay_is_judged_by_the_same_rule():
    """Through the real alert state machine (k=2 of 3, no evidence): the first episode is met; two
    clean frames flagged together 10 frames after it ended raise an alert on the clean stretch, a
    false alert, still open when the second episode begins, which so raises nothing. Under the
    replay's old window that raise was the first episode's second alert and no false alert."""
    cfg = AlertConfig(evidence_h=0, name_margin=1)  # a raise on two frames (a lead of 3 would wait)
    clean = _decisions([0] * 30 + [1, 1] + [0] * 8, "rain")  # the second stretch holds the flagged pair
    effect = _decisions([1] * 15 + [1] * 15, "rain")
    runs = episode_replay(clean, effect, cfg)
    assert [(o, n, e) for o, n, e in runs.spans] == [(0, 20, False), (20, 15, True), (35, 20, False), (55, 15, True)]
    raised = [(a["alert_id"], a["frames"]) for a in runs.alerts if a["state"] == "raised"]
    assert raised == [("replay:20", 2), ("replay:45", 2)]
    figures = episode_figures(runs, "rain")
    assert figures == {"episodes": 2, "alerted_within_10": 1, "met": 1, "false_alerts": 1}
