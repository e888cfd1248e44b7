from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.capacity import analyse
from harness.analysis.load import load_run
from harness.analysis.stability import Instability
from harness.analysis.summary import PhaseSummary, summarise_phase
from harness.cli import main
from harness.core.checks import EXIT_CODES
from harness.core.slo import RATE_TOLERANCE
from harness.report.answer import answer_lines, headline, knee_text
from tests.harness._synthetic import PhaseSpec, make_run
from tests.harness.report._records import analysis, knee, one_count_fit, plan


def test_the_knee_text_defines_the_knee_unless_asked_to_be_short() -> None:
    k = knee()

    assert knee_text(k) == (
        "run/stress: knee at 150 req/s offered, p95 167 ms (the highest step, in order, with "
        f"p95 < 200 ms, errors < 1 % and ≥ {RATE_TOLERANCE:.0%} of the offered rate); the next "
        "step, 200 req/s offered, broke it: p95 556 ms ≥ 200 ms."
    )
    assert knee_text(k, short=True) == (
        "run/stress: knee at 150 req/s offered, p95 167 ms; the next step, 200 req/s offered, "
        "broke it: p95 556 ms ≥ 200 ms."
    )


def test_the_knee_of_a_closed_model_names_its_users_and_achieved_rates() -> None:
    k = knee(rates_are="achieved", knee_users=40, broke_at_users=80, broke_at_rps=None)

    assert knee_text(k) == (
        "run/stress: knee at 150 req/s achieved (40 users), p95 167 ms (the highest step, in "
        "order, with p95 < 200 ms, errors < 1 %); no step broke the SLO."
    )


def test_a_knee_below_the_lowest_step_says_so() -> None:
    k = knee(knee_offered_rps=None)

    assert knee_text(k) == (
        "run/stress: even the lowest step was outside the SLO (p95 556 ms ≥ 200 ms)."
    )


def test_one_replica_count_is_answered_as_unknown_scaling_with_the_cpu_sizing() -> None:
    (line,) = answer_lines(analysis(plan(one_count_fit(), database_bound=True)))

    assert line == (
        "run cache on: for 300 successful req/s, replicas unknown (1 replica count(s) measured: "
        "too few to fit the scalability curve); the database is the limit, so replicas alone "
        "will not get there; 3 replica(s) to stay at 70% CPU (5.00 ms of API CPU per successful "
        "request, 1 core(s) per replica)."
    )


# -- the headline, sentence by sentence ---------------------------------------------------------
# Each phase is one summary of a synthetic run with the fields a sentence depends on set by hand
# (2 host cores); the phases carry no manifest of a named step, so they are named by topology.
CPU = {"db": 20.0, "redis": 5.0, "api": 40.0, "nginx": 5.0, "generator": 20.0}
UNSTABLE = Instability("stall", 12.0, None, "no request finished for 3 s")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> PhaseSummary:
    return summarise_phase(load_run(make_run(tmp_path_factory.mktemp("answer"), [PhaseSpec()]))[0])


def phase(base: PhaseSummary, name: str, **fields: Any) -> PhaseSummary:
    values: dict[str, Any] = {
        "run": "run",
        "phase": name,
        "replicas": 1,
        "cache": True,
        "ok_rps": 100.0,
        "p95_ms": 45.0,
        "error_pct": 0.0,
        "cpu": dict(CPU),
        "host_cores": 2.0,
        "slo_status": "PASS",
        "invalid_reasons": [],
        "instabilities": [],
    }
    return replace(base, **(values | fields))


def answer(target: float, *summaries: PhaseSummary) -> str:
    a = analysis()
    a.summaries, a.target_rate = list(summaries), target
    return headline(a)


def test_without_a_usable_phase_the_answer_says_which_were_left_out_and_why(
    base: PhaseSummary,
) -> None:
    text = answer(
        100.0,
        phase(base, "r1", instabilities=[UNSTABLE]),
        phase(base, "r2", invalid_reasons=["the generator was the limit"]),
        phase(base, "r3", instabilities=[UNSTABLE], invalid_reasons=["too few requests"]),
    )

    assert text == (
        "No phase measured a capacity: r1 (unstable), r2 (INVALID), r3 (unstable, INVALID). "
        "The warnings below say why."
    )


def test_the_answer_names_the_best_phase_and_the_smallest_setup_that_reaches_the_target(
    base: PhaseSummary,
) -> None:
    text = answer(
        100.0,
        phase(base, "r1", ok_rps=96.0, p95_ms=80.0),  # 96 >= 95 % of 100: it reaches the target
        phase(base, "r2", replicas=2, ok_rps=1234.4, p95_ms=45.2),
        phase(base, "r4", replicas=4, ok_rps=900.0, instabilities=[UNSTABLE]),
    )

    assert text == (
        "With 2 replicas and the cache, the service held 1,234 successful req/s at p95 45 ms. "
        "It reaches 100 req/s within its SLO with 1 replica and the cache. "
        "Left out as not a capacity: r4 (unstable)."
    )


def test_errors_are_named_and_a_failed_slo_does_not_reach_the_target(base: PhaseSummary) -> None:
    text = answer(100.0, phase(base, "r1", cache=False, error_pct=2.5, slo_status="FAIL"))

    assert text == (
        "With 1 replica and no cache, the service held 100 successful req/s at p95 45 ms and "
        "2.50 % errors. It does not reach 100 req/s within its SLO in this run: no component was "
        "saturated: offer more load (users or rate) to find the ceiling."
    )


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        # the database's one core runs out first: 10 x 50 % / 100 req/s = 5 ms each, so 200
        # req/s; all 70 % together (7 ms) would allow 2 cores 285 req/s
        (
            {"cpu": {"db": 50.0, "redis": 1.0, "api": 10.0, "nginx": 1.0, "generator": 8.0}},
            "the database is the limit: its one core runs out at about 200 successful req/s "
            "(5.00 ms of CPU per request)",
        ),
        # 10 x 200 % / 100 req/s = 20 ms of the 4 ms that 2 cores allow at 500 req/s
        (
            {"cpu": {"db": 20.0, "redis": 10.0, "api": 130.0, "nginx": 10.0, "generator": 30.0}},
            "this machine's 2 cores are the limit: the stack spends 20.00 ms of CPU per request, "
            "load generator included, and 2 cores allow 4.00 ms at 500 req/s",
        ),
    ],
)
def test_a_target_out_of_the_cpu_budgets_reach_names_what_runs_out(
    base: PhaseSummary, fields: dict[str, Any], why: str
) -> None:
    text = answer(500.0, phase(base, "r1", **fields))

    assert text.endswith(f"It does not reach 500 req/s within its SLO in this run: {why}.")


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"cpu": CPU | {"db": 90.0}}, "the database is the limit (90 % of its one core)"),
        (
            {"cpu": {"db": 20.0, "redis": 10.0, "api": 120.0, "nginx": 10.0, "generator": 20.0}},
            "the machine's 2 cores are the limit (180 % of 200 % in use, load generator included)",
        ),
        (
            {"replicas": 2, "cpu": CPU | {"api": 176.0}, "host_cores": 4.0},
            "the API replicas are the limit (88 % of a core each)",
        ),
    ],
)
def test_within_the_budget_the_limit_comes_from_the_cpu_samples(
    base: PhaseSummary, fields: dict[str, Any], why: str
) -> None:
    # the SLO failed at 100 of 100 req/s, and the CPU budget would still allow the target
    text = answer(100.0, phase(base, "r1", slo_status="FAIL", **fields))

    assert text.endswith(f"It does not reach 100 req/s within its SLO in this run: {why}.")


def test_a_phase_where_every_request_failed_has_no_latency_and_its_errors_are_the_limit(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [PhaseSpec(error_rate=1.0)])

    a = analyse([run], target_rate=100.0)

    (s,) = a.summaries
    assert (s.successes, s.failures, s.error_pct, s.ok_rps) == (0, s.requests, 100.0, 0.0)
    assert s.requests == 2500  # 100 req/s for the 25 s steady window
    assert s.slo_status == "FAIL"
    assert headline(a) == (
        "With 1 replica and the cache, the service held 0 successful req/s and 100.00 % errors. "
        "It does not reach 100 req/s within its SLO in this run: no request in its steady window "
        "succeeded, so its errors, not its CPU, are the limit."
    )
    assert answer_lines(a) == [
        "cache on: for 100 successful req/s, no USL fit; CPU per request unknown."
    ]
    assert main(["gate", str(run)]) == EXIT_CODES["FAIL"]
