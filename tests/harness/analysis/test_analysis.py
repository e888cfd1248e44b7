from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.cpu import component_group
from harness.analysis.load import load_phase, load_run
from harness.analysis.series import block_metrics, cpu_series
from harness.analysis.summary import summarise_phase
from harness.core import slo
from harness.core.samples import read_samples
from harness.core.scenario import load_scenario
from tests.harness._synthetic import RUN_START, PhaseSpec, make_run


def test_the_steady_window_from_the_scenario_leaves_out_the_warm_up(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(warmup_s=5.0, warmup_latency_ms=1000.0)])

    phase = load_run(run)[0]
    summary = summarise_phase(phase)

    assert phase.window_source == "scenario"
    assert (summary.window_start_s, summary.window_end_s) == (5.0, 30.0)
    # a single warm-up request (median 1 s) in the window would show in the maximum
    assert phase.steady()["co_latency_ms"].max() < 200.0


def test_percentiles_equal_numpys_over_the_steady_successes(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(error_rate=0.05)])

    summary = summarise_phase(load_run(run)[0])

    records = read_samples(run / "r1-cache-on" / "samples").records
    t = records["ts"] - RUN_START  # by actual start, as harness.core.slo
    steady_ok = records[(t >= 5.0) & (t < 30.0) & (records["ok"] == 1)]
    expected = np.percentile(steady_ok["co_latency_ms"], [50, 95, 99])
    assert [summary.p50_ms, summary.p95_ms, summary.p99_ms] == pytest.approx(expected, rel=1e-12)
    assert summary.successes == steady_ok.shape[0]


def test_achieved_rate_and_cpu_per_request_follow_from_the_samples(tmp_path: Path) -> None:
    cpu = {
        "db": 30.0,
        "redis": 10.0,
        "api-1": 25.0,
        "api-2": 25.0,
        "nginx": 10.0,
        "generator": 40.0,
    }
    run = make_run(tmp_path, [PhaseSpec(rates=(200.0,), cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert summary.achieved_rps == pytest.approx(200.0, rel=0.01)
    assert summary.cpu["api"] == pytest.approx(50.0)
    assert summary.cpu["generator"] == pytest.approx(40.0)
    # service = db + redis + api + nginx = 1.0 core for 200 req/s: 5 ms per request
    assert summary.service_cores == pytest.approx(1.0)
    assert summary.cpu_ms_per_request == pytest.approx(5.0, rel=0.01)
    assert summary.rps_per_core == pytest.approx(200.0, rel=0.01)
    assert summary.api_cpu_ms_per_request == pytest.approx(2.5, rel=0.01)


def test_per_endpoint_counts_add_up_to_the_phase(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec()])

    summary = summarise_phase(load_run(run)[0])

    assert sum(e.count for e in summary.endpoints) == summary.requests
    assert {e.endpoint for e in summary.endpoints} == {
        "GET /api/tasks",
        "POST /api/tasks",
        "GET /api/tasks/{id}",
    }


def test_without_the_scenario_the_window_is_detected_and_skips_the_ramp(tmp_path: Path) -> None:
    spec = PhaseSpec(rates=(40.0, 200.0), ramp_s=10.0, stage_s=30.0)
    run = make_run(tmp_path, [spec], scenario="no-such-scenario", with_scenario=False)

    phase = load_run(run)[0]
    summary = summarise_phase(phase)

    assert phase.window_source == "detected"
    assert len(phase.windows) == 2
    # the ramp from 40 to 200 req/s runs from 30 s to 40 s: no window may overlap it
    assert all(w.end_s <= 30.0 or w.start_s >= 40.0 for w in phase.windows)
    assert summary.slo_status == "n/a"
    assert any("scenario could not be loaded" in w for w in summary.warnings)


def test_an_uncached_phase_with_a_busy_database_is_called_database_bound(tmp_path: Path) -> None:
    cpu = {"db": 97.0, "redis": 0.0, "api-1": 30.0, "nginx": 5.0, "generator": 20.0}
    run = make_run(tmp_path, [PhaseSpec(name="r1-cache-off", cache=False, cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert any(w.startswith("database-bound") for w in summary.warnings)


def test_a_cached_phase_with_a_busy_database_is_database_bound_despite_the_cache(
    tmp_path: Path,
) -> None:
    cpu = {"db": 97.0, "redis": 5.0, "api-1": 30.0, "nginx": 5.0, "generator": 20.0}
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert any(w.startswith("database-bound (the cache is on") for w in summary.warnings)


def test_a_phase_with_an_idle_database_is_not_database_bound(tmp_path: Path) -> None:
    cpu = {"db": 20.0, "redis": 5.0, "api-1": 90.0, "nginx": 5.0, "generator": 20.0}
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert not any(w.startswith("database-bound") for w in summary.warnings)


def test_errors_from_one_status_are_called_dominated_by_one_cause(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(error_rate=0.05, error_status=503)])

    summary = summarise_phase(load_run(run)[0])

    assert any("dominated by one cause" in w and "status 503" in w for w in summary.warnings)


def test_a_busy_generator_makes_the_phase_invalid(tmp_path: Path) -> None:
    cpu = {"db": 20.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 92.0}
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert not summary.valid
    assert summary.slo_status == "INVALID"
    assert any("generator" in r for r in summary.invalid_reasons)


def test_a_shared_socket_balancer_is_warned_about(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(balancer="shared-socket")])

    summary = summarise_phase(load_run(run)[0])

    assert any("shared listening socket" in w for w in summary.warnings)


def test_latency_still_climbing_in_the_window_means_no_steady_state(tmp_path: Path) -> None:
    # two stages at the same rate, the second four times slower: a trend inside one window
    spec = PhaseSpec(rates=(100.0, 100.0), latency_ms=(20.0, 80.0), stage_s=20.0)
    run = make_run(tmp_path, [spec], scenario="no-such-scenario", with_scenario=False)

    summary = summarise_phase(load_run(run)[0])

    assert any(w.startswith("steady state not reached") for w in summary.warnings)


def test_few_requests_are_warned_about(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(rates=(10.0,))])

    summary = summarise_phase(load_run(run)[0])

    assert any(w.startswith("too few samples") for w in summary.warnings)


def test_blocks_cover_the_steady_window_in_five_second_steps(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(rates=(100.0,), stage_s=30.0, warmup_s=5.0)])

    blocks = block_metrics(load_run(run)[0])

    assert list(blocks["start_s"]) == [5.0, 10.0, 15.0, 20.0, 25.0]
    assert blocks["rps"].to_numpy() == pytest.approx(100.0, rel=0.02)


@pytest.mark.parametrize(
    ("component", "group"),
    [("api-3", "api"), ("generator-2", "generator"), ("db", "db"), ("apix", "apix")],
)
def test_components_are_grouped_by_their_prefix(component: str, group: str) -> None:
    assert component_group(component) == group


def test_generator_workers_are_counted_once_and_judged_one_process_at_a_time(
    tmp_path: Path,
) -> None:
    # the sampler's "generator" row includes its two workers (psutil counts children)
    cpu = {
        "db": 20.0,
        "redis": 5.0,
        "api-1": 40.0,
        "nginx": 5.0,
        "generator": 150.0,
        "generator-1": 70.0,
        "generator-2": 70.0,
    }
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert summary.cpu["generator"] == pytest.approx(150.0)
    assert summary.valid, summary.invalid_reasons


def test_errors_from_one_endpoint_name_the_endpoint_and_locusts_message(tmp_path: Path) -> None:
    spec = PhaseSpec(error_rate=0.3, error_status=500, error_endpoint="POST /api/tasks")
    run = make_run(tmp_path, [spec])

    summary = summarise_phase(load_run(run)[0])

    cause = next(w for w in summary.warnings if "dominated by one cause" in w)
    assert "100% on POST /api/tasks" in cause
    assert "HTTPError(500)" in cause


def test_a_backlog_sent_in_the_window_counts_in_the_report_exactly_as_in_the_verdict(
    tmp_path: Path,
) -> None:
    # The generator stalled for the last 3 s of the warm-up: 300 requests intended then were sent
    # at the start of the window, with up to 3 s of stall in their corrected latency.
    run = make_run(tmp_path, [PhaseSpec(rates=(100.0,), warmup_s=5.0, stall_s=3.0)])
    phase = load_run(run)[0]

    summary = summarise_phase(phase)
    samples = read_samples(run / "r1-cache-on" / "samples")
    verdict = slo.evaluate(samples, load_scenario(str(run / "synthetic.toml")))

    aggregate = verdict.measured["aggregate"]
    assert summary.p95_ms == aggregate["p95_ms"]
    assert summary.p50_ms == aggregate["p50_ms"]
    assert summary.p99_ms == aggregate["p99_ms"]
    assert summary.requests == aggregate["requests"]
    assert summary.slo_status == verdict.status
    (stage,) = summary.stages
    assert stage.p95_ms == aggregate["p95_ms"]
    # ...and selecting by intended start would have hidden the backlog
    records = samples.records
    intended = records["intended"] - RUN_START
    by_intent = records[(intended >= 5.0) & (intended < 30.0) & (records["ok"] == 1)]
    assert np.percentile(by_intent["co_latency_ms"], 95) < 100.0 < summary.p95_ms
    blocks = block_metrics(phase)
    assert blocks["requests"].sum() == summary.requests


def test_capacity_throughput_counts_successful_requests_only(tmp_path: Path) -> None:
    cpu = {"db": 30.0, "redis": 10.0, "api-1": 40.0, "nginx": 10.0, "generator": 30.0}
    run = make_run(tmp_path, [PhaseSpec(rates=(200.0,), error_rate=0.25, cpu=cpu)])

    summary = summarise_phase(load_run(run)[0])

    assert summary.achieved_rps == pytest.approx(200.0, rel=0.01)
    assert summary.ok_rps == pytest.approx(summary.successes / summary.window_s)
    assert summary.ok_rps == pytest.approx(150.0, rel=0.05)
    assert summary.stages[0].ok_rps == pytest.approx(summary.ok_rps)
    # 40 % of a core of API for ~150 successful req/s: ~2.7 ms per successful request
    assert summary.api_cpu_ms_per_request == pytest.approx(400.0 / summary.ok_rps)


def test_the_cpu_series_counts_generator_workers_once(tmp_path: Path) -> None:
    cpu = {"db": 20.0, "api-1": 40.0, "generator": 150.0, "generator-1": 70.0, "generator-2": 70.0}
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])

    series = cpu_series(load_run(run)[0])

    assert series["generator"].to_numpy() == pytest.approx(150.0)


def test_locusts_final_json_count_wins_over_its_earlier_stats_csv(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    phase_dir = run / "r1-cache-on"
    samples = len(read_samples(phase_dir / "samples"))
    # The CSV missed the requests in flight at the stop; the JSON, written at quit, has them all.
    (phase_dir / "locust.json").write_text(
        json.dumps([{"name": "GET /api/tasks", "num_requests": samples}])
    )

    phase = load_phase(phase_dir)

    assert phase.locust_requests == samples
