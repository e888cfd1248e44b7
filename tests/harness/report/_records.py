"""Small records for the report's unit tests, with only the fields a test cares about to set."""

from __future__ import annotations

from typing import Any

from harness.analysis.capacity import Analysis, CapacityPlan, Knee
from harness.analysis.pricing import PriceTable
from harness.analysis.usl import USLFit


def plan(fit: USLFit | None = None, **fields: Any) -> CapacityPlan:
    values: dict[str, Any] = {
        "group": "run cache on",
        "fit": fit,
        "replicas_usl": None,
        "usl_note": "",
        "api_cpu_ms_per_request": 5.0,
        "replicas_cpu70": 3,
    }
    return CapacityPlan(**(values | fields))


def analysis(*plans: CapacityPlan, price: PriceTable | None = None) -> Analysis:
    return Analysis(
        phases=[],
        summaries=[],
        target_rate=300.0,
        cores_per_replica=1.0,
        groups={},
        plans=list(plans),
        knees=[],
        comparisons=[],
        price=price,
    )


def knee(**fields: Any) -> Knee:
    values: dict[str, Any] = {
        "run": "run",
        "phase": "stress",
        "knee_offered_rps": 150.0,
        "knee_achieved_rps": 149.0,
        "knee_ok_rps": 149.0,
        "knee_p95_ms": 167.0,
        "knee_users": None,
        "broke_at_rps": 200.0,
        "broke_at_users": None,
        "broke_because": "p95 556 ms ≥ 200 ms",
        "rates_are": "offered",
        "p95_limit_ms": 200.0,
        "error_limit": 0.01,
    }
    return Knee(**(values | fields))


def one_count_fit() -> USLFit:
    return USLFit(lam=120.0, sigma=0.0, kappa=0.0, points=((1, 120.0),), determined=False)
