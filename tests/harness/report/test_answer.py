from __future__ import annotations

from harness.core.slo import RATE_TOLERANCE
from harness.report.answer import answer_lines, knee_text
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
