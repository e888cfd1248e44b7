"""Time series of a phase, for the plots and the gate's noise estimate."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.analysis.cpu import SERVICE_GROUPS, component_group, without_worker_share
from harness.analysis.load import LATENCY, PhaseData, latency_percentiles
from harness.analysis.windows import Window, in_windows, started_in

BLOCK_S = 5.0  # block length for noise estimates (gates) and time series


def request_series(phase: PhaseData, bin_s: float) -> pd.DataFrame:
    """Per-bin rate, error % and latency percentiles (successes only) over the whole phase."""
    req = phase.requests
    if req.empty:
        return pd.DataFrame(columns=["t", "rps", "error_pct", "p50_ms", "p95_ms", "p99_ms"])
    bins = np.floor(req["t"].to_numpy() / bin_s).astype(np.int64)
    frame = req.assign(bin=bins)
    rows = []
    for _, part in frame.groupby("bin", sort=True):
        ok = part[part["ok"]]
        p50, p95, p99 = latency_percentiles(ok[LATENCY])
        rows.append(
            {
                "t": float(part["bin"].iloc[0]) * bin_s,
                "rps": len(part) / bin_s,
                "error_pct": 100.0 * float((~part["ok"]).mean()),
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
            }
        )
    return pd.DataFrame(rows)


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
