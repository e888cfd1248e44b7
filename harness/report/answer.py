"""The report's answer in sentences: each phase, the replicas each group needs, and each knee."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from harness.analysis.budget import budget
from harness.analysis.capacity import (
    CPU_TARGET,
    MIN_REPLICA_COUNTS,
    Analysis,
    CapacityPlan,
    Knee,
)
from harness.analysis.steps import Setup
from harness.analysis.steps import setups as phase_setups
from harness.analysis.summary import PhaseSummary
from harness.core import slo
from harness.report.steps import setup_text
from harness.report.tables import Table, fmt

HOST_SATURATED = 0.85  # share of the host's cores in use: the machine itself is the limit
API_SATURATED = 85.0  # % of a core per replica


def headline(a: Analysis) -> str:
    """The answer in plain sentences: what the service held, whether it reaches the target, and
    what limits it. Only phases whose numbers are a capacity (valid and stable) count."""
    usable = [s for s in a.summaries if s.usable]
    left_out = _left_out(a.summaries)
    if not usable:
        return f"No phase measured a capacity: {left_out}. The warnings below say why."
    setups = phase_setups(a.phases)
    best = max(usable, key=lambda s: s.ok_rps)
    errors = f" and {best.error_pct:.2f} % errors" if best.error_pct > 0 else ""
    # without a successful request there is no latency to give (its p95 is NaN)
    p95 = f" at p95 {best.p95_ms:,.0f} ms" if math.isfinite(best.p95_ms) else ""
    text = (
        f"With {_topology(best, setups)}, the service held {best.ok_rps:,.0f} successful req/s"
        f"{p95}{errors}."
    )
    target = f"{a.target_rate:,.0f} req/s"
    meets = [
        s
        for s in usable
        if s.slo_status == "PASS" and s.ok_rps >= slo.RATE_TOLERANCE * a.target_rate
    ]
    if meets:
        # named phases are cumulative steps: the first one that reaches the target, in order
        named = all(s.key in setups and setups[s.key].named for s in meets)
        first = meets[0] if named else min(meets, key=lambda s: (s.replicas, s.cache))
        text += f" It reaches {target} within its SLO with {_topology(first, setups)}."
    else:
        text += f" It does not reach {target} within its SLO in this run: {limit(best, a)}."
    if left_out:
        text += f" Left out as not a capacity: {left_out}."
    return text


def _topology(s: PhaseSummary, setups: Mapping[str, Setup]) -> str:
    """``2 replicas and the cache``; a named phase by its name and all it runs with."""
    setup = setups.get(s.key)
    if setup is not None and setup.named:
        return f"{s.phase} ({setup_text(setup)})"
    replicas = f"{s.replicas} replica{'s' if s.replicas != 1 else ''}"
    return f"{replicas} and {'the cache' if s.cache else 'no cache'}"


def _left_out(summaries: Sequence[PhaseSummary]) -> str:
    parts = []
    for s in summaries:
        why = [w for w, bad in (("unstable", not s.stable), ("INVALID", not s.valid)) if bad]
        if why:
            parts.append(f"{s.phase} ({', '.join(why)})")
    return ", ".join(parts)


def limit(s: PhaseSummary, a: Analysis) -> str:
    """What held the phase's throughput down, from its CPU budget when the target is out of its
    reach, else from its CPU samples."""
    if not s.successes:
        return (
            "no request in its steady window succeeded, so its errors, not its CPU, are the limit"
        )
    b = budget(s, a.target_rate)
    if b is not None and b.ceiling_rps < a.target_rate:
        if b.limit != "host":
            line = next(x for x in b.lines if x.component == b.limit)
            name = "the database" if b.limit == "db" else b.limit
            return (
                f"{name} is the limit: its one core runs out at about {b.ceiling_rps:,.0f} "
                f"successful req/s ({line.ms_per_request:.2f} ms of CPU per request)"
            )
        return (
            f"this machine's {b.host_cores:g} cores are the limit: the stack spends "
            f"{b.total_ms:.2f} ms of CPU per request, load generator included, and "
            f"{b.host_cores:g} cores allow {b.allowed_ms:.2f} ms at {a.target_rate:,.0f} req/s"
        )
    if s.database_bound:
        return f"the database is the limit ({s.cpu['db']:.0f} % of its one core)"
    cores = s.host_cores or 0.0
    used = sum(v for v in s.cpu.values() if math.isfinite(v))
    if cores and used >= HOST_SATURATED * 100.0 * cores:
        return (
            f"the machine's {cores:g} cores are the limit ({used:.0f} % of {100 * cores:.0f} % "
            "in use, load generator included)"
        )
    per_replica = s.cpu["api"] / max(s.replicas, 1)
    if per_replica >= API_SATURATED:
        return f"the API replicas are the limit ({per_replica:.0f} % of a core each)"
    return "no component was saturated: offer more load (users or rate) to find the ceiling"


def answer_table(a: Analysis) -> Table:
    """One row per phase: what a reviewer checks before trusting the sentence above it."""
    rows = [
        [
            s.phase if len(a.runs) == 1 else s.key,
            str(s.replicas),
            "on" if s.cache else "off",
            fmt(s.ok_rps, 1),
            fmt(s.p95_ms, 1),
            fmt(s.error_pct, 2),
            fmt(s.cpu_ms_per_request, 2),
            s.slo_status,
            "valid" if s.valid else "INVALID",
            "stable" if s.stable else "UNSTABLE",
        ]
        for s in a.summaries
    ]
    return Table(ANSWER_HEADERS, rows)


ANSWER_HEADERS = [
    "phase", "replicas", "cache", "ok req/s", "p95 ms", "error %", "CPU ms/req", "SLO",
    "validity", "stability",
]  # fmt: skip


def answer_lines(a: Analysis) -> list[str]:
    """What follows the table: the replicas each group needs, and each knee."""
    return [
        *(_plan_line(a, p) for p in a.plans),
        *(knee_text(k, short=True) for k in a.knees),
    ]


def _plan_line(a: Analysis, p: CapacityPlan) -> str:
    line = f"{p.group}: for {a.target_rate:.0f} successful req/s, {_usl_text(p)}; {_cpu_text(a, p)}"
    if p.excluded:
        line += f" (left out of the fit: {', '.join(_keys(p.excluded))})"
    if a.price and p.monthly_cost_cpu70 is not None:
        line += f"; about {p.monthly_cost_cpu70:,.0f} {a.price.currency}/month at that size"
    return line + "."


def _usl_text(p: CapacityPlan) -> str:
    text = _usl_replicas(p)
    if p.database_bound:
        text += "; the database is the limit, so replicas alone will not get there"
    return text


def _usl_replicas(p: CapacityPlan) -> str:
    if p.replicas_usl:
        return f"{p.replicas_usl} replica(s) by the USL fit"
    if p.fit is None:
        return "no USL fit"
    if not p.fit.converged:
        return "replicas unknown (the USL fit failed)"
    if p.fit.replica_counts < MIN_REPLICA_COUNTS:
        return (
            f"replicas unknown ({p.fit.replica_counts} replica count(s) measured: too few to fit "
            "the scalability curve)"
        )
    return "not reachable by the USL fit"


def _cpu_text(a: Analysis, p: CapacityPlan) -> str:
    if not p.replicas_cpu70:
        return "CPU per request unknown"
    return (
        f"{p.replicas_cpu70} replica(s) to stay at {CPU_TARGET:.0%} CPU "
        f"({p.api_cpu_ms_per_request:.2f} ms of API CPU per successful request, "
        f"{a.cores_per_replica:g} core(s) per replica)"
    )


def _keys(excluded: Sequence[str]) -> list[str]:
    """``run/phase (INVALID)`` of each ``"run/phase (INVALID: why)"`` entry."""
    return [e.split(":", 1)[0] + ")" for e in excluded]


def knee_text(k: Knee, *, short: bool = False) -> str:
    """The knee of a stepped phase and the step that broke the SLO; ``short`` leaves out the
    definition of a knee."""
    where = k.key
    if k.knee_offered_rps is None:
        return f"{where}: even the lowest step was outside the SLO ({k.broke_because})."
    text = f"{where}: knee at {_step(k, broke=False)}, p95 {k.knee_p95_ms:.0f} ms"
    if not short:
        text += _knee_definition(k)
    if k.broke_at_rps is not None:
        text += f"; the next step, {_step(k, broke=True)}, broke it: {k.broke_because}."
    else:
        text += "; no step broke the SLO."
    return text


def _knee_definition(k: Knee) -> str:
    rate_rule = (
        f" and ≥ {slo.RATE_TOLERANCE:.0%} of the offered rate" if k.rates_are == "offered" else ""
    )
    return (
        f" (the highest step, in order, with p95 < {k.p95_limit_ms:g} ms, errors < "
        f"{100 * k.error_limit:g} %{rate_rule})"
    )


def _step(k: Knee, *, broke: bool) -> str:
    """The knee's step, or (``broke``) the step that broke the SLO."""
    rate = k.broke_at_rps if broke else k.knee_offered_rps
    users = k.broke_at_users if broke else k.knee_users
    text = f"{rate:.0f} req/s {k.rates_are}"
    return text + (f" ({users} users)" if users else "")
