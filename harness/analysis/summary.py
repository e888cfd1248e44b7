"""Load a run directory into tidy DataFrames and summarise each phase.

The pipeline is: :func:`load_phase` (files → :class:`PhaseData` with tidy frames) →
:func:`summarise_phase` (→ :class:`PhaseSummary`, plain numbers) → plots and reports elsewhere.
Percentiles are always recomputed from the exact samples (``harness.core.samples``), never taken
from Locust's rounded CSV columns; Locust's CSVs only cross-check the request count and name
failures.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.core import slo
from harness.core.checks import Check, SloStatus, jsonable
from harness.core.samples import SAMPLE_DTYPE, Samples, percentile, read_samples
from harness.errors import BadInputError

if TYPE_CHECKING:
    from harness.core.scenario import Scenario

MANIFEST = "manifest.json"
RESOURCES = "resources.csv"
LOCUST_STATS = "locust_stats.csv"
LOCUST_JSON = "locust.json"
LOCUST_FAILURES = "locust_failures.csv"
RESOURCE_COLUMNS = ("ts", "component", "pid", "cpu_percent", "rss_bytes", "host_cores")
SERVICE_GROUPS = ("db", "redis", "api", "nginx")
CPU_GROUPS = (*SERVICE_GROUPS, "generator")

# The validity rules (generator CPU, achieved rate, samples to judge) are harness.core.slo's:
# slo.CPU_LIMIT_PERCENT, slo.RATE_TOLERANCE, slo.MIN_SAMPLES. Warning thresholds only here.
WARN_SAMPLES = 500  # fewer: a warning, the tail percentiles rest on too few requests
MIN_WINDOW_S = 10.0
TREND_P95_SHARE = 0.30  # second half vs first half of the window
TREND_RATE_SHARE = 0.10
DOMINANT_CAUSE_SHARE = 0.80
DB_BOUND_CPU = 70.0  # % of a core: "near a full core" on a shared 2-core machine
BLOCK_S = 5.0  # block length for noise estimates (gates) and time series
# Latency as the user saw it: from the intended start (coordinated-omission corrected; equal to
# the service latency in the closed model), the same column harness.core.slo judges.
LATENCY = "co_latency_ms"


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    offered_rps: float | None = None  # the stage's rate (open model) when known
    users: int | None = None  # the stage's users (closed model) when known

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


@dataclass
class PhaseData:
    """Everything read from one phase directory, as tidy frames (times relative to run start)."""

    run: str
    name: str
    path: Path
    manifest: dict[str, Any]
    requests: pd.DataFrame  # t, latency_ms, co_latency_ms, endpoint, status, ok, worker
    resources: pd.DataFrame  # t, component, group, cpu_percent, rss_bytes
    windows: list[Window]
    window_source: str  # scenario | manifest | detected
    samples: Samples | None = None
    scenario: Scenario | None = None  # None when the scenario file could not be found
    locust_requests: int | None = None
    locust_failures: pd.DataFrame | None = None
    run_start: float = 0.0
    scenario_note: str = ""  # why the scenario could not be loaded

    @property
    def scenario_name(self) -> str:
        return str(self.manifest.get("scenario") or "?")

    @property
    def topology(self) -> dict[str, Any]:
        topo = self.manifest.get("topology")
        return topo if isinstance(topo, dict) else {}

    @property
    def replicas(self) -> int:
        return int(self.topology.get("replicas") or 1)

    @property
    def cache(self) -> bool:
        return bool(self.topology.get("cache"))

    @property
    def target_rate(self) -> float | None:
        value = self.manifest.get("target_rate")
        return float(value) if isinstance(value, int | float) and value > 0 else None

    def steady(self) -> pd.DataFrame:
        """Requests that started in a steady window: the very selection the verdict judges."""
        return started_in(self.requests, self.windows)


@dataclass
class StageSummary:
    index: int
    start_s: float
    end_s: float
    offered_rps: float | None
    users: int | None
    achieved_rps: float  # every request started in the window, per second
    requests: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    error_pct: float
    ok_rps: float = math.nan  # successful requests per second (goodput): what capacity uses


@dataclass
class EndpointSummary:
    endpoint: str
    count: int
    error_pct: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    rps: float


@dataclass
class PhaseSummary:
    run: str
    phase: str
    scenario: str
    replicas: int
    cache: bool
    lb: str
    balancer: str
    status: str
    target_rate: float | None
    window_start_s: float
    window_end_s: float
    window_s: float
    window_source: str
    requests: int
    successes: int
    failures: int
    achieved_rps: float  # every request (successes and failures) started in the window, per second
    ok_rps: float  # successful requests per second (goodput): the throughput capacity is sized on
    p50_ms: float
    p95_ms: float
    p99_ms: float
    service_p95_ms: float  # from the actual start (the service's own latency)
    error_pct: float
    cpu: dict[str, float]  # mean % of one core per group in the steady window
    service_cores: float
    rps_per_core: float
    cpu_ms_per_request: float  # service CPU per request (successes and failures)
    api_cpu_ms_per_request: float  # API CPU per SUCCESSFUL request: what replicas are sized on
    host_cores: float | None
    endpoints: list[EndpointSummary] = field(default_factory=list)
    stages: list[StageSummary] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    invalid_reasons: list[str] = field(default_factory=list)
    slo_status: SloStatus = "n/a"
    slo_checks: list[Check] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.invalid_reasons

    @property
    def key(self) -> str:
        return f"{self.run}/{self.phase}"

    @property
    def database_bound(self) -> bool:
        """The database near a full core while each API replica is less busy."""
        db, per_replica = self.cpu["db"], self.cpu["api"] / max(self.replicas, 1)
        return db >= DB_BOUND_CPU and per_replica < db

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["slo_checks"] = [{**c.to_dict(), "comparison": c.comparison} for c in self.slo_checks]
        data["valid"] = self.valid
        safe: dict[str, Any] = jsonable(data)
        return safe


# -- loading -----------------------------------------------------------------------------------


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInputError(f"{path}: missing")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadInputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"{path}: expected a JSON object")
    return dict(data)


def read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    if not path.is_file():
        raise BadInputError(f"{path}: missing")
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadInputError(f"{path}: not a readable CSV ({first})") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise BadInputError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame


def phase_dirs(run_dir: Path) -> list[Path]:
    """The phase directories of a run directory (or the directory itself if it is a phase)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise BadInputError(f"{run_dir}: not a directory")
    if (run_dir / MANIFEST).is_file():
        return [run_dir]
    run_json = run_dir / "run.json"
    names: list[str] = []
    if run_json.is_file():
        phases = read_json(run_json).get("phases")
        if isinstance(phases, list):
            names = [str(p) for p in phases if (run_dir / str(p)).is_dir()]
    if not names:
        names = sorted(p.parent.name for p in run_dir.glob(f"*/{MANIFEST}"))
    if not names:
        raise BadInputError(f"{run_dir}: no phases (no */{MANIFEST}); is this a run directory?")
    return [run_dir / n for n in names]


def load_scenario_for(manifest: dict[str, Any], path: Path) -> tuple[Scenario | None, str]:
    """The phase's scenario and, when it cannot be loaded, why not.

    The scenario refines the analysis (steady windows, stages, SLO) but a report can still be
    written from the samples alone, so a scenario that cannot be found is a warning, not bad input.
    The file named in the manifest comes first, then ``scenarios/<name>.toml``.
    """
    from harness.core.scenario import load_scenario

    candidates: list[str] = []
    scenario_file = manifest.get("scenario_file")
    if isinstance(scenario_file, str) and scenario_file:
        candidates.append(scenario_file)
    name = manifest.get("scenario")
    if isinstance(name, str) and name:
        candidates.append(name)
    problems = []
    for candidate in candidates:
        try:
            return load_scenario(candidate), ""
        except BadInputError as exc:
            problems.append(str(exc))
    return None, "; ".join(problems) or f"{path / MANIFEST}: names no scenario"


def load_phase(path: Path, run: str | None = None) -> PhaseData:
    path = Path(path)
    manifest = read_json(path / MANIFEST)
    # A phase that failed or was interrupted may have no samples or resources yet: it is kept,
    # empty, so the report and the gate can say it is INVALID; a complete one must have both.
    complete = str(manifest.get("status") or "complete") == "complete"
    try:
        samples = read_samples(path / "samples")
    except BadInputError:
        if complete:
            raise
        samples = Samples(np.empty(0, dtype=SAMPLE_DTYPE), [], {})
    run_start = _run_start(samples.meta, manifest, samples.records["ts"])
    records = samples.records
    requests = pd.DataFrame(
        {
            "t": records["ts"] - run_start,
            "intended_t": records["intended"] - run_start,
            "latency_ms": records["latency_ms"],
            "co_latency_ms": records["co_latency_ms"],
            "endpoint": samples.endpoint_names(),
            "status": records["status"].astype(np.int64),
            "ok": records["ok"].astype(bool),
            "worker": records["worker"].astype(np.int64),
        }
    )
    if complete or (path / RESOURCES).is_file():
        raw = read_csv(path / RESOURCES, RESOURCE_COLUMNS)
    else:
        raw = pd.DataFrame({c: pd.Series(dtype=float) for c in RESOURCE_COLUMNS})
    resources = _tidy_resources(raw, run_start, path)
    locust_requests, failures = _read_locust(path)
    scenario, scenario_note = load_scenario_for(manifest, path)
    windows, source = steady_windows(manifest, scenario, requests)
    return PhaseData(
        run=run or path.parent.name,
        name=str(manifest.get("phase") or path.name),
        path=path,
        manifest=manifest,
        requests=requests,
        resources=resources,
        windows=windows,
        window_source=source,
        samples=samples,
        scenario=scenario,
        locust_requests=locust_requests,
        locust_failures=failures,
        run_start=run_start,
        scenario_note=scenario_note,
    )


def load_run(run_dir: Path) -> list[PhaseData]:
    run_dir = Path(run_dir)
    dirs = phase_dirs(run_dir)
    run_name = run_dir.name if dirs != [run_dir] else run_dir.parent.name
    phases = [load_phase(d, run=run_name) for d in dirs]
    if all(len(p.requests) == 0 for p in phases):
        raise BadInputError(f"{run_dir}: the run holds no requests (empty samples)")
    return phases


def _run_start(meta: dict[str, Any], manifest: dict[str, Any], ts: np.ndarray) -> float:
    value = meta.get("run_start")
    if isinstance(value, int | float) and value > 0:
        return float(value)
    started = manifest.get("started")
    if isinstance(started, int | float) and started > 0:
        return float(started)
    if isinstance(started, str):
        try:
            return pd.Timestamp(started).timestamp()
        except ValueError:
            pass
    return float(ts.min()) if ts.size else 0.0


def _tidy_resources(frame: pd.DataFrame, run_start: float, path: Path) -> pd.DataFrame:
    try:
        tidy = pd.DataFrame(
            {
                "t": pd.to_numeric(frame["ts"]) - run_start,
                "component": frame["component"].astype(str),
                "cpu_percent": pd.to_numeric(frame["cpu_percent"]),
                "rss_bytes": pd.to_numeric(frame["rss_bytes"]),
                "host_cores": pd.to_numeric(frame["host_cores"]),
            }
        )
    except (ValueError, TypeError) as exc:
        raise BadInputError(f"{path / RESOURCES}: non-numeric values ({exc})") from exc
    tidy["group"] = tidy["component"].map(component_group)
    return tidy


def component_group(component: str) -> str:
    """``api-3`` → ``api``, ``generator-2`` → ``generator``; other names stay as they are."""
    for prefix in ("api", "generator"):
        if component == prefix or component.startswith(prefix + "-"):
            return prefix
    return component


def _read_locust(path: Path) -> tuple[int | None, pd.DataFrame | None]:
    total: int | None = None
    stats_path = path / LOCUST_STATS
    final_path = path / LOCUST_JSON
    if final_path.is_file():
        # Locust writes the JSON when it quits, after the requests in flight at the stop have
        # finished; the stats CSV may be written a moment earlier and miss those.
        try:
            entries = json.loads(final_path.read_text())
            total = int(sum(int(entry["num_requests"]) for entry in entries))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise BadInputError(f"{final_path}: not Locust's JSON stats ({exc})") from exc
    elif stats_path.is_file():
        stats = read_csv(stats_path, ("Name", "Request Count"))
        agg = stats[stats["Name"].astype(str) == "Aggregated"]
        if len(agg):
            total = int(agg["Request Count"].iloc[0])
    failures: pd.DataFrame | None = None
    failures_path = path / LOCUST_FAILURES
    if failures_path.is_file():
        failures = read_csv(failures_path, ("Name", "Error", "Occurrences"))
    return total, failures


# -- steady windows ------------------------------------------------------------------------------


def steady_windows(
    manifest: dict[str, Any], scenario: Scenario | None, requests: pd.DataFrame
) -> tuple[list[Window], str]:
    """Steady windows, from (in order) the manifest, the scenario, or the samples themselves."""
    explicit = manifest.get("steady_windows")
    if isinstance(explicit, list) and explicit:
        try:
            return [_window(w) for w in explicit], "manifest"
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise BadInputError(f"{MANIFEST}: steady_windows: {exc}") from exc
    if scenario is not None:
        raw = scenario.steady_windows()
        if raw:
            targets = scenario.window_targets()
            windows = []
            for (a, b), target in zip(raw, targets, strict=True):
                at = scenario.load.users_at(float(a)) if scenario.load.model == "closed" else None
                windows.append(Window(float(a), float(b), target, at[0] if at else None))
            return windows, "scenario"
    return detect_windows(requests), "detected"


def _window(item: Any) -> Window:
    if isinstance(item, dict):
        rate = item.get("offered_rps")
        return Window(
            float(item["start_s"]), float(item["end_s"]), float(rate) if rate is not None else None
        )
    start, end = item[0], item[1]
    return Window(float(start), float(end))


def detect_windows(requests: pd.DataFrame, *, min_len_s: float = 6.0) -> list[Window]:
    """Plateaus of the per-second request rate, trimmed of their edges.

    A new segment starts where the rate leaves the current segment's median by more than 15 %
    for three seconds in a row (a ramp or a step). Segments shorter than ``min_len_s`` after
    trimming two seconds at each end are ramps, not steady states.
    """
    if requests.empty:
        return []
    t0 = math.floor(float(requests["t"].min()))
    t1 = math.floor(float(requests["t"].max()))
    seconds = np.arange(t0, t1 + 1)
    counts = np.floor(requests["t"].to_numpy()).astype(np.int64).clip(t0, t1) - t0
    rate = np.bincount(counts, minlength=seconds.size).astype(float)
    rate = rate[:-1] if rate.size > 1 else rate  # the last second is partial
    segments: list[tuple[int, int]] = []
    start = 0
    out = 0
    for i in range(1, rate.size):
        level = float(np.median(rate[start:i]))
        if abs(rate[i] - level) > 0.15 * max(level, 1.0):
            out += 1
            if out >= 3:
                segments.append((start, i - 2))
                start, out = i - 2, 0
        else:
            out = 0
    segments.append((start, rate.size))
    peak = max(float(np.median(rate[a:b])) for a, b in segments if b > a)
    windows = []
    for a, b in segments:
        if b <= a:
            continue
        # Shed the ends that are still ramping (more than 10 % off the plateau), then 2 s more.
        level = float(np.median(rate[a:b]))
        near = np.flatnonzero(np.abs(rate[a:b] - level) <= 0.10 * max(level, 1.0))
        if near.size == 0:
            continue
        lo, hi = a + int(near[0]) + 2, a + int(near[-1]) + 1 - 2
        if hi - lo < min_len_s:
            continue
        level = float(np.median(rate[lo:hi]))
        if level < 0.05 * peak:  # idle tail or head
            continue
        windows.append(Window(float(seconds[lo]), float(seconds[hi])))
    if not windows and rate.size:
        # No plateau: use the middle half of the run, and say so through the warnings.
        span = float(seconds[-1] - seconds[0])
        windows = [Window(float(seconds[0]) + span / 4, float(seconds[0]) + 3 * span / 4)]
    return windows


def in_windows(frame: pd.DataFrame, windows: Iterable[Window], column: str = "t") -> pd.DataFrame:
    """Rows of a time series (resources) whose ``column`` falls in a window. Requests: use
    :func:`started_in`, which is the SLO's own selection."""
    mask = np.zeros(len(frame), dtype=bool)
    values = frame[column].to_numpy()
    for w in windows:
        mask |= (values >= w.start_s) & (values < w.end_s)
    return frame[mask]


def started_in(requests: pd.DataFrame, windows: Iterable[Window]) -> pd.DataFrame:
    """Requests that started (actual start) in one of the windows, by ``slo.window_mask``.

    The one definition of "in the steady window" shared with the verdict: an open-model backlog
    intended during the warm-up but sent in the window counts there, with its corrected latency.
    ``requests["t"]`` is ``ts - run_start`` already, so the mask is computed with run_start 0.
    """
    starts = np.zeros(len(requests), dtype=[("ts", "<f8")])
    starts["ts"] = requests["t"].to_numpy(dtype=np.float64)
    mask = slo.window_mask(starts, [(w.start_s, w.end_s) for w in windows], 0.0)
    return requests[mask]


# -- summaries ---------------------------------------------------------------------------------


def latency_percentiles(latency: pd.Series | np.ndarray) -> tuple[float, float, float]:
    """p50, p95, p99 by ``harness.core.samples.percentile`` (the verdict's definition)."""
    arr = np.asarray(latency, dtype=np.float64)
    return percentile(arr, 50), percentile(arr, 95), percentile(arr, 99)


def without_worker_share(wide: pd.DataFrame) -> pd.DataFrame:
    """CPU columns per component with the ``generator`` column reduced to the master's own share.

    The sampler counts a process's children in its own row (psutil), and the runner also samples
    Locust's worker processes as ``generator-N``: the ``generator`` row then already holds them.
    """
    workers = [c for c in wide.columns if str(c).startswith("generator-")]
    if "generator" not in wide.columns or not workers:
        return wide
    out = wide.copy()
    out["generator"] = (out["generator"] - out[workers].fillna(0).sum(axis=1)).clip(lower=0)
    return out


def component_cpu(resources: pd.DataFrame, windows: Sequence[Window]) -> dict[str, float]:
    """Mean CPU (% of one core) of each component in the windows, each process counted once
    (see :func:`without_worker_share`)."""
    inside = in_windows(resources, windows)
    means = inside.groupby("component")["cpu_percent"].mean()
    if means.empty:
        return {}
    row = without_worker_share(means.to_frame().T).iloc[0]
    return {str(k): float(v) for k, v in row.items()}


def cpu_by_group(resources: pd.DataFrame, windows: Sequence[Window]) -> dict[str, float]:
    """Mean CPU (% of one core) per group in the windows: components averaged, then summed."""
    means = component_cpu(resources, windows)
    if not means:
        return {g: math.nan for g in CPU_GROUPS}
    result = dict.fromkeys(CPU_GROUPS, 0.0)
    for component, value in means.items():
        group = component_group(component)
        result[group] = result.get(group, 0.0) + value
    return result


def endpoint_table(steady: pd.DataFrame, duration_s: float) -> list[EndpointSummary]:
    rows = []
    for endpoint, part in steady.groupby("endpoint", sort=True):
        ok = part[part["ok"]]
        p50, p95, p99 = latency_percentiles(ok[LATENCY])
        rows.append(
            EndpointSummary(
                endpoint=str(endpoint),
                count=len(part),
                error_pct=100.0 * float((~part["ok"]).mean()),
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                rps=len(part) / duration_s if duration_s > 0 else math.nan,
            )
        )
    return rows


def stage_table(phase: PhaseData) -> list[StageSummary]:
    rows = []
    for i, w in enumerate(phase.windows):
        part = started_in(phase.requests, [w])
        ok = part[part["ok"]]
        p50, p95, p99 = latency_percentiles(ok[LATENCY])
        rows.append(
            StageSummary(
                index=i,
                start_s=w.start_s,
                end_s=w.end_s,
                offered_rps=w.offered_rps,
                users=w.users,
                achieved_rps=len(part) / w.duration_s if w.duration_s > 0 else math.nan,
                requests=len(part),
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
                error_pct=100.0 * float((~part["ok"]).mean()) if len(part) else math.nan,
                ok_rps=len(ok) / w.duration_s if w.duration_s > 0 else math.nan,
            )
        )
    return rows


def summarise_phase(phase: PhaseData) -> PhaseSummary:
    steady = phase.steady()
    window_s = sum(w.duration_s for w in phase.windows)
    ok = steady[steady["ok"]]
    p50, p95, p99 = latency_percentiles(ok[LATENCY])
    # every number below comes from the requests harness.core.slo judges (actual start in a window)
    achieved = len(steady) / window_s if window_s > 0 else math.nan
    goodput = len(ok) / window_s if window_s > 0 else math.nan
    cpu = cpu_by_group(phase.resources, phase.windows)
    service_cores = sum(cpu[g] for g in SERVICE_GROUPS) / 100.0
    host = phase.resources["host_cores"].dropna()
    topology = phase.topology
    summary = PhaseSummary(
        run=phase.run,
        phase=phase.name,
        scenario=phase.scenario_name,
        replicas=phase.replicas,
        cache=phase.cache,
        lb=str(topology.get("lb") or "?"),
        balancer=str(topology.get("balancer") or "?"),
        status=str(phase.manifest.get("status") or "?"),
        target_rate=phase.target_rate,
        window_start_s=min((w.start_s for w in phase.windows), default=math.nan),
        window_end_s=max((w.end_s for w in phase.windows), default=math.nan),
        window_s=window_s,
        window_source=phase.window_source,
        requests=len(steady),
        successes=len(ok),
        failures=len(steady) - len(ok),
        achieved_rps=achieved,
        ok_rps=goodput,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        service_p95_ms=latency_percentiles(ok["latency_ms"])[1],
        error_pct=100.0 * (len(steady) - len(ok)) / len(steady) if len(steady) else math.nan,
        cpu=cpu,
        service_cores=service_cores,
        rps_per_core=achieved / service_cores if service_cores > 0 else math.nan,
        cpu_ms_per_request=1000.0 * service_cores / achieved if achieved > 0 else math.nan,
        api_cpu_ms_per_request=10.0 * cpu["api"] / goodput if goodput > 0 else math.nan,
        host_cores=float(host.iloc[0]) if len(host) else None,
        endpoints=endpoint_table(steady, window_s),
        stages=stage_table(phase),
    )
    summary.slo_status, summary.slo_checks, slo_invalid = evaluate_slo(phase)
    summary.invalid_reasons = validity_reasons(phase, summary, slo_invalid)
    if summary.invalid_reasons:
        summary.slo_status = "INVALID"
    summary.warnings = phase_warnings(phase, summary, steady)
    return summary


# -- validity and warnings -------------------------------------------------------------------


def validity_reasons(phase: PhaseData, s: PhaseSummary, slo_invalid: Sequence[str]) -> list[str]:
    """Why the phase cannot be trusted: incomplete, generator-bound, too few samples."""
    reasons = []
    if s.status not in ("complete", "?"):
        reasons.append(f"the phase did not complete (status: {s.status})")
    if phase.scenario is not None:
        return reasons + list(slo_invalid)
    # Without the scenario harness.core.slo cannot judge: the same rules, from the manifest.
    busiest = max(generator_cpu(phase).items(), key=lambda kv: kv[1], default=None)
    if busiest and busiest[1] > slo.CPU_LIMIT_PERCENT:
        reasons.append(
            f"the load generator was the limit: {busiest[0]} averaged {busiest[1]:.0f} % of a "
            f"core (limit {slo.CPU_LIMIT_PERCENT:.0f} %)"
        )
    single = len(s.stages) <= 1  # a stepped run's target is its last step, not its mean
    if single and s.target_rate and s.achieved_rps < slo.RATE_TOLERANCE * s.target_rate:
        reasons.append(
            f"achieved {s.achieved_rps:.0f} req/s, below {slo.RATE_TOLERANCE:.0%} of the target "
            f"{s.target_rate:.0f} req/s"
        )
    if s.requests < slo.MIN_SAMPLES:
        reasons.append(
            f"too few samples: {s.requests} requests in the steady window (need {slo.MIN_SAMPLES})"
        )
    return reasons


def generator_cpu(phase: PhaseData) -> dict[str, float]:
    """Mean CPU (% of one core) of each generator process in the steady windows."""
    means = component_cpu(phase.resources, phase.windows)
    return {k: v for k, v in means.items() if component_group(k) == "generator"}


def evaluate_slo(phase: PhaseData) -> tuple[SloStatus, list[Check], list[str]]:
    """(status, checks, reasons the run is invalid) from ``slo.evaluate`` on the exact samples."""
    if phase.scenario is None or phase.samples is None:
        return "n/a", [], []
    verdict = slo.evaluate(
        phase.samples, phase.scenario, generator_cpu(phase) or None, run_start=phase.run_start
    )
    return verdict.status, verdict.checks, (verdict.reasons if verdict.status == "INVALID" else [])


def slo_thresholds(scenario: Scenario | None) -> dict[str, float]:
    """The scenario's aggregate SLO thresholds that are set (p95_ms, error_rate, ...)."""
    if scenario is None:
        return {}
    names = ("p50_ms", "p95_ms", "p99_ms", "error_rate", "min_rate")
    return {n: float(v) for n in names if (v := getattr(scenario.slo, n)) is not None}


def phase_warnings(phase: PhaseData, s: PhaseSummary, steady: pd.DataFrame) -> list[str]:
    warnings = []
    if phase.scenario is None:
        warnings.append(f"no SLO verdict: the scenario could not be loaded ({phase.scenario_note})")
    if phase.window_source == "detected":
        warnings.append(
            "the steady window was detected from the request rate (the scenario's stages were "
            "not available)"
        )
    # Said once: what already makes the phase INVALID is not repeated as a warning.
    invalid = " ".join(s.invalid_reasons)
    busiest = max(generator_cpu(phase).items(), key=lambda kv: kv[1], default=None)
    if busiest and busiest[1] > slo.CPU_LIMIT_PERCENT and "of a core" not in invalid:
        warnings.append(
            f"generator-bound: the load generator process {busiest[0]} used {busiest[1]:.0f} % "
            "of a core"
        )
    offered = [(st, st.offered_rps) for st in s.stages if st.offered_rps]
    if not offered and s.target_rate and len(s.stages) <= 1:
        offered = [(st, s.target_rate) for st in s.stages]
    for st, rate in offered:
        if st.achieved_rps < slo.RATE_TOLERANCE * rate and "achieved" not in invalid:
            warnings.append(
                f"generator- or service-bound: achieved {st.achieved_rps:.0f} req/s in "
                f"{st.start_s:.0f}-{st.end_s:.0f} s, below {slo.RATE_TOLERANCE:.0%} of the "
                f"{rate:.0f} req/s offered"
            )
    if s.successes < WARN_SAMPLES:
        warnings.append(
            f"too few samples: {s.successes} successful requests in the steady window; p99 and "
            f"per-endpoint percentiles rest on few requests (want {WARN_SAMPLES}+)"
        )
    trend = _trend(phase)
    if trend:
        warnings.append(trend)
    if s.balancer == "shared-socket":
        warnings.append(
            "the balancer fell back to a shared listening socket (nginx was not found): the "
            "kernel, not least_conn, spread the load"
        )
    if s.failures:
        cause = _dominant_cause(phase, steady[~steady["ok"]], s.failures)
        if cause:
            warnings.append(cause)
    db, api = s.cpu["db"], s.cpu["api"]
    if s.database_bound:
        cache = (
            "the cache is on but did not take enough reads off it"
            if s.cache
            else "without the cache"
        )
        warnings.append(
            f"database-bound ({cache}): the database used {db:.0f} % of a core while each API "
            f"replica used {api / max(s.replicas, 1):.0f} % on average; more replicas will not "
            "help until the database is faster" + ("" if s.cache else " or the cache is on")
        )
    if phase.locust_requests is not None and len(phase.requests):
        # A few requests finish after Locust's last stats flush; a real gap means lost samples.
        gap = abs(phase.locust_requests - len(phase.requests))
        if gap > max(10, 0.02 * phase.locust_requests):
            warnings.append(
                f"Locust counted {phase.locust_requests} requests but {len(phase.requests)} exact "
                "samples were recorded"
            )
    return warnings


def _dominant_cause(phase: PhaseData, failed: pd.DataFrame, total: int) -> str:
    """One plain sentence when one status or one endpoint holds most of the failures."""
    parts = []
    for column in ("status", "endpoint"):
        counts = failed[column].value_counts()
        if len(counts) and counts.iloc[0] / total > DOMINANT_CAUSE_SHARE:
            value = counts.index[0]
            if column == "status":
                shown = (
                    "no response (connection error or timeout)"
                    if int(value) == 0
                    else f"status {value}"
                )
            else:
                shown = f"on {value}"
            parts.append(f"{counts.iloc[0] / total:.0%} {shown}")
    if not parts:
        return ""
    text = f"errors are dominated by one cause: of {total} failures, " + ", ".join(parts)
    lf = phase.locust_failures
    if lf is not None and len(lf):
        top = lf.sort_values("Occurrences", ascending=False).iloc[0]
        text += f" (Locust's most common failure: {top['Error']} on {top['Name']})"
    return text


def _trend(phase: PhaseData) -> str:
    """A plain-word warning when the longest window is too short or still trending."""
    if not phase.windows:
        return "no steady window: the run never reached a steady request rate"
    w = max(phase.windows, key=lambda w: w.duration_s)
    if w.duration_s < MIN_WINDOW_S:
        return f"steady state not reached: the steady window is only {w.duration_s:.0f} s"
    mid = (w.start_s + w.end_s) / 2
    first = started_in(phase.requests, [Window(w.start_s, mid)])
    second = started_in(phase.requests, [Window(mid, w.end_s)])
    if len(first) < 50 or len(second) < 50:
        return ""
    r1, r2 = len(first), len(second)
    p1 = latency_percentiles(first[first["ok"]][LATENCY])[1]
    p2 = latency_percentiles(second[second["ok"]][LATENCY])[1]
    parts = []
    if abs(r2 - r1) / r1 > TREND_RATE_SHARE:
        parts.append(f"throughput moved {100 * (r2 - r1) / r1:+.0f} %")
    if p1 > 0 and abs(p2 - p1) / p1 > TREND_P95_SHARE and abs(p2 - p1) > 2.0:
        parts.append(f"p95 moved {100 * (p2 - p1) / p1:+.0f} % ({p1:.0f} → {p2:.0f} ms)")
    if not parts:
        return ""
    return (
        "steady state not reached: from the first to the second half of the steady window "
        + " and ".join(parts)
    )


# -- time series (for plots and gates) --------------------------------------------------------


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
