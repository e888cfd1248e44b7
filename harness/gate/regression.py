"""The comparison with a baseline: first whether each phase *can* be compared, then one check per
metric of :data:`~harness.gate.baseline.REGRESSION_METRICS` with three answers.

Comparability. A phase of the run without a phase of the same name in the baseline, a phase of
the baseline the run did not run, another scenario, or another topology (replicas, cache,
balancer, backend, indexes, compression, generator processes) cannot be compared: that is an
INCONCLUSIVE check naming what could not be compared and why, never a silent pass.

A metric, with ``worse`` its change in percent towards worse and ``noise`` the standard error of
that change (:mod:`harness.gate.noise`):

- FAIL: worse by more than ``max_regression`` *and* the 95 % noise band lies entirely on the
  worse side of zero;
- INCONCLUSIVE: worse by more than ``max_regression`` but inside the noise, or with the noise
  unknown (too few blocks); it says how much more data would settle it;
- PASS: worse by at most ``max_regression`` (or better).

The effect size (``worse / noise``) is on every check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.analysis.series import BLOCK_S
from harness.analysis.summary import PhaseSummary
from harness.gate.baseline import REGRESSION_METRICS, Baseline, PhaseBaseline
from harness.gate.noise import MIN_BLOCKS, Change, compare_metric, settle_factor
from harness.gate.verdicts import GateCheck, GateVerdict

MAX_SETTLE_FACTOR = 100.0  # beyond it "more data" is no answer: the change is deep in the noise


def baseline_checks(
    summaries: Sequence[PhaseSummary],
    measurements: Mapping[str, PhaseBaseline],
    baseline: Baseline,
    max_regression: float,
) -> list[GateCheck]:
    """Comparability, then the regression checks of every phase that could be compared."""
    others = sorted({s.scenario for s in summaries} - {baseline.scenario})
    if others:
        message = (
            f"the baseline is of scenario {baseline.scenario!r}, this run of "
            f"{', '.join(map(repr, others))}: nothing compared"
        )
        return [_not_comparable(s.phase, "scenario", message) for s in summaries]
    checks: list[GateCheck] = []
    for s in summaries:
        checks.extend(
            phase_checks(s.phase, baseline.phases.get(s.phase), measurements[s.phase],
                         max_regression, known=sorted(baseline.phases))
        )  # fmt: skip
    ran = {s.phase for s in summaries}
    checks.extend(
        _not_comparable(name, "phase", "in the baseline but not in this run")
        for name in baseline.phases
        if name not in ran
    )
    return checks


def phase_checks(
    phase: str,
    baseline: PhaseBaseline | None,
    current: PhaseBaseline,
    max_regression: float,
    *,
    known: Sequence[str] = (),
) -> list[GateCheck]:
    if baseline is None:
        has = f" (it has: {', '.join(known)})" if known else ""
        return [_not_comparable(phase, "phase", f"the baseline has no phase {phase!r}{has}")]
    differs = _topology_differences(baseline.topology, current.topology)
    if differs:
        message = f"another topology than the baseline's: {differs}"
        return [_not_comparable(phase, "topology", message)]
    checks = [
        regression_check(phase, m, baseline, current, max_regression) for m in REGRESSION_METRICS
    ]
    if not baseline.topology:
        checks.insert(0, GateCheck(phase, "comparability", "topology", "SKIP",
                                   message="the baseline does not record its topology (saved "
                                   "before it did): re-save it to have it checked"))  # fmt: skip
    if all(c.verdict == "SKIP" for c in checks if c.kind == "regression"):
        checks.append(_not_comparable(phase, "metrics", "no metric had a value on both sides"))
    return checks


def _not_comparable(phase: str, name: str, message: str) -> GateCheck:
    return GateCheck(phase, "comparability", name, "INCONCLUSIVE", message=message)


def _topology_differences(baseline: Mapping[str, object], current: Mapping[str, object]) -> str:
    """``cache: True in the baseline, False here; ...``, over the keys both record."""
    keys = [k for k in baseline if k in current and baseline[k] != current[k]]
    return "; ".join(f"{k}: {baseline[k]} in the baseline, {current[k]} here" for k in keys)


def regression_check(
    phase: str, metric: str, baseline: PhaseBaseline, current: PhaseBaseline, max_regression: float
) -> GateCheck:
    """One metric of one phase against the baseline."""
    spec = REGRESSION_METRICS[metric]
    change = compare_metric(metric, baseline, current)
    judgement = judge(change, higher_is_worse=spec.higher_is_worse, max_regression=max_regression)
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
        noise_pct=_opt(change.noise_pct),
        effect=_opt(change.effect),
        more_runs=judgement.more_runs,
        more_s=judgement.more_s,
    )


@dataclass(frozen=True)
class Judgement:
    verdict: GateVerdict
    significant: bool | None
    message: str
    more_runs: int | None = None
    more_s: float | None = None


def judge(change: Change, *, higher_is_worse: bool, max_regression: float) -> Judgement:
    """PASS, FAIL or INCONCLUSIVE for one change (SKIP when it has no value)."""
    if not math.isfinite(change.change_pct):
        return Judgement("SKIP", None, "no value to compare")
    worse_by = (1.0 if higher_is_worse else -1.0) * change.change_pct
    too_much = worse_by > max_regression
    if not change.estimated:
        if not too_much:
            return Judgement("PASS", None, "within the allowed regression (noise unknown)")
        missing = max(MIN_BLOCKS - min(change.blocks), 0)
        return Judgement(
            "INCONCLUSIVE",
            None,
            f"worse by {worse_by:.1f} % but the noise is unknown (blocks: {change.blocks[0]} "
            f"baseline, {change.blocks[1]} current; need {MIN_BLOCKS})",
            more_s=missing * BLOCK_S,
        )
    effect = (
        f"{worse_by / change.noise_pct:+.1f}× its noise" if change.noise_pct > 0 else "no noise"
    )
    # significant: the whole interval lies on the worse side of zero
    significant = bool(change.low_pct > 0 if higher_is_worse else change.high_pct < 0)
    if too_much and significant:
        return Judgement("FAIL", True, f"worse by {worse_by:.1f} % ({effect}), outside the noise")
    if too_much:
        return _inconclusive(change, worse_by, effect)
    return Judgement("PASS", significant, f"within the allowed regression ({effect})")


def _inconclusive(change: Change, worse_by: float, effect: str) -> Judgement:
    factor = settle_factor(worse_by, change.noise_pct)
    message = f"worse by {worse_by:.1f} % ({effect}) but inside the noise"
    if not math.isfinite(factor) or factor > MAX_SETTLE_FACTOR:
        return Judgement("INCONCLUSIVE", False, f"{message}; more data would hardly settle it")
    more_runs = max(math.ceil(factor) - 1, 1)
    more_s = (factor - 1.0) * change.blocks[1] * BLOCK_S
    return Judgement(
        "INCONCLUSIVE",
        False,
        f"{message}: ≈{factor:.1f}× the data settles it, {more_runs} more run(s) of this "
        f"length on each side, or +{more_s:.0f} s of steady window",
        more_runs=more_runs,
        more_s=more_s,
    )


def _opt(value: float) -> float | None:
    return value if math.isfinite(value) else None
