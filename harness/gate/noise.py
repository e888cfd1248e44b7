"""Run-to-run noise, estimated from per-block values.

The relative change of a metric's block mean is bootstrapped: the blocks of the baseline and of
the current run are resampled independently, and the standard deviation of
``mean(current) / mean(baseline) - 1`` over the resamples is the within-run noise of the change.
Blocks of one run cannot see a drift that moves a whole run (another machine, a warmer cache), so
the metric's *noise* adds :data:`RUN_DRIFT_PCT` per run to it:
``noise = sqrt(bootstrap_sd² + 2 · drift²)`` percent.

The noise band is ``block change ± t · noise``, the block change being that of the block means
(the estimate the noise describes) and ``t`` the 99 % quantile of Student's t with
``min(blocks) - 1`` degrees of freedom (2.33 with many blocks, more with few: the noise itself
is estimated from them): a one-sided 1 % test each way, the false FAIL rate the gate allows
itself. A change is *significant* only when the band lies entirely on the worse side of zero.
The change divided by the noise is the effect size, and the noise says how much more data would
tell an effect of the observed size from zero (:func:`settle_factor`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from harness.gate.baseline import PhaseBaseline

BOOTSTRAP_ROUNDS = 2000
ONE_SIDED = 0.99  # 1 % of no-change pairs reach the band's far side
RUN_DRIFT_PCT = 1.0  # assumed drift of a whole run's metrics, invisible to its own blocks
MIN_BLOCKS = 3  # fewer on either side: the noise is unknown
CONFIDENCE = 0.95  # of bootstrap_interval's percentile interval (shown beside the band)


@dataclass(frozen=True)
class Change:
    change_pct: float  # from the summary values
    low_pct: float  # the noise band: change ± band_quantile(blocks) · noise
    high_pct: float
    blocks: tuple[int, int]  # (baseline, current)
    noise_pct: float = math.nan  # standard error of the change (bootstrap), in percent

    @property
    def estimated(self) -> bool:
        return math.isfinite(self.low_pct) and math.isfinite(self.high_pct)

    @property
    def effect(self) -> float:
        """The change in units of its own noise (signed as the change; NaN: noise unknown)."""
        if not (math.isfinite(self.change_pct) and self.noise_pct > 0):
            return math.nan
        return self.change_pct / self.noise_pct


@dataclass(frozen=True)
class Interval:
    low_pct: float
    high_pct: float
    noise_pct: float
    observed_pct: float = math.nan  # mean(current) / mean(baseline) - 1 of the blocks themselves


def bootstrap_interval(
    baseline_blocks: Sequence[float],
    current_blocks: Sequence[float],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Interval:
    """Percentile-bootstrap interval and standard error of mean(current)/mean(baseline) - 1, in
    percent; NaN with fewer than :data:`MIN_BLOCKS` blocks on either side."""
    unknown = Interval(math.nan, math.nan, math.nan)
    b = np.asarray([v for v in baseline_blocks if math.isfinite(v)], dtype=np.float64)
    c = np.asarray([v for v in current_blocks if math.isfinite(v)], dtype=np.float64)
    if b.size < MIN_BLOCKS or c.size < MIN_BLOCKS:
        return unknown
    rng = np.random.default_rng(seed)
    b_means = b[rng.integers(0, b.size, size=(rounds, b.size))].mean(axis=1)
    c_means = c[rng.integers(0, c.size, size=(rounds, c.size))].mean(axis=1)
    valid = b_means > 0
    ratios = c_means[valid] / b_means[valid] - 1.0
    if ratios.size == 0:
        return unknown
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    observed = 100.0 * (float(c.mean()) / float(b.mean()) - 1.0) if b.mean() > 0 else math.nan
    return Interval(100.0 * float(low), 100.0 * float(high), 100.0 * float(ratios.std()), observed)


def compare_metric(
    metric: str,
    baseline: PhaseBaseline,
    current: PhaseBaseline,
    *,
    drift_pct: float = RUN_DRIFT_PCT,
) -> Change:
    """The change of ``metric`` from the summary values, with its noise and noise band; without
    :data:`MIN_BLOCKS` blocks on each side the noise is unknown (NaN)."""
    before, after = baseline.metrics.get(metric, math.nan), current.metrics.get(metric, math.nan)
    finite = math.isfinite(before) and math.isfinite(after) and before != 0
    change = 100.0 * (after - before) / before if finite else math.nan
    within = bootstrap_interval(baseline.blocks.get(metric, []), current.blocks.get(metric, []))
    noise = math.sqrt(within.noise_pct**2 + 2.0 * drift_pct**2)
    blocks = (len(baseline.blocks.get(metric, [])), len(current.blocks.get(metric, [])))
    width = band_quantile(blocks) * noise
    centre = within.observed_pct
    return Change(change, centre - width, centre + width, blocks, noise)


def band_quantile(blocks: tuple[int, int]) -> float:
    """Student's t at :data:`ONE_SIDED` with ``min(blocks) - 1`` degrees of freedom."""
    return float(student_t.ppf(ONE_SIDED, max(min(blocks) - 1, 1)))


def settle_factor(effect_pct: float, noise_pct: float, z: float = 2.326) -> float:
    """By how much the data on each side must grow for a true change of ``effect_pct`` to lie
    outside the noise band: the noise shrinks with the square root of the blocks, so the factor
    is ``(z * noise / effect)²`` (at least 1)."""
    if not (effect_pct and math.isfinite(effect_pct) and math.isfinite(noise_pct)):
        return math.nan
    return max(1.0, (z * noise_pct / abs(effect_pct)) ** 2)
