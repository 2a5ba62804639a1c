"""How the console writes numbers, times, names and sparklines (text only: no layout, no Kafka)."""

from __future__ import annotations

import time

from rich.cells import cell_len
from rich.text import Text

BLOCKS = "▁▂▃▄▅▆▇█"


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


def fmt_condition(condition: str | None, confidence: float | None, uncertain: bool = False) -> str:
    """ "rain 96%"; an uncertain name (confidence under the classifier's floor) reads "rain? 17%"."""
    text = condition or "anomaly"
    if uncertain and condition:
        text += "?"
    conf = fmt_conf(confidence)
    return f"{text} {conf}" if conf else text


def fmt_pct(p: float) -> str:
    """A probability as a short percentage: 0.5 -> "50%", 0.125 -> "12.5%"."""
    return f"{100 * p:.4g}%"


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


def sparkline(
    values: tuple[float, ...] | list[float], flags: tuple | list = (), threshold: float | None = None, width: int = 24
) -> Text:
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
    over = [f if f is not None else (threshold is not None and v >= threshold) for v, f in zip(vals, fl, strict=False)]
    below = [v for v, o in zip(vals, over, strict=False) if not o]
    if threshold is not None:
        lo = 0.0 if min(vals) >= 0 and threshold > 0 else min(vals)
        hi, levels = threshold, 7
    elif flagged:
        lo, hi, levels = min(vals), (max(below) if below else max(vals)), 7
    else:
        lo, hi, levels = min(vals), max(vals), 8
    out = Text()
    for v, o in zip(vals, over, strict=False):
        if o:
            out.append(BLOCKS[-1], style="bold red")
            continue
        idx = 0 if hi <= lo else int((v - lo) / (hi - lo) * (levels - 1) + 0.5)
        idx = min(max(idx, 0), levels - 1)
        out.append(BLOCKS[idx], style="yellow" if idx >= 5 else "green")
    return out
