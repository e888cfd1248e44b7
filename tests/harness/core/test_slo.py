from __future__ import annotations

import numpy as np
import pytest

from harness.core.checks import format_table
from harness.core.samples import percentile
from harness.core.slo import average_cpu, evaluate, latency_stats, window_mask

from ._synthetic import RUN_START, records, samples, scenario, steady_load


def test_percentiles_are_exact_and_match_numpy_on_known_data() -> None:
    values = np.arange(1, 101, dtype=float)

    assert percentile(values, 50) == np.percentile(values, 50) == 50.5
    assert percentile(values, 95) == pytest.approx(95.05)
    assert percentile(values, 99) == pytest.approx(99.01)


def test_percentiles_of_random_floats_equal_numpy() -> None:
    values = np.random.default_rng(7).lognormal(3.0, 1.0, 10_001)

    for q in (50, 95, 99, 99.9):
        assert percentile(values, q) == np.percentile(values, q)


def test_failures_never_enter_latency_percentiles() -> None:
    part = records([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 99_999.0], ok=[1, 1, 1, 0])

    stats = latency_stats(part)

    assert stats["p99_ms"] < 31
    assert stats["failures"] == 1
    assert stats["error_rate"] == 0.25


def test_the_steady_window_excludes_warmup_by_actual_start() -> None:
    part = records([1.0, 4.99, 5.0, 19.9, 20.0], [1.0] * 5)

    mask = window_mask(part, [(5.0, 20.0)], RUN_START)

    assert mask.tolist() == [False, False, True, True, False]


def test_a_backlog_sent_in_the_window_counts_with_its_corrected_latency() -> None:
    # intended during the warm-up, sent 10 s late: the window sees the 10 s it waited
    late = records([1.0] * 200, [5.0] * 200, actual=[11.0] * 200)
    on_time = records(np.linspace(5, 19, 200), [5.0] * 200)

    verdict = evaluate(samples(late, on_time), scenario({"p95_ms": 100}), 10.0)

    assert verdict.status == "FAIL"
    assert verdict.measured["aggregate"]["p95_ms"] == pytest.approx(10_005.0)
    assert verdict.measured["aggregate"]["late_starts"] == 200


def test_a_healthy_run_passes() -> None:
    verdict = evaluate(samples(steady_load()), scenario({"p95_ms": 100, "error_rate": 0.01}), 30.0)

    assert verdict.status == "PASS"
    assert verdict.exit_code == 0
    assert all(check.passed for check in verdict.checks)


def test_the_verdict_p95_is_numpys_p95_of_successful_steady_samples() -> None:
    data = steady_load()
    verdict = evaluate(samples(data), scenario({"p95_ms": 100}), 30.0)

    steady = data[(data["ts"] - RUN_START >= 5.0) & (data["ok"] == 1)]
    p95 = next(c.value for c in verdict.checks if c.metric == "p95_ms")
    assert p95 == np.percentile(steady["co_latency_ms"], 95)


def test_an_impossible_latency_slo_fails() -> None:
    verdict = evaluate(samples(steady_load()), scenario({"p95_ms": 0.001}), 30.0)

    assert verdict.status == "FAIL"
    assert verdict.exit_code == 1
    assert "aggregate p95_ms" in verdict.reasons[0]


def test_too_many_errors_fail() -> None:
    data = steady_load()
    data["ok"][::10] = 0

    verdict = evaluate(samples(data), scenario({"error_rate": 0.001}), 30.0)

    assert verdict.status == "FAIL"


def test_a_per_endpoint_threshold_is_checked_on_that_endpoint_only() -> None:
    fast = steady_load(latency=5.0)
    slow = records(np.linspace(5, 19, 200), [500.0] * 200, endpoint="GET /api/tasks/stats")
    slo = {"p95_ms": 1000, "endpoints": {"GET /api/tasks/stats": {"p95_ms": 100}}}

    verdict = evaluate(samples(fast, slow), scenario(slo), 30.0)

    assert verdict.status == "FAIL"
    failed = [c for c in verdict.checks if not c.passed]
    assert [(c.endpoint, c.metric) for c in failed] == [("GET /api/tasks/stats", "p95_ms")]


def test_a_busy_generator_makes_the_run_invalid_not_failed() -> None:
    verdict = evaluate(
        samples(steady_load()), scenario({"p95_ms": 0.001}), {"generator-0": 20, "generator-1": 95}
    )

    assert verdict.status == "INVALID"
    assert verdict.exit_code == 3
    assert "generator-1" in verdict.reasons[0]


def test_too_few_samples_make_the_run_invalid() -> None:
    verdict = evaluate(samples(steady_load(n=50)), scenario({"p95_ms": 100}), 10.0)

    assert verdict.status == "INVALID"
    assert "only" in verdict.reasons[0]


def test_enough_requests_that_mostly_failed_fail_rather_than_being_invalid() -> None:
    # 50 req/s, one in twenty succeeds: plenty of requests, too few successes for percentiles
    data = records(np.arange(0, 20, 1 / 50), [10.0] * 1000, ok=([1] + [0] * 19) * 50)

    verdict = evaluate(samples(data), scenario({"p95_ms": 100, "error_rate": 0.01}), 10.0)

    assert verdict.status == "FAIL"
    assert any(c.metric == "error_rate" and not c.passed for c in verdict.checks)
    # no row may read PASS beside 50 successes when 100 are needed
    assert not [c for c in verdict.checks if c.metric == "successful_samples" and c.passed]


def test_few_successes_with_no_failed_check_are_invalid() -> None:
    data = records(np.arange(0, 20, 1 / 50), [10.0] * 1000, ok=([1] + [0] * 19) * 50)

    verdict = evaluate(samples(data), scenario({"p95_ms": 100}), 10.0)

    assert verdict.status == "INVALID"
    assert "to judge latency" in verdict.reasons[0]


def test_an_open_model_run_below_95_percent_of_its_rate_is_invalid() -> None:
    # target 100 req/s over 20 s; only 80 req/s were started
    data = records(np.arange(0, 20, 1 / 80), [10.0] * 1600)

    verdict = evaluate(samples(data), scenario({"p95_ms": 100}, model="open", rate=100), 10.0)

    assert verdict.status == "INVALID"
    assert "below 95%" in verdict.reasons[0]


def test_an_open_model_shortfall_while_the_service_itself_is_slow_fails() -> None:
    # target 100 req/s; only 80 started, and the service's own p95 (500 ms) breaks the SLO
    data = records(np.arange(0, 20, 1 / 80), [500.0] * 1600)

    verdict = evaluate(samples(data), scenario({"p95_ms": 100}, model="open", rate=100), 10.0)

    assert verdict.status == "FAIL"
    assert any(c.metric == "achieved_rate" and not c.passed for c in verdict.checks)


def test_min_rate_counts_successful_requests_only() -> None:
    # 100 req/s started, but every other one failed: 50 successful req/s
    data = records(np.arange(0, 20, 1 / 100), [10.0] * 2000, ok=[1, 0] * 1000)

    verdict = evaluate(samples(data), scenario({"min_rate": 90}), 10.0)

    check = next(c for c in verdict.checks if c.metric == "min_rate")
    assert not check.passed
    assert check.value < 60


def test_an_open_model_run_at_its_rate_is_valid() -> None:
    data = records(np.arange(0, 20, 1 / 100), [10.0] * 2000)

    verdict = evaluate(samples(data), scenario({"p95_ms": 100}, model="open", rate=100), 10.0)

    assert verdict.status == "PASS"


def test_generator_cpu_comes_from_the_samples_meta_when_not_given() -> None:
    timeline = [[RUN_START + t, 90.0] for t in range(6, 21)]
    meta = {"workers": [{"index": 0, "name": "generator-0", "cpu": timeline}]}

    verdict = evaluate(samples(steady_load(), meta=meta), scenario({"p95_ms": 100}))

    assert verdict.status == "INVALID"
    assert verdict.measured["generator_cpu_percent"] == {"generator-0": 90.0}


def test_average_cpu_only_counts_points_in_the_windows() -> None:
    timeline = [[RUN_START + 1, 100.0], [RUN_START + 10, 20.0], [RUN_START + 15, 40.0]]

    assert average_cpu(timeline, [(5.0, 20.0)], RUN_START) == 30.0


def test_the_table_lists_every_check_and_the_verdict() -> None:
    verdict = evaluate(samples(steady_load()), scenario({"p95_ms": 0.001}), 30.0)

    table = format_table(verdict)

    assert "aggregate p95_ms" in table
    assert "FAIL" in table
    assert table.splitlines()[-1].startswith("VERDICT: FAIL")


def test_the_verdict_is_json_serialisable() -> None:
    import json

    verdict = evaluate(samples(steady_load(n=10)), scenario({"p95_ms": 1}), 10.0)

    assert json.loads(json.dumps(verdict.to_dict()))["status"] == "INVALID"


def test_coordinated_omission_correction_shows_a_stall_that_raw_latency_hides() -> None:
    # one request per 10 ms intended for 20 s; the service answers in 1 ms, but stalls for 1 s
    # once at t = 10 s: a closed-loop client waits, so every request meant for the stall
    # starts late. Raw latency sees one slow request; corrected latency sees ~100 of them.
    interval = 0.010
    intended = np.arange(0.0, 20.0, interval)
    actual = np.empty_like(intended)
    latency = np.full(intended.shape, 1.0)
    free_at = 0.0
    for i, t in enumerate(intended):
        start = max(t, free_at)
        service = 1.0 if not (10.0 <= t < 10.0 + interval) else 1000.0
        actual[i], latency[i] = start, service
        free_at = start + service / 1000.0
    data = records(intended, latency, actual=actual)

    verdict = evaluate(samples(data), scenario({"p99_ms": 100}, model="open", rate=100), 10.0)

    steady = data[data["ts"] - RUN_START >= 5.0]
    raw_p99 = np.percentile(steady["latency_ms"], 99)
    corrected_p99 = verdict.measured["aggregate"]["p99_ms"]
    assert raw_p99 < 2.0
    assert corrected_p99 > 500.0
    assert corrected_p99 == np.percentile(steady["co_latency_ms"], 99)
    assert verdict.measured["aggregate"]["late_starts"] >= 90
    assert verdict.status == "FAIL"
