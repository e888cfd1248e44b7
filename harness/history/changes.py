"""Change points in a metric's history, by penalised segmentation (``ruptures``' PELT).

Each metric of one series (a scenario's phase) is a sequence of run values in the order the runs
were added. PELT splits it where a least-squares (``l2``) cost with a penalty per change point is
lowest; the penalty is the BIC's, ``2 · s² · ln n``, with s the noise between consecutive runs
(the median absolute difference / (0.6745 · √2), at least :data:`MIN_NOISE_SHARE` of the
median: a flat history does not make every wiggle a change). A change point at index ``i`` means
run ``i`` is the first of a new level.

Why ruptures and not Otava's E-Divisive: ``apache-otava`` 0.8 pins numpy 2.2.0 exactly and pulls
BigQuery, Postgres and Slack clients; ``signal-processing-algorithms`` needs numpy < 2 and
gevent < 25 (Locust needs ≥ 25.9). ruptures is maintained, small, and works with numpy 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ruptures

MIN_RUNS = 4  # fewer: no change point can be told from noise
MIN_NOISE_SHARE = 0.01  # of the median value


@dataclass(frozen=True)
class ChangePoint:
    index: int  # the first run of the new level
    before: float  # mean of the segment before
    after: float  # mean of the segment from ``index`` on
    change_pct: float


def change_points(values: Sequence[float | None]) -> list[ChangePoint]:
    """The change points of one metric's history (NaN and None values are left out)."""
    index = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    signal = np.asarray([values[i] for i in index], dtype=np.float64)
    if signal.size < MIN_RUNS:
        return []
    sigma = max(
        float(np.median(np.abs(np.diff(signal)))) / (0.6745 * math.sqrt(2.0)),
        MIN_NOISE_SHARE * abs(float(np.median(signal))),
        1e-12,
    )
    penalty = 2.0 * sigma**2 * math.log(signal.size)
    ends = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(signal).predict(pen=penalty)
    bounds = [0, *ends]
    points = []
    for k in range(1, len(bounds) - 1):
        before = float(signal[bounds[k - 1] : bounds[k]].mean())
        after = float(signal[bounds[k] : bounds[k + 1]].mean())
        change = 100.0 * (after - before) / before if before else math.nan
        points.append(ChangePoint(index[bounds[k]], before, after, change))
    return points
