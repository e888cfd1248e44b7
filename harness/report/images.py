"""The report's PNGs: which figures it has, their data and their file names.

The drawing itself is in :mod:`harness.report.plots`; this module builds one figure per image,
hands its ``Axes`` to a plot function and keeps the PNG bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.analysis.capacity import Analysis
from harness.analysis.load import PhaseData
from harness.analysis.series import cpu_series, request_series
from harness.analysis.summary import StageSummary
from harness.analysis.validity import slo_thresholds
from harness.report import plots


@dataclass(frozen=True)
class Image:
    name: str
    alt: str
    data: bytes


def build_images(a: Analysis) -> dict[str, list[Image]]:
    """The images of each report section, by section id."""
    timeline: list[Image] = []
    cpu: list[Image] = []
    for phase, s in zip(a.phases, a.summaries, strict=True):
        label = f"{s.run}/{s.phase}"
        slug = _slug(label if len(a.runs) > 1 else s.phase)
        timeline.append(_timeline_image(phase, label, slug))
        cpu.append(_cpu_image(phase, label, slug))
    return {
        "scaling": [_scaling_image(a)],
        "latency": [_latency_image(a)],
        "timeline": timeline,
        "cpu": cpu,
    }


def _scaling_image(a: Analysis) -> Image:
    fits = {p.group: p.fit for p in a.plans}
    fig, ax = plots.new_figure()
    plots.throughput_vs_replicas(ax, a.groups, fits, a.target_rate)
    return Image(
        "throughput_vs_replicas.png",
        "Throughput vs replicas with the USL fit",
        plots.png_bytes(fig),
    )


def _latency_image(a: Analysis) -> Image:
    p95_limits = [slo_thresholds(p.scenario).get("p95_ms") for p in a.phases]
    p95_slo = next((v for v in p95_limits if v), None)
    fig, ax = plots.new_figure()
    plots.latency_vs_load(ax, latency_series(a), p95_slo)
    return Image("latency_vs_load.png", "Latency percentiles vs offered load", plots.png_bytes(fig))


def latency_series(a: Analysis) -> dict[str, list[StageSummary]]:
    """A stepped phase is its own series; single-stage phases join one series per group."""
    series: dict[str, list[StageSummary]] = {}
    multi_run = len(a.runs) > 1
    for s in a.summaries:
        prefix = f"{s.run} " if multi_run else ""
        if len(s.stages) > 1:
            series[f"{prefix}{s.phase}"] = s.stages
        else:
            label = f"{prefix}cache {'on' if s.cache else 'off'} (one point per phase)"
            series.setdefault(label, []).extend(s.stages)
    return series


def fault_marks(manifest: dict[str, Any]) -> list[plots.FaultMark]:
    """The faults that began, from the manifest, as the timeline marks them."""
    faults = manifest.get("faults")
    marks: list[plots.FaultMark] = []
    for f in faults if isinstance(faults, list) else []:
        if isinstance(f, dict) and f.get("started_s") is not None and not f.get("error"):
            end = f.get("ended_s")
            marks.append(
                (
                    f"{f.get('action')} {f.get('component')}",
                    float(f["started_s"]),
                    None if end is None else float(end),
                )
            )
    return marks


def _timeline_image(phase: PhaseData, label: str, slug: str) -> Image:
    duration = float(phase.requests["t"].max()) if len(phase.requests) else 0.0
    bin_s = 1.0 if duration < 120 else 5.0
    series = request_series(phase, bin_s)
    fig, (top, bottom) = plots.new_figure_rows(2, 8, 3.0)
    plots.throughput_over_time(
        top, series, phase.windows, f"{label}: throughput over time ({bin_s:g} s bins)"
    )
    plots.p95_and_errors_over_time(
        bottom,
        series,
        phase.windows,
        "p95 latency and errors",
        slo_thresholds(phase.scenario).get("p95_ms"),
    )
    faults = fault_marks(phase.manifest)
    plots.mark_faults(top, faults)
    plots.mark_faults(bottom, faults, label=False)
    return Image(
        f"timeline-{slug}.png",
        f"{label}: throughput, p95 and errors over time",
        plots.png_bytes(fig),
    )


def _cpu_image(phase: PhaseData, label: str, slug: str) -> Image:
    fig, ax = plots.new_figure(8, 3.5)
    plots.cpu_over_time(ax, cpu_series(phase), phase.windows, f"{label}: CPU per component")
    return Image(f"cpu-{slug}.png", f"{label}: CPU per component", plots.png_bytes(fig))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")
