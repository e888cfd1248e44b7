"""Steady state from the data: MSER-5 on 1-s throughput and 1-s p95 (White 1997).

MSER-5 (the Marginal Standard Error Rule on batch means of 5 observations) truncates a series
``Y`` of ``N`` 1-s values at the ``d`` that minimises, over the ``n = N // 5`` batch means ``Z``,

    MSER(d) = 1 / (n - d)² · Σ_{i > d} (Z_i - mean(Z_{d+1..n}))²

i.e. the squared standard error of the mean of what is kept. Its standard failure condition:
the minimum lies in the second half of the series (``d > n / 2``), where the rule "would discard
most of the run": the phase never reached a steady state.

MSER is known to pick spurious cuts near the end of short series (the last few batches can have a
tiny variance by chance; on 60 s of white noise it "fails" about 1 time in 4). Two guards, both
published with the rule in docs/insights.md:

- the last ``MIN_TAIL_BATCHES`` batches are never a candidate cut;
- a cut in the second half says "no steady state" only when the level it discards is material:
  the seconds it cuts beyond the first half's best cut differ from the ones it keeps by at least
  ``MATERIAL_RATE`` (throughput) or ``MATERIAL_P95`` (p95, and ``MATERIAL_P95_MS``), and by
  ``MATERIAL_SE`` standard errors of the kept level.

The series start at the phase's start (the first window; the end of the previous window for a
later stage), so the scenario's own warm-up is inside them; the steady window then starts at
``max(scenario warm-up, MSER cut)``: the scenario's warm-up is a minimum. A fault drill's spans
(``[slo.faults]``) are left out of the series, as the stability checks leave them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.windows import Window
from harness.core import samples
from harness.core.samples import bin_counts, row_chunks

BATCH = 5  # observations (seconds) per batch: MSER-5
MIN_BATCHES = 4  # fewer than 20 s of series: too short to judge
MIN_TAIL_BATCHES = 3  # the last 15 s are never a cut (MSER's end effect)
# A discarded throughput level this far from the kept one is a transient: the half-vs-half
# rule's threshold (harness/analysis/stability.py, NOT_STEADY_SHARE). At 10 % the demo's
# r1-cache-on (447 → 409 req/s after 35 s of a 50-s phase, drift of a growing database) read
# "no steady state" while the half-vs-half rule, tolerating 25 %, called it stable.
MATERIAL_RATE = 0.25
MATERIAL_P95 = 0.30  # ... and for p95 (the half-vs-half trend warning's thresholds)
MATERIAL_P95_MS = 2.0
MATERIAL_SE = 3.0  # ... and at least this many standard errors of the kept level

Metric = Literal["throughput", "p95"]


@dataclass(frozen=True)
class MserCut:
    """MSER-5 on one series."""

    metric: Metric
    batches: int
    cut_batches: int  # d*: batch means truncated (within the first half when steady)
    cut_s: float  # the time of the cut, seconds from the run start
    steady: bool  # False: the rule's minimum lies in the second half, and is material
    kept_level: float  # mean of what the cut keeps
    cut_level: float  # mean of what it truncates (NaN: nothing)


@dataclass(frozen=True)
class SteadyState:
    """One steady window, checked by MSER-5."""

    declared_start_s: float  # the scenario's (or manifest's, or detected) window start
    start_s: float  # max(declared start, MSER cut)
    end_s: float
    cuts: tuple[MserCut, ...]  # throughput, p95 (empty: too short to judge)

    @property
    def judged(self) -> bool:
        return bool(self.cuts)

    @property
    def steady(self) -> bool:
        return all(c.steady for c in self.cuts)

    @property
    def moved_s(self) -> float:
        return self.start_s - self.declared_start_s

    def describe(self) -> str:
        if not self.judged:
            return (
                f"{self.declared_start_s:.0f}-{self.end_s:.0f} s: too short for MSER-5 "
                f"(needs {MIN_BATCHES * BATCH} s)"
            )
        failed = [c for c in self.cuts if not c.steady]
        if failed:
            parts = [
                f"{c.metric} would be cut at {c.cut_s:.0f} s, in the second half "
                f"({c.cut_level:.1f} before → {c.kept_level:.1f} after)"
                for c in failed
            ]
            return f"no steady state in {self.declared_start_s:.0f}-{self.end_s:.0f} s: " + (
                "; ".join(parts)
            )
        cut = max(c.cut_s for c in self.cuts)
        if self.moved_s > 0:
            return (
                f"the warm-up was too short: MSER-5 cuts at {cut:.0f} s, so the steady window "
                f"starts at {self.start_s:.0f} s, not {self.declared_start_s:.0f} s"
            )
        if cut > self.declared_start_s:
            return (
                f"the warm-up holds: MSER-5's cut at {cut:.0f} s drops no material transient "
                f"after the window's start at {self.declared_start_s:.0f} s"
            )
        return (
            f"the warm-up holds: MSER-5 cuts at {cut:.0f} s, before the window's start at "
            f"{self.declared_start_s:.0f} s"
        )


def mser_statistic(values: npt.ArrayLike, batch: int = BATCH) -> npt.NDArray[np.float64]:
    """MSER(d) for every d of the batch means of ``values`` (the last partial batch is left
    out). Vectorised over d with suffix sums of the centred batch means."""
    y = np.asarray(values, dtype=np.float64)
    n = y.size // batch
    z = y[: n * batch].reshape(n, batch).mean(axis=1) if n else np.empty(0)
    z = z - (z.mean() if n else 0.0)
    s1 = np.cumsum(z[::-1])[::-1]
    s2 = np.cumsum((z * z)[::-1])[::-1]
    kept = n - np.arange(n, dtype=np.float64)
    squares = np.maximum(s2 - s1 * s1 / kept, 0.0)
    out: npt.NDArray[np.float64] = squares / kept**2
    return out


def mser5(values: npt.ArrayLike, times: npt.ArrayLike, metric: Metric) -> MserCut | None:
    """MSER-5 on one 1-s series (``times``: each value's second); None when too short."""
    y = np.asarray(values, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    stat = mser_statistic(y)
    n = stat.size
    if n < MIN_BATCHES or not np.isfinite(y).all():  # a p95 with no success at all: nothing
        return None
    z = y[: n * BATCH].reshape(n, BATCH).mean(axis=1)
    half = n // 2
    best = _argmin(stat[: max(n - MIN_TAIL_BATCHES, 1) + 1])
    first = _argmin(stat[: half + 1])
    steady = best <= half or not _material(
        y[first * BATCH : best * BATCH], y[best * BATCH : n * BATCH], metric
    )
    cut = first if steady else best
    return MserCut(
        metric,
        n,
        cut,
        float(t[cut * BATCH]),
        steady,
        float(z[cut:].mean()),
        float(z[:cut].mean()) if cut else math.nan,
    )


def _argmin(stat: npt.NDArray[np.float64]) -> int:
    """The first d at the minimum, rounding aside (a flat tail ties in exact arithmetic)."""
    low = float(stat.min())
    return int(np.flatnonzero(stat <= low + 1e-9 * max(abs(low), float(stat.max()), 1e-12))[0])


def _material(cut: npt.NDArray[np.float64], kept: npt.NDArray[np.float64], metric: Metric) -> bool:
    """Do the 1-s values a cut drops sit at a level (median) the kept ones do not reach by
    chance? The change must pass a floor (``MATERIAL_RATE``, ``MATERIAL_P95``) and be at least
    ``MATERIAL_SE`` standard errors, from the spread of the kept 5-s batch means."""
    if cut.size == 0 or kept.size < 2 * BATCH:
        return False
    # medians: the warm-up's slow requests all finishing in one second are a spike, not a level
    before, after = float(np.median(cut)), float(np.median(kept))
    change = abs(before - after) / max(abs(after), 1e-9)
    floor = change >= MATERIAL_RATE
    if metric == "p95":
        floor = change >= MATERIAL_P95 and abs(before - after) >= MATERIAL_P95_MS
    n = kept.size // BATCH
    spread = float(kept[-n * BATCH :].reshape(n, BATCH).mean(axis=1).std(ddof=1))
    error = spread * math.sqrt(BATCH / cut.size + BATCH / kept.size)
    return floor and abs(before - after) >= MATERIAL_SE * error


def per_second(
    requests: pd.DataFrame, begin: float, end: float, latency: str = "co_latency_ms"
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Seconds ``begin + k`` of [begin, end): successful answers per second (by when they came)
    and the p95 of the successes started in each second (an empty second repeats the one before:
    a stall shows in the throughput, not as a gap)."""
    seconds = math.floor(end - begin)
    times = begin + np.arange(seconds, dtype=np.float64)
    if seconds <= 0:
        return times, np.empty(0), np.empty(0)
    ok = requests["ok"].to_numpy(dtype=bool)
    t = requests["t"].to_numpy(dtype=np.float64)
    service = requests["latency_ms"].to_numpy(dtype=np.float64)
    edges = begin + np.arange(seconds + 1, dtype=np.float64)
    counts = np.zeros(seconds, dtype=np.int64)
    for rows in row_chunks(t.size):  # a chunk of completion times at a time
        part = ok[rows]
        counts += bin_counts(t[rows][part] + service[rows][part] / 1000.0, edges)
    rate = counts.astype(np.float64)
    raw = binned_percentile(t, ok, requests[latency].to_numpy(dtype=np.float64), edges, 95.0)
    p95 = np.asarray(pd.Series(raw).ffill().bfill(), dtype=np.float64)
    return times, rate, p95


def binned_percentile(
    t: npt.NDArray[np.float64],
    ok: npt.NDArray[np.bool_],
    values: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    q: float,
) -> npt.NDArray[np.float64]:
    """:func:`bin_percentile` of the ``ok`` rows. With ``t`` in order (as loaded), a few bins
    at a time: each group of bins is one stretch of rows of about ``ROW_CHUNK``, so the
    temporaries are a chunk's, not the run's; each bin's value is the same."""
    if t.size < 2 or not bool(np.all(t[1:] >= t[:-1])):
        return bin_percentile(t[ok], values[ok], edges, q)
    rows = np.searchsorted(t, edges, side="left")  # bin k: rows[k]:rows[k + 1]
    out = np.empty(edges.size - 1, dtype=np.float64)
    k = 0
    while k < out.size:
        stop = max(k + 1, int(np.searchsorted(rows, rows[k] + samples.ROW_CHUNK, side="right")) - 1)
        stop = min(stop, out.size)
        part = slice(int(rows[k]), int(rows[stop]))
        keep = ok[part]
        out[k:stop] = bin_percentile(t[part][keep], values[part][keep], edges[k : stop + 1], q)
        k = stop
    return out


def bin_percentile(
    t: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    edges: npt.NDArray[np.float64],
    q: float,
) -> npt.NDArray[np.float64]:
    """The ``q`` percentile (numpy's linear interpolation) of ``values`` per bin of ``t``,
    vectorised: one sort, then each bin's two neighbouring ranks. NaN for an empty bin."""
    bins = edges.size - 1
    idx = np.searchsorted(edges, t, side="right") - 1
    inside = (idx >= 0) & (idx < bins)
    idx, v = idx[inside], values[inside]
    order = np.lexsort((v, idx))
    idx, v = idx[order], v[order]
    counts = np.bincount(idx, minlength=bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(bins, np.nan)
    has = counts > 0
    pos = (counts[has] - 1) * q / 100.0
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, counts[has] - 1)
    base = starts[has]
    out[has] = v[base + lo] + (pos - lo) * (v[base + hi] - v[base + lo])
    return out


def assess(
    requests: pd.DataFrame,
    windows: Sequence[Window],
    excluded: Sequence[tuple[float, float]] = (),
) -> list[SteadyState]:
    """MSER-5 per window, on the series from the previous window's end (the run start for the
    first) to the window's end, with the ``excluded`` spans (a drill's faults) left out.

    A cut past the window's declared start moves it only when the stretch it cuts from the
    window is material (as for the failure condition): MSER-5 on a short noisy series often
    picks a cut by chance, and a cut that changes nothing should not shrink the window."""
    out: list[SteadyState] = []
    origin = 0.0
    for w in sorted(windows, key=lambda w: w.start_s):
        times, rate, p95 = per_second(requests, math.floor(origin), w.end_s)
        keep = np.ones(times.size, dtype=bool)
        for a, b in excluded:
            keep &= (times + 1.0 <= a) | (times >= b)
        cuts, start = [], w.start_s
        for values, metric in ((rate, "throughput"), (p95, "p95")):
            cut = mser5(values[keep], times[keep], metric)  # type: ignore[arg-type]
            if cut is None:
                continue
            cuts.append(cut)
            cut_off = keep & (times >= w.start_s) & (times < cut.cut_s)
            kept = keep & (times >= cut.cut_s)
            if cut.steady and cut_off.any() and _material(values[cut_off], values[kept], metric):  # type: ignore[arg-type]
                start = max(start, cut.cut_s)
        if not all(c.steady for c in cuts):
            start = w.start_s
        out.append(SteadyState(w.start_s, min(start, w.end_s), w.end_s, tuple(cuts)))
        origin = w.end_s
    return out


def validated(windows: Sequence[Window], states: Sequence[SteadyState]) -> list[Window]:
    """The windows, each starting at ``max(declared start, MSER cut)``."""
    by_start = {s.declared_start_s: s.start_s for s in states}
    return [
        Window(by_start.get(w.start_s, w.start_s), w.end_s, w.offered_rps, w.users) for w in windows
    ]
