"""The CPU budget table: per component, CPU ms per successful request against what the host's
cores allow at the target rate (``harness.analysis.budget``)."""

from __future__ import annotations

import math

from harness.analysis.budget import Budget
from harness.report.tables import Table, fmt

BUDGET_HEADERS = [
    "component", "CPU (% of a core)", "CPU ms per ok request", "cores needed at target",
    "own ceiling (ok req/s)",
]  # fmt: skip


def budget_table(b: Budget) -> Table:
    rows = [
        [
            line.component,
            fmt(line.cpu_percent, 0, " %"),
            fmt(line.ms_per_request, 2),
            fmt(line.cores_at_target, 2),
            fmt(line.ceiling_rps, 0) if math.isfinite(line.ceiling_rps) else "—",
        ]
        for line in b.lines
    ]
    rows.append(
        [
            "all together",
            fmt(sum(line.cpu_percent for line in b.lines), 0, " %"),
            fmt(b.total_ms, 2),
            fmt(b.total_ms * b.target_rate / 1000.0, 2),
            fmt(b.host_ceiling_rps, 0) if b.total_ms > 0 else "—",
        ]
    )
    rows.append(
        [
            f"the host allows ({b.host_cores:g} cores)",
            fmt(100.0 * b.host_cores, 0, " %"),
            fmt(b.allowed_ms, 2),
            fmt(b.host_cores, 2),
            "—",
        ]
    )
    return Table(BUDGET_HEADERS, rows, caption=b.phase)


def budget_sentence(b: Budget) -> str:
    """Why the target is or is not within reach, in one sentence."""
    target = f"{b.target_rate:,.0f} req/s"
    ceiling = f"{b.ceiling_rps:,.0f} successful req/s"
    if b.limit == "host":
        why = (
            f"the stack spends {b.total_ms:.2f} ms of CPU per request, load generator included, "
            f"and {b.host_cores:g} cores give {b.allowed_ms:.2f} ms per request at {target}"
        )
    else:
        line = next(x for x in b.lines if x.component == b.limit)
        why = (
            f"the single-threaded {b.limit} spends {line.ms_per_request:.2f} ms of its one core "
            "per request"
        )
    reach = "within reach" if b.ceiling_rps >= b.target_rate else "out of reach"
    return f"{b.phase}: at these costs the ceiling is {ceiling} ({target} {reach}): {why}."
