"""Synthetic run directories with known answers, for the analysis, report and gate tests.

A phase is an open-model load: arrivals follow the scenario's rate exactly (so the achieved rate
is known), latency is log-normal with a chosen median per stage (and a slow warm-up, so a window
that wrongly includes it shows), resources are flat per component. Everything is seeded.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.core.samples import SAMPLE_DTYPE, SampleWriter, write_meta

RUN_START = 1_800_000_000.0
ENDPOINTS = ("GET /api/tasks", "POST /api/tasks", "GET /api/tasks/{id}")
WEIGHTS = (0.6, 0.2, 0.2)
DEFAULT_CPU: Mapping[str, float] = {
    "db": 30.0,
    "redis": 5.0,
    "api-1": 40.0,
    "nginx": 5.0,
    "generator": 30.0,
}


@dataclass
class PhaseSpec:
    name: str = "r1-cache-on"
    replicas: int = 1
    cache: bool = True
    rates: Sequence[float] = (100.0,)  # one open-model stage per rate
    users: Sequence[int] = ()  # set: a closed-model scenario, one stage per count (same length)
    stage_s: float = 30.0
    warmup_s: float = 5.0
    ramp_s: float = 0.0  # every stage after the first ramps linearly from the previous rate
    latency_ms: Sequence[float] = (20.0,)  # median per stage
    latency_sigma: float = 0.2
    warmup_latency_ms: float = 1000.0
    block_noise: float = 0.0  # sigma of a per-5 s-block latency factor (run-to-run noise)
    error_rate: float = 0.0
    error_status: int = 500
    error_endpoint: str | None = None  # None: failures spread over the endpoints
    achieved_share: float = 1.0  # < 1: the generator could not offer the load
    # > 0: the (open-model) generator stalled for the last stall_s of the warm-up and sent that
    # backlog in the first half second of the steady window: intended in the warm-up, actually
    # started in the window, with the stall in its corrected latency.
    stall_s: float = 0.0
    cpu: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CPU))
    # (start_s, length_s): the service stops answering (say, its db was SIGSTOPped). Requests sent
    # then wait until it is over or time out after 10 s; the component's CPU drops to 0 and every
    # other service component's to a tenth.
    outage: tuple[float, float] | None = None
    outage_component: str = "db"
    died: str | None = None  # a component whose resource samples stop at ``outage`` start
    status: str = "complete"
    balancer: str = "nginx"
    seed: int = 0
    endpoint_costs: Mapping[str, Any] | None = None  # endpoint_costs.json (see costs_document)
    audit: Mapping[str, Any] | None = None  # audit.json (see audit_document)
    lb: str = "auto"
    # a named phase of a scenario's [[phases]]: "plan": "phases" in the manifest, and these
    # settings (indexes, compression, env) in its topology
    named: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.stage_s * len(self.rates)

    def rate_at(self, t: np.ndarray) -> np.ndarray:
        rate = np.zeros_like(t)
        previous = 0.0
        for i, r in enumerate(self.rates):
            start = i * self.stage_s
            inside = (t >= start) & (t < start + self.stage_s)
            if i and self.ramp_s:
                ramp = inside & (t < start + self.ramp_s)
                rate[inside] = r
                rate[ramp] = previous + (r - previous) * (t[ramp] - start) / self.ramp_s
            else:
                rate[inside] = r
            previous = r
        return rate * self.achieved_share


def scenario_toml(name: str, spec: PhaseSpec, slo: Mapping[str, float]) -> str:
    stages = []
    for i, rate in enumerate(spec.rates):
        if spec.users:
            stages.append(
                f"  {{ duration = {spec.stage_s}, users = {spec.users[i]}, spawn_rate = 1000 }},"
            )
            continue
        ramp = f", ramp = {spec.ramp_s}" if i and spec.ramp_s else ""
        stages.append(f"  {{ duration = {spec.stage_s}, rate = {rate}{ramp} }},")
    slo_lines = "\n".join(f"{k} = {v}" for k, v in slo.items())
    model, pool = ("closed", "") if spec.users else ("open", "max_users = 50\n")
    mix = "\n".join(f'"{e}" = {w}' for e, w in zip(ENDPOINTS, WEIGHTS, strict=True))
    return (
        f'name = "{name}"\n\n[load]\nmodel = "{model}"\nwarmup = {spec.warmup_s}\n'
        f"{pool}stages = [\n" + "\n".join(stages) + "\n]\n\n"
        f"[mix]\n{mix}\n\n[slo]\n{slo_lines}\n"
    )


def _requests(spec: PhaseSpec) -> np.ndarray:
    rng = np.random.default_rng(spec.seed)
    grid = np.arange(0.0, spec.duration_s, 0.001)
    cumulative = np.cumsum(spec.rate_at(grid)) * 0.001
    n = int(np.floor(cumulative[-1]))
    t = np.interp(np.arange(n) + 0.5, cumulative, grid)
    stage = np.minimum((t // spec.stage_s).astype(int), len(spec.rates) - 1)
    medians = np.resize(np.asarray(spec.latency_ms, dtype=float), len(spec.rates))
    median = medians[stage]
    sent = t.copy()
    if spec.stall_s:
        stalled = np.flatnonzero((t >= spec.warmup_s - spec.stall_s) & (t < spec.warmup_s))
        sent[stalled] = spec.warmup_s + 0.5 * np.arange(stalled.size) / max(stalled.size, 1)
    median = np.where(sent < spec.warmup_s, spec.warmup_latency_ms, median)
    if spec.block_noise:
        factors = rng.lognormal(0.0, spec.block_noise, size=int(spec.duration_s // 5) + 1)
        median = median * factors[(t // 5).astype(int)]
    latency = median * rng.lognormal(0.0, spec.latency_sigma, size=n)
    endpoint = rng.choice(len(ENDPOINTS), size=n, p=WEIGHTS)
    ok = rng.random(n) >= spec.error_rate
    if spec.error_endpoint is not None:
        ok |= endpoint != ENDPOINTS.index(spec.error_endpoint)
    ok, latency = _outage(spec, sent, latency, ok)
    records = np.zeros(n, dtype=SAMPLE_DTYPE)
    records["ts"] = RUN_START + sent
    records["intended"] = RUN_START + t
    records["latency_ms"] = latency
    records["co_latency_ms"] = latency + (sent - t) * 1000.0
    records["endpoint"] = endpoint
    records["status"] = np.where(ok, 200, spec.error_status)
    records["status"][latency >= TIMEOUT_MS] = 0
    records["ok"] = ok
    return records


TIMEOUT_MS = 10_000.0


def _outage(
    spec: PhaseSpec, sent: np.ndarray, latency: np.ndarray, ok: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    if spec.outage is None:
        return ok, latency
    start, length = spec.outage
    end = start + length
    caught = (sent < end) & (sent + latency / 1000.0 > start)
    waited = np.minimum((end - sent[caught]) * 1000.0 + latency[caught], TIMEOUT_MS)
    latency = latency.copy()
    latency[caught] = waited
    ok = ok.copy()
    ok[caught] &= waited < TIMEOUT_MS
    return ok, latency


def _cpu_at(spec: PhaseSpec, component: str, cpu: float, second: float) -> float | None:
    """A component's CPU in one second of the phase (None: no sample, it died)."""
    if spec.outage is None:
        return cpu
    start, length = spec.outage
    if component == spec.died and second >= start:
        return None
    if not start <= second < start + length:
        return cpu
    if component == spec.outage_component:
        return 0.0
    return cpu if component.startswith("generator") else cpu / 10.0


def write_phase(run_dir: Path, spec: PhaseSpec, scenario: str, scenario_file: Path | None) -> Path:
    phase = run_dir / spec.name
    (phase / "logs").mkdir(parents=True, exist_ok=True)
    records = _requests(spec)
    writer = SampleWriter(phase / "samples")
    writer.write(records)
    writer.close()
    write_meta(phase / "samples", ENDPOINTS, run_start=RUN_START, workers=[])
    manifest = {
        "schema": 1,
        "scenario": scenario,
        "scenario_file": str(scenario_file) if scenario_file else None,
        "phase": spec.name,
        "topology": {
            "replicas": spec.replicas,
            "cache": spec.cache,
            "lb": spec.lb,
            "balancer": spec.balancer,
            "backend": "local",
            **spec.settings,
        },
        "target_rate": max(spec.rates),
        "host": {"cores": 2, "memory_bytes": 4 << 30},
        "started": "2027-01-15T08:00:00Z",
        "finished": "2027-01-15T08:01:00Z",
        "status": spec.status,
    }
    if spec.named:
        manifest["plan"] = "phases"
    if spec.endpoint_costs is not None:
        manifest["endpoint_costs"] = "endpoint_costs.json"
        (phase / "endpoint_costs.json").write_text(json.dumps(spec.endpoint_costs, indent=2))
    if spec.audit is not None:
        (phase / "audit.json").write_text(json.dumps(spec.audit, indent=2))
    (phase / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (phase / "verdict.json").write_text(json.dumps({"schema": 1, "status": "PASS"}))
    with (phase / "resources.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["ts", "component", "pid", "cpu_percent", "rss_bytes", "host_cores"])
        for second in range(int(spec.duration_s) + 1):
            for pid, (component, cpu) in enumerate(spec.cpu.items(), start=100):
                value = _cpu_at(spec, component, cpu, second + 0.5)
                if value is not None:
                    out.writerow([RUN_START + second + 0.5, component, pid, value, 50 << 20, 2])
    names = np.asarray(ENDPOINTS)[records["endpoint"]]
    with (phase / "locust_stats.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["Type", "Name", "Request Count", "Failure Count"])
        for name in ENDPOINTS:
            mask = names == name
            method, path = name.split(" ", 1)
            out.writerow([method, path, int(mask.sum()), int((records["ok"][mask] == 0).sum())])
        out.writerow(["", "Aggregated", len(records), int((records["ok"] == 0).sum())])
    with (phase / "locust_failures.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["Method", "Name", "Error", "Occurrences"])
        failed = records["ok"] == 0
        for name in ENDPOINTS:
            count = int((failed & (names == name)).sum())
            if count:
                method, path = name.split(" ", 1)
                out.writerow([method, path, f"HTTPError({spec.error_status})", count])
    return phase


def route_cost(
    method: str,
    route: str,
    requests: int,
    cpu_ms: float,
    db: float = 0.0,
    redis: float = 0.0,
    hit: int = 0,
    miss: int = 0,
    bypass: int = 0,
) -> dict[str, Any]:
    """One route's row of endpoint_costs.json from per-request figures (CPU ms, round trips)."""
    return {
        "method": method,
        "route": route,
        "requests": requests,
        "app_cpu_s": requests * cpu_ms / 1000.0,
        "db_roundtrips": requests * db,
        "redis_roundtrips": requests * redis,
        "cache_hit": hit,
        "cache_miss": miss,
        "cache_bypass": bypass,
    }


def costs_document(
    routes: Sequence[Mapping[str, Any]],
    *,
    replicas: Sequence[str] = ("api-1",),
    window: tuple[float, float] = (5.0, 30.0),
    complete: bool = True,
    missing: Sequence[str] = (),
) -> dict[str, Any]:
    """An endpoint_costs.json over one window (seconds from the run start), the routes' counts
    split evenly between the replicas."""
    share = 1.0 / len(replicas) if replicas else 0.0
    per_replica = [
        {k: v * share if isinstance(v, int | float) else v for k, v in row.items()}
        for row in routes
    ]
    return {
        "schema": 1,
        "source": "direct",
        "windows": [
            {
                "start_s": window[0],
                "end_s": window[1],
                "start_ts": RUN_START + window[0],
                "end_ts": RUN_START + window[1],
            }
        ],
        "complete": complete,
        "missing": list(missing),
        "replicas": {name: per_replica for name in replicas},
        "total": [dict(row) for row in routes],
    }


def audit_document(
    *,
    acknowledged: tuple[int, int, int] = (120, 80, 40),
    uncertain: tuple[int, int, int] = (0, 0, 0),
    findings: Sequence[tuple[str, str, str]] = (),
    missing: Sequence[str] = (),
    reason: str | None = None,
) -> dict[str, Any]:
    """An audit.json: writes acknowledged and without a definite answer per create, update and
    delete, and ``findings`` as (kind, write, detail); with ``reason``, an audit not possible."""
    if reason is not None:
        return {"schema": 1, "audited": False, "reason": reason, "seconds": 0.1}
    kinds, writes = ("lost", "resurrected", "phantom", "ambiguous"), ("create", "update", "delete")
    counts = {kind: dict.fromkeys(writes, 0) for kind in kinds}
    for kind, write, _ in findings:
        counts[kind][write] += 1
    return {
        "schema": 1,
        "audited": True,
        "seconds": 0.4,
        "ledger": {"records": sum(acknowledged) + sum(uncertain), "complete": not missing,
                   "missing": list(missing)},
        "tasks_scanned": 1000,
        "acknowledged": dict(zip(writes, acknowledged, strict=True)),
        "uncertain": dict(zip(writes, uncertain, strict=True)),
        "totals": {kind: sum(counts[kind].values()) for kind in kinds},
        "counts": counts,
        "findings": [
            {"kind": kind, "write": write, "task": f"{i:024x}", "account": 0, "detail": detail}
            for i, (kind, write, detail) in enumerate(findings)
        ],
        "findings_left_out": 0,
    }  # fmt: skip


def make_run(
    root: Path,
    phases: Sequence[PhaseSpec],
    *,
    name: str = "20270115T080000Z_synthetic",
    scenario: str = "synthetic",
    slo: Mapping[str, float] | None = None,
    with_scenario: bool = True,
) -> Path:
    """A run directory with one phase per spec and the scenario file the manifests point to.

    The scenario's stages come from the first spec (a run is one scenario; give every phase the
    same rates, and vary ``achieved_share`` to model phases that could not keep up). Without
    the scenario (``with_scenario=False``) the manifests name a scenario that does not exist.
    """
    run_dir = root / name
    run_dir.mkdir(parents=True)
    scenario_file: Path | None = None
    if with_scenario:
        scenario_file = run_dir / f"{scenario}.toml"
        scenario_file.write_text(
            scenario_toml(scenario, phases[0], slo or {"p95_ms": 200, "error_rate": 0.001})
        )
    for spec in phases:
        write_phase(run_dir, spec, scenario, scenario_file)
    (run_dir / "run.json").write_text(
        json.dumps({"schema": 1, "scenario": scenario, "phases": [p.name for p in phases]})
    )
    return run_dir
