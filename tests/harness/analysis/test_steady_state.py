from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.analysis.load import load_run
from harness.analysis.steady import assess, mser5, mser_statistic
from harness.analysis.summary import summarise_phase
from harness.analysis.windows import Window
from tests.harness._synthetic import PhaseSpec, make_run


def test_the_mser_statistic_is_the_squared_standard_error_of_what_is_kept() -> None:
    values = np.repeat([1.0, 3.0, 2.0, 2.0], 5)

    stat = mser_statistic(values)

    kept = np.array([3.0, 2.0, 2.0])
    assert stat[1] == np.sum((kept - kept.mean()) ** 2) / 3**2


def test_mser5_cuts_a_planted_warm_up_at_its_end() -> None:
    rng = np.random.default_rng(3)
    series = np.concatenate([np.full(20, 30.0), np.full(100, 100.0)]) + rng.normal(0, 3, 120)

    cut = mser5(series, np.arange(120.0), "throughput")

    assert cut is not None
    assert cut.steady
    assert cut.cut_s == 20.0


def test_mser5_seldom_calls_white_noise_unsteady() -> None:
    rng = np.random.default_rng(7)
    failures = sum(
        not cut.steady
        for seed in range(200)
        if (cut := mser5(100 + rng.normal(0, 8, 60), np.arange(60.0), "throughput"))
    )

    assert failures <= 4  # 2 % of 200 one-minute series


def test_a_throughput_that_keeps_falling_has_no_steady_state() -> None:
    rng = np.random.default_rng(1)
    series = np.linspace(540, 215, 120) + rng.normal(0, 10, 120)

    cut = mser5(series, np.arange(120.0), "throughput")

    assert cut is not None
    assert not cut.steady
    assert cut.cut_s > 60.0


def _requests(rate: np.ndarray, latency_ms: np.ndarray) -> pd.DataFrame:
    """One request per 1/rate s of each second, with that second's latency."""
    t = np.concatenate([s + np.arange(int(r)) / r for s, r in enumerate(rate)])
    lat = np.repeat(latency_ms, rate.astype(int))
    return pd.DataFrame({"t": t, "latency_ms": lat, "co_latency_ms": lat, "ok": True})


def test_a_warm_up_too_short_for_the_data_moves_the_window_start() -> None:
    rate = np.full(60, 50.0)
    latency = np.where(np.arange(60) < 20, 400.0, 20.0)  # slow for 20 s; the scenario says 5

    (state,) = assess(_requests(rate, latency), [Window(5.0, 60.0)])

    assert state.steady
    assert state.start_s == 20.0
    assert "warm-up was too short" in state.describe()


def test_a_warm_up_long_enough_is_kept_as_the_minimum() -> None:
    rate = np.full(60, 50.0)
    latency = np.where(np.arange(60) < 5, 400.0, 20.0)

    (state,) = assess(_requests(rate, latency), [Window(10.0, 60.0)])

    assert state.start_s == 10.0


def test_a_fault_span_is_left_out_of_the_series() -> None:
    rate = np.where((np.arange(90) >= 50) & (np.arange(90) < 60), 1.0, 50.0)
    latency = np.full(90, 20.0)

    (state,) = assess(_requests(rate, latency), [Window(10.0, 90.0)], excluded=[(50.0, 65.0)])

    assert state.steady
    assert state.start_s == 10.0


def test_no_steady_state_makes_the_phase_unstable_and_says_so(tmp_path: Path) -> None:
    spec = PhaseSpec(rates=(100.0,) * 4, stage_s=20.0, latency_ms=(20.0, 60.0, 150.0, 400.0))
    phase = load_run(make_run(tmp_path, [spec]))[0]
    phase.steady_states = assess(phase.requests, [Window(5.0, 80.0)])

    summary = summarise_phase(phase)

    assert any(i.kind == "no_steady_state" for i in summary.instabilities)
    assert not summary.stable
    assert "no steady state" in next(i.message for i in summary.instabilities)


def test_a_drift_the_half_rule_tolerates_is_not_called_no_steady_state() -> None:
    # The demo's r1-cache-on: ~447 req/s for 35 s, then ~405 (a growing embedded database).
    rng = np.random.default_rng(11)
    series = np.concatenate([np.full(35, 447.0), np.full(15, 405.0)]) + rng.normal(0, 25, 50)

    cut = mser5(series, np.arange(50.0), "throughput")

    assert cut is not None
    assert cut.steady
