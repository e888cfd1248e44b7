"""Summarise one phase into plain numbers (:class:`PhaseSummary`): the requests that started in the
steady windows, exactly the ones the verdict judges, with exact percentiles."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.compliance import Compliance, compliance
from harness.analysis.cpu import SERVICE_GROUPS, cpu_by_group
from harness.analysis.insights import Insight, insights
from harness.analysis.integrity import Integrity, read_integrity
from harness.analysis.load import LATENCY, PhaseData, latency_percentiles
from harness.analysis.recovery import (
    FaultCheck,
    FaultImpact,
    fault_checks,
    fault_impacts,
    server_error_count,
)
from harness.analysis.stability import Instability, Memory, instabilities, memory
from harness.analysis.steady import SteadyState
from harness.analysis.validity import evaluate_slo, phase_warnings, validity_reasons
from harness.analysis.windows import started_in
from harness.core.checks import Check, SloStatus, jsonable

DB_BOUND_CPU = 70.0  # % of a core: "near a full core" on a shared 2-core machine


@dataclass
class StageSummary:
    index: int
    start_s: float
    end_s: float
    offered_rps: float | None
    users: int | None
    achieved_rps: float  # every request started in the window, per second
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_pct: float
    ok_rps: float = math.nan  # successful requests per second (goodput): what capacity uses


@dataclass
class EndpointSummary:
    endpoint: str
    count: int
    error_pct: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float


@dataclass
class PhaseSummary:
    run: str
    phase: str
    scenario: str
    replicas: int
    cache: bool
    lb: str
    balancer: str
    status: str
    target_rate: float | None
    window_start_s: float
    window_end_s: float
    window_s: float
    window_source: str
    requests: int
    successes: int
    failures: int
    achieved_rps: float  # every request (successes and failures) started in the window, per second
    ok_rps: float  # successful requests per second (goodput): the throughput capacity is sized on
    p50_ms: float
    p95_ms: float
    p99_ms: float
    service_p95_ms: float  # from the actual start (the service's own latency)
    error_pct: float
    cpu: dict[str, float]  # mean % of one core per group in the steady window
    service_cores: float
    rps_per_core: float
    cpu_ms_per_request: float  # service CPU per request (successes and failures)
    api_cpu_ms_per_request: float  # API CPU per SUCCESSFUL request: what replicas are sized on
    host_cores: float | None
    endpoints: list[EndpointSummary] = field(default_factory=list)
    stages: list[StageSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid_reasons: list[str] = field(default_factory=list)
    instabilities: list[Instability] = field(default_factory=list)
    memory: list[Memory] = field(default_factory=list)  # RSS per component, window start vs end
    slo_status: SloStatus = "n/a"
    slo_checks: list[Check] = field(default_factory=list)
    faults: list[FaultImpact] = field(default_factory=list)  # what each fault did
    fault_checks: list[FaultCheck] = field(default_factory=list)  # the scenario's [slo.faults]
    integrity: Integrity | None = None  # the write audit's counts; None: the phase has none
    steady_states: list[SteadyState] = field(default_factory=list)  # MSER-5 per window
    compliance: Compliance | None = None  # share of 1-s bins within the SLO (None: no limits)
    insights: list[Insight] = field(default_factory=list)  # docs/insights.md
    cpus_per_replica: float | None = None  # each replica's CPU cap; None: none

    @property
    def valid(self) -> bool:
        return not self.invalid_reasons

    @property
    def stable(self) -> bool:
        return not self.instabilities

    @property
    def usable(self) -> bool:
        """Its throughput is the service's capacity: valid (the generator was not the limit),
        stable (nothing collapsed, stalled or died) and free of injected faults."""
        return self.valid and self.stable and not self.faults

    @property
    def key(self) -> str:
        return f"{self.run}/{self.phase}"

    @property
    def database_bound(self) -> bool:
        """The database near a full core while each API replica is less busy, each as a share
        of what it may use: the database one core, a replica its CPU cap (one core without)."""
        db, per_replica = self.cpu["db"], self.cpu["api"] / max(self.replicas, 1)
        cap = self.cpus_per_replica or 1.0
        return db >= DB_BOUND_CPU and per_replica / cap < db

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["slo_checks"] = [{**c.to_dict(), "comparison": c.comparison} for c in self.slo_checks]
        data["valid"] = self.valid
        safe: dict[str, Any] = jsonable(data)
        return safe


def endpoint_table(steady: pd.DataFrame, duration_s: float) -> list[EndpointSummary]:
    """Per endpoint, in name order, from the endpoint's codes: one mask and the latencies of
    its successes at a time (no copy of the frame per endpoint)."""
    endpoint = steady["endpoint"]
    if not isinstance(endpoint.dtype, pd.CategoricalDtype):
        endpoint = endpoint.astype("category")  # sorted categories, as the loader makes them
    codes = endpoint.cat.codes.to_numpy()
    ok = steady["ok"].to_numpy(dtype=bool)
    latency = steady[LATENCY].to_numpy()
    order = np.argsort(endpoint.cat.categories.astype(str).to_numpy(), kind="stable")
    rows = []
    for code in order:
        mask = codes == code
        count = int(mask.sum())
        if not count:
            continue
        part_ok = ok[mask]
        p50, p95, p99 = latency_percentiles(latency[mask][part_ok], scratch=True)
        rows.append(
            EndpointSummary(
                endpoint=str(endpoint.cat.categories[code]),
                count=count,
                error_pct=100.0 * float((~part_ok).mean()),
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                rps=count / duration_s if duration_s > 0 else math.nan,
            )
        )
    return rows


def _ok_latency(requests: pd.DataFrame, column: str = LATENCY) -> np.ndarray:
    """The latencies of the successful requests: a copy of one column, not of the frame (the
    caller's own: the percentiles may reorder it)."""
    values: np.ndarray = requests[column].to_numpy()[requests["ok"].to_numpy()]
    return values


def stage_table(phase: PhaseData) -> list[StageSummary]:
    rows = []
    for i, w in enumerate(phase.windows):
        part = started_in(phase.requests, [w])
        successes = int(part["ok"].sum())
        p50, p95, p99 = latency_percentiles(_ok_latency(part), scratch=True)
        rows.append(
            StageSummary(
                index=i,
                start_s=w.start_s,
                end_s=w.end_s,
                offered_rps=w.offered_rps,
                users=w.users,
                achieved_rps=len(part) / w.duration_s if w.duration_s > 0 else math.nan,
                requests=len(part),
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                error_pct=100.0 * float((~part["ok"]).mean()) if len(part) else math.nan,
                ok_rps=successes / w.duration_s if w.duration_s > 0 else math.nan,
            )
        )
    return rows


def summarise_phase(phase: PhaseData) -> PhaseSummary:
    steady = phase.steady()
    window_s = sum(w.duration_s for w in phase.windows)
    successes = int(steady["ok"].sum())
    p50, p95, p99 = latency_percentiles(_ok_latency(steady), scratch=True)
    # every number below comes from the requests harness.core.slo judges (actual start in a window)
    achieved = len(steady) / window_s if window_s > 0 else math.nan
    goodput = successes / window_s if window_s > 0 else math.nan
    cpu = cpu_by_group(phase.resources, phase.windows)
    service_cores = sum(cpu[g] for g in SERVICE_GROUPS) / 100.0
    host = phase.resources["host_cores"].dropna()
    topology = phase.topology
    summary = PhaseSummary(
        run=phase.run,
        phase=phase.name,
        scenario=phase.scenario_name,
        replicas=phase.replicas,
        cache=phase.cache,
        lb=str(topology.get("lb") or "?"),
        balancer=str(topology.get("balancer") or "?"),
        cpus_per_replica=topology.get("cpus_per_replica"),
        status=str(phase.manifest.get("status") or "?"),
        target_rate=phase.target_rate,
        window_start_s=min((w.start_s for w in phase.windows), default=math.nan),
        window_end_s=max((w.end_s for w in phase.windows), default=math.nan),
        window_s=window_s,
        window_source=phase.window_source,
        requests=len(steady),
        successes=successes,
        failures=len(steady) - successes,
        achieved_rps=achieved,
        ok_rps=goodput,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        service_p95_ms=latency_percentiles(_ok_latency(steady, "latency_ms"), scratch=True)[1],
        error_pct=100.0 * (len(steady) - successes) / len(steady) if len(steady) else math.nan,
        cpu=cpu,
        service_cores=service_cores,
        rps_per_core=achieved / service_cores if service_cores > 0 else math.nan,
        cpu_ms_per_request=1000.0 * service_cores / achieved if achieved > 0 else math.nan,
        api_cpu_ms_per_request=10.0 * cpu["api"] / goodput if goodput > 0 else math.nan,
        host_cores=float(host.iloc[0]) if len(host) else None,
        endpoints=endpoint_table(steady, window_s),
        stages=stage_table(phase),
    )
    summary.slo_status, summary.slo_checks, slo_invalid = evaluate_slo(phase)
    summary.invalid_reasons = validity_reasons(phase, summary, slo_invalid)
    if summary.invalid_reasons:
        summary.slo_status = "INVALID"
    summary.instabilities = instabilities(phase)
    summary.faults = fault_impacts(phase)
    drill = phase.scenario.slo.faults if phase.scenario is not None else None
    summary.fault_checks = fault_checks(summary.faults, drill, server_error_count(steady))
    if summary.slo_status == "PASS" and not all(c.passed for c in summary.fault_checks):
        summary.slo_status = "FAIL"
    summary.memory = memory(phase.resources, phase.windows)
    summary.steady_states = phase.steady_states
    summary.compliance = compliance(phase)
    summary.insights = insights(phase, summary)
    # the generator's saturation is already an INVALID reason: not repeated as a warning
    told = [i.message for i in summary.insights if i.rule != "generator-saturation"]
    summary.warnings = phase_warnings(phase, summary, steady) + told
    summary.integrity = read_integrity(phase.path)
    return summary
