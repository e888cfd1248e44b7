"""Time series of a phase, for the plots and the gate's noise estimate."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.cpu import SERVICE_GROUPS, component_group, without_worker_share
from harness.analysis.load import LATENCY, PhaseData, latency_percentiles
from harness.analysis.windows import Window, in_windows
from harness.core.samples import row_chunks

BLOCK_S = 5.0  # block length for noise estimates (gates) and time series


SERIES_COLUMNS = ["t", "rps", "ok_rps", "error_pct", "p50_ms", "p95_ms", "p99_ms"]


def request_series(phase: PhaseData, bin_s: float) -> pd.DataFrame:
    """Per bin over the whole phase: requests started per second (``rps``), successful answers
    per second by when they came (``ok_rps``: what the service delivered, as the stability
    rules count it), error % and latency percentiles of the successes started in the bin. Every
    bin is there, also one in which nothing started or finished (a stall reads as zero, not as
    a line drawn across it).

    Counts are exact per-bin aggregates (``np.bincount`` over integer bins) and each bin's
    percentiles are exact over its own successes: the requests are in start-time order, so a
    bin's successes are one slice of the successful latencies."""
    req = phase.requests
    if req.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    t = req["t"].to_numpy()
    ok = req["ok"].to_numpy()
    if t.size > 1 and not bool(np.all(t[1:] >= t[:-1])):
        order = np.argsort(t, kind="stable")  # in start-time order, as loaded
        t, ok = t[order], ok[order]
        service, latency = req["latency_ms"].to_numpy()[order], req[LATENCY].to_numpy()[order]
    else:
        service, latency = req["latency_ms"].to_numpy(), req[LATENCY].to_numpy()
    first, last = _bin_range(t, ok, service, bin_s)
    n = last - first + 1
    count, failed, delivered = (np.zeros(n, dtype=np.int64) for _ in range(3))
    # the first row of each bin (started at or after its start): bins are stretches of rows
    edges = np.zeros(n + 1, dtype=np.int64)
    bounds = np.arange(first, last + 2)
    for rows in row_chunks(t.size):  # exact counts, a chunk of rows at a time
        started = np.floor(t[rows] / bin_s).astype(np.int64)
        part = ok[rows]
        answered = np.floor((t[rows][part] + service[rows][part] / 1000.0) / bin_s)
        count += np.bincount(started - first, minlength=n)
        failed += np.bincount(started[~part] - first, minlength=n)
        delivered += np.bincount(answered.astype(np.int64) - first, minlength=n)
        edges += np.searchsorted(started, bounds, side="left")
    rows_out = []
    for i in range(n):
        a, b = int(edges[i]), int(edges[i + 1])
        p50, p95, p99 = latency_percentiles(latency[a:b][ok[a:b]], scratch=True)
        total = int(count[i])
        rows_out.append(
            {
                "t": float(first + i) * bin_s,
                "rps": total / bin_s,
                "ok_rps": float(delivered[i]) / bin_s,
                "error_pct": 100.0 * float(failed[i] / total) if total else math.nan,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
            }
        )
    return pd.DataFrame(rows_out, columns=SERIES_COLUMNS)


def _bin_range(
    t: npt.NDArray[np.float64],
    ok: npt.NDArray[np.bool_],
    service: npt.NDArray[np.float64],
    bin_s: float,
) -> tuple[int, int]:
    """The first bin a request started in, and the last one a request started or (success)
    was answered in."""
    first, last, answered = math.inf, -math.inf, 0.0
    for rows in row_chunks(t.size):
        started = np.floor(t[rows] / bin_s)
        part = ok[rows]
        done = np.floor((t[rows][part] + service[rows][part] / 1000.0) / bin_s)
        first, last = min(first, float(started.min())), max(last, float(started.max()))
        answered = max(answered, float(done.max(initial=0)))
    return int(first), int(max(last, answered))


def cpu_series(phase: PhaseData) -> pd.DataFrame:
    """CPU (% of one core) per group per second: wide frame indexed by t."""
    res = phase.resources.assign(second=np.floor(phase.resources["t"].to_numpy()))
    wide = without_worker_share(
        res.pivot_table(
            index="second", columns="component", values="cpu_percent", aggfunc="mean"
        ).sort_index()
    )
    groups = [component_group(str(c)) for c in wide.columns]
    return wide.T.groupby(groups).sum(min_count=1).T


def block_metrics(phase: PhaseData, block_s: float = BLOCK_S) -> pd.DataFrame:
    """Per-block metrics inside the steady windows: the unit of noise for the gate. Each block's
    requests are those :func:`~harness.analysis.windows.started_in` it; its percentiles are
    exact over its successes."""
    cpu = phase.resources[phase.resources["group"].isin(SERVICE_GROUPS)]
    t, order = _start_order(phase.requests)
    ok = phase.requests["ok"].to_numpy()[order]
    latency = phase.requests[LATENCY].to_numpy()[order]
    rows = []
    for w in phase.windows:
        n = int(w.duration_s // block_s)
        for k in range(n):
            block = Window(w.start_s + k * block_s, w.start_s + (k + 1) * block_s)
            # t >= start and t < end, as harness.core.slo.window_mask selects
            a, b = np.searchsorted(t, [block.start_s, block.end_s], side="left")
            part_ok = ok[a:b]
            p50, p95, p99 = latency_percentiles(latency[a:b][part_ok])
            requests = int(b - a)
            failures = requests - int(part_ok.sum())
            rate = requests / block_s
            inside = in_windows(cpu, [block])
            cores = (
                float(inside.groupby("component")["cpu_percent"].mean().sum()) / 100.0
                if len(inside)
                else math.nan
            )
            rows.append(
                {
                    "start_s": block.start_s,
                    "requests": requests,
                    "rps": rate,
                    "ok_rps": (requests - failures) / block_s,
                    "p50_ms": p50,
                    "p95_ms": p95,
                    "p99_ms": p99,
                    "error_pct": 100.0 * float(failures / requests) if requests else math.nan,
                    "cpu_ms_per_request": 1000.0 * cores / rate if rate > 0 else math.nan,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "start_s",
            "requests",
            "rps",
            "ok_rps",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "error_pct",
            "cpu_ms_per_request",
        ],
    )


def _start_order(
    requests: pd.DataFrame,
) -> tuple[npt.NDArray[np.float64], slice | npt.NDArray[np.intp]]:
    """Start times sorted, and the row order that sorts them (a whole slice when loaded from
    disk, already in order)."""
    t = requests["t"].to_numpy(dtype=np.float64)
    if t.size < 2 or bool(np.all(t[1:] >= t[:-1])):
        return t, slice(None)
    order = np.argsort(t, kind="stable")
    return t[order], order
