"""The trend plot: one metric's history per axes, its change points marked.

Pure drawing over plain data (labels, values, change-point indexes): ``capacity trend
--png/--html`` writes it, and the report shows it when given a history (``capacity report
--history``). It lives with the history, which the report may import, not the other way round.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

TrendSeries = tuple[str, Sequence[float | None], Sequence[int]]  # label, values, change points


def draw_trend(ax: Axes, label: str, values: Sequence[float | None], points: Sequence[int]) -> None:
    runs = [i + 1 for i, v in enumerate(values) if v is not None]
    ax.plot(runs, [v for v in values if v is not None], marker="o", color="#1f77b4")
    for i, index in enumerate(points):
        ax.axvline(index + 0.5, color="#d62728", linestyle="--",
                   label="change point" if i == 0 else None)  # fmt: skip
    ax.set_title(label, fontsize=10)
    ax.set_xlabel("run (in the order added)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # runs are whole numbers
    if points:
        ax.legend(loc="best", fontsize=8)


def trend_png(series: Sequence[TrendSeries]) -> bytes:
    """One row per series, as PNG bytes."""
    rows = max(len(series), 1)
    fig = Figure(figsize=(8.0, 2.4 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax, (label, values, points) in zip(axes, series, strict=False):
        draw_trend(ax, label, values, points)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no URL in the file
    return buffer.getvalue()
