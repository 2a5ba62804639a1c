"""The console screen: a Snapshot of a ConsoleState laid out as panels at a given width x height.

`render(state, width, height)` draws it with rich; tests render into a fixed-size, colourless
Console and compare text (as rich's own tests/test_live.py does). Panels, top to bottom: the
header (health and counts), the open alerts (they stay on screen however many events follow),
the streams, and the alert log (with dead letters beside it on wide screens). Columns give way in
a fixed order on narrow screens, and the panel says which ("narrow terminal: columns X, Y
hidden"); rows are capped to the height with "+N more".
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.layout import Layout
from rich.measure import Measurement
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from pipelines.console_format import (
    ellipsize,
    fmt_age,
    fmt_clock,
    fmt_condition,
    fmt_ms,
    fmt_pct,
    fmt_value,
    sparkline,
)
from pipelines.console_state import (
    ConsoleState,
    DeadLetterView,
    ExampleFrame,
    OpenAlertView,
    Snapshot,
    StreamView,
)

# At or above this width the dead-letter panel sits beside the alerts log; below it dead letters
# are a count in the header (an 80-column operator terminal has no room for error text).
WIDE = 140
HEALTH_STYLE = {"OK": "bold green", "DEGRADED": "bold yellow", "NO DATA": "bold yellow"}
STATE_STYLE = {"ALERT": "bold white on red", "stale": "bold yellow", "ok": "green"}
EVENT_STYLE = {"raised": "bold red", "updated": "yellow", "cleared": "green"}
UNCERTAIN_STYLE = "dim"


def condition_text(condition: str | None, confidence: float | None, uncertain: bool, style: str = "") -> Text:
    """A condition name with its confidence; under the classifier's floor it reads "rain? 17%", dimmed."""
    return Text(fmt_condition(condition, confidence, uncertain), style=UNCERTAIN_STYLE if uncertain else style)


def uncertain_legend(snap: Snapshot) -> str:
    return f"? = under {fmt_pct(snap.min_confidence)} confidence ({snap.min_confidence_source})"


def narrow_notice(hidden: list[str], short: bool = False) -> str:
    cols = ", ".join(hidden)
    what = "column" + ("s" if len(hidden) > 1 else "")
    return f"narrow: {cols} hidden" if short else f"narrow terminal: {what} {cols} hidden"


def _subtitle(parts: list[tuple[str, str]], hidden: list[str], width: int) -> Text | None:
    """A panel's subtitle: its notes ((text, style), most important first), then the narrow-terminal
    notice, shortened before anything is cut."""
    avail = width - 6
    for short in (False, True):
        items = parts + ([(narrow_notice(hidden, short), "yellow")] if hidden else [])
        text = Text(" · ", style="dim").join(Text(t, style=st) for t, st in items)
        if text.cell_len <= avail:
            break
    if not text.plain:
        return None
    text.truncate(max(1, avail), overflow="ellipsis")
    return text


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


def _fit(cols: list[_Col], avail: int, gap: int) -> tuple[list[_Col], list[str]]:
    """The columns that fit in `avail` cells at their fitted widths, and the headers of those hidden."""
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
    # A column dropped early may fit again once later steps shrank others: the most important first,
    # at its full width or, failing that, at its narrowest step (cut with an ellipsis) rather than not at all.
    for c in reversed(dropped):
        narrowest = min([w for _p, w in c.steps if w > 0] + [c.want])
        room = avail - total() - gap
        if room >= narrowest:
            c.width = min(c.want, room)
    # Hand spare width back to columns that shrank (sparkline first), never past what they want.
    for c in sorted((c for c in cols if 0 < c.width < c.want), key=lambda c: c.grow):
        spare = avail - total()
        if spare <= 0:
            break
        c.width = min(c.want, c.width + spare)
    return [c for c in cols if c.width > 0], [c.header for c in cols if c.width == 0]


def _table(cols: list[_Col], gap: int) -> Table:
    table = Table(
        box=None,
        show_header=True,
        header_style="bold",
        pad_edge=False,
        padding=(0, gap, 0, 0),
        show_edge=False,
        expand=False,
        collapse_padding=False,
    )
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
    cond = condition_text(
        row.condition, row.confidence, row.uncertain, "bold red" if row.state == "ALERT" else "yellow"
    )
    if row.state == "ALERT":
        return Text.assemble(("ALERT", STATE_STYLE["ALERT"]), " ", cond)
    t = Text(row.state, style=STATE_STYLE[row.state])
    if row.condition_from_alert:
        # An open alert on a stream that went silent: nothing says the condition still holds.
        t.append_text(Text.assemble(" (alert ", cond, ")"))
    elif row.condition is not None:
        # Anomalous frames without an alert (yet): a hint, not a state.
        t.append_text(Text.assemble(" (", cond, ")"))
    return t


def _seen_text(row: StreamView) -> Text:
    if row.age_s is None:
        return Text("-", style="dim")
    if row.stale:
        return Text(f"stale {fmt_age(row.age_s)}", style="bold yellow")
    return Text(fmt_age(row.age_s))


def _cap_rows(items: list, rows_fit: int | None) -> tuple[list, list]:
    """(rows shown, rows hidden): the first rows_fit items when they do not all fit (None: all fit)."""
    if rows_fit is not None and len(items) > rows_fit:
        return items[: max(0, rows_fit)], items[max(0, rows_fit) :]
    return items, []


def _table_panel(
    table: Table, title: Text, notes: list[tuple[str, str]], hidden_cols: list[str], width: int, height: int | None
) -> Panel:
    """A panel around a fitted table, its notes and hidden columns in the subtitle."""
    return Panel(
        table,
        title=title,
        title_align="left",
        subtitle=_subtitle(notes, hidden_cols, width),
        subtitle_align="right",
        box=box.ROUNDED,
        padding=(0, 1),
        height=height,
    )


def _empty_panel(body: Text, title: Text, height: int | None) -> Panel:
    return Panel(body, title=title, title_align="left", box=box.ROUNDED, padding=(0, 1), height=height)


def _stream_columns(rows: list[StreamView], spark_w: int) -> list[_Col]:
    """The streams table's columns, widest first to give way: steps say when each shrinks or goes."""
    names = [Text(r.stream, style="bold" if r.state == "ALERT" else "") for r in rows]
    status = [_status_text(r) for r in rows]
    seen = [_seen_text(r) for r in rows]
    fps = [Text("-" if r.fps is None else f"{r.fps:.1f}") for r in rows]
    lat = [Text(fmt_ms(r.latency_p50_ms)) for r in rows]
    last = [Text(fmt_value(r.last_value)) for r in rows]
    frames = [Text(f"{r.frames:,}") for r in rows]
    anom = [Text(f"{r.anomalous:,} ({100 * r.anomalous / r.frames:.1f}%)" if r.frames else "-") for r in rows]
    model = [Text(",".join(m[:12] for m in r.models) or "-") for r in rows]
    return [
        _Col("stream", names, _content_width("stream", names, 40), ((12, 24), (15, 16), (50, 10), (80, 6)), grow=2),
        _Col("status", status, _content_width("status", status, 26), ((16, 18), (55, 12), (85, 6)), grow=3),
        _Col(
            "recent scores",
            [],  # drawn once the column's width is known
            spark_w,
            ((20, 16), (40, 10), (75, 0)),
            grow=1,
            redraw=lambda w: [sparkline(r.values, r.flags, r.threshold, w) for r in rows],
        ),
        _Col("seen", seen, _content_width("seen", seen, 12), ((60, 0),), justify="right"),
        _Col("fps", fps, _content_width("fps", fps, 7), ((45, 0),), justify="right"),
        _Col("p50 lat", lat, _content_width("p50 lat", lat, 8), ((30, 0),), justify="right"),
        _Col("last", last, _content_width("last", last, 8), ((10, 0),), justify="right"),
        _Col("frames", frames, _content_width("frames", frames, 12), ((3, 0),), justify="right"),
        _Col("anomalous", anom, _content_width("anomalous", anom, 18), ((2, 0),), justify="right"),
        _Col("model", model, _content_width("model", model, 26), ((1, 0),)),
    ]


def _streams_notes(
    snap: Snapshot, rows: list[StreamView], hidden: list[StreamView], width: int
) -> list[tuple[str, str]]:
    """The streams panel's subtitle notes: rows that did not fit (by state), then the legends."""
    notes: list[tuple[str, str]] = []
    if hidden:
        counts: dict[str, int] = {}
        for r in hidden:
            counts[r.state] = counts.get(r.state, 0) + 1
        what = ", ".join(
            f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: ("ALERT", "stale", "ok").index(kv[0]))
        )
        notes.append((f"+{len(hidden)} more: {what}", "bold"))
    if any(r.uncertain for r in rows) and not snap.open:  # else the open-alerts panel says it
        notes.append((uncertain_legend(snap), "dim"))
    if (
        not hidden
        and width >= WIDE
        and any(r.threshold is not None or any(f is not None for f in r.flags) for r in rows)
    ):
        # Only true when there is a line to be over; window-scaled sparklines use █ for their maximum.
        notes.append(("█ = anomalous frame / over threshold", "dim"))
    return notes


def _streams_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None) -> Panel:
    title = Text.assemble(("streams", "bold"), f" ({len(snap.streams)})")
    if not snap.streams:
        body = Text(
            f"waiting for score records{' from ' + snap.source if snap.source else ''}",
            style="dim",
            no_wrap=True,
            overflow="ellipsis",
        )
        return _empty_panel(body, title, height)
    gap = 1 if width < 100 else 2
    rows, hidden = _cap_rows(list(snap.streams), rows_fit)
    kept, hidden_cols = _fit(_stream_columns(rows, snap.sparkline_width), width - 4, gap)
    return _table_panel(_table(kept, gap), title, _streams_notes(snap, rows, hidden, width), hidden_cols, width, height)


def _open_alerts_title(snap: Snapshot) -> Text:
    title = Text.assemble(("open alerts", "bold"), f" ({snap.open_alerts}")
    if snap.stale_alerts:
        title.append(f": {snap.open_alerts - snap.stale_alerts} ALERT, ")
        title.append(f"{snap.stale_alerts} stale", style="bold yellow")
    title.append(")")
    return title


def _example_text(v: OpenAlertView) -> Text:
    ex = v.example
    if ex is None:
        return Text("-", style="dim")
    return Text(f"{ex.topic}[{ex.partition}]@{ex.offset} seq {ex.seq}")


def _open_alert_columns(items: list[OpenAlertView]) -> list[_Col]:
    stream = [Text(v.stream, style="bold" if v.state == "ALERT" else "") for v in items]
    state = [
        Text("ALERT", style=STATE_STYLE["ALERT"])
        if v.state == "ALERT"
        else Text(f"stale {fmt_age(v.age_s)}" if v.age_s is not None else "stale", style=STATE_STYLE["stale"])
        for v in items
    ]
    cond = [
        condition_text(v.condition, v.confidence, v.uncertain, "bold red" if v.state == "ALERT" else "") for v in items
    ]
    since = [Text(fmt_clock(v.started_s) if v.started_s is not None else "-") for v in items]
    dur = [Text(fmt_age(v.duration_s)) for v in items]
    frames = [
        Text(f"{v.anomalous_frames}/{v.frames}" if v.frames is not None and v.anomalous_frames is not None else "-")
        for v in items
    ]
    example = [_example_text(v) for v in items]
    aid = [Text(v.alert_id) for v in items]
    return [
        _Col("stream", stream, _content_width("stream", stream, 40), ((12, 24), (20, 16), (50, 10)), grow=2),
        _Col("state", state, _content_width("state", state, 12), ((60, 5),), grow=4),
        _Col("condition", cond, _content_width("condition", cond, 24), ((55, 12),), grow=3),
        _Col("since", since, 8),
        _Col("for", dur, _content_width("for", dur, 7), justify="right"),
        _Col("anom/all", frames, _content_width("anom/all", frames, 13), ((40, 0),), justify="right"),
        _Col(
            "example frame",
            example,
            _content_width("example frame", example, 48),
            ((15, 30), (30, 20), (70, 0)),
            grow=1,
        ),
        _Col("alert id", aid, _content_width("alert id", aid, 36), ((5, 0),)),
    ]


def _open_alerts_notes(snap: Snapshot, hidden: list[OpenAlertView]) -> list[tuple[str, str]]:
    """Rows that did not fit (ALERT and stale counted apart), then the uncertainty legend."""
    notes: list[tuple[str, str]] = []
    if hidden:
        n_stale = sum(1 for v in hidden if v.state == "stale")
        what = ", ".join(
            t
            for t in (
                f"{len(hidden) - n_stale} ALERT" if len(hidden) > n_stale else "",
                f"{n_stale} stale" if n_stale else "",
            )
            if t
        )
        notes.append((f"+{len(hidden)} more: {what}", "bold"))
    if any(v.uncertain for v in snap.open) or any(r.uncertain for r in snap.streams):
        notes.append((uncertain_legend(snap), "dim"))
    return notes


def _open_alerts_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None) -> Panel:
    """Every alert that has not cleared: what, since when, for how long, and the frame to look at.
    It does not scroll: new events replace nothing here, they only update the rows."""
    title = _open_alerts_title(snap)
    if not snap.open:
        return _empty_panel(Text("none", style="dim"), title, height)
    gap = 1 if width < 100 else 2
    items, hidden = _cap_rows(list(snap.open), rows_fit)
    kept, hidden_cols = _fit(_open_alert_columns(items), width - 4, gap)
    return _table_panel(_table(kept, gap), title, _open_alerts_notes(snap, hidden), hidden_cols, width, height)


def _alerts_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None, keep: int) -> Panel:
    gap = 1 if width < 100 else 2
    events = list(snap.alerts[:keep])
    hidden = 0
    if rows_fit is not None and len(events) > rows_fit:
        hidden = len(events) - max(0, rows_fit)
        events = events[: max(0, rows_fit)]
    # The alert log; the open ones are also in the open-alerts panel, counted the same way.
    title = Text.assemble(("alerts", "bold"), f" ({snap.open_alerts - snap.stale_alerts} open, ")
    if snap.stale_alerts:
        title.append(f"{snap.stale_alerts} stale, ", style="bold yellow")
    title.append(f"{snap.total_alerts} total)")
    notes = [(f"+{hidden} older", "bold")] if hidden else []
    if not snap.alerts:
        return _empty_panel(Text("no alerts", style="dim"), title, height)
    when = [Text(fmt_clock(e.time_s)) for e in events]
    event = [Text(e.state, style=EVENT_STYLE.get(e.state, "")) for e in events]
    stream = [Text(e.stream) for e in events]
    cond = [condition_text(e.condition, e.confidence, e.uncertain) for e in events]
    dur = [Text(fmt_age(e.duration_s) if e.duration_s is not None else "-") for e in events]
    frames = [
        Text(f"{e.anomalous_frames}/{e.frames}" if e.frames is not None and e.anomalous_frames is not None else "-")
        for e in events
    ]
    smax = [Text(fmt_value(e.anomaly_max)) for e in events]
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
    kept, hidden_cols = _fit(cols, width - 4, gap)
    return _table_panel(_table(kept, gap), title, notes, hidden_cols, width, height)


def _dead_letter_panel(snap: Snapshot, width: int, rows_fit: int | None, height: int | None) -> Panel:
    title = Text.assemble(("dead letters", "bold"), f" ({snap.dead_letter_total}, {snap.dead_letter_recent} recent)")
    items: list[DeadLetterView] = list(snap.dead_letters)
    hidden = 0
    if rows_fit is not None and len(items) > rows_fit:
        hidden = snap.dead_letter_total - max(0, rows_fit)
        items = items[: max(0, rows_fit)]
    elif snap.dead_letter_total > len(items):
        hidden = snap.dead_letter_total - len(items)
    notes = [(f"+{hidden} older", "bold")] if hidden else []
    if not items:
        return _empty_panel(Text("none", style="dim"), title, height)
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
    kept, hidden_cols = _fit(cols, width - 4, 1)
    return _table_panel(_table(kept, 1), title, notes, hidden_cols, width, height)


def _chips(snap: Snapshot, wide: bool) -> list[Text]:
    """Header facts, most important first; the header keeps as many as fit."""
    c = snap.counts  # the same counts as the health line's stale streams
    streams = Text(f"streams {len(snap.streams)}: ")
    streams.append(f"{c.alert} ALERT", style="bold red" if c.alert else "")
    streams.append(", ")
    streams.append(f"{c.stale} stale", style="bold yellow" if c.stale else "")
    streams.append(f", {c.ok} ok")
    chips = [streams]
    live = snap.open_alerts - snap.stale_alerts
    alerts = Text(f"alerts {live} open", style="bold red" if live else "")
    if snap.stale_alerts:
        alerts.append(f", {snap.stale_alerts} stale", style="bold yellow")
    alerts.append(f" / {snap.total_alerts}")
    chips.append(alerts)
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
    return Panel(
        body,
        title=health,
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        box=box.ROUNDED,
        padding=(0, 1),
        height=len(lines) + 2,
    )


# ----------------------------------------------------------------------------- the screen


class _Sized:
    """A renderable drawn at exactly width x height (Layout fills whatever height it is given)."""

    def __init__(self, renderable: RenderableType, width: int, height: int) -> None:
        self.renderable, self.width, self.height = renderable, width, height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from console.render(
            self.renderable, options.update(width=min(self.width, options.max_width), height=self.height)
        )

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.width, self.width)


def natural_height(snap: Snapshot, width: int, keep_alerts: int) -> int:
    """Rows needed to show everything (used by --once, where scrolling is fine and capping is not)."""
    header = len(_header_lines(snap, width, 2)) + 2
    opened = len(snap.open) + 3 if snap.open else 3
    streams = max(1, len(snap.streams)) + (3 if snap.streams else 2)
    log = (min(len(snap.alerts), keep_alerts) + 3) if snap.alerts else 3
    if width >= WIDE:
        dl = (len(snap.dead_letters) + 3) if snap.dead_letters else 3
        log = max(log, dl)
    return header + opened + streams + log


@dataclass(frozen=True)
class _Heights:
    """Rows given to each band of the screen; 0 leaves a band out."""

    header_lines: list[Text]
    header: int
    open: int
    streams: int
    bottom: int


def _heights(snap: Snapshot, width: int, height: int) -> _Heights:
    """Share the height: header, then the open alerts, then the streams before the alert log."""
    keep = snap.recent_alerts
    header_lines = _header_lines(snap, width, 2 if height >= 12 else 1)
    header_h = len(header_lines) + 2
    avail = max(0, height - header_h)
    # Open alerts come first after the header: up to a third of the rest (at least one row of them).
    open_want = len(snap.open) + 3 if snap.open else 3
    open_h = min(open_want, max(4 if snap.open else 3, avail // 3))
    if avail - open_h < 4:  # tiny screen: one line of the open alerts still beats the stream table
        open_h = 0
    avail -= open_h

    n_log = min(len(snap.alerts), keep)
    log_want = n_log + 3 if n_log else 3
    if width >= WIDE:
        log_want = max(log_want, len(snap.dead_letters) + 3 if snap.dead_letters else 3)
    streams_want = len(snap.streams) + 3 if snap.streams else 3
    # The streams table has first claim; the log gets up to 40% of the rest, more if streams are few.
    bottom_h = min(log_want, max(3, avail * 2 // 5))
    if avail - bottom_h > streams_want:
        bottom_h = min(log_want, avail - streams_want)
    if avail - bottom_h < 4:  # tiny screen: the stream table matters more than the log
        bottom_h = 0
    return _Heights(header_lines, header_h, open_h, avail - bottom_h, bottom_h)


def _bottom_layout(snap: Snapshot, width: int, bottom_h: int) -> Layout:
    """The alert log, with the dead letters beside it on wide screens."""
    keep = snap.recent_alerts
    rows_fit = bottom_h - 3
    if width < WIDE:
        return Layout(_alerts_panel(snap, width, rows_fit, bottom_h, keep), size=bottom_h, name="alerts")
    left_w = width // 2
    bottom = Layout(name="bottom", size=bottom_h)
    bottom.split_row(
        Layout(_alerts_panel(snap, left_w, rows_fit, bottom_h, keep), size=left_w, name="alerts"),
        Layout(_dead_letter_panel(snap, width - left_w, rows_fit, bottom_h), name="dead_letters"),
    )
    return bottom


def render(state: ConsoleState | Snapshot, width: int, height: int | None = None) -> RenderableType:
    """The console screen for `state` at width x height (height None: as tall as the content).

    Rows are capped to the height and the panels say "+N more"; at 80x24 the streams table keeps
    stream, status, sparkline, seen, fps and latency, and wider screens add the rest plus a
    dead-letter panel.
    """
    snap = state.snapshot() if isinstance(state, ConsoleState) else state
    width = max(width, 20)
    if height is None:
        height = natural_height(snap, width, snap.recent_alerts)
    h = _heights(snap, width, height)
    parts = [Layout(_header_panel(snap, width, h.header_lines), size=h.header, name="header")]
    if h.open > 0:
        parts.append(Layout(_open_alerts_panel(snap, width, max(0, h.open - 3), h.open), size=h.open, name="open"))
    if h.streams > 0:
        parts.append(
            Layout(_streams_panel(snap, width, max(0, h.streams - 3), h.streams), size=h.streams, name="streams")
        )
    if h.bottom > 0:
        parts.append(_bottom_layout(snap, width, h.bottom))
    used = sum(p.size or 0 for p in parts)
    if used < height:
        parts.append(Layout(Text(""), size=height - used))
    layout = Layout()
    layout.split_column(*parts)
    return _Sized(layout, width, height)


def export_snapshot(
    state: ConsoleState | Snapshot,
    width: int,
    height: int | None,
    svg: str | Path | None = None,
    html: str | Path | None = None,
    title: str = "signwatch console",
    examples: list[ExampleFrame] | None = None,
) -> None:
    """Write the screen as SVG and/or HTML (colours kept) through a recording Console.

    examples: the open alerts' example frames (pipelines.console_feed.fetch_example_frames); the
    HTML shows each under the screen, or says why it could not be had.
    """
    snap = state.snapshot() if isinstance(state, ConsoleState) else state
    rec = Console(
        record=True,
        width=width,
        height=height or 24,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        legacy_windows=False,
    )
    rec.print(render(snap, width, height))
    if svg:
        rec.save_svg(str(svg), title=title, clear=False)
    if html:
        page = rec.export_html(clear=False)
        if examples is not None:
            section = examples_html(examples)
            page = page.replace("</body>", section + "</body>", 1) if "</body>" in page else page + section
        Path(html).write_text(page, encoding="utf-8")


def examples_html(examples: list[ExampleFrame]) -> str:
    """The open alerts' example frames as an HTML section (images embedded as base64 PNG)."""
    parts = [
        (
            '\n<section id="example-frames" style="font-family:sans-serif;color:#ddd;background:#222;'
            'padding:8px">\n<h2>Example frames of open alerts</h2>\n'
        )
    ]
    if not examples:
        parts.append("<p>no open alerts</p>\n")
    for ex in examples:
        a = ex.alert
        since = fmt_clock(a.started_s) if a.started_s is not None else "?"
        caption = (
            f"{a.stream} · {a.state} · {fmt_condition(a.condition, a.confidence, a.uncertain)} · "
            f"since {since} ({fmt_age(a.duration_s)}) · {ex.where} · alert {a.alert_id}"
        )
        parts.append('<figure style="display:inline-block;margin:8px">\n')
        if ex.png is not None:
            b64 = base64.b64encode(ex.png).decode("ascii")
            parts.append(
                f'<img alt="{html_escape(ex.where)}" src="data:image/png;base64,{b64}" '
                'style="min-width:160px;image-rendering:pixelated">\n'
            )
        else:
            parts.append(f'<p class="missing">example frame unavailable: {html_escape(ex.problem or "unknown")}</p>\n')
        if ex.png is not None and ex.problem:
            parts.append(f'<p class="note">note: {html_escape(ex.problem)}</p>\n')
        parts.append(f"<figcaption>{html_escape(caption)}</figcaption>\n</figure>\n")
    parts.append("</section>\n")
    return "".join(parts)
