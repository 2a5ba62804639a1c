"""Demo step 7, the printout: per-stream table, one row per condition episode, clear episodes,
totals; and the flat figures --json writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from calibration.episodes import MAX_DELAY, EpisodeOutcome, episode_totals, natural_order
from cli.demo_outcomes import totals_line
from cli.demo_replay import ReplayResult


def _result_word(o: EpisodeOutcome) -> str:
    if o.clear:
        return "ok" if o.raised == 0 else f"{o.raised} FALSE ALERT{'S' if o.raised > 1 else ''}"
    if not o.complete:
        return "cut short (not counted)"
    if o.raised == 0:
        return "MISSED"
    problems = []
    if o.raised > 1:
        problems.append(f"{o.raised} alerts")
    if o.named != o.expected:
        problems.append("WRONG NAME")
    if o.delay is None or o.delay >= MAX_DELAY:
        problems.append("LATE")
    return ", ".join(problems) or "ok"


def summary_figures(result: ReplayResult, outcomes: Sequence[EpisodeOutcome], streams: int) -> dict[str, Any]:
    """Flat keys (numbers and short strings) for --json."""
    s, m = result.summary, result.summary.metrics
    fig: dict[str, Any] = {
        "frames": result.produced,
        "streams": streams,
        "scored": s.scored,
        "dead_letters": s.dead_letters,
        "delivered": result.report.delivered,
        "hook_errors": s.hook_errors,
        "replay_s": round(result.elapsed_s, 2),
        "group_join_s": round(result.join_s, 2),
        "consumer_fps": round(result.rate, 1) if result.rate else None,
        "latency_p50_ms": m.p50_ms,
        "latency_p95_ms": m.p95_ms,
        "latency_p99_ms": m.p99_ms,
        "alerts_raised": sum(1 for a in result.collected.alerts if a["state"] == "raised"),
        "alert_records": len(result.collected.alerts),
    }
    fig.update(episode_totals(outcomes))
    per: dict[str, list[EpisodeOutcome]] = defaultdict(list)
    for o in outcomes:
        if not o.clear and o.level >= 3 and o.complete:
            per[o.challenge].append(o)
    for name, rows in sorted(per.items()):
        fig[f"{name}_episodes"] = len(rows)
        fig[f"{name}_ok"] = sum(1 for o in rows if o.ok)
    return fig


def print_summary(result: ReplayResult, outcomes: Sequence[EpisodeOutcome], streams: int, out=print) -> dict[str, Any]:
    s, m = result.summary, result.summary.metrics
    collected = result.collected
    out(
        f"demo: {result.produced} frames from {streams} streams -> scored {s.scored}, dead letters {s.dead_letters}, "
        f"in {result.elapsed_s:.1f} s"
    )
    p = lambda v: "n/a" if v is None else f"{v:.0f}"  # noqa: E731
    out(
        f"  consumer: {p(result.rate)} frames/s from first frame to last commit, mean batch {m.mean_batch:.1f}, "
        f"capture->publish latency p50/p95/p99 {p(m.p50_ms)}/{p(m.p95_ms)}/{p(m.p99_ms)} ms"
        + (f", hook errors {s.hook_errors}" if s.hook_errors else "")
    )
    raised_by: dict[str, int] = defaultdict(int)
    for a in collected.alerts:
        if a["state"] == "raised":
            raised_by[a["stream"]] += 1
    out(f"  {'stream':<8} {'frames':>6}  {'conditions injected':<40} {'anomalous':>9} {'alerts':>6}")
    for stream in sorted(collected.by_stream, key=natural_order):
        rows = collected.by_stream[stream]
        names: list[str] = []
        for r in sorted(rows):
            if r.challenge not in ("none", "?") and r.challenge not in names:
                names.append(r.challenge)
        conds = ",".join(names) or "-"
        out(f"  {stream:<8} {len(rows):>6}  {conds:<40} {sum(r.is_anomalous for r in rows):>9} {raised_by[stream]:>6}")
    cond = [o for o in outcomes if not o.clear]
    if cond:
        out(
            f"  episodes (an alert must be raised within {MAX_DELAY} frames of onset, name the condition, and be the only one):"
        )
        out(
            f"    {'stream':<8} {'condition':<15} {'level':>5} {'onset':>6} {'alerts':>6}  {'named (at clear)':<26} {'delay':>5}  result"
        )
        for o in cond:
            named = "-" if o.named is None else o.named + (f" ({o.final})" if o.final and o.final != o.named else "")
            delay = "-" if o.delay is None else str(o.delay)
            out(
                f"    {o.stream:<8} {o.challenge:<15} {o.level:>5} {o.onset:>6} {o.raised:>6}  {named:<26} {delay:>5}  {_result_word(o)}"
            )
    clear = [o for o in outcomes if o.clear]
    false = [o for o in clear if o.raised]
    out(
        f"  clear episodes: {len(clear)} ({sum(o.frames for o in clear)} frames), false alerts {sum(o.raised for o in false)}"
        + ("".join(f"; {o.stream} seq {o.onset}+{o.frames}: {o.raised}" for o in false))
    )
    t = episode_totals(outcomes)
    out("  " + totals_line(t))
    return summary_figures(result, outcomes, streams)
