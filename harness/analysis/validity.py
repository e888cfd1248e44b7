"""Why a phase cannot be trusted (INVALID) and what a reader should be warned about."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.cpu import generator_cpu
from harness.analysis.load import LATENCY, latency_percentiles
from harness.analysis.windows import Window, started_in
from harness.core import slo
from harness.core.checks import (
    RATE_LIMITER,
    Check,
    SloStatus,
    mostly_rate_limited,
    raising_the_rate_limit,
)

if TYPE_CHECKING:
    from harness.analysis.load import PhaseData
    from harness.analysis.summary import PhaseSummary
    from harness.core.scenario import Scenario

# The validity rules (generator CPU, achieved rate, samples to judge) are harness.core.slo's:
# slo.CPU_LIMIT_PERCENT, slo.RATE_TOLERANCE, slo.MIN_SAMPLES. Warning thresholds only here.
MIN_WINDOW_S = 10.0
TREND_P95_SHARE = 0.30  # second half vs first half of the window
TREND_RATE_SHARE = 0.10
DOMINANT_CAUSE_SHARE = 0.80


def validity_reasons(phase: PhaseData, s: PhaseSummary, slo_invalid: Sequence[str]) -> list[str]:
    """Why the phase cannot be trusted: incomplete, generator-bound, too few samples."""
    reasons = []
    if s.status not in ("complete", "?"):
        reasons.append(f"the phase did not complete (status: {s.status})")
    if phase.scenario is not None:
        return reasons + list(slo_invalid)
    # Without the scenario harness.core.slo cannot judge: the same rules, from the manifest.
    busiest = max(generator_cpu(phase).items(), key=lambda kv: kv[1], default=None)
    if busiest and busiest[1] > slo.CPU_LIMIT_PERCENT:
        reasons.append(
            f"the load generator was the limit: {busiest[0]} averaged {busiest[1]:.0f} % of a "
            f"core (limit {slo.CPU_LIMIT_PERCENT:.0f} %)"
        )
    if _short_of_target(s):
        reasons.append(
            f"achieved {s.achieved_rps:.0f} req/s, below {slo.RATE_TOLERANCE:.0%} of the target "
            f"{s.target_rate:.0f} req/s"
        )
    if s.requests < slo.MIN_SAMPLES:
        reasons.append(
            f"too few samples: {s.requests} requests in the steady window (need {slo.MIN_SAMPLES})"
        )
    return reasons


def evaluate_slo(phase: PhaseData) -> tuple[SloStatus, list[Check], list[str]]:
    """(status, checks, reasons the run is invalid) from ``slo.evaluate`` on the exact samples."""
    if phase.scenario is None or phase.samples is None:
        return "n/a", [], []
    # phase.samples holds times from the run start (harness.analysis.load): judged with
    # run_start 0; the generators' own CPU timelines are in unix time.
    windows = _scenario_windows(phase)
    cpu = generator_cpu(phase) or slo.generator_cpu_from_meta(
        phase.samples.meta, windows or phase.scenario.steady_windows(), phase.run_start
    )
    verdict = slo.evaluate(
        phase.samples,
        phase.scenario,
        cpu,
        run_start=0.0,
        replicas=phase.replicas,
        windows=windows,
    )
    return verdict.status, verdict.checks, (verdict.reasons if verdict.status == "INVALID" else [])


def _scenario_windows(phase: PhaseData) -> list[tuple[float, float]] | None:
    """The phase's windows (MSER-5 validated) when they are the scenario's, one for one."""
    if phase.scenario is None or phase.window_source != "scenario":
        return None
    return [(w.start_s, w.end_s) for w in phase.windows]


def slo_thresholds(scenario: Scenario | None) -> dict[str, float]:
    """The scenario's aggregate SLO thresholds that are set (p95_ms, error_rate, ...)."""
    if scenario is None:
        return {}
    names = ("p50_ms", "p95_ms", "p99_ms", "error_rate", "min_rate")
    return {n: float(v) for n in names if (v := getattr(scenario.slo, n)) is not None}


def phase_warnings(phase: PhaseData, s: PhaseSummary, steady: pd.DataFrame) -> list[str]:
    """Plain-word warnings, in the order a reader needs them; what already makes the phase
    INVALID is not repeated. Too few samples, database-bound and the balancer's fallback are
    insights now (``harness.analysis.insights``, each with its published rule)."""
    found = (
        _no_scenario(phase),
        _detected_window(phase),
        *_short_of_offered(s),
        _trend(phase),
        _dominant_cause(phase, steady[~steady["ok"]], s.failures) if s.failures else "",
        _lost_samples(phase),
    )
    return [warning for warning in found if warning]


def _no_scenario(phase: PhaseData) -> str:
    if phase.scenario is not None:
        return ""
    return f"no SLO verdict: the scenario could not be loaded ({phase.scenario_note})"


def _detected_window(phase: PhaseData) -> str:
    if phase.window_source != "detected":
        return ""
    return (
        "the steady window was detected from the request rate (the scenario's stages were "
        "not available)"
    )


def _short_of_target(s: PhaseSummary) -> bool:
    """Without a scenario: a single-stage phase that achieved less than its target rate (a
    stepped run's target is its last step, not its mean)."""
    single = len(s.stages) <= 1
    return bool(single and s.target_rate and s.achieved_rps < slo.RATE_TOLERANCE * s.target_rate)


def _rate_made_it_invalid(s: PhaseSummary) -> bool:
    if s.slo_checks:
        return any(
            c.kind == "validity" and c.metric == "achieved_rate" and not c.passed
            for c in s.slo_checks
        )
    return _short_of_target(s)


def _short_of_offered(s: PhaseSummary) -> list[str]:
    """Stages that achieved less than the rate offered, when that did not already make the
    phase INVALID (the service's own slowness, not the generator's)."""
    if _rate_made_it_invalid(s):
        return []
    offered = [(st, st.offered_rps) for st in s.stages if st.offered_rps]
    if not offered and s.target_rate and len(s.stages) <= 1:
        offered = [(st, s.target_rate) for st in s.stages]
    return [
        f"generator- or service-bound: achieved {st.achieved_rps:.0f} req/s in "
        f"{st.start_s:.0f}-{st.end_s:.0f} s, below {slo.RATE_TOLERANCE:.0%} of the "
        f"{rate:.0f} req/s offered"
        for st, rate in offered
        if st.achieved_rps < slo.RATE_TOLERANCE * rate
    ]


def _lost_samples(phase: PhaseData) -> str:
    """A few requests finish after Locust's last stats flush; a real gap means lost samples."""
    if phase.locust_requests is None or not len(phase.requests):
        return ""
    gap = abs(phase.locust_requests - len(phase.requests))
    if gap <= max(10, 0.02 * phase.locust_requests):
        return ""
    return (
        f"Locust counted {phase.locust_requests} requests but {len(phase.requests)} exact "
        "samples were recorded"
    )


def _dominant_cause(phase: PhaseData, failed: pd.DataFrame, total: int) -> str:
    """One plain sentence when one status or one endpoint holds most of the failures."""
    parts = []
    for column in ("status", "endpoint"):
        counts = failed[column].value_counts()
        if len(counts) and counts.iloc[0] / total > DOMINANT_CAUSE_SHARE:
            value = counts.index[0]
            if column == "status":
                shown = (
                    "no response (connection error or timeout)"
                    if int(value) == 0
                    else f"status {value}"
                )
            else:
                shown = f"on {value}"
            parts.append(f"{counts.iloc[0] / total:.0%} {shown}")
    if not parts:
        return ""
    text = f"errors are dominated by one cause: of {total} failures, " + ", ".join(parts)
    lf = phase.locust_failures
    if lf is not None and len(lf):
        top = lf.sort_values("Occurrences", ascending=False).iloc[0]
        text += f" (Locust's most common failure: {top['Error']} on {top['Name']})"
    statuses = failed["status"].value_counts()
    if mostly_rate_limited({str(k): int(n) for k, n in statuses.items()}):
        how = raising_the_rate_limit(phase.scenario.name if phase.scenario else None)
        text += f" — {RATE_LIMITER}. {how}"
    return text


def _trend(phase: PhaseData) -> str:
    """A plain-word warning when the longest window is too short or still trending."""
    if not phase.windows:
        return "no steady window: the run never reached a steady request rate"
    w = max(phase.windows, key=lambda w: w.duration_s)
    if w.duration_s < MIN_WINDOW_S:
        return f"steady state not reached: the steady window is only {w.duration_s:.0f} s"
    mid = (w.start_s + w.end_s) / 2
    first = started_in(phase.requests, [Window(w.start_s, mid)])
    second = started_in(phase.requests, [Window(mid, w.end_s)])
    if len(first) < 50 or len(second) < 50:
        return ""
    r1, r2 = len(first), len(second)
    # the successes' latencies only (a copy of one column, not of the frame)
    p1 = latency_percentiles(first[LATENCY].to_numpy()[first["ok"].to_numpy()], scratch=True)[1]
    p2 = latency_percentiles(second[LATENCY].to_numpy()[second["ok"].to_numpy()], scratch=True)[1]
    parts = []
    if abs(r2 - r1) / r1 > TREND_RATE_SHARE:
        parts.append(f"throughput moved {100 * (r2 - r1) / r1:+.0f} %")
    if p1 > 0 and abs(p2 - p1) / p1 > TREND_P95_SHARE and abs(p2 - p1) > 2.0:
        parts.append(f"p95 moved {100 * (p2 - p1) / p1:+.0f} % ({p1:.0f} → {p2:.0f} ms)")
    if not parts:
        return ""
    return (
        "steady state not reached: from the first to the second half of the steady window "
        + " and ".join(parts)
    )
