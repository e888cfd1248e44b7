"""Time series of a phase, for the plots and the gate's noise estimate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.analysis.cpu import SERVICE_GROUPS, component_group, without_worker_share
from harness.analysis.load import LATENCY, PhaseData, latency_percentiles
from harness.analysis.windows import Window, in_windows, started_in

BLOCK_S = 5.0  # block length for noise estimates (gates) and time series


SERIES_COLUMNS = ["t", "rps", "ok_rps", "error_pct", "p50_ms", "p95_ms", "p99_ms"]


def request_series(phase: PhaseData, bin_s: float) -> pd.DataFrame:
    """Per bin over the whole phase: requests started per second (``rps``), successful answers
    per second by when they came (``ok_rps``: what the service delivered, as the stability
    rules count it), error % and latency percentiles of the successes started in the bin. Every
    bin is there, also one in which nothing started or finished (a stall reads as zero, not as
    a line drawn across it)."""
    req = phase.requests
    if req.empty:
        return pd.DataFrame(columns=SERIES_COLUMNS)
    started = np.floor(req["t"].to_numpy() / bin_s).astype(np.int64)
    ok = req["ok"].to_numpy()
    answered = np.floor((req["t"] + req["latency_ms"] / 1000.0).to_numpy()[ok] / bin_s)
    first, last = int(started.min()), int(max(started.max(), answered.max(initial=0)))
    rows = []
    groups = dict(iter(req.assign(bin=started).groupby("bin", sort=True)))
    delivered = np.bincount(answered.astype(np.int64) - first, minlength=last - first + 1)
    for b in range(first, last + 1):
        part = groups.get(b, req.iloc[0:0])
        p50, p95, p99 = latency_percentiles(part[part["ok"]][LATENCY])
        rows.append(
            {
                "t": float(b) * bin_s,
                "rps": len(part) / bin_s,
                "ok_rps": float(delivered[b - first]) / bin_s,
                "error_pct": 100.0 * float((~part["ok"]).mean()) if len(part) else math.nan,
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
            }
        )
    return pd.DataFrame(rows, columns=SERIES_COLUMNS)


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
    """Per-block metrics inside the steady windows: the unit of noise for the gate."""
    cpu = phase.resources[phase.resources["group"].isin(SERVICE_GROUPS)]
    rows = []
    for w in phase.windows:
        n = int(w.duration_s // block_s)
        for k in range(n):
            block = Window(w.start_s + k * block_s, w.start_s + (k + 1) * block_s)
            part = started_in(phase.requests, [block])
            ok = part[part["ok"]]
            p50, p95, _ = latency_percentiles(ok[LATENCY])
            rate = len(part) / block_s
            inside = in_windows(cpu, [block])
            cores = (
                float(inside.groupby("component")["cpu_percent"].mean().sum()) / 100.0
                if len(inside)
                else math.nan
            )
            rows.append(
                {
                    "start_s": block.start_s,
                    "requests": len(part),
                    "rps": rate,
                    "p50_ms": p50,
                    "p95_ms": p95,
                    "error_pct": 100.0 * float((~part["ok"]).mean()) if len(part) else math.nan,
                    "cpu_ms_per_request": 1000.0 * cores / rate if rate > 0 else math.nan,
                }
            )
    return pd.DataFrame(
        rows,
        columns=[
            "start_s",
            "requests",
            "rps",
            "p50_ms",
            "p95_ms",
            "error_pct",
            "cpu_ms_per_request",
        ],
    )
