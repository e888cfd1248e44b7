"""The report's answer in sentences: each phase, the replicas each group needs, and each knee."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.capacity import CPU_TARGET, Analysis, CapacityPlan, Knee
from harness.analysis.summary import PhaseSummary
from harness.core import slo
from harness.report.tables import fmt


def answer_lines(a: Analysis) -> list[str]:
    return [
        *(_phase_line(s) for s in a.summaries),
        *(_plan_line(a, p) for p in a.plans),
        *(knee_text(k, short=True) for k in a.knees),
    ]


def _phase_line(s: PhaseSummary) -> str:
    return (
        f"{s.run}/{s.phase} ({s.replicas} replica(s), cache {'on' if s.cache else 'off'}): "
        f"{fmt(s.achieved_rps, 0)} req/s at p95 {fmt(s.p95_ms, 1)} ms, errors "
        f"{fmt(s.error_pct, 2)} %, {fmt(s.cpu_ms_per_request, 2)} ms of service CPU per "
        f"request — SLO {s.slo_status}" + ("" if s.valid else " (run INVALID)")
    )


def _plan_line(a: Analysis, p: CapacityPlan) -> str:
    line = f"{p.group}: for {a.target_rate:.0f} successful req/s, {_usl_text(p)}; {_cpu_text(a, p)}"
    if p.excluded:
        line += f" (left out of the fit as INVALID: {', '.join(_keys(p.excluded))})"
    if a.price and p.monthly_cost_cpu70 is not None:
        line += f"; about {p.monthly_cost_cpu70:,.0f} {a.price.currency}/month at that size"
    return line + "."


def _usl_text(p: CapacityPlan) -> str:
    text = _usl_replicas(p)
    if p.fit and p.replicas_usl and not p.fit.determined:
        text += " (under-determined: two replica counts)"
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
    if p.fit.replica_counts == 1:
        return "replicas unknown (one replica count measured: scaling cannot be fitted)"
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
    """``run/phase`` of each ``"run/phase (INVALID: why)"`` entry."""
    return [e.split(" (", 1)[0] for e in excluded]


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
