"""Plots for the capacity report: each function draws onto an ``Axes`` it is given.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot, no global state, no display);
saving a PNG uses the Agg canvas.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.analysis.cpu import CPU_GROUPS
from harness.analysis.summary import StageSummary
from harness.analysis.usl import USLFit
from harness.analysis.windows import Window
from harness.core.slo import RATE_TOLERANCE

COLORS = {
    "db": "#8c564b",
    "redis": "#d62728",
    "api": "#1f77b4",
    "nginx": "#2ca02c",
    "generator": "#7f7f7f",
}


def new_figure(width: float = 8.0, height: float = 4.5) -> tuple[Figure, Axes]:
    # Fixed margins instead of a layout engine: the same look, a third of the rendering time.
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(left=0.09, right=0.91, top=0.9, bottom=0.6 / height)
    return fig, fig.add_subplot()


def new_figure_rows(
    rows: int, width: float = 8.0, height: float = 3.0
) -> tuple[Figure, list[Axes]]:
    """``rows`` axes stacked, sharing the time axis, ``height`` inches each."""
    fig = Figure(figsize=(width, height * rows), dpi=100)
    fig.subplots_adjust(
        left=0.09, right=0.91, top=1 - 0.35 / (height * rows), bottom=0.6 / (height * rows),
        hspace=0.45,
    )  # fmt: skip
    first = fig.add_subplot(rows, 1, 1)
    return fig, [first, *(fig.add_subplot(rows, 1, i, sharex=first) for i in range(2, rows + 1))]


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no URL in the file
    return buffer.getvalue()


def shade_windows(ax: Axes, windows: Sequence[Window]) -> None:
    for i, w in enumerate(windows):
        ax.axvspan(
            w.start_s,
            w.end_s,
            color="#2ca02c",
            alpha=0.10,
            label="steady window" if i == 0 else None,
        )


FaultMark = tuple[str, float, float | None]  # what, start s, end s (None: it stayed down)


def mark_faults(ax: Axes, faults: Sequence[FaultMark], label: bool = True) -> None:
    """A red line where each fault began and a red band while it lasted, named at the top."""
    for i, (what, start, end) in enumerate(faults):
        ax.axvline(start, color="C3", linewidth=1, linestyle=":",
                   label="fault" if label and i == 0 else None)  # fmt: skip
        if end is not None and end > start:
            ax.axvspan(start, end, color="C3", alpha=0.08)
        if label:
            ax.text(start, 0.99, f" {what}", transform=ax.get_xaxis_transform(), ha="left",
                    va="top", fontsize=7, color="C3", rotation=90)  # fmt: skip


def throughput_vs_replicas(
    ax: Axes,
    groups: Mapping[str, Sequence[tuple[int, float]]],
    fits: Mapping[str, USLFit | None],
    target_rps: float | None = None,
) -> None:
    """Measured goodput (successful req/s of the valid phases) per replica count, the USL fit
    and the ideal linear line per group."""
    max_n = max((n for pts in groups.values() for n, _ in pts), default=1)
    grid = np.linspace(1, max(2 * max_n, 4), 200)
    for i, (label, points) in enumerate(groups.items()):
        color = f"C{i}"
        ns = [n for n, _ in points]
        xs = [x for _, x in points]
        ax.plot(ns, xs, "o", color=color, markersize=7, label=f"{label}: measured")
        fit = fits.get(label)
        if fit is None:
            continue
        ax.plot(
            grid,
            fit.throughput(1) * grid,
            ":",
            color=color,
            alpha=0.7,
            label=f"{label}: ideal linear",
        )
        if fit.replica_counts < 2 or not fit.converged:
            continue  # one replica count or a failed fit: no curve to draw, only the ideal line
        model = [fit.throughput(float(n)) for n in grid]
        ax.plot(
            grid,
            model,
            "-",
            color=color,
            label=(
                f"{label}: USL fit (lambda={fit.lam:.0f}, sigma={fit.sigma:.3f}, "
                f"kappa={fit.kappa:.4f})" + ("" if fit.determined else ", under-determined")
            ),
        )
    if target_rps:
        ax.axhline(
            target_rps,
            color="black",
            linestyle="--",
            linewidth=1,
            label=f"target {target_rps:.0f} successful req/s",
        )
    ax.set_title("Throughput vs replicas (Universal Scalability Law)")
    ax.set_xlabel("API replicas (N)")
    ax.set_ylabel("goodput (successful req/s)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def latency_vs_load(
    ax: Axes,
    series: Mapping[str, Sequence[StageSummary]],
    p95_slo_ms: float | None = None,
) -> None:
    """p50/p95/p99 per stage (or phase) against its offered load (achieved when unknown)."""
    for i, (label, stages) in enumerate(series.items()):
        pts = sorted(((_load(s), s) for s in stages), key=lambda pair: pair[0])
        xs = [x for x, _ in pts]
        color = f"C{i % 10}"
        ax.plot(
            xs,
            [s.p95_ms for _, s in pts],
            "-",
            marker="o",
            color=color,
            markersize=4,
            label=f"{label}: p95",
        )
        ax.plot(xs, [s.p50_ms for _, s in pts], ":", marker=".", color=color)
        ax.plot(xs, [s.p99_ms for _, s in pts], "--", marker=".", color=color)
    ax.plot([], [], ":", color="gray", label="dotted: p50")
    ax.plot([], [], "--", color="gray", label="dashed: p99")
    if p95_slo_ms:
        ax.axhline(
            p95_slo_ms,
            color="red",
            linestyle="--",
            linewidth=1,
            label=f"p95 SLO {p95_slo_ms:.0f} ms",
        )
    ax.set_title("Latency percentiles vs offered load (steady windows)")
    ax.set_xlabel("offered load (req/s; achieved where no rate was set or it fell short)")
    ax.set_ylabel("latency from intended start (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def _load(stage: StageSummary) -> float:
    offered = stage.offered_rps
    if offered and stage.achieved_rps >= RATE_TOLERANCE * offered:
        return offered
    return stage.achieved_rps


def throughput_over_time(
    ax: Axes, series: pd.DataFrame, windows: Sequence[Window], title: str
) -> None:
    """Requests started per second and successful answers per second, per time bin: a collapse
    or a stall shows as the second line falling to the floor."""
    shade_windows(ax, windows)
    ax.plot(series["t"], series["rps"], "-", color="C7", linewidth=1, label="requests sent")
    ax.plot(series["t"], series["ok_rps"], "-", color="C2", label="successful answers")
    ax.set_ylabel("per second")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title)


def p95_and_errors_over_time(
    ax: Axes,
    series: pd.DataFrame,
    windows: Sequence[Window],
    title: str,
    p95_slo_ms: float | None = None,
) -> Axes:
    """p95 latency (left axis) and error % (right axis) per time bin; returns the right axis."""
    shade_windows(ax, windows)
    ax.plot(series["t"], series["p95_ms"], "-", color="C0", label="p95 latency")
    if p95_slo_ms:
        ax.axhline(
            p95_slo_ms,
            color="C0",
            linestyle="--",
            linewidth=1,
            label=f"p95 SLO {p95_slo_ms:.0f} ms",
        )
    ax.set_xlabel("time since run start (s)")
    ax.set_ylabel("p95 latency (ms)", color="C0")
    # Scale to the steady window so a slow warm-up does not flatten it; say when clipped.
    inside = np.zeros(len(series), dtype=bool)
    for w in windows:
        inside |= (series["t"].to_numpy() >= w.start_s) & (series["t"].to_numpy() < w.end_s)
    p95 = series["p95_ms"].to_numpy(dtype=np.float64)
    steady = p95[inside & np.isfinite(p95)]  # a bin with no successful request has no p95
    steady_top = float(steady.max()) if steady.size else 0.0
    top = max(steady_top * 1.5, (p95_slo_ms or 0.0) * 1.15)
    finite = p95[np.isfinite(p95)]
    overall = float(finite.max()) if finite.size else 0.0
    if top > 0 and math.isfinite(top) and overall > top:
        ax.set_ylim(0, top)
        ax.text(
            0.99,
            0.97,
            f"outside the steady window p95 reaches {overall:.0f} ms (clipped)",
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=7,
            color="C0",
        )
    else:
        ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(series["t"], series["error_pct"], "-", color="C3", label="errors")
    right.set_ylabel("errors (% of requests)", color="C3")
    top = float(series["error_pct"].max()) if len(series) else 0.0
    right.set_ylim(0, max(1.0, (top if math.isfinite(top) else 0.0) * 1.2))
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = right.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, fontsize=7, loc="upper left")
    ax.set_title(title)
    return right


def cpu_over_time(ax: Axes, cpu: pd.DataFrame, windows: Sequence[Window], title: str) -> None:
    """CPU per component group (% of one core) per second."""
    shade_windows(ax, windows)
    for group in CPU_GROUPS:
        if group in cpu.columns:
            name = "api (all replicas)" if group == "api" else group
            ax.plot(cpu.index, cpu[group], "-", color=COLORS[group], label=name)
    ax.axhline(100, color="black", linestyle=":", linewidth=1, label="one full core")
    ax.set_title(title)
    ax.set_xlabel("time since run start (s)")
    ax.set_ylabel("CPU (% of one core)")
    values = cpu[[g for g in CPU_GROUPS if g in cpu.columns]].to_numpy(dtype=float)
    top = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 100.0
    ax.set_ylim(0, max(top, 100.0) * 1.35)  # headroom for the legend
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", ncol=3)
