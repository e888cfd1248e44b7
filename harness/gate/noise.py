"""Run-to-run noise, estimated from per-block values.

The relative change of a metric's block mean is bootstrapped: the blocks of the baseline and of
the current run are resampled independently, and the 95 % percentile interval of
``mean(current) / mean(baseline) - 1`` is the noise band. A change is *significant* only when that
interval lies entirely on the worse side of zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.gate.baseline import PhaseBaseline

BOOTSTRAP_ROUNDS = 2000
CONFIDENCE = 0.95
MIN_BLOCKS = 3  # fewer on either side: the noise is unknown


@dataclass(frozen=True)
class Change:
    change_pct: float  # from the summary values
    low_pct: float  # 95 % interval of the change of the block means
    high_pct: float
    blocks: tuple[int, int]  # (baseline, current)

    @property
    def estimated(self) -> bool:
        return math.isfinite(self.low_pct) and math.isfinite(self.high_pct)


def bootstrap_change(
    baseline_blocks: Sequence[float],
    current_blocks: Sequence[float],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of mean(current)/mean(baseline) - 1, in percent."""
    b = np.asarray([v for v in baseline_blocks if math.isfinite(v)], dtype=np.float64)
    c = np.asarray([v for v in current_blocks if math.isfinite(v)], dtype=np.float64)
    if b.size < MIN_BLOCKS or c.size < MIN_BLOCKS:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    b_means = b[rng.integers(0, b.size, size=(rounds, b.size))].mean(axis=1)
    c_means = c[rng.integers(0, c.size, size=(rounds, c.size))].mean(axis=1)
    valid = b_means > 0
    ratios = c_means[valid] / b_means[valid] - 1.0
    if ratios.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return (100.0 * float(low), 100.0 * float(high))


def compare_metric(metric: str, baseline: PhaseBaseline, current: PhaseBaseline) -> Change:
    before, after = baseline.metrics.get(metric, math.nan), current.metrics.get(metric, math.nan)
    finite = math.isfinite(before) and math.isfinite(after) and before != 0
    change = 100.0 * (after - before) / before if finite else math.nan
    low, high = bootstrap_change(baseline.blocks.get(metric, []), current.blocks.get(metric, []))
    return Change(
        change,
        low,
        high,
        (len(baseline.blocks.get(metric, [])), len(current.blocks.get(metric, []))),
    )
