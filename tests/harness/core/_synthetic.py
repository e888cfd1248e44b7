"""Synthetic samples for verdict tests (not a test module)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.core.samples import SAMPLE_DTYPE, SampleArray, Samples
from harness.core.scenario import Scenario, parse_scenario
from harness.core.workload import ENDPOINTS

RUN_START = 1_700_000_000.0


def scenario(
    slo: dict[str, object] | None = None, *, model: str = "closed", rate: float = 100.0
) -> Scenario:
    stage: dict[str, object] = {"duration": "20s"}
    if model == "closed":
        stage |= {"users": 10, "spawn_rate": 10}
    else:
        stage |= {"rate": rate}
    return parse_scenario(
        {
            "name": "synthetic",
            "load": {"model": model, "warmup": "5s", "stages": [stage]},
            "mix": {"GET /api/tasks": 1},
            "slo": slo or {},
        }
    )


def records(
    intended: Sequence[float],
    latency_ms: Sequence[float],
    *,
    actual: Sequence[float] | None = None,
    ok: Sequence[int] | None = None,
    status: int = 500,  # of the failures
    endpoint: str = "GET /api/tasks",
    worker: int = 0,
) -> SampleArray:
    n = len(intended)
    out = np.zeros(n, dtype=SAMPLE_DTYPE)
    out["intended"] = RUN_START + np.asarray(intended, dtype=float)
    out["ts"] = RUN_START + np.asarray(actual if actual is not None else intended, dtype=float)
    out["latency_ms"] = latency_ms
    out["co_latency_ms"] = (out["ts"] - out["intended"]) * 1000 + out["latency_ms"]
    out["endpoint"] = ENDPOINTS.index(endpoint)
    out["status"] = 200
    out["ok"] = 1 if ok is None else np.asarray(ok)
    out["status"][out["ok"] == 0] = status
    out["worker"] = worker
    return out


def samples(*parts: SampleArray, meta: dict[str, object] | None = None) -> Samples:
    array = np.concatenate(parts) if parts else np.empty(0, dtype=SAMPLE_DTYPE)
    return Samples(
        records=array,
        endpoints=list(ENDPOINTS),
        meta={"run_start": RUN_START, **(meta or {})},
    )


def steady_load(n: int = 1000, latency: float = 20.0, seed: int = 1) -> SampleArray:
    rng = np.random.default_rng(seed)
    times = np.linspace(0.0, 19.99, n)
    return records(times, rng.gamma(4.0, latency / 4.0, n))
