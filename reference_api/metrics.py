"""Prometheus metrics of one app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

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

    def render(self) -> bytes:
        return generate_latest(self.registry)
