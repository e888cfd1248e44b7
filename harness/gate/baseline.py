"""Baselines: per phase, the metrics the gate compares and their per-block values.

A block is one 5-second slice of the steady window; the gate estimates run-to-run noise from the
blocks (:mod:`harness.gate.noise`). The file format is ``primo-capacity/baseline/v1``, written by
``capacity baseline save`` and committed under ``reports/baselines/``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness._files import utc_now, write_json
from harness.analysis.load import PhaseData, read_json
from harness.analysis.series import BLOCK_S, block_metrics
from harness.analysis.summary import PhaseSummary
from harness.errors import BadInputError

BASELINE_SCHEMA = "primo-capacity/baseline/v1"


@dataclass(frozen=True)
class RegressionMetric:
    label: str
    higher_is_worse: bool
    block_column: str  # its column in harness.analysis.series.block_metrics


# PhaseSummary attribute -> how the gate compares it
REGRESSION_METRICS: dict[str, RegressionMetric] = {
    "p50_ms": RegressionMetric("p50 latency (ms)", higher_is_worse=True, block_column="p50_ms"),
    "p95_ms": RegressionMetric("p95 latency (ms)", higher_is_worse=True, block_column="p95_ms"),
    "achieved_rps": RegressionMetric(
        "achieved rate (req/s)", higher_is_worse=False, block_column="rps"
    ),
    "cpu_ms_per_request": RegressionMetric(
        "service CPU per request (ms)", higher_is_worse=True, block_column="cpu_ms_per_request"
    ),
}


# What a phase ran on, as the gate compares it: a metric of another topology is not a regression.
TOPOLOGY_KEYS = ("replicas", "cache", "balancer", "backend", "indexes", "compression", "processes")


@dataclass
class PhaseBaseline:
    metrics: dict[str, float]
    blocks: dict[str, list[float]]
    # TOPOLOGY_KEYS -> value; empty in a baseline saved before the gate recorded it
    topology: dict[str, Any] = field(default_factory=dict)


@dataclass
class Baseline:
    scenario: str
    phases: dict[str, PhaseBaseline]
    block_s: float = BLOCK_S
    created: str = ""
    source: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)  # git commits the baseline runs measured

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": BASELINE_SCHEMA,
            "scenario": self.scenario,
            "created": self.created,
            "source": self.source,
            "commits": self.commits,
            "block_s": self.block_s,
            "phases": {
                name: {
                    "metrics": _clean(p.metrics),
                    "blocks": {k: _clean_list(v) for k, v in p.blocks.items()},
                    "topology": p.topology,
                }
                for name, p in self.phases.items()
            },
        }


def _clean(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _clean_list(values: Sequence[float]) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def phase_measurement(phase: PhaseData, summary: PhaseSummary) -> PhaseBaseline:
    """The summary metrics and per-block values of one phase (what a baseline stores)."""
    blocks = block_metrics(phase)
    return PhaseBaseline(
        metrics={m: float(getattr(summary, m)) for m in REGRESSION_METRICS},
        blocks={
            m: [float(v) for v in blocks[spec.block_column]]
            for m, spec in REGRESSION_METRICS.items()
        },
        topology=phase_topology(phase),
    )


def phase_topology(phase: PhaseData) -> dict[str, Any]:
    """The :data:`TOPOLOGY_KEYS` its manifest records (a key it lacks is left out)."""
    topo = phase.topology
    load = phase.manifest.get("load")
    found: dict[str, Any] = {
        "replicas": phase.replicas,
        "cache": phase.cache,
        "balancer": topo.get("balancer"),
        "backend": topo.get("backend"),
        "indexes": topo.get("indexes"),
        "compression": topo.get("compression"),
        "processes": load.get("processes") if isinstance(load, dict) else None,
    }
    return {k: v for k, v in found.items() if v is not None}


def baseline_from(
    runs: Sequence[Sequence[PhaseData]], summaries: Sequence[Sequence[PhaseSummary]]
) -> Baseline:
    """One baseline from one or more runs of the same scenario (blocks pooled per phase)."""
    scenarios = {s.scenario for run in summaries for s in run}
    if len(scenarios) != 1:
        names = ", ".join(sorted(scenarios))
        raise BadInputError(f"baseline: the runs are of different scenarios ({names})")
    return Baseline(
        scenario=scenarios.pop(),
        phases=_pooled_phases(runs, summaries),
        created=utc_now(),
        source=sorted({s.run for run in summaries for s in run}),
        commits=sorted(
            {
                str(p.manifest.get("git_commit"))
                for run in runs
                for p in run
                if p.manifest.get("git_commit")
            }
        ),
    )


def _pooled_phases(
    runs: Sequence[Sequence[PhaseData]], summaries: Sequence[Sequence[PhaseSummary]]
) -> dict[str, PhaseBaseline]:
    """Per phase name, the blocks of every run together; with several runs, the median metric."""
    phases: dict[str, PhaseBaseline] = {}
    pooled: dict[str, list[PhaseSummary]] = {}
    for run_phases, run_summaries in zip(runs, summaries, strict=True):
        for phase, summary in zip(run_phases, run_summaries, strict=True):
            m = phase_measurement(phase, summary)
            pooled.setdefault(summary.phase, []).append(summary)
            if summary.phase not in phases:
                phases[summary.phase] = m
            elif m.topology != phases[summary.phase].topology:
                raise BadInputError(
                    f"baseline: phase {summary.phase!r} ran on different topologies in these "
                    f"runs ({topology_text(phases[summary.phase].topology)} vs "
                    f"{topology_text(m.topology)})"
                )
            else:
                for k, v in m.blocks.items():
                    phases[summary.phase].blocks[k].extend(v)
    for name, members in pooled.items():
        if len(members) > 1:
            phases[name].metrics = {
                m: float(np.nanmedian([getattr(s, m) for s in members])) for m in REGRESSION_METRICS
            }
    return phases


def topology_text(topology: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in topology.items()) or "not recorded"


def load_baseline(path: Path) -> Baseline:
    data = read_json(path)
    if data.get("schema") != BASELINE_SCHEMA:
        raise BadInputError(f"{path}: schema {data.get('schema')!r}, expected {BASELINE_SCHEMA!r}")
    try:
        phases = {
            str(name): PhaseBaseline(
                metrics={k: _num(v) for k, v in p["metrics"].items()},
                blocks={k: [_num(x) for x in v] for k, v in p["blocks"].items()},
                topology=dict(p.get("topology") or {}),
            )
            for name, p in data["phases"].items()
        }
        return Baseline(
            scenario=str(data["scenario"]),
            phases=phases,
            block_s=float(data.get("block_s", BLOCK_S)),
            created=str(data.get("created", "")),
            source=[str(s) for s in data.get("source", [])],
            commits=[str(c) for c in data.get("commits", [])],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise BadInputError(f"{path}: not a baseline file ({type(exc).__name__}: {exc})") from exc


def _num(value: Any) -> float:
    """A stored metric: a number, or None for one that could not be measured (NaN)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def save_baseline(baseline: Baseline, path: Path) -> None:
    write_json(path, baseline.to_dict(), indent=1)
