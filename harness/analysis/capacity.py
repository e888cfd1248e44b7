"""Capacity analysis across phases and runs: the USL fit and replica sizing per group, the knee of
a stepped run, and run-over-run comparisons. Pure: run directories in, an :class:`Analysis` out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.analysis.load import PhaseData, load_run
from harness.analysis.pricing import PriceTable
from harness.analysis.steps import is_named
from harness.analysis.summary import PhaseSummary, StageSummary, summarise_phase
from harness.analysis.usl import USLFit, fit_usl, replicas_for_cpu_target
from harness.analysis.validity import slo_thresholds
from harness.core import slo
from harness.errors import BadInputError

DEFAULT_TARGET_RATE = 1000.0
CPU_TARGET = 0.70  # the strategy's autoscaling target (ECSServiceAverageCPUUtilization 70 %)
DEFAULT_P95_MS = 200.0
DEFAULT_ERROR_RATE = 0.001
MIN_REPLICA_COUNTS = 3  # fewer distinct replica counts give no replica answer from the USL
# summary attribute, label, True when higher is worse
COMPARE_METRICS = (
    ("achieved_rps", "achieved req/s", False),
    ("p50_ms", "p50 ms", True),
    ("p95_ms", "p95 ms", True),
    ("p99_ms", "p99 ms", True),
    ("error_pct", "error %", True),
    ("cpu_ms_per_request", "CPU ms/request", True),
)


@dataclass
class CapacityPlan:
    group: str
    fit: USLFit | None
    replicas_usl: int | None
    usl_note: str
    api_cpu_ms_per_request: float
    replicas_cpu70: int | None
    monthly_cost_usl: float | None = None
    monthly_cost_cpu70: float | None = None
    database_bound: bool = False
    excluded: list[str] = field(default_factory=list)  # "run/phase: why" left out of the fit


@dataclass(frozen=True)
class Knee:
    """The highest step of a stepped phase inside the SLO, and the step that broke it."""

    run: str
    phase: str
    knee_offered_rps: float | None
    knee_achieved_rps: float | None
    knee_ok_rps: float | None  # goodput: what the USL fit uses
    knee_p95_ms: float | None
    knee_users: int | None
    broke_at_rps: float | None
    broke_at_users: int | None
    broke_because: str
    # open model: rates are the offered ones; closed model: achieved, with the stage's users
    rates_are: Literal["offered", "achieved"]
    p95_limit_ms: float
    error_limit: float

    @property
    def key(self) -> str:
        return f"{self.run}/{self.phase}"


@dataclass(frozen=True)
class Comparison:
    """One metric of one phase, in the reference run (before) and a later run (after)."""

    phase: str
    before_run: str
    after_run: str
    metric: str
    label: str
    before: float
    after: float
    change_pct: float
    direction: Literal["worse", "better", "same"]


@dataclass
class Analysis:
    phases: list[PhaseData]
    summaries: list[PhaseSummary]
    target_rate: float
    cores_per_replica: float
    groups: dict[str, list[tuple[int, float]]]
    plans: list[CapacityPlan]
    knees: list[Knee]
    comparisons: list[Comparison]
    warnings: list[str] = field(default_factory=list)
    price: PriceTable | None = None

    @property
    def runs(self) -> list[str]:
        return list(dict.fromkeys(s.run for s in self.summaries))


def analyse(
    run_dirs: Sequence[Path],
    *,
    target_rate: float = DEFAULT_TARGET_RATE,
    price: PriceTable | None = None,
    cores_per_replica: float = 1.0,
) -> Analysis:
    if not run_dirs:
        raise BadInputError("no run directory given")
    phases = [p for d in run_dirs for p in load_run(Path(d))]
    summaries = [summarise_phase(phase) for phase in phases]
    named = {f"{p.run}/{p.name}" for p in phases if is_named(p)}
    knees = {k.key: k for p, s in zip(phases, summaries, strict=True) if (k := find_knee(p, s))}
    groups, members, excluded = _group(summaries, knees)
    plans = [
        plan_capacity(
            label,
            groups[label],
            members[label],
            target_rate,
            cores_per_replica,
            price,
            excluded=excluded[label],
            named=all(s.key in named for s in members[label]),
        )
        for label in groups
    ]
    warnings = [f"{s.key}: UNSTABLE — {i.message}" for s in summaries for i in s.instabilities]
    warnings += [f"{s.key}: INVALID — {r}" for s in summaries for r in s.invalid_reasons]
    warnings += _phase_warnings(summaries)
    return Analysis(
        phases=phases,
        summaries=summaries,
        target_rate=target_rate,
        cores_per_replica=cores_per_replica,
        groups=groups,
        plans=plans,
        knees=list(knees.values()),
        comparisons=compare_runs(summaries),
        warnings=warnings,
        price=price,
    )


def _phase_warnings(summaries: Sequence[PhaseSummary]) -> list[str]:
    """Each phase's warnings; one that every phase of a run shares (the balancer fell back to a
    shared socket, say) is said once for the run."""
    out = []
    for run in dict.fromkeys(s.run for s in summaries):
        members = [s for s in summaries if s.run == run]
        shared = set.intersection(*(set(s.warnings) for s in members))
        if len(members) == 1:
            shared = set()
        out += [f"{run} (every phase): {w}" for w in members[0].warnings if w in shared]
        out += [f"{s.key}: {w}" for s in members for w in s.warnings if w not in shared]
    return out


def _group(
    summaries: Sequence[PhaseSummary], knees: dict[str, Knee]
) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[PhaseSummary]], dict[str, list[str]]]:
    """Per group (cache on/off, per run when several): the USL points of its valid phases, its
    members, and the phases left out of the fit with why."""
    multi_run = len({s.run for s in summaries}) > 1
    groups: dict[str, list[tuple[int, float]]] = {}
    members: dict[str, list[PhaseSummary]] = {}
    excluded: dict[str, list[str]] = {}
    for s in summaries:
        label = (f"{s.run} " if multi_run else "") + f"cache {'on' if s.cache else 'off'}"
        members.setdefault(label, []).append(s)
        points = groups.setdefault(label, [])
        left_out = excluded.setdefault(label, [])
        if not s.valid:
            # An INVALID phase's throughput is the generator's limit, not the service's.
            left_out.append(f"{s.key} (INVALID: {'; '.join(s.invalid_reasons)})")
            continue
        if not s.stable:
            # A phase that collapsed or stalled measured the stall, not the capacity.
            reasons = "; ".join(i.message for i in s.instabilities)
            left_out.append(f"{s.key} (UNSTABLE: {reasons})")
            continue
        if s.faults:
            # A fault drill measured the faults, not the capacity.
            left_out.append(f"{s.key} (faults injected: {', '.join(f.name for f in s.faults)})")
            continue
        # Capacity is goodput (successful req/s). A stepped run's is its knee (the highest step
        # inside the SLO), not its mean.
        knee = knees.get(s.key)
        throughput = knee.knee_ok_rps if knee and knee.knee_ok_rps else None
        points.append((s.replicas, throughput or s.ok_rps))
    return groups, members, excluded


def plan_capacity(
    label: str,
    points: list[tuple[int, float]],
    members: list[PhaseSummary],
    target_rate: float,
    cores_per_replica: float,
    price: PriceTable | None,
    *,
    excluded: Sequence[str] = (),
    named: bool = False,
) -> CapacityPlan:
    """Replicas for ``target_rate`` from the USL fit of ``points`` (replicas, successful req/s of
    the valid phases) and from the API CPU per successful request at the autoscaling target."""
    fit = fit_usl(points)
    scenario = members[0].scenario if members else "SCENARIO"
    replicas_usl, note = _usl_replicas(fit, target_rate, scenario, named=named)
    valid = [s for s in members if s.usable]
    database_bound = any(s.database_bound for s in (valid or members))
    # Delivered: answered with success, not just sent (a service that sheds load answers the
    # whole offered rate, most of it with 503s, at its ceiling)
    offered_bound = bool(valid) and all(
        s.target_rate and s.ok_rps >= slo.RATE_TOLERANCE * s.target_rate for s in valid
    )
    note = "; ".join(
        part
        for part in (
            note,
            "the database, not the API, limits these phases: more replicas will not raise "
            "their throughput"
            if database_bound
            else "",
            "left out of the fit because their throughput is not the service's: "
            + ", ".join(excluded)
            if excluded
            else "",
            "every phase delivered its offered rate, so the throughput measured is what was "
            "asked for, not the ceiling: the fit is a lower bound (a stepped stress run finds "
            "the ceiling)"
            if fit and offered_bound
            else "",
        )
        if part
    )
    api_ms = _api_ms_per_request(valid or members)
    replicas_cpu = replicas_for_cpu_target(
        target_rate, api_ms, cpu_target=CPU_TARGET, cores_per_replica=cores_per_replica
    )
    plan = CapacityPlan(label, fit, replicas_usl, note, api_ms, replicas_cpu)
    plan.excluded = list(excluded)
    plan.database_bound = database_bound
    if price is not None:
        if replicas_usl is not None:
            plan.monthly_cost_usl = price.monthly(replicas_usl, cores_per_replica)
        if replicas_cpu is not None:
            plan.monthly_cost_cpu70 = price.monthly(replicas_cpu, cores_per_replica)
    return plan


PLATEAU_REPLICAS = 1000  # a fitted peak further out than this reads as a plateau


def _usl_replicas(
    fit: USLFit | None, target_rate: float, scenario: str, *, named: bool = False
) -> tuple[int | None, str]:
    """Replicas for the target by the fit, and the fit's note, or why there is no answer.
    ``named``: the phases are a scenario's [[phases]], which ``--replicas`` cannot sweep."""
    if fit is None:
        return None, "no usable throughput measurement"
    if not fit.converged:
        return None, fit.note  # a failed fit gives no answer, not a linear guess
    if fit.replica_counts < MIN_REPLICA_COUNTS:
        # One or two replica counts cannot show where scaling bends: no answer from them alone.
        counts = sorted({n for n, _ in fit.points})
        more = ",".join(map(str, suggest_replicas(counts)))
        how = (
            f"give {scenario} [[phases]] that differ only in replicas ({more})"
            if named
            else f"run `capacity run {scenario} --replicas {more}`"
        )
        return None, (
            f"{len(counts)} replica count(s) measured ({', '.join(map(str, counts))}): too few to "
            f"fit the scalability curve; {how} to find out"
        )
    replicas = fit.replicas_for(target_rate)
    if replicas is None:
        # a peak past any real replica count (sigma and kappa near 0) is a plateau: say so
        # rather than "N≈10879549.1"
        where = (
            f"N≈{fit.peak_replicas:.1f}"
            if math.isfinite(fit.peak_replicas) and fit.peak_replicas <= PLATEAU_REPLICAS
            else "approached as N grows"
        )
        return None, (
            f"not reachable: the fitted curve peaks at {fit.peak_rps:.0f} req/s "
            f"({where}), below the target {target_rate:.0f} req/s"
        )
    return replicas, fit.note


def suggest_replicas(measured: Sequence[int]) -> list[int]:
    """The measured replica counts plus the smallest others, up to three distinct counts."""
    counts = set(measured)
    n = 1
    while len(counts) < MIN_REPLICA_COUNTS:
        counts.add(n)
        n += 1
    return sorted(counts)


def _api_ms_per_request(summaries: Sequence[PhaseSummary]) -> float:
    """Median API CPU per successful request. CPU per successful request means nothing when most
    requests failed (the CPU went to requests nobody got an answer to): such phases do not size
    the 70 % CPU rule."""
    per_request = [
        s.api_cpu_ms_per_request
        for s in summaries
        if math.isfinite(s.api_cpu_ms_per_request) and s.ok_rps >= 0.5 * s.achieved_rps
    ]
    return statistics.median(per_request) if per_request else math.nan


def find_knee(phase: PhaseData, summary: PhaseSummary) -> Knee | None:
    """The highest rate step inside the SLO before the first step outside it (stepped runs)."""
    stages = [s for s in summary.stages if s.requests]
    if len(stages) < 2 or not summary.stable:
        return None  # an unstable phase's steps measured a stall, not a knee
    limits = slo_thresholds(phase.scenario)
    p95_limit = limits.get("p95_ms", DEFAULT_P95_MS)
    error_limit = limits.get("error_rate", DEFAULT_ERROR_RATE)
    knee: StageSummary | None = None
    broke: StageSummary | None = None
    reason = ""
    for stage in stages:  # in time order: a stepped run climbs, and the first broken step ends it
        problems = _step_problems(stage, p95_limit, error_limit)
        if problems:
            broke, reason = stage, "; ".join(problems)
            break
        knee = stage
    return Knee(
        run=summary.run,
        phase=summary.phase,
        knee_offered_rps=(knee.offered_rps or knee.achieved_rps) if knee else None,
        knee_achieved_rps=knee.achieved_rps if knee else None,
        knee_ok_rps=knee.ok_rps if knee else None,
        knee_p95_ms=knee.p95_ms if knee else None,
        knee_users=knee.users if knee else None,
        broke_at_rps=(broke.offered_rps or broke.achieved_rps) if broke else None,
        broke_at_users=broke.users if broke else None,
        broke_because=reason,
        rates_are="offered" if all(s.offered_rps for s in stages) else "achieved",
        p95_limit_ms=p95_limit,
        error_limit=error_limit,
    )


def _step_problems(stage: StageSummary, p95_limit: float, error_limit: float) -> list[str]:
    offered = stage.offered_rps or stage.achieved_rps
    problems = []
    if not stage.p95_ms < p95_limit:
        problems.append(f"p95 {stage.p95_ms:.0f} ms ≥ {p95_limit:g} ms")
    if not stage.error_pct / 100.0 < error_limit:
        problems.append(f"errors {stage.error_pct:.2f} % ≥ {100 * error_limit:g} %")
    if stage.offered_rps and stage.achieved_rps < slo.RATE_TOLERANCE * offered:
        problems.append(
            f"achieved {stage.achieved_rps:.0f} < {slo.RATE_TOLERANCE:.0%} of {offered:.0f} req/s"
        )
    return problems


def compare_runs(summaries: Sequence[PhaseSummary]) -> list[Comparison]:
    """Matching phases of later runs against the first run: before, after, change %."""
    runs = list(dict.fromkeys(s.run for s in summaries))
    if len(runs) < 2:
        return []
    reference = {(s.scenario, s.phase): s for s in summaries if s.run == runs[0]}
    rows = []
    for s in summaries:
        before = reference.get((s.scenario, s.phase))
        if s.run == runs[0] or before is None:
            continue
        for attr, label, higher_is_worse in COMPARE_METRICS:
            a, b = float(getattr(before, attr)), float(getattr(s, attr))
            finite = bool(a) and math.isfinite(a) and math.isfinite(b)
            change = 100.0 * (b - a) / a if finite else math.nan
            worse = math.isfinite(change) and (change > 0 if higher_is_worse else change < 0)
            moved = math.isfinite(change) and change != 0
            direction: Literal["worse", "better", "same"] = (
                "worse" if worse else ("better" if moved else "same")
            )
            rows.append(
                Comparison(s.phase, before.run, s.run, attr, label, a, b, change, direction)
            )
    return rows
