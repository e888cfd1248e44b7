"""``capacity history add`` and ``capacity trend``."""

from __future__ import annotations

import argparse
import base64
import html
from collections.abc import Sequence
from pathlib import Path

from harness._files import write_atomic
from harness.errors import BadInputError
from harness.history.changes import ChangePoint, change_points
from harness.history.store import (
    DEFAULT_HISTORY,
    METRICS,
    Record,
    append_records,
    load_history,
    records_of_run,
)

DEFAULT_TREND_METRICS = ("ok_rps", "p50_ms", "p95_ms", "error_pct")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    history = subparsers.add_parser("history", help="keep per-phase run summaries over time")
    sub = history.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="append a run's per-phase summary (from its summary.json)")
    add.add_argument("run", type=Path, metavar="RUN_DIR")
    add.add_argument("--history", type=Path, default=DEFAULT_HISTORY, metavar="PATH",
                     help="JSONL history file (default: %(default)s)")  # fmt: skip
    add.set_defaults(func=run_history_add_command)

    trend = subparsers.add_parser("trend", help="change points per metric over the run history")
    trend.add_argument("--history", type=Path, default=DEFAULT_HISTORY, metavar="PATH",
                       help="JSONL history file (default: %(default)s)")  # fmt: skip
    trend.add_argument("--metric", action="append", choices=METRICS, metavar="METRIC",
                       help=f"one of {', '.join(METRICS)}; repeat for several "
                       f"(default: {', '.join(DEFAULT_TREND_METRICS)})")  # fmt: skip
    trend.add_argument("--markdown", nargs="?", const="-", metavar="FILE",
                       help="Markdown on stdout, or into FILE")  # fmt: skip
    trend.add_argument("--png", type=Path, metavar="FILE", help="write the trend plot here")
    trend.add_argument("--html", type=Path, metavar="FILE", help="write table and plot here")
    trend.set_defaults(func=run_trend_command)


def run_history_add_command(args: argparse.Namespace) -> int:
    if not args.run.is_dir():
        raise BadInputError(f"{args.run}: not a run directory")
    added = append_records(args.history, records_of_run(args.run))
    what = ", ".join(r.phase for r in added) or "nothing new (already in the history)"
    print(f"{args.history}: {args.run.name}: {what}")
    return 0


Trend = list[tuple[str, str, list[Record], list[ChangePoint]]]  # series, metric, runs, points


def trends(records: Sequence[Record], metrics: Sequence[str]) -> Trend:
    by_series: dict[str, list[Record]] = {}
    for r in records:
        by_series.setdefault(r.series, []).append(r)
    return [
        (series, metric, runs, change_points([r.metrics.get(metric) for r in runs]))
        for series, runs in by_series.items()
        for metric in metrics
    ]


def run_trend_command(args: argparse.Namespace) -> int:
    found = trends(load_history(args.history), args.metric or DEFAULT_TREND_METRICS)
    text = trend_markdown(found) if args.markdown else trend_text(found)
    if args.markdown not in (None, "-"):
        write_atomic(Path(args.markdown), text)
    else:
        print(text)
    if args.png or args.html:
        from harness.history.plot import trend_png

        png = trend_png(
            [(f"{s} {m}", [r.metrics.get(m) for r in runs], [p.index for p in pts])
             for s, m, runs, pts in found]
        )  # fmt: skip
        if args.png:
            write_atomic(args.png, png)
        if args.html:
            write_atomic(args.html, _html(trend_markdown(found), png))
    return 0


def trend_parts(path: Path, scenarios: set[str]) -> tuple[list[str], list[list[str]], bytes]:
    """The report's "Trend over runs": the change-point table and plot of ``scenarios``' series
    in the history at ``path`` (bad input when it cannot be read)."""
    from harness.history.plot import trend_png

    records = [r for r in load_history(path) if r.scenario in scenarios]
    if not records:
        names = ", ".join(sorted(scenarios))
        raise BadInputError(f"{path}: no run of {names} in this history")
    found = trends(records, DEFAULT_TREND_METRICS)
    png = trend_png(
        [(f"{s} {m}", [r.metrics.get(m) for r in runs], [p.index for p in pts])
         for s, m, runs, pts in found]
    )  # fmt: skip
    return HEADERS, _rows(found), png


def _rows(found: Trend) -> list[list[str]]:
    rows = []
    for series, metric, runs, points in found:
        if not points:
            rows.append([series, metric, str(len(runs)), "none", "", ""])
        for p in points:
            at = runs[p.index]
            commit = f", {at.commit[:10]}" if at.commit else ""
            rows.append([series, metric, str(len(runs)), f"run {p.index + 1} ({at.run}{commit})",
                         f"{p.before:.4g} → {p.after:.4g}", f"{p.change_pct:+.1f} %"])  # fmt: skip
    return rows


HEADERS = ["series", "metric", "runs", "change point", "level", "change"]


def trend_markdown(found: Trend) -> str:
    lines = ["## Capacity trend", "", "| " + " | ".join(HEADERS) + " |",
             "| " + " | ".join("---" for _ in HEADERS) + " |"]  # fmt: skip
    lines += ["| " + " | ".join(row) + " |" for row in _rows(found)]
    return "\n".join(lines) + "\n"


def trend_text(found: Trend) -> str:
    rows = [HEADERS, *_rows(found)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADERS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _html(markdown: str, png: bytes) -> str:
    image = base64.b64encode(png).decode()
    return (
        "<!doctype html><meta charset='utf-8'><title>Capacity trend</title>"
        f"<pre>{html.escape(markdown)}</pre>"
        f"<img alt='Trend with change points' src='data:image/png;base64,{image}'>\n"
    )
