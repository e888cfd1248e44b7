"""The capacity notes of a group of phases, and the knee of a stepped phase: pure logic over
summaries of synthetic runs, with the numbers each rule reads set by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.capacity import find_knee, plan_capacity
from harness.analysis.load import PhaseData, load_run
from harness.analysis.summary import PhaseSummary, summarise_phase
from harness.report.answer import knee_text
from tests.harness._synthetic import PhaseSpec, make_run

DB_NOTE = (
    "the database, not the API, limits these phases: more replicas will not raise their throughput"
)
LOWER_BOUND_NOTE = (
    "every phase delivered its offered rate, so the throughput measured is what was asked for, "
    "not the ceiling: the fit is a lower bound (a stepped stress run finds the ceiling)"
)
POINTS = [(1, 100.0), (2, 190.0), (4, 340.0)]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> PhaseSummary:
    return summarise_phase(load_run(make_run(tmp_path_factory.mktemp("plan"), [PhaseSpec()]))[0])


def members(base: PhaseSummary, **fields: Any) -> list[PhaseSummary]:
    """One valid phase per point, each offered the point's rate and answering all of it with
    success (unless ``fields`` say otherwise), its database at 20 % of a core."""
    cpu = {"db": 20.0, "redis": 5.0, "api": 40.0, "nginx": 5.0, "generator": 20.0}
    group = []
    for n, rate in POINTS:
        values: dict[str, Any] = {"target_rate": rate, "achieved_rps": rate, "ok_rps": rate}
        group.append(replace(base, phase=f"r{n}", replicas=n, **(values | {"cpu": cpu} | fields)))
    return group


def test_a_group_whose_database_is_its_limit_says_replicas_will_not_help(
    base: PhaseSummary,
) -> None:
    busy_db = {"db": 90.0, "redis": 5.0, "api": 40.0, "nginx": 5.0, "generator": 20.0}

    plan = plan_capacity("cache on", POINTS, members(base, cpu=busy_db), 1000.0, 1.0, None)

    assert plan.database_bound is True
    assert DB_NOTE in plan.usl_note


def test_a_group_with_an_idle_database_says_nothing_of_it(base: PhaseSummary) -> None:
    plan = plan_capacity("cache on", POINTS, members(base), 1000.0, 1.0, None)

    assert plan.database_bound is False
    assert DB_NOTE not in plan.usl_note


def test_phases_that_all_delivered_their_offered_rate_give_a_lower_bound(
    base: PhaseSummary,
) -> None:
    plan = plan_capacity("cache on", POINTS, members(base), 1000.0, 1.0, None)

    assert plan.usl_note.endswith("; " + LOWER_BOUND_NOTE)


def test_a_phase_short_of_its_offered_rate_measured_a_ceiling_not_a_lower_bound(
    base: PhaseSummary,
) -> None:
    group = members(base)
    group[-1] = replace(group[-1], achieved_rps=289.0, ok_rps=289.0)  # 85 % of the 340 offered

    plan = plan_capacity("cache on", POINTS, group, 1000.0, 1.0, None)

    assert LOWER_BOUND_NOTE not in plan.usl_note


def test_a_phase_that_sent_its_offered_rate_but_had_most_refused_measured_a_ceiling(
    base: PhaseSummary,
) -> None:
    group = members(base)
    # every request of the 340 req/s offered was sent and answered, 70 % with 503 overloaded
    group[-1] = replace(group[-1], achieved_rps=340.0, ok_rps=102.0)

    plan = plan_capacity("cache on", POINTS, group, 1000.0, 1.0, None)

    assert LOWER_BOUND_NOTE not in plan.usl_note


def test_a_closed_model_group_has_no_offered_rate_so_no_lower_bound(base: PhaseSummary) -> None:
    plan = plan_capacity("cache on", POINTS, members(base, target_rate=None), 1000.0, 1.0, None)

    assert LOWER_BOUND_NOTE not in plan.usl_note


# -- the knee ------------------------------------------------------------------------------------
# Four open-model steps of 50, 100, 150 and 200 req/s, 20 ms each: all inside the 200 ms p95 and
# 0.1 % error SLO as measured. A test breaks one step by hand to see what the knee says.


@pytest.fixture(scope="module")
def stepped(tmp_path_factory: pytest.TempPathFactory) -> tuple[PhaseData, PhaseSummary]:
    spec = PhaseSpec(rates=(50.0, 100.0, 150.0, 200.0), latency_ms=(20.0,), stage_s=20.0)
    (phase,) = load_run(make_run(tmp_path_factory.mktemp("stepped"), [spec], name="run"))
    return phase, summarise_phase(phase)


def with_step(summary: PhaseSummary, index: int, **fields: Any) -> PhaseSummary:
    stages = list(summary.stages)
    stages[index] = replace(stages[index], **fields)
    return replace(summary, stages=stages)


def test_a_stepped_run_that_never_breaks_has_its_last_step_as_the_knee(
    stepped: tuple[PhaseData, PhaseSummary],
) -> None:
    phase, summary = stepped

    knee = find_knee(phase, summary)

    assert knee is not None
    assert (knee.knee_offered_rps, knee.broke_at_rps, knee.broke_because) == (200.0, None, "")
    assert knee.rates_are == "offered"
    assert knee_text(knee, short=True) == (
        f"run/r1-cache-on: knee at 200 req/s offered, p95 {knee.knee_p95_ms:.0f} ms; no step "
        "broke the SLO."
    )


def test_a_step_with_too_many_errors_breaks_the_slo_and_ends_the_climb(
    stepped: tuple[PhaseData, PhaseSummary],
) -> None:
    phase, summary = stepped

    knee = find_knee(phase, with_step(summary, 2, error_pct=5.0))

    assert knee is not None
    assert (knee.knee_offered_rps, knee.broke_at_rps) == (100.0, 150.0)
    assert knee.broke_because == "errors 5.00 % ≥ 0.1 %"


def test_a_step_that_fell_short_of_its_offered_rate_breaks_the_slo(
    stepped: tuple[PhaseData, PhaseSummary],
) -> None:
    phase, summary = stepped

    knee = find_knee(phase, with_step(summary, 3, achieved_rps=120.0))

    assert knee is not None
    assert (knee.knee_offered_rps, knee.broke_at_rps) == (150.0, 200.0)
    assert knee.broke_because == "achieved 120 < 95% of 200 req/s"


def test_a_step_that_breaks_everything_names_every_reason(
    stepped: tuple[PhaseData, PhaseSummary],
) -> None:
    phase, summary = stepped

    knee = find_knee(phase, with_step(summary, 0, p95_ms=450.0, error_pct=1.0, achieved_rps=10.0))

    assert knee is not None
    assert (knee.knee_offered_rps, knee.broke_at_rps) == (None, 50.0)
    assert knee.broke_because == (
        "p95 450 ms ≥ 200 ms; errors 1.00 % ≥ 0.1 %; achieved 10 < 95% of 50 req/s"
    )


def test_one_step_has_no_knee(tmp_path: Path) -> None:
    (phase,) = load_run(make_run(tmp_path, [PhaseSpec()]))

    assert find_knee(phase, summarise_phase(phase)) is None


def test_a_fit_whose_peak_lies_past_any_real_replica_count_reads_as_a_plateau(
    base: PhaseSummary,
) -> None:
    # target-1k with admission control (BENCHMARKS.md): sigma and kappa fit near 0, and the
    # curve's peak came out at N ~ 10.9 million
    points = [(1, 330.6), (2, 372.7), (3, 417.6)]
    group = [
        replace(base, phase=f"r{n}", replicas=n, target_rate=1000.0, achieved_rps=1000.0, ok_rps=r)
        for n, r in points
    ]

    plan = plan_capacity("cache on", points, group, 1000.0, 1.0, None)

    assert plan.replicas_usl is None
    assert "req/s (approached as N grows), below the target 1000 req/s" in plan.usl_note
    assert "N≈" not in plan.usl_note
