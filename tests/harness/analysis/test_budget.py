from __future__ import annotations

import math
from dataclasses import replace

import pytest

from harness.analysis.budget import budget
from harness.analysis.load import load_run
from harness.analysis.summary import PhaseSummary, summarise_phase
from tests.harness._synthetic import PhaseSpec, make_run

# 100 successful req/s; db 60 %, api 40 %, redis 5 %, nginx 5 %, generator 30 % of a core
CPU = {"db": 60.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 30.0}


@pytest.fixture(scope="module")
def summary(tmp_path_factory: pytest.TempPathFactory) -> PhaseSummary:
    run = make_run(tmp_path_factory.mktemp("budget"), [PhaseSpec(rates=(100.0,), cpu=CPU)])
    return summarise_phase(load_run(run)[0])


def test_each_component_costs_its_cpu_over_the_successful_requests(summary: PhaseSummary) -> None:
    result = budget(summary, target_rate=1000.0)

    assert result is not None
    ms = {line.component: line.ms_per_request for line in result.lines}
    assert ms["db"] == pytest.approx(6.0, rel=0.02)  # 60 % of a core / 100 req/s
    assert ms["api"] == pytest.approx(4.0, rel=0.02)
    assert ms["generator"] == pytest.approx(3.0, rel=0.02)
    assert result.total_ms == pytest.approx(14.0, rel=0.02)


def test_the_host_allows_its_cores_spread_over_the_target_rate(summary: PhaseSummary) -> None:
    result = budget(summary, target_rate=1000.0)

    assert result is not None
    assert result.allowed_ms == pytest.approx(2.0)  # 2 cores, 1,000 req/s
    # 14 ms per request on 2 cores: the host runs out at 143 req/s, before the db's 167
    assert result.ceiling_rps == pytest.approx(2000.0 / 14.0, rel=0.02)
    assert result.limit == "host"


def test_a_single_threaded_database_can_run_out_before_the_host(summary: PhaseSummary) -> None:
    lean = {"db": 60.0, "redis": 1.0, "api": 5.0, "nginx": 1.0, "generator": 5.0}

    result = budget(replace(summary, cpu=lean), target_rate=1000.0)

    assert result is not None
    assert result.limit == "db"  # 1,000 ms / 6 ms = 167 req/s; the host would allow 278
    assert result.ceiling_rps == pytest.approx(1000.0 / 6.0, rel=0.02)


def test_a_phase_without_successes_has_no_budget(summary: PhaseSummary) -> None:
    assert budget(replace(summary, ok_rps=0.0), target_rate=1000.0) is None
    assert budget(replace(summary, ok_rps=math.nan), target_rate=1000.0) is None
