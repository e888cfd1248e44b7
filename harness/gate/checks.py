"""The gate's checks: pure functions from phase summaries (and a baseline) to a :class:`GateResult`.

Per phase: the SLO and validity checks ``harness.core.slo`` already made, the reasons the phase is
invalid that it could not see, no lost writes when its database was audited against the write
ledger, and, with a baseline, one regression check per metric of
:data:`~harness.gate.baseline.REGRESSION_METRICS`. A metric fails only when it is worse by more
than ``max_regression`` percent *and* the change is outside run-to-run noise
(:mod:`harness.gate.noise`). Exit codes are the CLI's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from harness.analysis.integrity import Integrity
from harness.analysis.summary import PhaseSummary
from harness.core.checks import Check, Status
from harness.gate.baseline import REGRESSION_METRICS, Baseline, PhaseBaseline
from harness.gate.noise import MIN_BLOCKS, Change, compare_metric

DEFAULT_MAX_REGRESSION = 10.0  # percent

# The manifest statuses harness.analysis.validity counts as a completed phase ("?": none written).
COMPLETED_STATUSES = frozenset({"complete", "?"})

GateCheckKind = Literal["slo", "validity", "stability", "fault", "integrity", "regression"]
GateVerdict = Literal["PASS", "FAIL", "INVALID", "SKIP"]


@dataclass
class GateCheck:
    phase: str
    kind: GateCheckKind
    name: str
    verdict: GateVerdict
    threshold: str = ""
    baseline: float | None = None
    current: float | None = None
    change_pct: float | None = None
    noise_low_pct: float | None = None
    noise_high_pct: float | None = None
    significant: bool | None = None
    message: str = ""


@dataclass
class GateResult:
    status: Status
    checks: list[GateCheck]
    max_regression: float
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as ``capacity gate --json`` writes it."""
        return {
            "status": self.status,
            "max_regression_pct": self.max_regression,
            "baseline": self.baseline,
            "checks": [asdict(c) for c in self.checks],
        }


# -- SLO and validity ---------------------------------------------------------------------------


def slo_checks(summary: PhaseSummary) -> list[GateCheck]:
    checks = [_slo_check(summary.phase, c) for c in summary.slo_checks]
    reported = any(c.kind == "validity" and c.verdict == "INVALID" for c in checks)
    checks.extend(
        GateCheck(summary.phase, "validity", "run validity", "INVALID", message=reason)
        for reason in _unreported_reasons(summary, reported=reported)
    )
    # An unstable phase failed its users, and its numbers are not a capacity: say what happened.
    checks.extend(
        GateCheck(summary.phase, "stability", f"unstable ({i.kind})", "FAIL", message=i.message)
        for i in summary.instabilities
    )
    # A fault drill's [slo.faults]: what each fault did, and how soon the service was back.
    checks.extend(
        GateCheck(
            summary.phase,
            "fault",
            f"{c.fault}: {c.metric}",
            "PASS" if c.passed else "FAIL",
            threshold=f"{c.comparison} {c.threshold:g}",
            current=c.value,
            message=c.message,
        )
        for c in summary.fault_checks
    )
    if summary.slo_status == "n/a":
        checks.append(
            GateCheck(
                summary.phase,
                "slo",
                "SLO",
                "SKIP",
                message="no SLO verdict: the scenario could not be loaded",
            )
        )
    return checks


def _slo_check(phase: str, check: Check) -> GateCheck:
    failed: GateVerdict = "INVALID" if check.kind == "validity" else "FAIL"
    return GateCheck(
        phase=phase,
        kind=check.kind,
        name=check.label if check.endpoint is None else f"{check.endpoint} {check.label}",
        verdict="PASS" if check.passed else failed,
        threshold=f"{check.comparison} {check.threshold:g}",
        current=check.value,
    )


def _unreported_reasons(summary: PhaseSummary, *, reported: bool) -> list[str]:
    """The reasons the phase is invalid that ``harness.core.slo`` did not already report as a failed
    validity check: an incomplete phase (slo never sees the manifest), and every reason when slo
    reported none (no scenario to judge with)."""
    if not reported:
        return list(summary.invalid_reasons)
    if summary.status in COMPLETED_STATUSES:
        return []
    # harness.analysis.validity.validity_reasons lists the incomplete phase first, then slo's.
    return summary.invalid_reasons[:1]


# -- data integrity ----------------------------------------------------------------------------

LOST_WRITES = "lost writes"


def integrity_checks(summary: PhaseSummary) -> list[GateCheck]:
    """No acknowledged write lost, when the phase's database was audited; a phase without an
    audit has no such check, one whose audit was not possible says why."""
    integrity = summary.integrity
    if integrity is None:
        return []
    if not integrity.audited:
        message = f"not audited: {integrity.reason}"
        return [GateCheck(summary.phase, "integrity", LOST_WRITES, "SKIP", message=message)]
    return [
        GateCheck(
            summary.phase,
            "integrity",
            LOST_WRITES,
            "FAIL" if integrity.lost else "PASS",
            threshold="== 0",
            current=float(integrity.lost),
            message=_integrity_message(integrity),
        )
    ]


def _integrity_message(integrity: Integrity) -> str:
    lost = integrity.counts.get("lost", {})
    which = ", ".join(f"{n} {write}" for write, n in lost.items() if n)
    totals = integrity.totals
    message = (
        f"{integrity.lost} lost{f' ({which})' if which else ''}; "
        f"{totals.get('resurrected', 0)} resurrected, {totals.get('phantom', 0)} phantom, "
        f"{totals.get('ambiguous', 0)} ambiguous"
    )
    if not integrity.ledger_complete:
        message += "; the ledger is incomplete: " + "; ".join(integrity.ledger_missing)
    return message


# -- regression against a baseline -------------------------------------------------------------


@dataclass(frozen=True)
class _Judgement:
    verdict: GateVerdict
    significant: bool | None
    message: str


def regression_checks(
    phase: str, baseline: PhaseBaseline | None, current: PhaseBaseline, max_regression: float
) -> list[GateCheck]:
    if baseline is None:
        return [
            GateCheck(
                phase,
                "regression",
                "baseline",
                "SKIP",
                message="the baseline has no phase of this name",
            )
        ]
    return [
        regression_check(phase, metric, baseline, current, max_regression)
        for metric in REGRESSION_METRICS
    ]


def regression_check(
    phase: str, metric: str, baseline: PhaseBaseline, current: PhaseBaseline, max_regression: float
) -> GateCheck:
    """One metric of one phase against the baseline."""
    spec = REGRESSION_METRICS[metric]
    change = compare_metric(metric, baseline, current)
    judgement = _judge(change, higher_is_worse=spec.higher_is_worse, max_regression=max_regression)
    return GateCheck(
        phase=phase,
        kind="regression",
        name=spec.label,
        verdict=judgement.verdict,
        threshold=f"worse by > {max_regression:g} % and significant",
        baseline=_opt(baseline.metrics.get(metric, math.nan)),
        current=_opt(current.metrics.get(metric, math.nan)),
        change_pct=_opt(change.change_pct),
        noise_low_pct=_opt(change.low_pct),
        noise_high_pct=_opt(change.high_pct),
        significant=judgement.significant,
        message=judgement.message,
    )


def _judge(change: Change, *, higher_is_worse: bool, max_regression: float) -> _Judgement:
    if not math.isfinite(change.change_pct):
        return _Judgement("SKIP", None, "no value to compare")
    worse_by = (1.0 if higher_is_worse else -1.0) * change.change_pct
    too_much = worse_by > max_regression
    if not change.estimated:
        # Too few blocks to estimate noise: the threshold alone decides.
        return _Judgement(
            "FAIL" if too_much else "PASS",
            None,
            f"noise unknown (blocks: {change.blocks[0]} baseline, "
            f"{change.blocks[1]} current; need {MIN_BLOCKS})",
        )
    # significant: the whole interval lies on the worse side of zero
    significant = bool(change.low_pct > 0 if higher_is_worse else change.high_pct < 0)
    if too_much and significant:
        return _Judgement("FAIL", True, f"worse by {worse_by:.1f} %, outside run-to-run noise")
    if too_much:
        return _Judgement(
            "PASS", False, f"worse by {worse_by:.1f} % but not significant (inside noise)"
        )
    return _Judgement("PASS", significant, "within the allowed regression")


def _opt(value: float) -> float | None:
    return value if math.isfinite(value) else None


# -- the gate ----------------------------------------------------------------------------------


def evaluate_gate(
    summaries: Sequence[PhaseSummary],
    measurements: Mapping[str, PhaseBaseline],
    baseline: Baseline | None,
    *,
    max_regression: float = DEFAULT_MAX_REGRESSION,
    baseline_name: str | None = None,
) -> GateResult:
    """SLO, validity and (with a baseline) regression checks → PASS, FAIL or INVALID."""
    checks: list[GateCheck] = []
    for s in summaries:
        checks.extend(slo_checks(s))
        checks.extend(integrity_checks(s))
        if baseline is not None:
            checks.extend(
                regression_checks(
                    s.phase, baseline.phases.get(s.phase), measurements[s.phase], max_regression
                )
            )
    if baseline is not None:
        ran = {s.phase for s in summaries}
        checks.extend(
            GateCheck(
                name,
                "regression",
                "baseline",
                "SKIP",
                message="in the baseline but not in this run",
            )
            for name in baseline.phases
            if name not in ran
        )
    return GateResult(_status(checks, summaries), checks, max_regression, baseline_name)


def _status(checks: Sequence[GateCheck], summaries: Sequence[PhaseSummary]) -> Status:
    if any(c.verdict == "INVALID" for c in checks) or any(not s.valid for s in summaries):
        return "INVALID"
    if any(c.verdict == "FAIL" for c in checks):
        return "FAIL"
    return "PASS"
