"""The report's tables, as plain rows of text shared by the Markdown and the HTML rendering."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.analysis.capacity import CPU_TARGET, MIN_REPLICA_COUNTS, Analysis, CapacityPlan
from harness.analysis.costs import CostTable, EndpointCost
from harness.analysis.summary import PhaseSummary, StageSummary


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


def fmt(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        if not math.isfinite(value):
            return "—"
        return f"{value:,.{digits}f}{suffix}"
    return str(value)


_CPU_COLUMNS = ("db", "redis", "api", "nginx", "generator")

_PHASE_HEADERS = (
    "run",
    "phase",
    "replicas",
    "cache",
    "balancer",
    "req/s (all)",
    "ok req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "error %",
    *(f"CPU {g}" for g in _CPU_COLUMNS),
    "req/s per core",
    "CPU ms/req",
    "SLO",
    "time in SLO (p95 / errors / both)",
    "validity",
    "stability",
)


def phase_table(a: Analysis) -> Table:
    return Table(list(_PHASE_HEADERS), [_phase_row(s) for s in a.summaries])


def _phase_row(s: PhaseSummary) -> list[str]:
    return [
        s.run,
        s.phase,
        str(s.replicas) + (f" × {s.cpus_per_replica:g} cpu" if s.cpus_per_replica else ""),
        "on" if s.cache else "off",
        s.balancer,
        fmt(s.achieved_rps, 1),
        fmt(s.ok_rps, 1),
        fmt(s.p50_ms, 1),
        fmt(s.p95_ms, 1),
        fmt(s.p99_ms, 1),
        fmt(s.error_pct, 2),
        *(fmt(s.cpu[g], 0, " %") for g in _CPU_COLUMNS),
        fmt(s.rps_per_core, 0),
        fmt(s.cpu_ms_per_request, 2),
        s.slo_status,
        _compliance(s),
        "valid" if s.valid else "INVALID",
        "stable" if s.stable else "UNSTABLE",
    ]


def _compliance(s: PhaseSummary) -> str:
    """``p95 / errors / both``: shares of the steady window's 1-s bins within the SLO."""
    c = s.compliance
    if c is None:
        return "—"
    shares = (c.p95_share, c.error_share, c.both_share)
    return " / ".join(fmt(None if v is None else 100.0 * v, 0, " %") for v in shares)


_ENDPOINT_HEADERS = ("endpoint", "count", "error %", "p50 ms", "p95 ms", "p99 ms", "req/s")


def endpoint_tables(a: Analysis) -> list[Table]:
    return [
        Table(
            list(_ENDPOINT_HEADERS),
            [
                [
                    e.endpoint,
                    str(e.count),
                    fmt(e.error_pct, 2),
                    fmt(e.p50_ms, 1),
                    fmt(e.p95_ms, 1),
                    fmt(e.p99_ms, 1),
                    fmt(e.rps, 1),
                ]
                for e in s.endpoints
            ],
            caption=f"{s.run}/{s.phase}",
        )
        for s in a.summaries
    ]


_STAGE_HEADERS = (
    "stage",
    "window s",
    "offered req/s",
    "users",
    "achieved req/s (all)",
    "ok req/s",
    "requests",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "error %",
)


def stage_tables(a: Analysis) -> list[Table]:
    """One table per stepped phase; a single-stage phase is already in the phase table."""
    return [
        Table(
            list(_STAGE_HEADERS),
            [_stage_row(st) for st in s.stages],
            caption=f"{s.run}/{s.phase} stages",
        )
        for s in a.summaries
        if len(s.stages) >= 2
    ]


def _stage_row(st: StageSummary) -> list[str]:
    return [
        str(st.index + 1),
        f"{st.start_s:.0f}-{st.end_s:.0f}",
        fmt(st.offered_rps, 0),
        fmt(st.users),
        fmt(st.achieved_rps, 1),
        fmt(st.ok_rps, 1),
        str(st.requests),
        fmt(st.p50_ms, 1),
        fmt(st.p95_ms, 1),
        fmt(st.p99_ms, 1),
        fmt(st.error_pct, 2),
    ]


def capacity_table(a: Analysis) -> Table:
    headers = [
        "group",
        "USL lambda (ok req/s per replica)",
        "sigma (contention)",
        "kappa (coherency)",
        f"replicas for {a.target_rate:.0f} ok req/s (USL)",
        "API CPU ms per ok req",
        f"replicas at {CPU_TARGET:.0%} CPU",
    ]
    if a.price is not None:
        headers += ["monthly cost (USL)", f"monthly cost ({CPU_TARGET:.0%} CPU)"]
    return Table(headers, [_capacity_row(a, p) for p in a.plans])


def _capacity_row(a: Analysis, p: CapacityPlan) -> list[str]:
    row = [
        p.group,
        fmt(p.fit.lam if p.fit else None, 1),
        fmt(p.fit.sigma if p.fit else None, 4),
        fmt(p.fit.kappa if p.fit else None, 5),
        _usl_cell(p),
        fmt(p.api_cpu_ms_per_request, 2),
        fmt(p.replicas_cpu70),
    ]
    if a.price is not None:
        cur = a.price.currency
        row += [fmt(p.monthly_cost_usl, 0, f" {cur}"), fmt(p.monthly_cost_cpu70, 0, f" {cur}")]
    return row


def _usl_cell(p: CapacityPlan) -> str:
    if p.replicas_usl:
        return str(p.replicas_usl)
    if p.fit is None:
        return "—"
    if not p.fit.converged:
        return "unknown (the fit failed)"
    if p.fit.replica_counts < MIN_REPLICA_COUNTS:
        return f"unknown ({p.fit.replica_counts} replica count(s))"
    return "not reachable"


def comparison_table(a: Analysis) -> Table:
    rows = [
        [
            c.phase,
            c.label,
            f"{c.before_run} → {c.after_run}",
            fmt(c.before, 2),
            fmt(c.after, 2),
            fmt(c.change_pct, 1, " %"),
            c.direction,
        ]
        for c in a.comparisons
    ]
    return Table(["phase", "metric", "runs", "before", "after", "change", "direction"], rows)


_COST_HEADERS = (
    "endpoint (load generator)",
    "route (API)",
    "requests",
    "API CPU ms/req",
    "DB round trips/req",
    "Redis round trips/req",
    "cache hit ratio",
    "share of API CPU",
)
UNATTRIBUTED = "unattributed (event loop, HTTP parsing, threads)"


def cost_table_view(c: CostTable) -> Table:
    """Where the time goes in one phase: each route (most CPU first), then every route together,
    the API processes' CPU no request accounts for, and the processes' CPU in all."""
    rows = [_cost_row(c, e, " + ".join(e.names) or "(not in the mix)") for e in c.rows]
    rows.append(_cost_row(c, c.total, "every request together"))
    unattributed, n = c.unattributed_cpu_s, c.total.requests
    if c.api_cpu_s is not None and unattributed is not None and n:
        for label, cpu_s in ((UNATTRIBUTED, unattributed), ("API processes in all", c.api_cpu_s)):
            share = fmt(100.0 * c.share(cpu_s), 0, " %")
            rows.append([label, "—", str(n), fmt(1000.0 * cpu_s / n, 3), "—", "—", "—", share])
    where = f"{len(c.replicas)} replica(s), {c.window_s:.0f} s of steady window"
    return Table(list(_COST_HEADERS), rows, caption=f"{c.key}: where the time goes ({where})")


def _cost_row(c: CostTable, e: EndpointCost, name: str) -> list[str]:
    return [
        name,
        f"{e.method} {e.route}" if e.method else "—",
        str(e.requests),
        fmt(e.cpu_ms_per_request, 3),
        fmt(e.db_per_request, 2),
        fmt(e.redis_per_request, 2),
        _hit_ratio(e),
        fmt(100.0 * c.share(e.cpu_s), 0, " %"),
    ]


def _hit_ratio(e: EndpointCost) -> str:
    ratio = e.cache_hit_ratio
    if ratio is None:
        return "—"  # no look-ups: not a cached route
    if e.cache_bypass == e.lookups:
        return "bypassed"  # the cache is off (or Redis was failing the whole time)
    return fmt(100.0 * ratio, 0, " %")


_MEMORY_HEADERS = ["component", "RSS at start (MB)", "RSS at end (MB)", "growth (MB)"]
MB = 1024.0 * 1024.0


def memory_tables(a: Analysis) -> list[Table]:
    return [
        Table(
            _MEMORY_HEADERS,
            [
                [
                    m.component,
                    fmt(m.start_bytes / MB, 1),
                    fmt(m.end_bytes / MB, 1),
                    fmt(m.growth_bytes / MB, 1),
                ]
                for m in s.memory
            ],
            caption=s.key,
        )
        for s in a.summaries
        if s.memory
    ]
