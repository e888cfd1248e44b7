"""Where the API's time goes, per endpoint: the change of the API's own counters over a phase's
steady windows (``endpoint_costs.json``, written by the runner), per request; and the API CPU
those counters do not attribute to any request.

The API counts the CPU of each request's own task (handler, dependencies, serialisation, driver
code), the MongoDB and Redis round trips sent for it and its cache answers, per route template.
What the API processes spent besides (the event loop, HTTP parsing, work handed to threads: the
log writer, bcrypt) is their CPU in ``resources.csv`` over the same stretch minus that sum.

Routes are the API's templates (``/api/tasks/{task_id}``); the load generator's names
(``GET /api/tasks/{id}``, ``GET /api/tasks?q={q}``) are matched to them by method and path, with
placeholders alike and the query left out. Several names can share one route (the list route
serves the first page, the cursor page and the search): the API cannot tell them apart, so their
costs are one row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analysis.load import PhaseData, read_json
from harness.analysis.windows import Window, in_windows
from harness.core.layout import COSTS_FILE
from harness.errors import BadInputError

_PLACEHOLDER = re.compile(r"\{[^}]*\}")
_COUNTERS = (
    "requests",
    "app_cpu_s",
    "db_roundtrips",
    "redis_roundtrips",
    "cache_hit",
    "cache_miss",
    "cache_bypass",
)


@dataclass(frozen=True)
class EndpointCost:
    method: str
    route: str
    names: tuple[str, ...]  # the load generator's endpoints that hit this route
    requests: int
    cpu_s: float  # the requests' own CPU, in all
    db_roundtrips: float
    redis_roundtrips: float
    cache_hit: float
    cache_miss: float
    cache_bypass: float

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000.0 * self.cpu_s / self.requests if self.requests else math.nan

    @property
    def db_per_request(self) -> float:
        return self.db_roundtrips / self.requests if self.requests else math.nan

    @property
    def redis_per_request(self) -> float:
        return self.redis_roundtrips / self.requests if self.requests else math.nan

    @property
    def lookups(self) -> float:
        return self.cache_hit + self.cache_miss + self.cache_bypass

    @property
    def cache_hit_ratio(self) -> float | None:
        """Hits per look-up (a bypass is a look-up the cache did not answer); None: no cache."""
        return self.cache_hit / self.lookups if self.lookups else None


@dataclass(frozen=True)
class CostTable:
    """One phase's costs per route, over its steady windows."""

    run: str
    phase: str
    source: str  # direct | balancer: how the replicas' /metrics were reached
    replicas: tuple[str, ...]  # the replicas the counters cover
    complete: bool  # every replica of the phase is covered
    missing: tuple[str, ...]
    window_s: float
    rows: list[EndpointCost]  # most CPU first
    total: EndpointCost  # every route together
    api_cpu_s: float | None  # the covered replicas' process CPU over the same stretch

    @property
    def key(self) -> str:
        return f"{self.run}/{self.phase}"

    @property
    def unattributed_cpu_s(self) -> float | None:
        return None if self.api_cpu_s is None else self.api_cpu_s - self.total.cpu_s

    def share(self, cpu_s: float) -> float:
        """Share of the API processes' CPU (of the attributed CPU when that is not known)."""
        whole = self.api_cpu_s if self.api_cpu_s is not None else self.total.cpu_s
        return cpu_s / whole if whole > 0 else math.nan


def route_key(endpoint: str) -> tuple[str, str]:
    """``GET /api/tasks?q={q}`` → ``("GET", "/api/tasks")``; ``{id}`` and ``{task_id}`` alike."""
    method, _, path = endpoint.partition(" ")
    return method.upper(), _PLACEHOLDER.sub("{}", path.split("?", 1)[0])


def cost_table(phase: PhaseData) -> CostTable | None:
    """The phase's costs, or None when the phase has no ``endpoint_costs.json``."""
    path = phase.path / COSTS_FILE
    if not path.is_file():
        return None
    doc = read_json(path)
    try:
        windows = [
            Window(float(w["start_ts"]) - phase.run_start, float(w["end_ts"]) - phase.run_start)
            for w in doc["windows"]
        ]
        replicas = tuple(str(name) for name in doc["replicas"])
        routes = [_route(row) for row in doc["total"]]
        complete, missing = bool(doc["complete"]), tuple(str(m) for m in doc.get("missing", ()))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{path}: not an endpoint costs file ({exc!r})") from exc
    names = sorted({str(e) for e in phase.requests["endpoint"].unique()})
    rows = [_cost(method, route, counts, names) for method, route, counts in routes]
    rows = [r for r in rows if r.requests or r.cpu_s]  # routes only hit outside the windows
    return CostTable(
        run=phase.run,
        phase=phase.name,
        source=str(doc.get("source") or "?"),
        replicas=replicas,
        complete=complete,
        missing=missing,
        window_s=sum(w.duration_s for w in windows),
        rows=sorted(rows, key=lambda r: (-r.cpu_s, r.route, r.method)),
        total=_cost("", "all routes", _sum(r for _, _, r in routes), []),
        api_cpu_s=_api_cpu_s(phase, windows, replicas, complete),
    )


def _route(row: Any) -> tuple[str, str, dict[str, float]]:
    counts = {name: float(row.get(name, 0.0)) for name in _COUNTERS}
    return str(row["method"]), str(row["route"]), counts


def _sum(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    total = dict.fromkeys(_COUNTERS, 0.0)
    for part in parts:
        for name in _COUNTERS:
            total[name] += part[name]
    return total


def _cost(method: str, route: str, counts: dict[str, float], names: Sequence[str]) -> EndpointCost:
    key = route_key(f"{method} {route}")
    return EndpointCost(
        method=method,
        route=route,
        names=tuple(n for n in names if route_key(n) == key),
        requests=round(counts["requests"]),
        cpu_s=counts["app_cpu_s"],
        db_roundtrips=counts["db_roundtrips"],
        redis_roundtrips=counts["redis_roundtrips"],
        cache_hit=counts["cache_hit"],
        cache_miss=counts["cache_miss"],
        cache_bypass=counts["cache_bypass"],
    )


def _api_cpu_s(
    phase: PhaseData, windows: Sequence[Window], replicas: Sequence[str], complete: bool
) -> float | None:
    """CPU seconds of the covered API processes over the windows, from ``resources.csv``: the
    replicas by name when the samples know them, every API process when all are covered."""
    api = phase.resources[phase.resources["group"] == "api"]
    known = set(api["component"])
    if replicas and set(replicas) <= known:
        api = api[api["component"].isin(list(replicas))]
    elif not complete or not known:
        return None
    components = set(api["component"])
    total = 0.0
    for window in windows:
        means = in_windows(api, [window]).groupby("component")["cpu_percent"].mean()
        if set(means.index) != components:  # a process without samples there: unknown
            return None
        total += float(means.sum()) / 100.0 * window.duration_s
    return total
