"""`demo`: the product's front door, the whole monitor in one process.

Steps, each printing one line:
1. broker      - embedded Tansu (or the configured cluster, with demo-only topics and group);
2. model       - --model, or a quick one trained on the TRAIN tracks of a track-wise split of the
                 clean crops in --data;
3. calibration - --calibration FILE, or a quick one: the CALIBRATION tracks' clean frames plus a
                 small in-memory challenge set made from them (each frame once per CURE-TSR effect,
                 at a level drawn from 2-5), both passed through the wire encoding first, so the
                 detector is calibrated on frames as the consumer will decode them;
4. episodes    - per stream a schedule of episodes (clear, then rain, then clear, then blur, ...)
                 played on the TEST tracks only (never seen by training or calibration); condition
                 frames are made on the fly with monitor.challenges.apply_challenge, seeded; every
                 frame carries its ground truth (challenge, level) in its headers;
5. consumer    - an in-process ScoringConsumer whose hook is pipelines.alerting.CalibratedHook
                 (calibrated decisions + AlertTracker), publishing score and alert records;
6. console     - the live console (LiveConsole over a ConsoleState fed with the consumer's score and
                 alert records) unless --no-console; a final snapshot is printed at the end;
7. summary     - frames, scored, dead letters, one row per injected episode (alert raised? named
                 what? after how many frames?), false alerts on clear episodes, and the totals;
                 --json writes the figures as flat keys.

Stream 0 is a control stream that stays clear throughout (when there are two streams or more).

This module runs the steps in order; each step's work lives in a module of its own:
cli/demo_tracks.py (the track-wise split), cli/demo_calibration.py (steps 2-3),
cli/demo_episodes.py (step 4), cli/demo_replay.py (steps 5-6), cli/demo_outcomes.py and
cli/demo_summary.py (step 7).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from calibration.episodes import evaluate_episodes
from cli.demo_calibration import calibration_line, prepare_model, quick_calibration, save_artifacts, unsupported_warning
from cli.demo_episodes import (
    DEMO_CONDITIONS,
    DEMO_LEVELS,
    Segment,
    deal_tracks,
    demo_schedule,
    frames_per_stream,
    parse_conditions,
    parse_levels,
)
from cli.demo_replay import DemoReplay, NullOut, ReplayResult, demo_config, logs_held
from cli.demo_summary import print_summary
from cli.demo_tracks import DEFAULT_DATA, DemoSplit, Track, split_tracks
from pipelines.config import Config

DEMO_FPS = 10.0  # per stream: slow enough to watch alerts come and go


class DemoPlan(NamedTuple):
    """What the options ask for, checked before any work starts."""

    data: Path
    split: DemoSplit
    levels: tuple[int, ...]
    conditions: tuple[str, ...]
    seed: int
    fps: float


def plan_demo(args: Any) -> DemoPlan:
    """--data, --levels, --conditions, --seed and --fps, checked; the track-wise split made."""
    data = Path(args.data) if args.data else DEFAULT_DATA
    if not data.is_dir():
        raise ValueError(f"--data {data}: no image folder to replay (e.g. ../shared/data/belgiumtsc)")
    levels = parse_levels(getattr(args, "levels", None) or ",".join(map(str, DEMO_LEVELS)))
    conditions = parse_conditions(getattr(args, "conditions", None) or ",".join(DEMO_CONDITIONS))
    seed = int(getattr(args, "seed", 0) or 0)
    fps = DEMO_FPS if args.fps is None else args.fps
    split = split_tracks(data, seed)
    if not split.test or not split.calibration:
        raise ValueError(f"--data {data}: too few tracks to split into training, calibration and replay")
    return DemoPlan(data, split, levels, conditions, seed, fps)


def _step(n: int, text: str) -> None:
    print(f"[{n}/7] {text}", flush=True)


def run_demo(cfg: Config, args: Any, stop: threading.Event | None = None) -> int:
    """The demo, step by step; returns the exit code. `stop` (Ctrl-C/SIGTERM) ends the replay early."""
    from pipelines.broker import open_broker

    plan = plan_demo(args)
    stop = stop or threading.Event()
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signwatch-demo-") as tmp, open_broker(cfg) as handle:
        cfg = _broker_step(cfg, handle)
        model, scorer, cal = _model_and_calibration_steps(cfg, args, plan, Path(tmp))
        plans, schedule = _episodes_step(args, plan)
        result = _replay_steps(cfg, handle.bootstrap, scorer, cal, plans, schedule, args, plan, stop)
    figures = _summary_step(result, schedule, args, model.note)
    total = time.monotonic() - t_start
    print(f"  total demo time {total:.0f} s")
    if getattr(args, "json", None):
        figures.update(_run_figures(cfg, total, scorer, cal, plan))
        Path(args.json).write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
        print(f"  wrote {args.json}")
    return 0 if result.summary.scored + result.summary.dead_letters >= result.report.delivered else 1


def _broker_step(cfg: Config, handle: Any) -> Config:
    """Step 1: the demo's config for this broker (own topics and group on a real cluster), topics made."""
    from pipelines.broker import ensure_topics

    cfg = demo_config(cfg, handle.embedded)
    ensure_topics(handle.bootstrap, cfg)
    _step(
        1,
        f"broker: {'embedded Tansu' if handle.embedded else 'configured cluster'} at {handle.bootstrap}, "
        f"topics {cfg.kafka.frames_topic} -> {cfg.kafka.scores_topic}, {cfg.kafka.alerts_topic}",
    )
    return cfg


def _model_and_calibration_steps(cfg: Config, args: Any, plan: DemoPlan, workdir: Path) -> tuple[Any, Any, Any]:
    """Steps 2-3: (DemoModel, its scorer, the calibration); --save-dir keeps what was made here."""
    import monitor
    from calibration.calibration_file import load_calibration

    split = plan.split
    model = prepare_model(cfg, args, split, workdir, plan.data)
    scorer = monitor.load_model(model.path, device=cfg.consumer.device)
    _step(2, f"model: {model.note} (tracks: {split.line()}; no track is in two of them)")

    t0 = time.monotonic()
    if getattr(args, "calibration", None):
        cal = load_calibration(args.calibration, model_id=scorer.model_id)
        _step(3, calibration_line(cal, f"calibration: {args.calibration}"))
    else:
        cal = quick_calibration(scorer, split.calibration, cfg, seed=plan.seed)
        _step(3, calibration_line(cal, f"calibration: quick, {time.monotonic() - t0:.0f} s"))
    warning = unsupported_warning(cal)
    if warning:
        print(f"      {warning}", flush=True)
    if getattr(args, "save_dir", None):
        print(f"      {save_artifacts(Path(args.save_dir), model, cal, args)}", flush=True)
    return model, scorer, cal


def _episodes_step(args: Any, plan: DemoPlan) -> tuple[list[list[Track]], list[list[Segment]]]:
    """Step 4: each stream's replay tracks and episode schedule."""
    per_stream = frames_per_stream(args.frames, args.streams)
    schedule = demo_schedule(
        per_stream, clear=args.clear_frames, length=args.episode_frames, conditions=plan.conditions, levels=plan.levels
    )
    plans = deal_tracks(plan.split.test, args.streams)
    n_cond = sum(1 for segs in schedule for sg in segs if sg.challenge != "none")
    control = " (demo-0 stays clear: the control)" if args.streams > 1 else ""
    fps = plan.fps
    _step(
        4,
        f"episodes: {args.streams} streams x ~{per_stream[0]} frames at "
        f"{f'{fps:g} frames/s' if fps > 0 else 'full speed'} per stream, {n_cond} condition episodes of "
        f"{args.episode_frames} frames (levels {','.join(map(str, plan.levels))}) between clear ones of "
        f"{args.clear_frames}{control}, on the {len(plan.split.test)} replay tracks",
    )
    return plans, schedule


def _replay_steps(
    cfg: Config,
    bootstrap: str,
    scorer: Any,
    cal: Any,
    plans: Sequence[Sequence[Track]],
    schedule: Sequence[Sequence[Segment]],
    args: Any,
    plan: DemoPlan,
    stop: threading.Event,
) -> ReplayResult:
    """Steps 5-6: the consumer joins, the console shows (live, a final snapshot, or off), the episodes play."""
    from rich.console import Console

    from pipelines.console import LiveConsole
    from pipelines.console_layout import render
    from pipelines.console_state import ConsoleState

    console = Console()
    show = not args.no_console
    live = show and console.is_terminal
    state = ConsoleState.for_config(cfg) if show else None
    if state is not None:
        state.set_source(f"demo · {bootstrap}")
    replay = DemoReplay(cfg, bootstrap, scorer, cal, state, consumer_out=NullOut() if live else None)
    try:
        join_s = replay.start()
        _step(5, f"consumer: joined group {cfg.consumer.group_id} in {join_s:.1f} s; {_alert_rule(cfg)}")
        if live:
            _step(6, "console: live (Ctrl-C ends the replay early)")
        elif show:
            _step(6, "console: a snapshot at the end (stdout is not a terminal)")
        else:
            _step(6, "console: off (--no-console)")
        with logs_held(live), LiveConsole(state, console) if live else contextlib.nullcontext():
            result = replay.play(plans, schedule, seed=plan.seed, fps=plan.fps, stop=stop)
    finally:
        replay.close()
    if show and not live:
        console.print(render(state, console.width, None))
    return result


def _alert_rule(cfg: Config) -> str:
    """The calibrated alerts' raise and clear rule, in words."""
    a = cfg.alerts
    evidence = (
        f" or {a.evidence_h:g} nats of evidence (anomaly above {a.evidence_ref:g}, each capped at "
        f"{a.evidence_cap:g}) within {a.evidence_n} frames"
        if a.evidence
        else ""
    )
    return (
        f"calibrated alerts raise on {a.k} of {a.n} anomalous frames{evidence}, "
        f"and clear after {a.clear_n} frames with fewer than {a.clear_k}"
    )


def _summary_step(result: ReplayResult, schedule: Sequence[Sequence[Segment]], args: Any, model_note: str) -> dict:
    """Step 7: the verdict on every episode, printed; returns the summary figures."""
    planned = {(f"demo-{i}", sg.start): sg.length for i, segs in enumerate(schedule) for sg in segs}
    outcomes = evaluate_episodes(result.collected.by_stream, result.collected.alerts, planned)
    _step(7, "summary")
    figures = print_summary(result, outcomes, args.streams)
    print(f"  {model_note}")
    if result.report.undelivered:
        print(f"  producer: {result.report.describe()}")
    return figures


def _run_figures(cfg: Config, total_s: float, scorer: Any, cal: Any, plan: DemoPlan) -> dict[str, Any]:
    """--json's keys about the run itself: time, model, threshold, seed, pace and the alert rule."""
    a = cfg.alerts
    return {
        "total_s": round(total_s, 1),
        "model_id": scorer.model_id,
        "threshold": round(float(cal.threshold.threshold), 4),
        "calibration_supported": bool(cal.threshold.supported),
        "seed": plan.seed,
        "fps": plan.fps,
        "alert_k": a.k,
        "alert_n": a.n,
        "alert_clear_k": a.clear_k,
        "alert_clear_n": a.clear_n,
        "alert_evidence_h": a.evidence_h,
        "alert_evidence_n": a.evidence_n,
        "alert_evidence_ref": a.evidence_ref,
        "alert_evidence_cap": a.evidence_cap,
    }


def add_demo_arguments(p: Any) -> None:
    """The demo's own command-line options (the demo subcommand is registered in cli/stream_commands.py)."""
    p.add_argument("--frames", type=int, default=2000, help="frames to replay in total (default 2000)")
    p.add_argument("--streams", type=int, default=4, help="parallel streams; stream 0 stays clear (default 4)")
    p.add_argument("--fps", type=float, help=f"frames per second per stream (default {DEMO_FPS:g}; 0 = full speed)")
    p.add_argument("--model", help="checkpoint to score with (default: train a quick one on the training tracks)")
    p.add_argument(
        "--calibration",
        metavar="YAML",
        help="calibration file for --model (default: calibrate quickly on the calibration tracks)",
    )
    p.add_argument("--epochs", type=int, default=20, help="epochs of the quick model (default 20, a few seconds)")
    p.add_argument(
        "--data", help="clean image folder to train, calibrate and replay from (default ../shared/data/belgiumtsc)"
    )
    p.add_argument("--seed", type=int, default=0, help="track split and effect randomness (default 0)")
    p.add_argument("--episode-frames", type=int, default=15, help="frames per condition episode (default 15)")
    p.add_argument("--clear-frames", type=int, default=20, help="clear frames between episodes (default 20)")
    p.add_argument("--levels", help=f"condition levels to cycle through (default {','.join(map(str, DEMO_LEVELS))})")
    p.add_argument("--conditions", help=f"conditions to cycle through (default {','.join(DEMO_CONDITIONS)})")
    p.add_argument("--json", metavar="PATH", help="also write the summary figures as flat JSON keys")
    p.add_argument(
        "--save-dir",
        metavar="DIR",
        help="keep the quick model and calibration there (model.pt, "
        "calibration.yaml) for `score --calibration` and the detector API",
    )
    p.add_argument("--no-console", action="store_true", help="print the summary only, without the live console")
