"""`run_monitor.py check`: the promise measured through the real pipeline.

Reads the scores and alerts topics back (no consumer group: from the beginning, or the last --since
minutes), takes each score record's ground truth (docs/WIRE.md: a replayed frame's challenge and
level travel in its score record), judges episodes with calibration/episodes.py and prints, per
condition and level, the episodes met (one alert, named right, within MAX_DELAY frames), their
delay, false alerts per clear frame and the alerts stuck open over clear frames; and, per
condition, what the episodes not named right got instead (--json: "wrong_names").

A stream's frames are told apart by seq: two replays into the same topics under the same stream
ids are judged as one (use --since, fresh topics or another --prefix). Alerts are always read
from the beginning (an alert raised before --since may still be open).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from calibration.episodes import (
    MAX_DELAY,
    STUCK_CLEAR,
    EpisodeOutcome,
    FrameTruth,
    StuckAlert,
    by_condition_level,
    episode_totals,
    evaluate_episodes,
    false_alerts_per_clear_frame,
    frame_aurocs,
    natural_order,
    stuck_alerts,
    warmup_totals,
    wrong_names,
)
from cli.options import add_json_option, fail, write_json
from pipelines.config import Config
from pipelines.wire import ScoreRecord, alert_to_dict


class Readback:
    """What the topics held: score records, alert records (wire dicts) and unreadable records."""

    def __init__(self) -> None:
        self.scores: list[ScoreRecord] = []
        self.alerts: list[dict[str, Any]] = []
        self.malformed = 0
        self.missing: list[str] = []  # topics that were not there


def read_back(
    cfg: Config, bootstrap: str, since_minutes: float | None, idle_s: float = 3.0, timeout_s: float = 120.0
) -> Readback:
    """Every score and alert record (from the beginning, or the last `since_minutes`), read until
    no record came for `idle_s` (Tansu's end offsets are not to be trusted: pipelines.console_feed)."""
    from pipelines.console_feed import KafkaFeed

    feed = KafkaFeed(
        cfg, bootstrap, from_beginning=since_minutes is None, lookback_minutes=since_minutes, fail_fast=True
    )
    out = Readback()
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            events = feed.poll(0.2)
            if events:
                quiet_since = time.monotonic()
            elif feed.ready and time.monotonic() - quiet_since >= idle_s:
                break
            for e in events:
                if e.kind == "score":
                    out.scores.append(e.data)
                elif e.kind == "alert":
                    out.alerts.append(alert_to_dict(e.data))
                elif e.kind == "malformed":
                    out.malformed += 1
    finally:
        feed.close()
    out.missing = list(feed.missing)
    return out


def truth_rows(scores: Sequence[ScoreRecord]) -> dict[str, list[FrameTruth]]:
    """Per stream, the ground truth of its scored frames (frames without any are left out)."""
    rows: dict[str, list[FrameTruth]] = defaultdict(list)
    for s in scores:
        if s.truth is not None:
            rows[s.stream].append(FrameTruth(s.seq, s.truth.challenge, s.truth.level))
    return dict(rows)


def verdicts_from(scores: Sequence[ScoreRecord]) -> dict[str, int]:
    """Per stream, the seq of its first frame judged against its own normal (a `change` on its score
    record); streams never judged (warming up throughout, or baselines off) are left out."""
    first: dict[str, int] = {}
    for s in scores:
        if s.change is not None and s.seq < first.get(s.stream, s.seq + 1):
            first[s.stream] = s.seq
    return first


def atypical_streams(alerts: Sequence[dict[str, Any]]) -> list[str]:
    """Streams with an 'atypical' event on the alerts topic (calibration/baseline.py), natural order."""
    return sorted({a["stream"] for a in alerts if a["state"] == "atypical"}, key=natural_order)


def check_figures(
    outcomes: Sequence[EpisodeOutcome], stuck: Sequence[StuckAlert], min_level: int = 3
) -> dict[str, Any]:
    """Flat keys for --json: the totals, false alerts per clear frame, stuck alerts, and per condition
    and level '<challenge>_<level>_<figure>'."""
    fig: dict[str, Any] = dict(episode_totals(outcomes, min_level))
    rate = false_alerts_per_clear_frame(outcomes)
    fig["false_alerts_per_clear_frame"] = None if rate is None else round(rate, 6)
    fig["stuck_alerts"] = len(stuck)
    fig["stuck_streams"] = len({s.stream for s in stuck})
    fig["min_level"] = min_level
    for (challenge, level), row in by_condition_level(outcomes).items():
        for name, value in row.items():
            fig[f"{challenge}_{level}_{name}"] = value
    fig["wrong_names"] = wrong_names(outcomes, min_level)
    return fig


# The per-frame scores `check` reads the AUROC of, by name: the fleet model's anomaly, and the
# stream-aware one (max of it and the surprise against the stream's own normal).
FRAME_SCORES: dict[str, Callable[[ScoreRecord], float | None]] = {
    "anomaly": lambda s: s.anomaly,
    "stream_anomaly": ScoreRecord.stream_anomaly,
}


def auroc_figures(scores: Sequence[ScoreRecord], min_level: int = 3) -> dict[str, Any]:
    """Per-frame AUROC of each FRAME_SCORES score per challenge and level (>= min_level) against the
    clear frames, '<challenge>_<level>_auroc_<score>', and their means 'mean_auroc_<score>' (None
    where no record carries a calibration's anomaly)."""
    rows = [s for s in scores if s.truth is not None and s.anomaly is not None]
    fig: dict[str, Any] = {"auroc_frames": len(rows), "change_frames": sum(s.change is not None for s in rows)}
    challenges = [s.truth.challenge for s in rows]  # type: ignore[union-attr]
    levels = [s.truth.level for s in rows]  # type: ignore[union-attr]
    for name, score in FRAME_SCORES.items():
        values = [score(s) for s in rows]
        per = frame_aurocs(challenges, levels, values, min_level) if rows else {}
        for (challenge, level), a in per.items():
            fig[f"{challenge}_{level}_auroc_{name}"] = round(a, 4)
        fig[f"mean_auroc_{name}"] = round(float(sum(per.values()) / len(per)), 4) if per else None
    return fig


def _fmt(v: Any) -> str:
    return "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))


def print_table(outcomes: Sequence[EpisodeOutcome], stuck: Sequence[StuckAlert], fig: dict[str, Any]) -> None:
    print(
        f"  {'condition':<15} {'level':>5} {'episodes':>8} {'met':>5} {'detected':>8} {'named':>5} "
        f"{'alerts':>6} {'frames':>6} {'delay':>5} {'max':>4} {'auroc':>6} {'stream':>6}"
    )
    for (challenge, level), r in by_condition_level(outcomes).items():
        au = [fig.get(f"{challenge}_{level}_auroc_{name}") for name in FRAME_SCORES]
        print(
            f"  {challenge:<15} {level:>5} {r['episodes']:>8} {r['ok']:>5} {r['detected']:>8} {r['named']:>5} "
            f"{r['alerts']:>6} {r['frames']:>6} {_fmt(r['mean_delay']):>5} {_fmt(r['max_delay']):>4} "
            + " ".join(f"{'-' if a is None else f'{a:.3f}':>6}" for a in au)
        )
    rate = fig["false_alerts_per_clear_frame"]
    print(
        f"  level >= {fig['min_level']}: {fig['episodes_ok']}/{fig['episodes']} episodes met the promise (one alert, "
        f"named right, within {MAX_DELAY} frames); detected {fig['episodes_detected']}, named right "
        f"{fig['episodes_named']}, mean delay {_fmt(fig['mean_delay_frames'])} frames (max {_fmt(fig['max_delay_frames'])})"
    )
    print(
        f"  clear: {fig['clear_episodes']} episodes, {fig['clear_frames']} frames, false alerts "
        f"{fig['false_alerts_clear']} ({'-' if rate is None else f'{rate:.4f}'} per clear frame)"
    )
    if fig.get("mean_auroc_anomaly") is not None:
        print(
            f"  per frame (levels >= {fig['min_level']} against the clear frames, {fig['auroc_frames']} frames): mean "
            f"AUROC of anomaly (the fleet model's) {fig['mean_auroc_anomaly']:.3f}; of the stream-aware anomaly, "
            f"max(anomaly, change against the stream's own normal), {fig['mean_auroc_stream_anomaly']:.3f} "
            f"({fig['change_frames']} frames judged by their stream's baseline)"
        )
    if "before_verdicts_episodes" in fig:
        print(
            f"  began before their stream's baseline gave verdicts (the fleet's model alone could see them): "
            f"{fig['before_verdicts_ok']}/{fig['before_verdicts_episodes']} met, detected "
            f"{fig['before_verdicts_detected']}; after: {fig['after_verdicts_ok']}/{fig['after_verdicts_episodes']} "
            f"met, detected {fig['after_verdicts_detected']}"
        )
    if fig["wrong_names"]:
        print(f"  not named right (levels >= {fig['min_level']}), what they got instead:")
        for challenge, names in fig["wrong_names"].items():
            print(f"    {challenge}: " + ", ".join(f"{name} {n}" for name, n in names.items()))
    print(f"  stuck alerts (open through more than {fig['stuck_clear']} clear frames): {len(stuck)}")
    for s in stuck:
        where = "still open at the end" if s.open_at_end else "cleared late"
        print(f"    {s.alert_id} ({s.condition}): {s.clear_run} clear frames, {where}")


def cmd_check(args: argparse.Namespace, cfg: Config) -> int:
    from kafka.errors import KafkaError

    from pipelines.broker import BrokerError, check_reachable, resolve_shared_bootstrap

    if args.bootstrap_servers:
        cfg.kafka.bootstrap_servers = args.bootstrap_servers
    try:
        bootstrap = resolve_shared_bootstrap(cfg, "check")  # the running `broker`, never a private one
    except BrokerError as e:
        return fail(str(e))
    if args.since is not None and args.since <= 0:
        return fail(f"--since must be a positive number of minutes, got {args.since:g}")
    if args.stuck_clear < 1 or not 1 <= args.min_level <= 5:
        return fail(f"--stuck-clear must be >= 1 and --min-level 1..5, got {args.stuck_clear} and {args.min_level}")
    try:
        check_reachable(bootstrap, cfg.kafka.connect_timeout_s, cfg.kafka)
        back = read_back(cfg, bootstrap, args.since, args.idle, args.timeout)
    except (BrokerError, KafkaError) as e:
        return fail(f"cannot read the scores and alerts topics at {bootstrap}: {e}", 1)
    if cfg.kafka.scores_topic in back.missing:
        return fail(f"topic {cfg.kafka.scores_topic} not found at {bootstrap}: nothing was scored there", 1)
    rows = truth_rows(back.scores)
    if not rows:
        return fail(
            f"none of the {len(back.scores)} score records on {cfg.kafka.scores_topic} carries ground truth "
            "(replay frames with `produce replay` to get challenge/level headers)",
            1,
        )
    outcomes = evaluate_episodes(rows, back.alerts)
    stuck = stuck_alerts(rows, back.alerts, args.stuck_clear)
    fig = check_figures(outcomes, stuck, args.min_level)
    fig.update(auroc_figures(back.scores, args.min_level))
    judged = verdicts_from(back.scores)
    if judged:  # per-stream baselines were on: what the warm-up cost
        fig.update(warmup_totals(outcomes, judged, args.min_level))
    atypical = atypical_streams(back.alerts)
    fig.update(
        atypical_streams=len(atypical),
        scored_frames=len(back.scores),
        truth_frames=sum(len(v) for v in rows.values()),
        streams=len(rows),
        alert_records=len(back.alerts),
        malformed_records=back.malformed,
        stuck_clear=args.stuck_clear,
    )
    print(
        f"check: {fig['scored_frames']} score records ({fig['truth_frames']} with ground truth, {fig['streams']} "
        f"streams), {fig['alert_records']} alert records, {back.malformed} unreadable"
    )
    print_table(outcomes, stuck, fig)
    print(
        f"  streams reported atypical (atypical view: check ROI or camera): {len(atypical)}"
        + (f" ({', '.join(atypical)})" if atypical else "")
    )
    write_json(args.json, fig)
    return 0


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    """`check`: read the scores and alerts back and judge the episodes against the frames' ground truth."""
    p = sub.add_parser(
        "check",
        help="read scores and alerts back and judge them against the frames' ground truth",
        description="Read the scores and alerts topics (no consumer group; from the beginning or --since), "
        "cut each stream's scored frames into episodes of equal ground truth and print per condition and "
        f"level: episodes met (one alert, named right, within {MAX_DELAY} frames), delay, false alerts per "
        "clear frame, alerts stuck open over clear frames, and the per-frame AUROC of the fleet's and the "
        "stream-aware anomaly. Exits 1 when no score record carries ground truth.",
    )
    p.add_argument(
        "--bootstrap-servers", metavar="HOST:PORT[,...]", help="Kafka cluster to read (default kafka.bootstrap_servers)"
    )
    p.add_argument(
        "--since", type=float, metavar="MINUTES", help="only score records of the last MINUTES (default: all)"
    )
    p.add_argument(
        "--idle", type=float, default=3.0, help="stop reading after this many seconds without a record (default 3)"
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="stop reading after this many seconds in all (default 120)"
    )
    p.add_argument(
        "--stuck-clear",
        type=int,
        default=STUCK_CLEAR,
        metavar="N",
        help=f"an alert open through more than N consecutive clear frames is stuck (default {STUCK_CLEAR})",
    )
    p.add_argument("--min-level", type=int, default=3, help="levels counted in the totals (default 3: the promise's)")
    add_json_option(p, metavar="PATH")
    p.set_defaults(func=cmd_check)
