"""A service already running somewhere (``capacity run --target URL``): probed, never managed.

The runner loads an :class:`ExternalTarget` as it loads a stack it started, but starts and stops
nothing: it has no components, no pids and no faults. Before any load, :func:`probe_target` asks
``/health`` (our API answers ``{"status": "ok"}`` as JSON) and ``/metrics``: an unreachable or
wrong target is one line and exit code 2. Over https, certificates are verified against the
system's CAs, or ``--ca-file``; ``--insecure`` switches verification off, and the manifest says
which.

The resource figures of a target come from its Prometheus ``/metrics`` when it exposes the
standard process series (``process_cpu_seconds_total``, ``process_resident_memory_bytes``): one
scrape a second, each turned into a ``resources.csv`` row of the replica that answered (its
``X-Replica`` header). Behind a balancer one replica answers each scrape, so each replica's CPU
is the mean over the seconds it happened to answer, and a replica that never answers has none.
What cannot be seen from here (the database, Redis, the balancer, and the API itself without the
process series) is named in the manifest's ``target.unknown``; the generator runs here and is
measured here, so the generator-bound check holds either way.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from harness.errors import BadInputError
from harness.run.scrape import Answer
from harness.stack.config import ComponentStatus
from harness.stack.resources import ResourceSampler, Row

PROBE_TIMEOUT_S = 5.0
SCRAPE_TIMEOUT_S = 2.0
CPU_SERIES = "process_cpu_seconds_total"
MEMORY_SERIES = "process_resident_memory_bytes"
EXTERNAL = "external"  # the manifest's balancer: whatever the target runs, unseen from here


@dataclass(frozen=True)
class Tls:
    """How https answers are verified: the system's CAs, a CA file, or not at all."""

    insecure: bool = False
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        if self.insecure and self.ca_file is not None:
            raise BadInputError("--insecure and --ca-file: pick one")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise BadInputError(f"--ca-file {self.ca_file}: no such file")

    def context(self) -> ssl.SSLContext:
        if self.insecure:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        try:
            return ssl.create_default_context(
                cafile=str(self.ca_file) if self.ca_file is not None else None
            )
        except (ssl.SSLError, OSError) as exc:
            raise BadInputError(f"--ca-file {self.ca_file}: not a PEM certificate ({exc})") from exc

    def describe(self, url: str) -> str:
        if urlsplit(url).scheme != "https":
            return "plain http"
        if self.insecure:
            return "https, certificate NOT verified (--insecure)"
        if self.ca_file is not None:
            return f"https, verified against {self.ca_file}"
        return "https, verified against the system's CAs"


class Client:
    """``GET``/``POST`` on the target with its TLS settings, no proxy, a new connection each."""

    def __init__(self, base: str, tls: Tls | None = None, timeout: float = PROBE_TIMEOUT_S):
        self.base = base.rstrip("/")
        self.tls = tls or Tls()
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
        if urlsplit(self.base).scheme == "https":
            handlers.append(urllib.request.HTTPSHandler(context=self.tls.context()))
        self._opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); an HTTP error status is an answer too. Raises OSError."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.base + path, data, headers, method=method)  # noqa: S310 - http(s) only, checked in probe_target
        try:
            with self._opener.open(req, timeout=timeout or self.timeout) as response:
                return int(response.status), dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as exc:
            return int(exc.code), dict(exc.headers.items()), exc.read()

    def fetch(self, url: str) -> Answer | None:
        """``scrape.Fetch`` for the cost scraper: ``/metrics`` through these TLS settings."""
        try:
            status, headers, body = self.request("GET", url.removeprefix(self.base))
        except (OSError, ValueError):
            return None
        if status != 200:
            return None
        return Answer(_header(headers, "X-Replica"), body.decode("utf-8", "replace"))


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), "")


@dataclass(frozen=True)
class Probe:
    """What the target showed before the load: its health answer and what ``/metrics`` has."""

    url: str
    health: dict[str, Any]
    metrics: bool  # /metrics answered 200
    process_series: bool  # ... with process CPU and memory
    replica: str  # X-Replica of the /health answer ("" when the target sends none)


def probe_target(client: Client) -> Probe:
    """Is ``client.base`` our API, up? One line of :class:`BadInputError` when it is not."""
    url = client.base
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInputError(f"--target {url!r}: expected http(s)://HOST[:PORT]")
    try:
        status, headers, body = client.request("GET", "/health")
    except ssl.SSLError as exc:
        raise BadInputError(
            f"--target {url}: TLS failed ({exc.reason or exc}); pass --ca-file PEM "
            "(or --insecure to skip verification)"
        ) from exc
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, ssl.SSLError):
            raise BadInputError(
                f"--target {url}: TLS failed ({reason.reason or reason}); pass --ca-file PEM "
                "(or --insecure to skip verification)"
            ) from exc
        raise BadInputError(f"--target {url}: unreachable ({reason})") from exc
    try:
        health = json.loads(body)
    except ValueError:
        health = None
    if status != 200 or not isinstance(health, dict) or health.get("status") != "ok":
        seen = body[:60].decode("utf-8", "replace").replace("\n", " ")
        raise BadInputError(
            f"--target {url}: not the Primo task API (GET /health answered {status} "
            f'{seen!r}, expected 200 {{"status": "ok"}})'
        )
    answer = client.fetch(f"{url}/metrics")
    names = _series(answer.text) if answer is not None else set()
    return Probe(
        url=url,
        health=health,
        metrics=answer is not None,
        process_series={CPU_SERIES, MEMORY_SERIES} <= names,
        replica=_header(headers, "X-Replica"),
    )


def _series(text: str) -> set[str]:
    try:
        return {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    except ValueError:
        return set()


def process_figures(text: str) -> tuple[float, float] | None:
    """(CPU seconds, resident bytes) from a Prometheus exposition; None without both."""
    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in (CPU_SERIES, MEMORY_SERIES):
                    found[sample.name] = found.get(sample.name, 0.0) + float(sample.value)
    except ValueError:
        return None
    if CPU_SERIES not in found or MEMORY_SERIES not in found:
        return None
    return found[CPU_SERIES], found[MEMORY_SERIES]


def replica_component(replica: str) -> str:
    """The ``resources.csv`` component of a replica by its ``X-Replica`` (``api`` without one)."""
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in replica)[:40]
    if not name:
        return "api"
    return name if name == "api" or name.startswith("api-") else f"api-{name}"


@dataclass
class MetricsSource:
    """Rows of ``resources.csv`` from the target's ``/metrics``: one scrape per sampler tick."""

    fetch: Callable[[], Answer | None]
    host_cores: int = 0  # the target's cores are unknown: 0 in the CSV
    _last: dict[str, tuple[float, float]] = field(default_factory=dict)  # component -> (ts, cpu)

    def __call__(self, ts: float) -> list[Row]:
        answer = self.fetch()
        figures = process_figures(answer.text) if answer is not None else None
        if answer is None or figures is None:
            return []
        cpu_s, rss = figures
        component = replica_component(answer.replica)
        previous = self._last.get(component)
        self._last[component] = (ts, cpu_s)
        if previous is None or ts <= previous[0] or cpu_s < previous[1]:
            return []  # a baseline (or the replica restarted): CPU from the next answer on
        percent = 100.0 * (cpu_s - previous[1]) / (ts - previous[0])
        return [(ts, component, 0, round(percent, 1), int(rss), self.host_cores)]


@dataclass
class ExternalTarget:
    """What the runner loads instead of a stack it started: a URL, and nothing to manage."""

    client: Client
    probe: Probe
    mongodb_uri: str = ""  # the target's database, when the caller can reach it
    redis_url: str | None = None

    @property
    def url(self) -> str:
        return self.client.base

    @property
    def balancer(self) -> str:
        return EXTERNAL

    def components(self) -> list[ComponentStatus]:
        return []

    def pids(self) -> dict[str, int]:
        return {}

    def resource_sampler(self, csv_path: Path, interval: float = 1.0) -> ResourceSampler:
        """The generator joins it as the runner adds it; the target's replicas come from their
        ``/metrics`` when it has the process series."""
        sampler = ResourceSampler(csv_path, {}, interval=interval)
        if self.probe.process_series:
            metrics_url = f"{self.url}/metrics"
            sampler.add_source(MetricsSource(lambda: self.client.fetch(metrics_url)))
        return sampler

    def unknown(self) -> list[str]:
        """The figures this run cannot know, each with why, in the words the report prints."""
        out: list[str] = []
        if not self.probe.process_series:
            why = (
                "its /metrics has no process_cpu_seconds_total / process_resident_memory_bytes"
                if self.probe.metrics
                else "it answers no /metrics"
            )
            out.append(f"API CPU and memory: {why}")
        out.append("database, Redis and balancer CPU and memory: not visible from the generator")
        out.append(
            "CPU ms per request and req/s per core: the service's CPU is "
            + ("partly " if self.probe.process_series else "")
            + "unknown, so the table's figures count only what was measured"
        )
        return out

    def known(self) -> list[str]:
        out = [
            "the generator's CPU and memory: it runs here and is sampled here, so the "
            "generator-bound check (INVALID above the CPU limit) holds as on a managed stack"
        ]
        if self.probe.process_series:
            out.append(
                "API CPU and memory from the target's /metrics, once a second: behind a "
                "balancer each scrape reaches one replica, so each replica's figure is the mean "
                "over the seconds it answered, and a replica that never answered is missing"
            )
        return out

    def describe(self, seeding: str) -> dict[str, Any]:
        """The manifest's ``target``."""
        return {
            "url": self.url,
            "managed": False,
            "tls": self.client.tls.describe(self.url),
            "seeding": seeding,
            "health": self.probe.health,
            "metrics": self.probe.metrics,
            "process_metrics": self.probe.process_series,
            "database": "reachable" if self.mongodb_uri else "not reachable from the generator",
            "known": self.known(),
            "unknown": self.unknown(),
            "probed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }

    # A target the run does not manage takes no faults (the CLI refuses a drill with --target).
    def kill(self, name: str) -> None:
        raise BadInputError(f"{name}: the target is not managed by this run; it takes no faults")

    start = restart = pause = resume = kill
