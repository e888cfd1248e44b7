from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analysis.usl import fit_usl, replicas_for_cpu_target, usl


def test_fit_recovers_the_parameters_of_data_generated_by_the_usl() -> None:
    replicas = [1, 2, 3, 4, 6, 8, 12, 16]
    rng = np.random.default_rng(1)
    points = [(n, float(usl(n, 250.0, 0.04, 0.002)) * rng.normal(1.0, 0.005)) for n in replicas]

    fit = fit_usl(points)

    assert fit is not None
    assert fit.determined
    assert fit.lam == pytest.approx(250.0, rel=0.03)
    assert fit.sigma == pytest.approx(0.04, abs=0.01)
    assert fit.kappa == pytest.approx(0.002, abs=0.0005)


def test_fit_with_two_replica_counts_is_under_determined_and_holds_kappa_at_zero() -> None:
    fit = fit_usl([(1, 100.0), (2, 180.0)])

    assert fit is not None
    assert not fit.determined
    assert fit.kappa == 0.0
    assert "under-determined" in fit.note
    # with kappa = 0 two points fix sigma exactly: 180 = 2*100 / (1 + sigma)
    assert fit.sigma == pytest.approx(200.0 / 180.0 - 1.0, rel=1e-3)


def test_fit_with_one_replica_count_says_it_cannot_estimate_scaling() -> None:
    fit = fit_usl([(1, 120.0)])

    assert fit is not None
    assert not fit.determined
    assert "only one replica count" in fit.note


def test_fit_of_no_usable_points_is_none() -> None:
    assert fit_usl([(1, math.nan), (2, 0.0)]) is None


def test_replicas_for_the_target_is_the_smallest_n_whose_throughput_reaches_it() -> None:
    fit = fit_usl([(n, float(usl(n, 100.0, 0.05, 0.01))) for n in (1, 2, 4, 8)])
    assert fit is not None

    # X(3) = 258.6, X(4) = 315.0 for lambda=100, sigma=0.05, kappa=0.01
    assert fit.replicas_for(300.0) == 4
    assert fit.peak_replicas == pytest.approx(math.sqrt(0.95 / 0.01), rel=0.02)


def test_a_target_above_the_usl_peak_is_not_reachable() -> None:
    fit = fit_usl([(n, float(usl(n, 100.0, 0.05, 0.01))) for n in (1, 2, 4, 8)])
    assert fit is not None

    assert fit.peak_rps < 1000.0
    assert fit.replicas_for(1000.0) is None


@pytest.mark.parametrize(
    ("target", "ms", "expected"),
    [
        (1000.0, 5.6, 8),  # 5.6 cores / (0.7 x 1 core) = 8 replicas exactly
        (1000.0, 5.7, 9),  # a little more CPU per request needs one more replica
        (100.0, 1.0, 1),  # never fewer than one replica
    ],
)
def test_replicas_for_the_cpu_target_keep_each_replica_at_70_percent(
    target: float, ms: float, expected: int
) -> None:
    assert replicas_for_cpu_target(target, ms, cpu_target=0.70, cores_per_replica=1.0) == expected


def test_replicas_for_the_cpu_target_are_unknown_without_a_cpu_measurement() -> None:
    assert replicas_for_cpu_target(1000.0, math.nan) is None


@pytest.mark.parametrize(
    ("points", "error"),
    [
        ([(1, 100.0), (2, 180.0)], RuntimeError("Optimal parameters not found")),
        ([(1, 100.0), (2, 180.0), (4, 300.0)], ValueError("array must not contain infs or NaNs")),
    ],
)
def test_a_curve_fit_that_fails_gives_an_unconverged_fit_with_a_plain_note(
    monkeypatch: pytest.MonkeyPatch, points: list[tuple[int, float]], error: Exception
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr("harness.analysis.usl.curve_fit", fail)

    fit = fit_usl(points)

    assert fit is not None
    assert not fit.converged
    assert not fit.determined
    assert fit.note.startswith("the USL fit failed")
    assert str(error) in fit.note
    assert fit.lam == pytest.approx(100.0)  # linear from the smallest replica count


def test_a_fit_that_converges_says_so() -> None:
    fit = fit_usl([(1, 100.0), (2, 180.0), (4, 300.0)])

    assert fit is not None
    assert fit.converged
