"""The live alert console: what every stream is doing, which alerts are open, and whether the
pipeline itself is healthy.

Three layers, each usable alone:
- `ConsoleState` (pipelines/console_state.py) holds what the records say; it is fed record by record.
- `render(state, width, height)` draws a snapshot of it with rich; tests render into a fixed-size,
  colourless Console and compare text (as rich's own tests/test_live.py does).
- `KafkaFeed` reads the scores, alerts and dead-letter topics with a group-less consumer, and
  `run_console` / `LiveConsole` tie state, feed and a rich Live display together. The demo embeds
  them: it shares one ConsoleState, feeds it from its own callbacks and wraps its run in LiveConsole.

`run_monitor.py console` is the command line.
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.layout import Layout
from rich.live import Live
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipelines.broker import BrokerError, check_reachable
from pipelines.config import Config
from pipelines.console_state import (
    ConsoleState,
    DeadLetterView,
    Snapshot,
    StreamView,
)

__all__ = [
    "ConsoleEvent",
    "ConsoleState",
    "KafkaFeed",
    "LiveConsole",
    "export_snapshot",
    "register",
    "render",
    "run_console",
    "sparkline",
]

BLOCKS = "▁▂▃▄▅▆▇█"
# At or above this width the dead-letter panel sits beside the alerts log; below it dead letters
# are a count in the header (an 80-column operator terminal has no room for error text).
WIDE = 140
HEALTH_STYLE = {"OK": "bold green", "DEGRADED": "bold yellow", "NO DATA": "bold yellow"}
STATE_STYLE = {"ALERT": "bold white on red", "stale": "bold yellow", "ok": "green"}
EVENT_STYLE = {"raised": "bold red", "updated": "yellow", "cleared": "green"}


# ----------------------------------------------------------------------------- formatting


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if abs(ms) < 1000:
        return f"{ms:.0f}ms"
    return f"{ms / 1000:.1f}s"


def fmt_conf(confidence: float | None) -> str:
    if confidence is None:
        return ""
    # Records carry a probability; accept a percentage too rather than print "9600%".
    pct = confidence * 100 if confidence <= 1.0 else confidence
    return f"{pct:.0f}%"


def fmt_condition(condition: str | None, confidence: float | None) -> str:
    text = condition or "anomaly"
    conf = fmt_conf(confidence)
    return f"{text} {conf}" if conf else text


def fmt_value(v: float | None) -> str:
    if v is None:
        return "-"
    a = abs(v)
    if a < 10:
        return f"{v:.3f}"
    if a < 1000:
        return f"{v:.1f}"
    return f"{v:.0f}"


def fmt_clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def ellipsize(text: str, width: int) -> str:
    if width <= 0:
        return ""
    if cell_len(text) <= width:
        return text
    out = Text(text)
    out.truncate(width, overflow="ellipsis")
    return out.plain


def sparkline(values: tuple[float, ...] | list[float], flags: tuple | list = (), threshold: float | None = None,
              width: int = 24) -> Text:
    """The last `width` values as block characters, newest on the right.

    █ is reserved for frames over the line: flagged anomalous by the calibration, or at/over the
    threshold. Below it, values are scaled to the threshold when one is known (so the height says
    how close a stream runs to alerting), else to the window's own range.
    """
    if width <= 0 or not values:
        return Text("")
    vals = list(values)[-width:]
    fl = (list(flags) + [None] * len(values))[: len(values)][-width:]
    flagged = any(f is not None for f in fl)
    over = [f if f is not None else (threshold is not None and v >= threshold) for v, f in zip(vals, fl)]
    below = [v for v, o in zip(vals, over) if not o]
    if threshold is not None:
        lo = 0.0 if min(vals) >= 0 and threshold > 0 else min(vals)
        hi, levels = threshold, 7
    elif flagged:
        lo, hi, levels = min(vals), (max(below) if below else max(vals)), 7
    else:
        lo, hi, levels = min(vals), max(vals), 8
    out = Text()
    for v, o in zip(vals, over):
        if o:
            out.append(BLOCKS[-1], style="bold red")
            continue
        idx = 0 if hi <= lo else int((v - lo) / (hi - lo) * (levels - 1) + 0.5)
        idx = min(max(idx, 0), levels - 1)
        out.append(BLOCKS[idx], style="yellow" if idx >= 5 else "green")
    return out


# ----------------------------------------------------------------------------- fitting columns


@dataclass
class _Col:
    """One table column: wanted width, and the order in which it gives way on narrow screens.

    steps: (priority, width) pairs; lower priorities are applied first; width 0 drops the column.
    """

    header: str
    cells: list[Text]
    want: int
    steps: tuple[tuple[int, int], ...] = ()
    justify: str = "left"
    grow: int = 0  # order in which shrunk columns take back spare width (lower first)
    width: int = 0
    redraw: Callable[[int], list[Text]] | None = None  # cells drawn for the final width (sparklines)


def _content_width(header: str, cells: list[Text], cap: int) -> int:
    return min(cap, max([cell_len(header)] + [c.cell_len for c in cells]))


def _fit(cols: list[_Col], avail: int, gap: int) -> list[_Col]:
    for c in cols:
        c.width = c.want

    def total() -> int:
        live = [c for c in cols if c.width > 0]
        return sum(c.width for c in live) + gap * max(0, len(live) - 1)

    steps = sorted((p, i, w) for i, c in enumerate(cols) for p, w in c.steps)
    dropped: list[_Col] = []
    for _p, i, w in steps:
        if total() <= avail:
            break
        if cols[i].width > 0:
            cols[i].width = min(cols[i].width, w)
            if cols[i].width == 0:
                dropped.append(cols[i])
    # A column dropped early may fit again once later steps shrank others: the most important first.
    for c in reversed(dropped):
        if avail - total() >= c.want + gap:
            c.width = c.want
    # Hand spare width back to columns that shrank (sparkline first), never past what they want.
    for c in sorted((c for c in cols if 0 < c.width < c.want), key=lambda c: c.grow):
        spare = avail - total()
        if spare <= 0:
            break
        c.width = min(c.want, c.width + spare)
    return [c for c in cols if c.width > 0]


def _table(cols: list[_Col], gap: int) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False, padding=(0, gap, 0, 0),
                  show_edge=False, expand=False, collapse_padding=False)
    for c in cols:
        if c.redraw is not None:
            c.cells = c.redraw(c.width)
        table.add_column(c.header, width=c.width, no_wrap=True, overflow="ellipsis", justify=c.justify)  # type: ignore[arg-type]
    rows = len(cols[0].cells) if cols else 0
    for r in range(rows):
        table.add_row(*(c.cells[r] for c in cols))
    return table


# ----------------------------------------------------------------------------- panels


def _status_text(row: StreamView) -> Text:
    if row.state == "ALERT":
        return Text.assemble(("ALERT", STATE_STYLE["ALERT"]), " ", (fmt_condition(row.condition, row.confidence), "bold red"))
    t = Text(row.state, style=STATE_STYLE[row.state])
    if row.condition is not None:
        # Anomalous frames without an alert (yet): a hint, not a state.
        t.append(f" ({fmt_condition(row.condition, row.confidence)})", style="yellow")
    return t


def _seen_text(row: StreamView) -> Text:
    if row.age_s is None:
        return Text("-", style="dim")
    if row.stale:
        return Text(f"stale {fmt_age(row.age_s)}", style="bold yellow")
    return Text(fmt_age(row.age_s))


def _streams_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None) -> Panel:
    inner = width - 4
    gap = 1 if width < 100 else 2
    rows = list(snap.streams)
    hidden: list[StreamView] = []
    if rows_fit is not None and len(rows) > rows_fit:
        rows, hidden = rows[: max(0, rows_fit)], rows[max(0, rows_fit):]
    title = Text.assemble(("streams", "bold"), f" ({len(snap.streams)})")
    if not snap.streams:
        body: RenderableType = Text(f"waiting for score records{' from ' + snap.source if snap.source else ''}",
                                    style="dim", no_wrap=True, overflow="ellipsis")
        return Panel(body, title=title, title_align="left", box=box.ROUNDED, padding=(0, 1), height=height)

    names = [Text(r.stream, style="bold" if r.state == "ALERT" else "") for r in rows]
    status = [_status_text(r) for r in rows]
    spark_w = snap.sparkline_width
    sparks: list[Text] = []  # drawn once the column's width is known
    seen = [_seen_text(r) for r in rows]
    fps = [Text("-" if r.fps is None else f"{r.fps:.1f}") for r in rows]
    lat = [Text(fmt_ms(r.latency_p50_ms)) for r in rows]
    last = [Text(fmt_value(r.last_value)) for r in rows]
    frames = [Text(f"{r.frames:,}") for r in rows]
    anom = [Text(f"{r.anomalous:,} ({100 * r.anomalous / r.frames:.1f}%)" if r.frames else "-") for r in rows]
    model = [Text(",".join(m[:12] for m in r.models) or "-") for r in rows]
    cols = [
        _Col("stream", names, _content_width("stream", names, 40), ((12, 24), (15, 16), (50, 10), (80, 6)), grow=2),
        _Col("status", status, _content_width("status", status, 26), ((16, 18), (55, 12), (85, 6)), grow=3),
        _Col("recent scores", sparks, spark_w, ((20, 16), (40, 10), (75, 0)), grow=1,
             redraw=lambda w: [sparkline(r.values, r.flags, r.threshold, w) for r in rows]),
        _Col("seen", seen, _content_width("seen", seen, 12), ((60, 0),), justify="right"),
        _Col("fps", fps, _content_width("fps", fps, 7), ((45, 0),), justify="right"),
        _Col("p50 lat", lat, _content_width("p50 lat", lat, 8), ((30, 0),), justify="right"),
        _Col("last", last, _content_width("last", last, 8), ((10, 0),), justify="right"),
        _Col("frames", frames, _content_width("frames", frames, 12), ((3, 0),), justify="right"),
        _Col("anomalous", anom, _content_width("anomalous", anom, 18), ((2, 0),), justify="right"),
        _Col("model", model, _content_width("model", model, 26), ((1, 0),)),
    ]
    table = _table(_fit(cols, inner, gap), gap)
    subtitle = None
    if hidden:
        counts = {}
        for r in hidden:
            counts[r.state] = counts.get(r.state, 0) + 1
        what = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: ("ALERT", "stale", "ok").index(kv[0])))
        subtitle = Text(ellipsize(f"+{len(hidden)} more: {what}", width - 6), style="bold")
    elif width >= WIDE and any(r.threshold is not None or any(f is not None for f in r.flags) for r in rows):
        # Only true when there is a line to be over; window-scaled sparklines use █ for their maximum.
        subtitle = Text("█ = anomalous frame / over threshold", style="dim")
    return Panel(table, title=title, title_align="left", subtitle=subtitle, subtitle_align="right",
                 box=box.ROUNDED, padding=(0, 1), height=height)


def _alerts_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None, keep: int) -> Panel:
    gap = 1 if width < 100 else 2
    events = list(snap.alerts[:keep])
    hidden = 0
    if rows_fit is not None and len(events) > rows_fit:
        hidden = len(events) - max(0, rows_fit)
        events = events[: max(0, rows_fit)]
    title = Text.assemble(("alerts", "bold"), f" ({snap.open_alerts} open, {snap.total_alerts} total)")
    subtitle = Text(f"+{hidden} older", style="bold") if hidden else None
    if not snap.alerts:
        return Panel(Text("no alerts", style="dim"), title=title, title_align="left", box=box.ROUNDED,
                     padding=(0, 1), height=height)
    when = [Text(fmt_clock(e.time_s)) for e in events]
    event = [Text(e.state, style=EVENT_STYLE.get(e.state, "")) for e in events]
    stream = [Text(e.stream) for e in events]
    cond = [Text(fmt_condition(e.condition, e.confidence)) for e in events]
    dur = [Text(fmt_age(e.duration_s) if e.duration_s is not None else "-") for e in events]
    frames = [Text(f"{e.anomalous_frames}/{e.frames}" if e.frames is not None and e.anomalous_frames is not None else "-")
              for e in events]
    smax = [Text(fmt_value(e.score_max)) for e in events]
    aid = [Text(e.alert_id) for e in events]
    cols = [
        _Col("time", when, 8),
        _Col("event", event, 7),
        _Col("stream", stream, _content_width("stream", stream, 40), ((12, 24), (50, 8)), grow=1),
        _Col("condition", cond, _content_width("condition", cond, 24), ((55, 10),), grow=2),
        _Col("lasted", dur, _content_width("lasted", dur, 8), ((40, 0),), justify="right"),
        _Col("anom/frames", frames, _content_width("anom/frames", frames, 13), ((30, 0),), justify="right"),
        _Col("max", smax, _content_width("max", smax, 8), ((20, 0),), justify="right"),
        _Col("alert id", aid, _content_width("alert id", aid, 36), ((5, 12), (10, 0)), grow=3),
    ]
    return Panel(_table(_fit(cols, width - 4, gap), gap), title=title, title_align="left", subtitle=subtitle,
                 subtitle_align="right", box=box.ROUNDED, padding=(0, 1), height=height)


def _dead_letter_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None) -> Panel:
    title = Text.assemble(("dead letters", "bold"), f" ({snap.dead_letter_total}, {snap.dead_letter_recent} recent)")
    items: list[DeadLetterView] = list(snap.dead_letters)
    hidden = 0
    if rows_fit is not None and len(items) > rows_fit:
        hidden = snap.dead_letter_total - max(0, rows_fit)
        items = items[: max(0, rows_fit)]
    elif snap.dead_letter_total > len(items):
        hidden = snap.dead_letter_total - len(items)
    subtitle = Text(f"+{hidden} older", style="bold") if hidden else None
    if not items:
        return Panel(Text("none", style="dim"), title=title, title_align="left", box=box.ROUNDED, padding=(0, 1),
                     height=height)
    when = [Text(fmt_clock(d.time_s)) for d in items]
    stage = [Text(d.stage, style="yellow") for d in items]
    stream = [Text(d.stream or "-") for d in items]
    error = [Text(d.error) for d in items]
    origin = [Text(d.origin) for d in items]
    cols = [
        _Col("time", when, 8),
        _Col("stage", stage, _content_width("stage", stage, 10)),
        _Col("stream", stream, _content_width("stream", stream, 16), ((50, 8),), grow=2),
        _Col("error", error, _content_width("error", error, 200), ((5, 12),), grow=1),
        _Col("origin", origin, _content_width("origin", origin, 32), ((3, 0),)),
    ]
    return Panel(_table(_fit(cols, width - 4, 1), 1), title=title, title_align="left", subtitle=subtitle,
                 subtitle_align="right", box=box.ROUNDED, padding=(0, 1), height=height)


def _chips(snap: Snapshot, wide: bool) -> list[Text]:
    """Header facts, most important first; the header keeps as many as fit."""
    n = len(snap.streams)
    by = {"ALERT": 0, "stale": 0, "ok": 0}
    for r in snap.streams:
        by[r.state] += 1
    streams = Text(f"streams {n}: ")
    streams.append(f"{by['ALERT']} ALERT", style="bold red" if by["ALERT"] else "")
    streams.append(", ")
    streams.append(f"{by['stale']} stale", style="bold yellow" if by["stale"] else "")
    streams.append(f", {by['ok']} ok")
    chips = [streams]
    chips.append(Text(f"alerts {snap.open_alerts} open / {snap.total_alerts}", style="bold red" if snap.open_alerts else ""))
    dl = Text(f"dead letters {snap.dead_letter_total:,}", style="bold yellow" if snap.dead_letter_recent else "")
    if snap.dead_letter_recent:
        dl.append(f" ({snap.dead_letter_recent} recent)")
    chips.append(dl)
    pct = f", {100 * snap.anomalous / snap.frames:.1f}%" if snap.frames else ""
    chips.append(Text(f"frames {snap.frames:,} ({snap.anomalous:,} anomalous{pct})"))
    if snap.fps is not None:
        chips.append(Text(f"{snap.fps:.1f} frames/s"))
    if snap.latency_p50_ms is not None:
        chips.append(Text(f"latency p50 {fmt_ms(snap.latency_p50_ms)} p99 {fmt_ms(snap.latency_p99_ms)}"))
    if snap.consumers:
        chips.append(Text(f"consumers {len(snap.consumers)}"))
    if len(snap.models) == 1:
        chips.append(Text(f"model {snap.models[0][:16]}"))
    elif snap.models:
        chips.append(Text(f"models {len(snap.models)}", style="yellow"))
    if snap.malformed:
        chips.append(Text(f"unreadable {snap.malformed:,}", style="yellow"))
    if snap.duplicates:
        chips.append(Text(f"duplicates {snap.duplicates:,}"))
    if snap.dead_letters and not wide:
        d = snap.dead_letters[0]
        chips.append(Text(f"last dead letter: {d.stage}: {d.error}", style="yellow"))
    return chips


def _header_lines(snap: Snapshot, width: int, max_lines: int) -> list[Text]:
    inner = width - 4
    sep = " │ "
    lines: list[Text] = [Text()]
    for chip in _chips(snap, width >= WIDE):
        placed = False
        for line in lines:
            extra = (len(sep) if line.plain else 0) + chip.cell_len
            if line.cell_len + extra <= inner:
                if line.plain:
                    line.append(sep, style="dim")
                line.append_text(chip)
                placed = True
                break
        if not placed and len(lines) < max_lines:
            c = chip.copy()
            c.truncate(inner, overflow="ellipsis")
            lines.append(c)
    return [ln for ln in lines if ln.plain] or [Text("")]


def _header_panel(snap: Snapshot, width: int, lines: list[Text]) -> Panel:
    health = Text.assemble(("signwatch", "bold"), " · ", (f"HEALTH {snap.health}", HEALTH_STYLE[snap.health]))
    if snap.health_reasons:
        health.append(": " + ", ".join(snap.health_reasons), style=HEALTH_STYLE[snap.health])
    health.truncate(max(1, width - 6), overflow="ellipsis")
    sub = fmt_clock(snap.now_s) + (f" · {snap.source}" if snap.source else "")
    subtitle = Text(ellipsize(sub, width - 6), style="dim")
    body = Text("\n").join(lines)
    body.no_wrap = True
    body.overflow = "ellipsis"
    return Panel(body, title=health, title_align="left", subtitle=subtitle, subtitle_align="right",
                 box=box.ROUNDED, padding=(0, 1), height=len(lines) + 2)


# ----------------------------------------------------------------------------- the screen


class _Sized:
    """A renderable drawn at exactly width x height (Layout fills whatever height it is given)."""

    def __init__(self, renderable: RenderableType, width: int, height: int) -> None:
        self.renderable, self.width, self.height = renderable, width, height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(self.renderable, options.update(width=min(self.width, options.max_width),
                                                                  height=self.height))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def natural_height(snap: Snapshot, width: int, keep_alerts: int) -> int:
    """Rows needed to show everything (used by --once, where scrolling is fine and capping is not)."""
    header = len(_header_lines(snap, width, 2)) + 2
    streams = max(1, len(snap.streams)) + (3 if snap.streams else 2)
    log = (min(len(snap.alerts), keep_alerts) + 3) if snap.alerts else 3
    if width >= WIDE:
        dl = (len(snap.dead_letters) + 3) if snap.dead_letters else 3
        log = max(log, dl)
    return header + streams + log


def render(state: ConsoleState | Snapshot, width: int, height: int | None = None) -> RenderableType:
    """The console screen for `state` at width x height (height None: as tall as the content).

    Rows are capped to the height and the panels say "+N more"; at 80x24 the streams table keeps
    stream, status, sparkline, seen, fps and latency, and wider screens add the rest plus a
    dead-letter panel.
    """
    snap = state.snapshot() if isinstance(state, ConsoleState) else state
    keep = state.cfg.recent_alerts if isinstance(state, ConsoleState) else 10
    width = max(width, 20)
    wide = width >= WIDE
    if height is None:
        height = natural_height(snap, width, keep)
    header_lines = _header_lines(snap, width, 2 if height >= 12 else 1)
    header_h = len(header_lines) + 2
    avail = max(0, height - header_h)

    n_log = min(len(snap.alerts), keep)
    log_want = n_log + 3 if n_log else 3
    if wide:
        log_want = max(log_want, len(snap.dead_letters) + 3 if snap.dead_letters else 3)
    streams_want = len(snap.streams) + 3 if snap.streams else 3
    # The streams table has first claim; the log gets up to 40% of the rest, more if streams are few.
    bottom_h = min(log_want, max(3, avail * 2 // 5))
    if avail - bottom_h > streams_want:
        bottom_h = min(log_want, avail - streams_want)
    if avail - bottom_h < 4:  # tiny screen: the stream table matters more than the log
        bottom_h = 0
    streams_h = avail - bottom_h

    layout = Layout()
    parts = [Layout(_header_panel(snap, width, header_lines), size=header_h, name="header")]
    if streams_h > 0:
        parts.append(Layout(_streams_panel(snap, width, max(0, streams_h - 3), streams_h), size=streams_h,
                            name="streams"))
    if bottom_h > 0:
        rows_fit = bottom_h - 3
        if wide:
            left_w = width // 2
            bottom = Layout(name="bottom", size=bottom_h)
            bottom.split_row(
                Layout(_alerts_panel(snap, left_w, rows_fit, bottom_h, keep), size=left_w, name="alerts"),
                Layout(_dead_letter_panel(snap, width - left_w, rows_fit, bottom_h), name="dead_letters"),
            )
            parts.append(bottom)
        else:
            parts.append(Layout(_alerts_panel(snap, width, rows_fit, bottom_h, keep), size=bottom_h, name="alerts"))
    used = sum(p.size or 0 for p in parts)
    if used < height:
        parts.append(Layout(Text(""), size=height - used))
    layout.split_column(*parts)
    return _Sized(layout, width, height)


def export_snapshot(state: ConsoleState | Snapshot, width: int, height: int | None, svg: str | Path | None = None,
                    html: str | Path | None = None, title: str = "signwatch console") -> None:
    """Write the screen as SVG and/or HTML (colours kept) through a recording Console."""
    rec = Console(record=True, width=width, height=height or 24, file=io.StringIO(), force_terminal=True,
                  color_system="truecolor", legacy_windows=False)
    rec.print(render(state, width, height))
    if svg:
        rec.save_svg(str(svg), title=title, clear=False)
    if html:
        rec.save_html(str(html), clear=False)


# ----------------------------------------------------------------------------- feeds


class ConsoleEvent(NamedTuple):
    """One record for the console: kind 'score' | 'alert' (data: dict), 'dead_letter' (data:
    headers), or 'malformed' (data: a short reason). ts_ns: the Kafka record timestamp if known."""

    kind: str
    data: Any
    ts_ns: int | None = None
    key: str | None = None


def apply_event(state: ConsoleState, event: ConsoleEvent | tuple) -> None:
    ev = event if isinstance(event, ConsoleEvent) else ConsoleEvent(*event)
    if ev.kind == "score":
        state.ingest_score(ev.data, ev.ts_ns)
    elif ev.kind == "alert":
        state.ingest_alert(ev.data, ev.ts_ns)
    elif ev.kind == "dead_letter":
        state.ingest_dead_letter(ev.data, ev.ts_ns, ev.key)
    else:
        state.ingest_malformed()


class KafkaFeed:
    """Reads the scores, alerts and dead-letter topics for the console.

    No consumer group: the console must not take partitions from the scorers' groups, and it must
    not wait for a group join (docs/DESIGN.md §4: seconds on Tansu). It assigns every partition itself and
    picks its start: alerts from the beginning (few records, and an open alert may be old), scores
    and dead letters from the last `lookback_minutes` via offsets_for_times (or the beginning with
    from_beginning). It never asks for end offsets: they are wrong on Tansu, and reading on from a
    time needs none. Topics that do not exist yet are looked for again every second.
    """

    def __init__(self, cfg: Config, bootstrap: str | None = None, consumer: Any = None, from_beginning: bool = False,
                 lookback_minutes: float | None = None, clock: Callable[[], float] = time.time,
                 connect_timeout_s: float = 5.0, fail_fast: bool = False) -> None:
        """consumer: a KafkaConsumer to use as is; without one it is created on the first poll.
        fail_fast: raise the client's KafkaError when the broker cannot be reached (scripts);
        otherwise report it in `problem` and try again every few seconds (a live screen)."""
        k = cfg.kafka
        self.kcfg = k
        self.connect_timeout_s = connect_timeout_s
        self.fail_fast = fail_fast
        self.problem: str | None = None
        self._retry_at = 0.0
        self.kinds = {k.scores_topic: "score", k.alerts_topic: "alert", k.dead_letter_topic: "dead_letter"}
        self.from_beginning = from_beginning
        minutes = cfg.console.lookback_minutes if lookback_minutes is None else lookback_minutes
        self.since_ms: int | None = None if from_beginning else int((clock() - 60 * minutes) * 1000)
        self.lookback_minutes = minutes
        self.bootstrap = bootstrap
        self.missing: list[str] = list(self.kinds)
        self.ready = False  # set after the first poll that followed an assignment
        self._assigned: set = set()
        self._first_round = True
        self._next_check = 0.0
        self.consumer = consumer

    def _connect(self) -> bool:
        if self.consumer is not None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        from kafka import KafkaConsumer
        from kafka.errors import KafkaError

        k = self.kcfg
        try:
            # Small fetch waits keep the screen live (docs/DESIGN.md §4: fetch_max_wait_ms sets latency on
            # Tansu); dead letters carry whole frames, so fetches must allow the largest one.
            self.consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{k.client_id}-console",
                security_protocol=k.security_protocol,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                fetch_max_wait_ms=min(100, max(20, k.fetch_max_wait_ms)),
                max_partition_fetch_bytes=max(1 << 20, k.max_request_size),
                metadata_max_age_ms=5000,
                request_timeout_ms=max(5000, getattr(k, "request_timeout_ms", 10000)),
                bootstrap_timeout_ms=int(self.connect_timeout_s * 1000),
            )
        except KafkaError as e:
            if self.fail_fast:
                raise
            self.problem = f"cannot reach Kafka at {self.bootstrap} ({type(e).__name__}); retrying"
            self._retry_at = time.monotonic() + 2.0
            return False
        self.problem = None
        return True

    def describe(self) -> str:
        where = self.bootstrap or "kafka"
        if self.from_beginning:
            return f"{where} · from the beginning"
        since = fmt_clock(self.since_ms / 1000) if self.since_ms else "?"
        return f"{where} · since {since} (last {self.lookback_minutes:g} min)"

    def _refresh_assignment(self) -> None:
        from kafka import TopicPartition

        want: set = set(self._assigned)
        missing = []
        for topic in self.kinds:
            parts = self.consumer.partitions_for_topic(topic)
            if not parts:
                missing.append(topic)
                continue
            want |= {TopicPartition(topic, p) for p in parts}
        self.missing = missing
        self.problem = f"topic{'s' if len(missing) > 1 else ''} not found yet: {', '.join(missing)}" if missing else None
        new = want - self._assigned
        if new:
            self.consumer.assign(sorted(want))  # keeps the positions of partitions already assigned
            self._seek(new, appeared_later=not self._first_round)
            self._assigned = want
        self._first_round = False

    def _seek(self, tps: set, appeared_later: bool) -> None:
        by_time = []
        for tp in tps:
            # A topic created after we started holds only new records: read all of it.
            if self.since_ms is None or appeared_later or self.kinds[tp.topic] == "alert":
                self.consumer.seek_to_beginning(tp)
            else:
                by_time.append(tp)
        if not by_time:
            return
        try:
            found = self.consumer.offsets_for_times({tp: self.since_ms for tp in by_time})
        except Exception:  # broker without timestamp lookup: read from the start, filter by time below
            found = {}
        for tp in by_time:
            hit = found.get(tp)
            if hit is not None:
                self.consumer.seek(tp, hit.offset)
            else:
                # Nothing that recent (or no answer): start at the beginning and let poll() drop the
                # older records by timestamp, rather than trust an end offset.
                self.consumer.seek_to_beginning(tp)

    def poll(self, timeout_s: float = 0.1) -> list[ConsoleEvent]:
        if not self._connect():
            time.sleep(timeout_s)
            return []
        now = time.monotonic()
        if now >= self._next_check:
            self._refresh_assignment()
            self._next_check = now + (1.0 if self.missing or not self._assigned else 10.0)
        if not self._assigned:
            time.sleep(timeout_s)
            self.ready = True  # nothing to read yet counts as caught up
            return []
        batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000), max_records=5000)
        self.ready = True
        out: list[ConsoleEvent] = []
        for tp, records in batches.items():
            kind = self.kinds.get(tp.topic)
            for m in records:
                ts = m.timestamp if m.timestamp is not None and m.timestamp >= 0 else None
                if self.since_ms is not None and kind != "alert" and ts is not None and ts < self.since_ms:
                    continue
                ts_ns = ts * 1_000_000 if ts is not None else None
                key = m.key.decode("utf-8", "replace") if isinstance(m.key, bytes) else m.key
                if kind == "dead_letter":
                    out.append(ConsoleEvent("dead_letter", m.headers or [], ts_ns, key))
                    continue
                try:
                    data = json.loads(m.value)
                except (TypeError, ValueError):
                    out.append(ConsoleEvent("malformed", f"{tp.topic}[{tp.partition}]@{m.offset}", ts_ns, key))
                    continue
                out.append(ConsoleEvent(kind or "malformed", data, ts_ns, key))
        return out

    def close(self) -> None:
        if self.consumer is None:
            return
        try:
            self.consumer.close()
        except Exception:  # closing after a failure must not hide the failure
            pass


class _IterFeed:
    """An in-process iterable of ConsoleEvents (or (kind, data, ...) tuples), read on its own thread
    so that a blocking generator cannot freeze the screen."""

    def __init__(self, events: Iterable[ConsoleEvent | tuple]) -> None:
        self._lock = threading.Lock()
        self._buf: list = []
        self.done = threading.Event()
        self.ready = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(iter(events),), name="console-feed", daemon=True)
        self._thread.start()

    def _run(self, it: Iterator) -> None:
        try:
            for ev in it:
                with self._lock:
                    self._buf.append(ev)
        except BaseException as e:  # report it, do not kill the screen
            self.error = e
        finally:
            self.done.set()

    def poll(self, timeout_s: float = 0.1) -> list:
        if not self._buf:
            if self.done.is_set():
                time.sleep(timeout_s)  # nothing more will come; do not spin the caller's loop
            else:
                self.done.wait(timeout_s)
        with self._lock:
            out, self._buf = self._buf, []
        self.ready = self.done.is_set()
        return out

    def close(self) -> None:
        pass


class _KafkaLogTap(logging.Handler):
    """Shows the Kafka client's warnings as pipeline health instead of printing over the screen."""

    def __init__(self, state: ConsoleState) -> None:
        super().__init__(level=logging.WARNING)
        self.state = state

    def emit(self, record: logging.LogRecord) -> None:
        msg = " ".join(record.getMessage().split())
        self.state.note_client_warning("kafka: " + (msg[:80] + "..." if len(msg) > 80 else msg))


@contextmanager
def _tap_kafka_logs(state: ConsoleState) -> Iterator[None]:
    logger = logging.getLogger("kafka")
    tap = _KafkaLogTap(state)
    old = logger.propagate
    logger.addHandler(tap)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(tap)
        logger.propagate = old


# ----------------------------------------------------------------------------- live display


class LiveConsole:
    """A rich Live view of a ConsoleState that redraws itself `refresh_per_second` times a second.

    Whoever holds the state feeds it (a KafkaFeed loop, or the demo's own callbacks from any
    thread); this only draws. In full-screen mode the last screen is printed again on exit so the
    terminal keeps it.
    """

    def __init__(self, state: ConsoleState, console: Console | None = None, refresh_per_second: float | None = None,
                 screen: bool | None = None) -> None:
        self.state = state
        self.console = console or Console()
        self.refresh_per_second = refresh_per_second or state.cfg.refresh_per_second
        self.screen = self.console.is_terminal if screen is None else screen
        self._live: Live | None = None

    def _size(self) -> tuple[int, int]:
        w, h = self.console.size
        # Outside the alternate screen Live crops at height-1 and adds an ellipsis line.
        return w, (h if self.screen else max(8, h - 1))

    def renderable(self) -> RenderableType:
        return render(self.state, *self._size())

    def __enter__(self) -> LiveConsole:
        self._live = Live(console=self.console, get_renderable=self.renderable, refresh_per_second=self.refresh_per_second,
                          screen=self.screen, transient=False, redirect_stdout=not self.screen,
                          redirect_stderr=not self.screen)
        self._live.start(refresh=True)
        return self

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def __exit__(self, *exc: object) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            if not self.console.is_terminal:
                self.console.line()  # Live ends its one non-terminal render without a newline
            if self.screen:  # the alternate screen is gone: leave the final view in the scrollback
                self.console.print(render(self.state, self.console.width, None))


@contextmanager
def _stop_on_sigterm(stop: threading.Event) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _drain(feed: Any, state: ConsoleState, deadline: float, quiet_s: float) -> None:
    """Read until the feed has been quiet for quiet_s after it is caught up, or the deadline."""
    last_new = None
    while time.monotonic() < deadline:
        events = feed.poll(0.1)
        for ev in events:
            apply_event(state, ev)
        if isinstance(feed, KafkaFeed):
            state.set_feed_problem(feed.problem)
        now = time.monotonic()
        if events:
            last_new = now
        if isinstance(feed, _IterFeed):
            if feed.done.is_set() and not events:
                return
            continue
        if feed.ready:
            last_new = last_new or now
            if now - last_new >= quiet_s:
                return


def run_console(
    cfg: Config,
    bootstrap: str | None = None,
    source: Any = None,
    console: Console | None = None,
    once: bool = False,
    *,
    state: ConsoleState | None = None,
    from_beginning: bool = False,
    duration: float | None = None,
    export_svg: str | Path | None = None,
    export_html: str | Path | None = None,
    size: tuple[int, int | None] | None = None,
    stop: threading.Event | None = None,
    quiet_s: float = 1.0,
    screen: bool | None = None,
) -> int:
    """Run the console; returns an exit status (0 on a normal end, Ctrl-C or SIGTERM included).

    source: None (read Kafka at `bootstrap`), a KafkaConsumer (used as is; we assign it), or an
    iterable of ConsoleEvent / (kind, data[, ts_ns[, key]]) tuples. once: drain what is there now
    (until `quiet_s` without new records, or `duration` seconds, default 30), print one snapshot
    and return. Otherwise a live view until `duration`, Ctrl-C, SIGTERM or `stop` is set.
    size: (width, height) of the snapshot/export; default the console's width and, with once, the
    content's height.
    """
    console = console or Console()
    state = state or ConsoleState(cfg.console)
    stop = stop or threading.Event()
    if source is None:
        if not bootstrap:
            raise ValueError("run_console needs a bootstrap server or a source")
        # A script wants a quick, clear failure; a live screen waits for the broker to come up.
        feed: Any = KafkaFeed(cfg, bootstrap, from_beginning=from_beginning, clock=state.clock, fail_fast=once,
                              connect_timeout_s=min(10.0, duration or 10.0) if once else 5.0)
        state.set_source(feed.describe())
    elif hasattr(source, "poll") and hasattr(source, "assign"):
        feed = KafkaFeed(cfg, bootstrap, consumer=source, from_beginning=from_beginning, clock=state.clock)
        state.set_source(feed.describe())
    else:
        feed = _IterFeed(source)
        if state.source is None:
            state.set_source("in-process feed")
    width = size[0] if size else console.width
    start = time.monotonic()
    try:
        with _tap_kafka_logs(state), _stop_on_sigterm(stop):
            if once:
                try:
                    if isinstance(feed, KafkaFeed):
                        feed._connect()  # fail_fast: an unreachable broker raises here, before any output
                    _drain(feed, state, start + (duration if duration is not None else 30.0), quiet_s)
                except KeyboardInterrupt:
                    pass
                height = size[1] if size else None
                console.print(render(state, width, height))
            else:
                with LiveConsole(state, console, screen=screen):
                    try:
                        while not stop.is_set():
                            if duration is not None and time.monotonic() - start >= duration:
                                break
                            for ev in feed.poll(0.05):
                                apply_event(state, ev)
                            if isinstance(feed, KafkaFeed):
                                state.set_feed_problem(feed.problem)
                    except KeyboardInterrupt:
                        pass
                height = size[1] if size else console.height
    finally:
        feed.close()
    if export_svg or export_html:
        export_snapshot(state, width, height, svg=export_svg, html=export_html)
    return 0


# ----------------------------------------------------------------------------- command line


def _cmd_console(args: argparse.Namespace, cfg: Config) -> int:
    bootstrap = args.bootstrap_servers or cfg.kafka.bootstrap_servers
    err = Console(stderr=True)
    if not bootstrap:
        # Starting an embedded broker here would show an empty one: the console only reads.
        err.print("error: no Kafka to read from: pass --bootstrap-servers HOST:PORT, set kafka.bootstrap_servers "
                  "in the config, or run the console inside `run_monitor.py demo`", markup=False, highlight=False)
        return 2
    if args.duration is not None and args.duration <= 0:
        err.print("error: --duration must be positive", markup=False)
        return 2
    if (args.width is not None and args.width < 20) or (args.height is not None and args.height < 3):
        err.print("error: the screen must be at least 20 columns (--width) and 3 rows (--height)", markup=False)
        return 2
    if args.once:  # a script wants a quick, clear failure (a live screen waits for the broker instead)

        try:
            check_reachable(bootstrap, cfg.kafka.connect_timeout_s)
        except BrokerError as e:
            err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
            return 1
    size = None
    if args.width or args.height:
        console = Console(width=args.width or None)
        size = (args.width or console.width, args.height or (None if args.once else console.height))
    else:
        console = Console()
    state = ConsoleState(cfg.console)
    t0 = time.monotonic()
    try:
        rc = run_console(cfg, bootstrap, None, console, once=args.once, state=state, from_beginning=args.from_beginning,
                         duration=args.duration, export_svg=args.export_svg, export_html=args.export_html, size=size)
        if not args.once:  # a live view leaves a record of what it saw when it ends (Ctrl-C, SIGTERM, --duration)
            snap = state.snapshot()
            print(f"console summary: {snap.frames} score records ({snap.anomalous} anomalous, {snap.duplicates} duplicates), "
                  f"{snap.total_alerts} alerts ({snap.open_alerts} open), {snap.dead_letter_total} dead letters, "
                  f"{snap.malformed} unreadable records, {len(snap.streams)} streams, in {time.monotonic() - t0:.1f} s",
                  flush=True)
        return rc
    except Exception as e:
        from kafka.errors import KafkaError

        if isinstance(e, KafkaError):
            detail = " ".join(str(e).split()) or type(e).__name__
            err.print(f"error: cannot read from Kafka at {bootstrap}: {detail}", markup=False, highlight=False,
                      soft_wrap=True)
            return 1
        raise


def register(sub: argparse._SubParsersAction, bench_sub: argparse._SubParsersAction) -> None:
    """Add the `console` subcommand (run_monitor.py calls this for every area)."""
    p = sub.add_parser(
        "console",
        help="live alert console: streams, alerts, dead letters and pipeline health",
        description="Live view of the scores, alerts and dead-letter topics. Reads without a consumer group, "
                    "so it never disturbs the scorers. Ctrl-C or SIGTERM ends it (exit 0).",
    )
    p.add_argument("--bootstrap-servers", metavar="HOST:PORT", help="Kafka to read (default: kafka.bootstrap_servers)")
    p.add_argument("--once", action="store_true",
                   help="read what is there now (until ~1 s without new records), print one snapshot and exit")
    p.add_argument("--from-beginning", action="store_true",
                   help="read all history, not only the last console.lookback_minutes")
    p.add_argument("--duration", type=float, metavar="SEC",
                   help="stop after SEC seconds (with --once: the most time to spend reading; default 30)")
    p.add_argument("--export-svg", metavar="PATH", help="on exit, save the screen as SVG")
    p.add_argument("--export-html", metavar="PATH", help="on exit, save the screen as HTML")
    p.add_argument("--width", type=int, metavar="COLS", help="screen width for the snapshot/export (default: terminal)")
    p.add_argument("--height", type=int, metavar="ROWS",
                   help="screen height for the snapshot/export (default: terminal; with --once, all rows)")
    p.set_defaults(func=_cmd_console)
