"""The Markdown table of scripts/wire_loro_check.sh: per condition, episodes met at levels 3 / 4 / 5
and their mean delay, the directions run side by side, from the `check --json` files it wrote.

    .venv/bin/python scripts/wire_loro_table.py OUT_DIR [TAG [DIRECTION ...]]
    TAG: e.g. _baseline_on ("" for none); DIRECTION: FIT-TEST renderings as the check's DIRECTIONS
    (default A-B B-A; AB-C: fit on A and B, tested on C).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.challenge_types import WIRE_NAMES  # noqa: E402  (the ground-truth header names check keys by)

DIRECTIONS = ("A-B", "B-A")  # the check's default
LEVELS = (3, 4, 5)


def cell(fig: dict, challenge: str) -> str:
    """'met L3/L4/L5 of episodes, mean delay' for one condition in one direction."""
    met = [fig.get(f"{challenge}_{lv}_ok", 0) for lv in LEVELS]
    eps = sum(fig.get(f"{challenge}_{lv}_episodes", 0) for lv in LEVELS)
    delays = [fig.get(f"{challenge}_{lv}_mean_delay") for lv in LEVELS]
    known = [d for d in delays if d is not None]
    delay = f"{sum(known) / len(known):.1f}" if known else "-"
    return f"{'/'.join(str(m) for m in met)} ({sum(met)}/{eps}), {delay}"


def totals(fig: dict) -> str:
    rate = fig["false_alerts_per_clear_frame"]
    return (
        f"{fig['episodes_ok']}/{fig['episodes']} met, mean delay {fig['mean_delay_frames']} frames; "
        f"false alerts {fig['false_alerts_clear']} in {fig['clear_frames']} clear frames ({rate}); "
        f"stuck streams {fig['stuck_streams']}; atypical streams {fig.get('atypical_streams', '-')}"
        + (
            f"; per-frame mean AUROC L3-5 of anomaly {fig['mean_auroc_anomaly']}, stream-aware "
            f"{fig['mean_auroc_stream_anomaly']}"
            if fig.get("mean_auroc_anomaly") is not None
            else ""
        )
    )


def label(direction: str) -> str:
    """'AB-C' -> 'A+B -> C'."""
    fit, test = direction.split("-")
    return f"{'+'.join(fit)} -> {'+'.join(test)}"


def main() -> None:
    out, tag = Path(sys.argv[1]), (sys.argv[2] if len(sys.argv) > 2 else "")
    directions = tuple(sys.argv[3:]) or DIRECTIONS
    files = {d: out / f"check_{d}{tag}.json" for d in directions}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise SystemExit(f"no check results at {', '.join(missing)} (run scripts/wire_loro_check.sh first)")
    figs = {d: json.loads(f.read_text()) for d, f in files.items()}
    head = " | ".join(f"{label(d)}: met L3/L4/L5 (of 24 each), mean delay" for d in directions)
    print(f"| condition | {head} |")
    print("| --- |" + " --- |" * len(directions))
    for code in range(1, 13):
        name = WIRE_NAMES[code]
        print(f"| {name} | " + " | ".join(cell(figs[d], name) for d in directions) + " |")
    for d in directions:
        print(f"{label(d)}: {totals(figs[d])}")


if __name__ == "__main__":
    main()
