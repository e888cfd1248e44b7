"""``summary.json``: the machine-readable form of an :class:`Analysis`, for gates and diffs."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from harness._files import utc_now
from harness.analysis.capacity import CPU_TARGET, Analysis, CapacityPlan
from harness.analysis.steps import phase_steps, step_record
from harness.core.checks import jsonable

SUMMARY_SCHEMA = "primo-capacity/summary/v1"


def summary_document(a: Analysis) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "generated": utc_now(),
        "target_rate": a.target_rate,
        "cpu_target": CPU_TARGET,
        "cores_per_replica": a.cores_per_replica,
        "runs": a.runs,
        "phases": [s.to_dict() for s in a.summaries],
        "usl": [_usl_entry(a, p) for p in a.plans],
        "capacity": {
            "knees": [asdict(k) for k in a.knees],
            "replicas": [_replicas_entry(a, p) for p in a.plans],
            "price_table": vars(a.price) if a.price else None,
        },
        "comparisons": [asdict(c) for c in a.comparisons],
        "warnings": a.warnings,
    }
    steps = phase_steps(a.phases, a.summaries)
    if steps:  # a run of named [[phases]] only
        doc["phase_over_phase"] = [step_record(s) for s in steps]
    # JSON has no NaN or infinity.
    safe: dict[str, Any] = jsonable(doc)
    return safe


def _usl_entry(a: Analysis, p: CapacityPlan) -> dict[str, Any]:
    return {
        "group": p.group,
        "points": [list(pt) for pt in a.groups[p.group]],
        "throughput": "successful req/s (goodput) of the valid phases",
        "excluded": p.excluded,
        "converged": p.fit.converged if p.fit else None,
        "lambda": p.fit.lam if p.fit else None,
        "sigma": p.fit.sigma if p.fit else None,
        "kappa": p.fit.kappa if p.fit else None,
        "determined": p.fit.determined if p.fit else False,
        "peak_replicas": p.fit.peak_replicas if p.fit else None,
        "peak_rps": p.fit.peak_rps if p.fit else None,
        "note": p.usl_note,
    }


def _replicas_entry(a: Analysis, p: CapacityPlan) -> dict[str, Any]:
    return {
        "group": p.group,
        "target_rate": a.target_rate,
        "replicas_usl": p.replicas_usl,
        "usl_note": p.usl_note,
        "api_cpu_ms_per_request": p.api_cpu_ms_per_request,  # per successful one
        "replicas_cpu70": p.replicas_cpu70,
        "monthly_cost_usl": p.monthly_cost_usl,
        "monthly_cost_cpu70": p.monthly_cost_cpu70,
        "database_bound": p.database_bound,
    }
