"""The gate's checks: pure functions from phase summaries (and a baseline) to a :class:`GateResult`.

Per phase: the SLO and validity checks ``harness.core.slo`` already made, the reasons the phase is
invalid that it could not see, no lost writes when its database was audited against the write
ledger, and, with a baseline, the comparison of :mod:`harness.gate.regression` (comparability, then
PASS, FAIL or INCONCLUSIVE per metric). Exit codes are the CLI's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.analysis.integrity import Integrity
from harness.analysis.summary import PhaseSummary
from harness.core.checks import Check
from harness.gate.baseline import Baseline, PhaseBaseline
from harness.gate.regression import baseline_checks
from harness.gate.verdicts import GateCheck, GateResult, GateStatus, GateVerdict

DEFAULT_MAX_REGRESSION = 10.0  # percent

# The manifest statuses harness.analysis.validity counts as a completed phase ("?": none written).
COMPLETED_STATUSES = frozenset({"complete", "?"})

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


# -- the gate ----------------------------------------------------------------------------------


def evaluate_gate(
    summaries: Sequence[PhaseSummary],
    measurements: Mapping[str, PhaseBaseline],
    baseline: Baseline | None,
    *,
    max_regression: float = DEFAULT_MAX_REGRESSION,
    baseline_name: str | None = None,
) -> GateResult:
    """SLO, validity and (with a baseline) regression checks → PASS, FAIL, INCONCLUSIVE or
    INVALID."""
    checks: list[GateCheck] = []
    for s in summaries:
        checks.extend(slo_checks(s))
        checks.extend(integrity_checks(s))
    if baseline is not None:
        checks.extend(baseline_checks(summaries, measurements, baseline, max_regression))
    return GateResult(_status(checks, summaries), checks, max_regression, baseline_name)


def _status(checks: Sequence[GateCheck], summaries: Sequence[PhaseSummary]) -> GateStatus:
    """The worst answer: INVALID, FAIL, INCONCLUSIVE, then PASS (a SKIP decides nothing)."""
    if any(c.verdict == "INVALID" for c in checks) or any(not s.valid for s in summaries):
        return "INVALID"
    if any(c.verdict == "FAIL" for c in checks):
        return "FAIL"
    if any(c.verdict == "INCONCLUSIVE" for c in checks):
        return "INCONCLUSIVE"
    return "PASS"
