"""Time-based SLO compliance, as Gatling reports it: the share of 1-s bins of the steady window
that met the p95 limit, the error limit, and both.

A bin holds the requests that started in it (the verdict's selection). It met the p95 limit when
its successful requests' p95 (corrected latency) is within it, and the error limit when its
failures over its requests are within it. A second in which no request started but some were in
flight (a stall) met neither; a second with nothing started and nothing in flight is idle and
not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.analysis.load import LATENCY, PhaseData
from harness.analysis.steady import binned_percentile
from harness.core.samples import bin_counts, count_below, row_chunks

BIN_S = 1.0


@dataclass(frozen=True)
class Compliance:
    bins: int  # 1-s bins judged (idle ones left out)
    p95_limit_ms: float | None
    error_limit: float | None  # a share, as the scenario's error_rate
    p95_share: float | None  # share of bins within the p95 limit (None: no limit)
    error_share: float | None
    both_share: float | None  # within every limit that is set


def _bin_counts(
    start: np.ndarray, service: np.ndarray, ok: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: requests started, failures among them, and whether any request was in flight
    at some point of it (started before its end, ended after its start). Exact counts, a chunk
    of rows at a time."""
    bins = edges.size - 1
    started, failed = np.zeros(bins, dtype=np.int64), np.zeros(bins, dtype=np.int64)
    before_end, ended_before = np.zeros(bins, dtype=np.int64), np.zeros(bins, dtype=np.int64)
    for rows in row_chunks(start.size):
        t = start[rows]
        end = t + service[rows] / 1000.0
        started += bin_counts(t, edges)
        failed += bin_counts(t[~ok[rows]], edges)
        before_end += count_below(t, edges[1:])
        ended_before += count_below(end, edges[:-1], inclusive=True)
    busy = (started > 0) | (before_end - ended_before > 0)
    return started, failed, busy


def compliance(phase: PhaseData) -> Compliance | None:
    """None without a scenario (no limits) or without a steady window."""
    slo = phase.scenario.slo if phase.scenario is not None else None
    if slo is None or not phase.windows or (slo.p95_ms is None and slo.error_rate is None):
        return None
    req = phase.requests
    start = req["t"].to_numpy(dtype=np.float64)
    service = req["latency_ms"].to_numpy(dtype=np.float64)
    ok = req["ok"].to_numpy(dtype=bool)
    latency = req[LATENCY].to_numpy(dtype=np.float64)
    met_p95, met_err, judged = [], [], []
    for w in phase.windows:
        edges = w.start_s + BIN_S * np.arange(int(w.duration_s // BIN_S) + 1, dtype=np.float64)
        if edges.size < 2:
            continue
        started, failed, busy = _bin_counts(start, service, ok, edges)
        p95 = binned_percentile(start, ok, latency, edges, 95.0)
        limit = slo.p95_ms if slo.p95_ms is not None else math.inf
        met_p95.append(np.isfinite(p95) & (p95 <= limit))
        rate = np.divide(failed, started, out=np.ones(started.size), where=started > 0)
        met_err.append(rate <= (slo.error_rate if slo.error_rate is not None else math.inf))
        judged.append(busy)
    if not judged:
        return None
    busy_all = np.concatenate(judged)
    bins = int(busy_all.sum())
    p95_ok = np.concatenate(met_p95)[busy_all]
    err_ok = np.concatenate(met_err)[busy_all]

    def share(mask: np.ndarray, limit: float | None) -> float | None:
        if limit is None:
            return None
        return float(mask.mean()) if bins else math.nan

    both = p95_ok & err_ok
    return Compliance(
        bins,
        slo.p95_ms,
        slo.error_rate,
        share(p95_ok, slo.p95_ms),
        share(err_ok, slo.error_rate),
        float(both.mean()) if bins else math.nan,
    )
