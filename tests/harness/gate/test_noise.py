from __future__ import annotations

import math

import pytest

from harness.gate.baseline import PhaseBaseline
from harness.gate.noise import bootstrap_interval, compare_metric


def test_the_bootstrap_interval_of_identical_blocks_straddles_zero() -> None:
    blocks = [20.0, 22.0, 19.0, 21.0, 20.5, 19.5]

    interval = bootstrap_interval(blocks, blocks)
    low, high = interval.low_pct, interval.high_pct

    assert low < 0.0 < high


def test_the_bootstrap_needs_three_blocks_on_each_side() -> None:
    interval = bootstrap_interval([1.0, 2.0], [1.0, 2.0, 3.0])
    low, high = interval.low_pct, interval.high_pct

    assert math.isnan(low)  # noise unknown
    assert math.isnan(high)


def test_a_change_is_measured_from_the_summary_values_and_its_band_from_the_blocks() -> None:
    before = PhaseBaseline({"p95_ms": 20.0}, {"p95_ms": [20.0, 21.0, 19.0, 20.0]})
    after = PhaseBaseline({"p95_ms": 30.0}, {"p95_ms": [30.0, 31.0, 29.0]})

    change = compare_metric("p95_ms", before, after)

    assert change.change_pct == pytest.approx(50.0)
    assert change.estimated
    assert 0.0 < change.low_pct < 50.0 < change.high_pct
    assert change.blocks == (4, 3)


def test_a_metric_missing_or_zero_in_the_baseline_has_no_change() -> None:
    zero = PhaseBaseline({"p95_ms": 0.0}, {})
    current = PhaseBaseline({"p95_ms": 30.0}, {})

    assert math.isnan(compare_metric("p95_ms", zero, current).change_pct)
    assert math.isnan(compare_metric("p50_ms", current, current).change_pct)
    assert not compare_metric("p95_ms", zero, current).estimated
