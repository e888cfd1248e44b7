"""The records of a verdict: one typed :class:`Check` per threshold, the :class:`Verdict` they
add up to, and its exit code. Pure (numpy-free): the load generator and the gate share them.

Exit codes everywhere: 0 PASS, 1 FAIL, 3 INVALID (2 is bad input, decided by the CLI).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["PASS", "FAIL", "INVALID"]
EXIT_CODES: dict[Status, int] = {"PASS": 0, "FAIL": 1, "INVALID": 3}
SloStatus = Status | Literal["n/a"]  # n/a: no scenario to judge with

# What a check measures. The SLO's own thresholds, then the validity rules.
Metric = Literal[
    "p50_ms", "p95_ms", "p99_ms", "error_rate", "min_rate",
    "achieved_rate", "generator_cpu", "samples", "successful_samples",
    "throughput_floor", "longest_stall_s",
]  # fmt: skip
SLO_METRICS: tuple[Metric, ...] = ("p50_ms", "p95_ms", "p99_ms", "error_rate", "min_rate")
LOWER_BOUNDS: frozenset[Metric] = frozenset(
    {"min_rate", "achieved_rate", "samples", "successful_samples", "throughput_floor"}
)
# A failed slo or stability check is a FAIL (the service failed its users); a failed validity
# check is INVALID (the run cannot judge the service). docs/architecture.md says why.
CheckKind = Literal["slo", "validity", "stability"]


@dataclass(frozen=True)
class Check:
    """One threshold against one measured value, with where it applies (its scope)."""

    kind: CheckKind
    metric: Metric
    threshold: float
    value: float
    passed: bool
    endpoint: str | None = None  # one endpoint; None: every request
    process: str | None = None  # one generator process (generator_cpu)
    window: tuple[float, float] | None = None  # one steady window, s from the run start

    @property
    def comparison(self) -> Literal["<=", ">="]:
        return ">=" if self.metric in LOWER_BOUNDS else "<="

    @property
    def label(self) -> str:
        """The metric and its scope as a person reads them: ``cpu:generator-1``,
        ``achieved_rate@5-35s``, ``p95_ms``. Written to files; never parsed back."""
        if self.process is not None:
            return f"cpu:{self.process}"
        if self.window is not None:
            return f"{self.metric}@{self.window[0]:g}-{self.window[1]:g}s"
        return self.metric

    @property
    def subject(self) -> str:
        """``validity``, ``stability``, an endpoint, or ``aggregate`` (every request)."""
        if self.kind != "slo":
            return self.kind
        return self.endpoint or "aggregate"

    def to_dict(self) -> dict[str, Any]:
        """The check as ``verdict.json`` and ``summary.json`` (schema 1) write it."""
        return {
            "name": self.subject,
            "metric": self.label,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
        }


@dataclass
class Verdict:
    status: Status
    checks: list[Check]
    reasons: list[str]
    windows: list[tuple[float, float]]
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "status": self.status,
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "windows": [list(w) for w in self.windows],
            "checks": [c.to_dict() for c in self.checks],
            "measured": jsonable(self.measured),
        }


def jsonable(value: Any) -> Any:
    """JSON has no NaN or infinity: non-finite floats become None, recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def format_table(verdict: Verdict) -> str:
    """The verdict as a plain-text table: check, threshold, measured, PASS/FAIL."""
    rows = [("check", "threshold", "measured", "result")]
    for check in verdict.checks:
        rows.append(
            (
                f"{check.subject} {check.label}",
                f"{check.comparison} {check.threshold:g}",
                f"{check.value:.6g}",
                "PASS" if check.passed else "FAIL",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    agg = verdict.measured.get("aggregate", {})
    lines.append("")
    lines.append(
        f"steady windows: {', '.join(f'{a:g}-{b:g}s' for a, b in verdict.windows)}; "
        f"requests {int(agg.get('requests', 0))}, failures {int(agg.get('failures', 0))}, "
        f"p95 {agg.get('p95_ms', float('nan')):.3f} ms "
        f"(service {agg.get('service_p95_ms', float('nan')):.3f} ms), "
        f"late starts {int(agg.get('late_starts', 0))}"
    )
    statuses = verdict.measured.get("statuses", {})
    if mostly_rate_limited(statuses):
        lines.append(
            f"rate limited: {statuses['429']} of {sum(statuses.values())} failures were 429 Too "
            f"Many Requests: {RATE_LIMITER}."
        )
        lines.append(raising_the_rate_limit())
    lines.append(
        f"VERDICT: {verdict.status}"
        + (f" — {'; '.join(verdict.reasons)}" if verdict.reasons else "")
    )
    return "\n".join(lines)


# Failures mostly 429 (more than this share): the verdict table and the report name the limiter.
RATE_LIMITED_SHARE = 0.8
RATE_LIMITER = "the service's rate limiter, not its capacity, refused these requests"


def mostly_rate_limited(statuses: Mapping[str, int]) -> bool:
    """Were the failures (counts by HTTP status, as ``measured["statuses"]``) mostly 429?"""
    failures = sum(statuses.values())
    return failures > 0 and statuses.get("429", 0) / failures > RATE_LIMITED_SHARE


def raising_the_rate_limit(scenario: str | None = None) -> str:
    """How to raise the limit, when the failures were mostly 429: the settings, and the
    commands that apply them."""
    return (
        "To raise the limit, set RATE_LIMIT_MAX (requests per user) and RATE_LIMIT_AUTH_MAX "
        "(logins and registrations per client IP), each per RATE_LIMIT_WINDOW minutes, in the "
        f"scenario's [env], which `capacity run` and `capacity up --scenario {scenario or 'NAME'}` "
        "apply to the API replicas, or start the stack with `capacity up --env "
        "RATE_LIMIT_MAX=100000000 --env RATE_LIMIT_AUTH_MAX=100000000`."
    )
