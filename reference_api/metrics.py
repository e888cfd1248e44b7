"""Prometheus metrics of one app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

if TYPE_CHECKING:
    from reference_api.costs import RequestCosts
    from reference_api.drain import Drain

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
)


class Metrics:
    def __init__(self) -> None:
        # The *_created series only double the scrape for no use here (a process-wide switch).
        disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus-client
        self.registry = CollectorRegistry(auto_describe=True)
        # process_cpu_seconds_total, process_resident_memory_bytes, open fds: what a load run
        # against this service from outside (capacity run --target) reads its CPU and memory by.
        ProcessCollector(registry=self.registry)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer, by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache = Counter(
            "cache_requests_total",
            "Cache look-ups by result (hit, miss, bypass, error)",
            ["result"],
            registry=self.registry,
        )
        self.cache_errors = Counter(
            "cache_errors_total",
            "Redis faults met by the cache (served from MongoDB instead)",
            ["operation"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "rate_limit_rejections_total",
            "Requests refused with 429",
            ["scope"],
            registry=self.registry,
        )
        self.rate_limit_errors = Counter(
            "rate_limit_errors_total",
            "Rate-limit checks skipped because Redis failed (fail-open)",
            registry=self.registry,
        )
        # What each route costs (reference_api/costs.py), labelled like http_requests_total.
        self.app_cpu = Counter(
            "app_cpu_seconds_total",
            "CPU of the requests' own tasks (handler, dependencies, serialisation, drivers)",
            ["method", "route"],
            registry=self.registry,
        )
        self.db_roundtrips = Counter(
            "db_roundtrips_total",
            "MongoDB commands sent on behalf of requests",
            ["method", "route"],
            registry=self.registry,
        )
        self.redis_roundtrips = Counter(
            "redis_roundtrips_total",
            "Redis commands, scripts or pipelines sent on behalf of requests",
            ["method", "route"],
            registry=self.registry,
        )
        self.cache_lookups = Counter(
            "cache_lookups_total",
            "Cache look-ups of requests by route and X-Cache answer (hit, miss, bypass)",
            ["method", "route", "result"],
            registry=self.registry,
        )
        self.db_breaker = DatabaseMeters(self.registry)
        self.serving = ServingMeters(self.registry)
        self._routes: dict[tuple[str, str], RouteMeters] = {}

    def route(self, method: str, route: str) -> RouteMeters:
        """The children of one (method, route template), made once: ``labels()`` is not free."""
        meters = self._routes.get((method, route))
        if meters is None:
            meters = self._routes[(method, route)] = RouteMeters(self, method, route)
        return meters

    def render(self) -> bytes:
        return generate_latest(self.registry)


class DatabaseMeters:
    """The database guard's (reference_api/repository/_mongo.py): its circuit breaker and its
    outages."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.state = Gauge(
            "db_breaker_state",
            "The database circuit breaker: 1 for the state it is in (closed, open, half-open)",
            ["state"],
            registry=registry,
        )
        self.opened = Counter(
            "db_breaker_opened_total",
            "Times the database circuit opened (from closed)",
            registry=registry,
        )
        self.rejections = Counter(
            "db_breaker_rejections_total",
            "Database work refused at once with 503 while the circuit was open (nothing sent)",
            registry=registry,
        )
        self.outages = Counter(
            "db_unavailable_total",
            "Database work that ran out of its deadline or lost its connection (503)",
            registry=registry,
        )

    def watch(self, state: Callable[[], str], states: tuple[str, ...]) -> None:
        """``db_breaker_state`` reads the breaker at scrape time (open turns half-open by time
        alone, with nothing to update a gauge)."""
        for name in states:
            self.state.labels(name).set_function(_is_state(state, name))


class ServingMeters:
    """Requests in flight and the drain (reference_api/drain.py), read at scrape time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_flight = Gauge(
            "http_requests_in_flight", "Requests being served now", registry=registry
        )
        self.draining = Gauge(
            "draining",
            "1 once SIGTERM arrived: readiness 503, Connection: close",
            registry=registry,
        )

    def watch(self, drain: Drain) -> None:
        self.in_flight.set_function(lambda: drain.in_flight)
        self.draining.set_function(lambda: float(drain.draining))


def _is_state(state: Callable[[], str], name: str) -> Callable[[], float]:
    return lambda: float(state() == name)


class RouteMeters:
    """Every per-route child of one (method, route template). Methods are bounded (httptools
    parses only the standard ones) and routes are templates, so this stays small."""

    __slots__ = ("_by_status", "_lookups", "_metrics", "cpu", "db", "labels", "latency", "redis")

    def __init__(self, metrics: Metrics, method: str, route: str) -> None:
        self._metrics = metrics
        self.labels = (method, route)
        self.latency = metrics.latency.labels(method, route)
        self.cpu = metrics.app_cpu.labels(method, route)
        self.db = metrics.db_roundtrips.labels(method, route)
        self.redis = metrics.redis_roundtrips.labels(method, route)
        self._by_status: dict[int, Counter] = {}
        self._lookups: dict[str, Counter] = {}  # made on first use: only cached routes have any

    def record(self, status: int, elapsed: float, costs: RequestCosts) -> None:
        """One finished request: its status, time to answer and what it cost."""
        requests = self._by_status.get(status)
        if requests is None:
            requests = self._by_status[status] = self._metrics.requests.labels(
                *self.labels, str(status)
            )
        requests.inc()
        self.latency.observe(elapsed)
        self.cpu.inc(costs.cpu)
        if costs.db:
            self.db.inc(costs.db)
        if costs.redis:
            self.redis.inc(costs.redis)
        if costs.hit:
            self._lookup("hit").inc(costs.hit)
        if costs.miss:
            self._lookup("miss").inc(costs.miss)
        if costs.bypass:
            self._lookup("bypass").inc(costs.bypass)

    def _lookup(self, result: str) -> Counter:
        child = self._lookups.get(result)
        if child is None:
            child = self._lookups[result] = self._metrics.cache_lookups.labels(*self.labels, result)
        return child
