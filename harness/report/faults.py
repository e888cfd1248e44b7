"""The report's "Faults and recovery" section: what each injected fault did, per phase."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.analysis.recovery import BIN_S, CacheCounts, FaultImpact
from harness.analysis.summary import PhaseSummary
from harness.report.tables import Table, fmt

HOW_TO_READ = (
    "Each fault's window runs from its start to its end (a stop: resumed; a kill with a "
    "duration: started again; a restart: healthy again), at least one 5-s bin. Errors, 5xx and "
    "p95 (successful requests, as the SLO judges) are of the requests that started in the "
    "window; answered p99 counts every request, failures included: how long a user waited for "
    "any answer. Recovered in: from the kill itself (the other replicas must carry the load) or "
    "from the component's return, to the end of the first 5-s bin back within 10 % of the "
    "successful throughput before the fault with its p95 inside the SLO. Cache answers (hit / "
    "miss / bypass) are the API's own counters, read at the fault's edges."
)

_HEADERS = [
    "fault",
    "window s",
    "requests",
    "errors",
    "error %",
    "5xx",
    "p95 ms",
    "answered p99 ms",
    "ok req/s before",
    "recovered in",
    "cache during",
    "cache after",
]


def fault_tables(summaries: Sequence[PhaseSummary]) -> list[Table]:
    out = []
    for s in summaries:
        if s.faults:
            out.append(Table(_HEADERS, [_row(f) for f in s.faults], caption=f"{s.key}: faults"))
        if s.fault_checks:
            rows = [
                [
                    c.fault,
                    c.metric,
                    f"{c.comparison} {c.threshold:g}",
                    fmt(c.value, 3 if abs(c.value) < 10 else 0),
                    "PASS" if c.passed else "FAIL",
                    c.message or "",
                ]
                for c in s.fault_checks
            ]
            headers = ["fault", "check", "threshold", "value", "verdict", "note"]
            out.append(Table(headers, rows, caption=f"{s.key}: [slo.faults]"))
    return out


def _row(f: FaultImpact) -> list[str]:
    if f.error:
        return [f.name, "—", *(["—"] * 8), f"not carried out: {f.error}", ""]
    return [
        f.name if f.target == f.component else f"{f.name} ({f.target})",
        f"{f.window_start_s:.0f} to {f.window_end_s:.0f}",
        fmt(f.requests),
        fmt(f.errors),
        fmt(100.0 * f.error_rate, 2),
        fmt(f.server_errors),
        fmt(f.p95_ms, 1),
        fmt(f.answer_p99_ms, 1),
        fmt(f.before_rps, 1),
        _recovered(f),
        _cache(f.cache_during),
        _cache(f.cache_after),
    ]


def _recovered(f: FaultImpact) -> str:
    if f.recovery_from_s is None:
        return "never back"
    if f.recovery_s is None:
        return "not by the end"
    since = "the kill" if f.action == "kill" else "its return"
    first = " (the first bin)" if math.isclose(f.recovery_s, BIN_S) else ""
    return f"≤ {f.recovery_s:.0f} s after {since}{first}"


def _cache(counts: CacheCounts | None) -> str:
    if counts is None:
        return "—"
    return f"{counts['hit']:.0f} / {counts['miss']:.0f} / {counts['bypass']:.0f}"
