"""Load a run directory into tidy DataFrames (:class:`PhaseData`), one per phase.

Percentiles are always recomputed later from the exact samples (``harness.core.samples``), never
taken from Locust's rounded CSV columns; Locust's CSVs only cross-check the request count and name
failures.

Memory: the samples are held once, as the columns of ``PhaseData.requests`` in compact dtypes (the
start time and both latencies in one float64 block, the endpoint a categorical, status
``uint16``, ok ``bool``, worker ``uint8``, and ``late``, a ``bool`` for the intended start: 30
bytes a request, no Python object per request), in start-time order, filled from the files a
chunk at a time (:class:`~harness.core.samples.SortedReader`). ``PhaseData.samples`` shares those
columns (:class:`~harness.core.samples.SampleColumns`, times from the run start) for
``harness.core.slo`` and ``harness.core.stability``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.analysis.cpu import component_group
from harness.analysis.steady import SteadyState, assess, validated
from harness.analysis.windows import Window, started_in, steady_windows
from harness.core import slo
from harness.core.layout import MANIFEST, RESOURCES
from harness.core.samples import (
    SAMPLE_DTYPE,
    SampleColumns,
    Samples,
    SortedReader,
    percentile,
)
from harness.errors import BadInputError

if TYPE_CHECKING:
    from harness.core.scenario import Scenario

LOCUST_STATS = "locust_stats.csv"
LOCUST_JSON = "locust.json"
LOCUST_FAILURES = "locust_failures.csv"
RESOURCE_COLUMNS = ("ts", "component", "pid", "cpu_percent", "rss_bytes", "host_cores")
# Latency as the user saw it: from the intended start (coordinated-omission corrected; equal to
# the service latency in the closed model), the same column harness.core.slo judges.
LATENCY = "co_latency_ms"


@dataclass
class PhaseData:
    """Everything read from one phase directory, as tidy frames (times relative to run start)."""

    run: str
    name: str
    path: Path
    manifest: dict[str, Any]
    # t, latency_ms, co_latency_ms, endpoint, status, ok, worker, late; ordered by t
    requests: pd.DataFrame
    resources: pd.DataFrame  # t, component, group, cpu_percent, rss_bytes
    windows: list[Window]
    window_source: str  # scenario | manifest | detected
    # The same columns as records for harness.core.slo: times from the run start (judge with
    # run_start=0), endpoint codes into samples.endpoints (the sorted names).
    samples: Samples | None = None
    scenario: Scenario | None = None  # None when the scenario file could not be found
    locust_requests: int | None = None
    locust_failures: pd.DataFrame | None = None
    run_start: float = 0.0
    scenario_note: str = ""  # why the scenario could not be loaded
    # the windows before MSER-5 moved their starts (the stability checks judge these: a cut
    # never hides a stall), and what MSER-5 found in each
    declared_windows: list[Window] = field(default_factory=list)
    steady_states: list[SteadyState] = field(default_factory=list)

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
        reader: SortedReader | None = SortedReader(path / "samples")
    except BadInputError:
        if complete:
            raise
        reader = None
    meta = reader.meta if reader is not None else {}
    run_start = _run_start(meta, manifest, reader.first_ts if reader is not None else None)
    requests = _requests(reader, list(meta.get("endpoints", [])), run_start)
    del reader
    samples = _samples_view(requests, meta)
    if complete or (path / RESOURCES).is_file():
        raw = read_csv(path / RESOURCES, RESOURCE_COLUMNS)
    else:
        raw = pd.DataFrame({c: pd.Series(dtype=float) for c in RESOURCE_COLUMNS})
    resources = _tidy_resources(raw, run_start, path)
    locust_requests, failures = _read_locust(path)
    scenario, scenario_note = load_scenario_for(manifest, path)
    declared, source = steady_windows(manifest, scenario, requests)
    replicas = int((manifest.get("topology") or {}).get("replicas") or 1)
    excluded = scenario.fault_spans(replicas) if scenario is not None else []
    states = assess(requests, declared, excluded)
    return PhaseData(
        run=run or path.parent.name,
        name=str(manifest.get("phase") or path.name),
        path=path,
        manifest=manifest,
        requests=requests,
        resources=resources,
        windows=validated(declared, states),
        window_source=source,
        samples=samples,
        scenario=scenario,
        locust_requests=locust_requests,
        locust_failures=failures,
        run_start=run_start,
        scenario_note=scenario_note,
        declared_windows=declared,
        steady_states=states,
    )


def load_run(run_dir: Path) -> list[PhaseData]:
    run_dir = Path(run_dir)
    dirs = phase_dirs(run_dir)
    run_name = run_dir.name if dirs != [run_dir] else run_dir.parent.name
    phases = [load_phase(d, run=run_name) for d in dirs]
    if all(len(p.requests) == 0 for p in phases):
        raise BadInputError(f"{run_dir}: the run holds no requests (empty samples)")
    return phases


FLOAT_COLUMNS = ("t", "latency_ms", "co_latency_ms")


def _requests(reader: SortedReader | None, endpoints: list[str], run_start: float) -> pd.DataFrame:
    """The tidy requests frame, in start-time order, filled chunk by chunk straight into its
    columns (the files are never held whole). The intended start is kept only as ``late``:
    whether the request started more than ``slo.LATE_THRESHOLD_MS`` after it."""
    n = reader.count if reader is not None else 0
    table = [*endpoints, "?"]
    present = reader.endpoint_codes if reader is not None else []
    names = sorted({table[min(int(i), len(endpoints))] for i in present})
    position = {name: code for code, name in enumerate(names)}
    code_type = np.int8 if len(names) < 127 else np.int16
    lookup = np.asarray([position.get(name, -1) for name in table], dtype=code_type)
    floats = np.empty((len(FLOAT_COLUMNS), n), dtype=np.float64)
    codes: npt.NDArray[np.integer[Any]] = np.empty(n, dtype=code_type)
    status = np.empty(n, dtype=SAMPLE_DTYPE["status"])
    ok = np.empty(n, dtype=bool)
    worker = np.empty(n, dtype=SAMPLE_DTYPE["worker"])
    late = np.empty(n, dtype=bool)
    for chunk, rows in reader.chunks() if reader is not None else ():
        t = chunk["ts"] - run_start
        floats[0, rows] = t
        floats[1, rows] = chunk["latency_ms"]
        floats[2, rows] = chunk["co_latency_ms"]
        late[rows] = (t - (chunk["intended"] - run_start)) * 1000.0 > slo.LATE_THRESHOLD_MS
        codes[rows] = lookup[np.minimum(chunk["endpoint"], len(endpoints))]
        status[rows] = chunk["status"]
        ok[rows] = chunk["ok"].astype(bool)
        worker[rows] = chunk["worker"]
    frame = pd.DataFrame(floats.T, columns=list(FLOAT_COLUMNS), copy=False)
    frame["endpoint"] = pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=str))
    frame["status"] = status
    frame["ok"] = ok
    frame["worker"] = worker
    frame["late"] = late
    return frame


def _samples_view(requests: pd.DataFrame, meta: dict[str, Any]) -> Samples:
    """The requests' columns as ``harness.core.slo`` reads records (no copy of the times)."""
    endpoint = requests["endpoint"].cat
    columns = SampleColumns(
        {
            "ts": requests["t"].to_numpy(),
            "latency_ms": requests["latency_ms"].to_numpy(),
            "co_latency_ms": requests["co_latency_ms"].to_numpy(),
            "endpoint": endpoint.codes.to_numpy(),
            "status": requests["status"].to_numpy(),
            "ok": requests["ok"].to_numpy(),
            "worker": requests["worker"].to_numpy(),
            "late": requests["late"].to_numpy(),
        }
    )
    return Samples(columns, [str(c) for c in endpoint.categories], meta)


def _run_start(meta: dict[str, Any], manifest: dict[str, Any], first: float | None) -> float:
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
    return first if first is not None else 0.0


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


def latency_percentiles(
    latency: pd.Series | np.ndarray, *, scratch: bool = False
) -> tuple[float, float, float]:
    """p50, p95, p99 by ``harness.core.samples.percentile`` (the verdict's definition).
    ``scratch``: ``latency`` is the caller's own copy, which may be reordered in place."""
    arr = np.asarray(latency, dtype=np.float64)
    return (
        percentile(arr, 50, scratch=scratch),
        percentile(arr, 95, scratch=scratch),
        percentile(arr, 99, scratch=scratch),
    )
