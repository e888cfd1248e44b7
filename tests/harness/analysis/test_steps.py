"""Phase over phase: each named phase against the one before, from synthetic runs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.load import load_run
from harness.analysis.steps import (
    Change,
    LeftOut,
    Setup,
    changes,
    movement,
    phase_steps,
    setup_of,
)
from harness.analysis.summary import summarise_phase
from tests.harness._synthetic import PhaseSpec, make_run

PHASE_1 = {"indexes": False, "compression": False, "env": {"MONGODB_INDEXES": "false"}}
PHASE_2 = {"indexes": True, "compression": True, "env": {"MONGODB_INDEXES": "true"}}


def named(
    name: str,
    rate: float,
    p95_median: float,
    cpu: Mapping[str, float],
    *,
    replicas: int = 1,
    cache: bool = True,
    balancer: str = "shared-socket",
    settings: Mapping[str, Any] = PHASE_2,
    **kw: Any,
) -> PhaseSpec:
    """A closed-model named phase: ``rate`` successful req/s at a latency median of
    ``p95_median`` ms (its p95 is about 1.39 times that)."""
    return PhaseSpec(
        name=name, replicas=replicas, cache=cache, rates=(rate,), users=(40,), stage_s=30.0,
        warmup_s=5.0, latency_ms=(p95_median,), cpu=cpu, balancer=balancer, lb=balancer,
        named=True, settings=settings, **kw,
    )  # fmt: skip


def steps_of(run: Path) -> list[Any]:
    phases = load_run(run)
    return phase_steps(phases, [summarise_phase(p) for p in phases])


@pytest.fixture(scope="module")
def strategy_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # service CPU (db + redis + api + nginx) in % of a core: 100 at 100 req/s is 10 ms/request
    phases = [
        named("phase-1", 100.0, 40.0, {"db": 90.0, "api-1": 10.0, "generator": 20.0},
              cache=False, settings=PHASE_1),
        named("phase-2", 240.0, 40.8, {"db": 60.0, "redis": 12.0, "api-1": 60.0,
                                       "generator": 30.0}),
        named("phase-3", 300.0, 16.0, {"db": 60.0, "redis": 12.0, "api-1": 40.0, "api-2": 40.0,
                                       "nginx": 8.0, "generator": 40.0},
              replicas=2, balancer="nginx"),
    ]  # fmt: skip
    return make_run(tmp_path_factory.mktemp("strategy"), phases, scenario="steps")


def test_each_named_phase_is_compared_with_the_one_before_in_order(strategy_run: Path) -> None:
    first, second = steps_of(strategy_run)

    assert (first.before, first.after) == ("phase-1", "phase-2")
    assert (second.before, second.after) == ("phase-2", "phase-3")


def test_a_step_names_the_levers_it_moved_in_the_strategys_order(strategy_run: Path) -> None:
    first, second = steps_of(strategy_run)

    assert first.changes == (
        Change("indexes", True), Change("cache", True), Change("compression", True),
    )  # fmt: skip
    assert second.changes == (Change("balancer", "nginx"), Change("replicas", 2))


def test_a_step_gives_throughput_p95_and_cpu_per_request_before_after_and_as_ratios(
    strategy_run: Path,
) -> None:
    first, second = steps_of(strategy_run)

    assert first.throughput_x == pytest.approx(2.4, rel=0.02)
    assert first.p95_x == pytest.approx(1.02, abs=0.06)
    assert (first.throughput, first.p95) == ("up", "same")
    assert first.cpu_ms_per_ok_request == pytest.approx((10.0, 5.5), rel=0.02)
    assert first.cpu_x == pytest.approx(0.55, rel=0.03)
    assert second.p95_x == pytest.approx(0.4, rel=0.08)
    assert (second.throughput, second.p95) == ("up", "down")
    assert first.comparable
    assert second.comparable


def test_a_sweep_has_no_steps(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(name="r1-cache-off", cache=False), PhaseSpec()])

    assert steps_of(run) == []


def test_an_unstable_or_invalid_phase_is_compared_but_left_out(tmp_path: Path) -> None:
    phases = [
        named("phase-1", 100.0, 40.0, {"db": 90.0, "api-1": 10.0, "generator": 20.0},
              cache=False, settings=PHASE_1, outage=(12.0, 12.0)),
        named("phase-2", 200.0, 40.0, {"db": 60.0, "api-1": 40.0, "generator": 95.0}),
    ]  # fmt: skip
    run = make_run(tmp_path, phases, scenario="steps")

    (step,) = steps_of(run)

    assert step.left_out == (LeftOut("phase-1", ("unstable",)), LeftOut("phase-2", ("INVALID",)))
    assert not step.comparable
    assert math.isfinite(step.throughput_x)


def test_the_setup_comes_from_the_manifest_and_old_manifests_ran_with_everything_on(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [PhaseSpec(balancer="nginx")])

    setup = setup_of(load_run(run)[0])

    assert setup == Setup(
        replicas=1, cache=True, indexes=True, compression=True, balancer="nginx", env=(),
        named=False, description="",
    )  # fmt: skip


def test_changed_settings_are_named_but_not_those_a_lever_stands_for() -> None:
    before = Setup(1, True, False, True, "nginx", (("A", "1"), ("B", "2"), ("MONGODB_INDEXES",
                   "false")), True, "")  # fmt: skip
    after = Setup(1, True, True, True, "nginx", (("A", "1"), ("C", "3"), ("MONGODB_INDEXES",
                  "true")), True, "")  # fmt: skip

    assert changes(before, after) == (
        Change("indexes", True), Change("env", "3", "C"), Change("env", None, "B"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("x", "expected"),
    [(2.4, "up"), (1.04, "same"), (0.96, "same"), (0.5, "down"), (math.nan, "unknown")],
)
def test_a_ratio_near_one_is_the_same(x: float, expected: str) -> None:
    assert movement(x, 0.05) == expected


def test_cpu_is_per_successful_request_so_a_phase_refusing_its_load_does_not_look_cheap(
    tmp_path: Path,
) -> None:
    # phase 1 is sent 200 req/s and refuses 90 % of them at once (503): 100 % of a core of
    # service CPU is 5 ms per request sent, but 50 ms per request served
    phases = [
        named("phase-1", 200.0, 40.0, {"db": 80.0, "api-1": 20.0, "generator": 20.0},
              cache=False, settings=PHASE_1, error_rate=0.9, error_status=503),
        named("phase-2", 200.0, 20.0, {"db": 60.0, "api-1": 40.0, "generator": 30.0}),
    ]  # fmt: skip
    run = make_run(tmp_path, phases, scenario="steps")
    phases_data = load_run(run)
    summaries = [summarise_phase(p) for p in phases_data]
    (only,) = phase_steps(phases_data, summaries)

    assert summaries[0].cpu_ms_per_request == pytest.approx(5.0, rel=0.05)  # over all sent
    assert only.cpu_ms_per_ok_request == pytest.approx((50.0, 5.0), rel=0.1)
    assert only.cpu_x == pytest.approx(0.1, rel=0.1)
