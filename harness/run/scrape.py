"""What each endpoint cost in a phase's steady windows: every API replica's ``/metrics``, scraped
at each window's start and end, and the change in between (``endpoint_costs.json``).

The API counts per (method, route template): requests, the CPU of the requests' own tasks, the
MongoDB and Redis round trips sent for them, and cache look-ups by answer (reference_api/costs.py).
A replica is scraped directly when the stack gives it a port. With one shared listening socket
(or a compose stack) there is none: ``/metrics`` is asked through the stack's URL, on a new
connection each time, until every replica has answered (its ``X-Replica`` header says which),
and a replica that never does is named as missing. A replica whose counters went down in a
window (it restarted) is left out of the totals and named too.

The runner's progress loop calls :meth:`CostScraper.poll` with the seconds since the load
started, as it does for faults. It also scrapes as each fault begins and ends (:meth:`mark`) and
at the given ``marks``: each replica's cache answers (hit, miss, bypass) so far, for what a fault
did to the cache (harness.analysis.recovery).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from harness._files import write_json
from harness.core.layout import COSTS_FILE
from harness.stack.config import ComponentStatus

SCHEMA = 1
TIMEOUT_S = 2.0
TRIES_PER_REPLICA = 20  # through a shared socket, the kernel picks who answers

RouteKey = tuple[str, str]  # (method, route template)

_SERIES = {  # sample name -> field of RouteCounters
    "http_requests_total": "requests",
    "app_cpu_seconds_total": "app_cpu_s",
    "db_roundtrips_total": "db_roundtrips",
    "redis_roundtrips_total": "redis_roundtrips",
}


@dataclass(frozen=True)
class RouteCounters:
    """Counters of one (method, route) on one replica, or their change over a window."""

    requests: float = 0.0
    app_cpu_s: float = 0.0
    db_roundtrips: float = 0.0
    redis_roundtrips: float = 0.0
    cache_hit: float = 0.0
    cache_miss: float = 0.0
    cache_bypass: float = 0.0

    def plus(self, other: RouteCounters, sign: float = 1.0) -> RouteCounters:
        return RouteCounters(
            *(getattr(self, f.name) + sign * getattr(other, f.name) for f in fields(self))
        )

    def went_down(self) -> bool:
        return any(getattr(self, f.name) < 0 for f in fields(self))


Counters = dict[RouteKey, RouteCounters]
_FIELD_NAMES = frozenset(f.name for f in fields(RouteCounters))


def parse_metrics(text: str) -> Counters:
    """The per-route counters in a Prometheus text exposition (requests summed over status)."""
    found: dict[RouteKey, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = _SERIES.get(sample.name)
            if name is None and sample.name == "cache_lookups_total":
                name = f"cache_{sample.labels.get('result', '')}"
            if name is None or name not in _FIELD_NAMES:
                continue
            key = (sample.labels.get("method", ""), sample.labels.get("route", ""))
            row = found.setdefault(key, {})
            row[name] = row.get(name, 0.0) + float(sample.value)
    return {key: RouteCounters(**row) for key, row in found.items()}


def difference(before: Counters, after: Counters) -> Counters | None:
    """``after - before`` per route; None when a counter went down (the replica restarted)."""
    out: Counters = {}
    for key, now in after.items():
        change = now.plus(before.get(key, RouteCounters()), -1.0)
        if change.went_down():
            return None
        out[key] = change
    if any(key not in after for key in before):
        return None
    return out


def add(parts: Iterable[Counters]) -> Counters:
    total: Counters = {}
    for part in parts:
        for key, value in part.items():
            total[key] = total.get(key, RouteCounters()).plus(value)
    return total


def rows(counters: Counters) -> list[dict[str, Any]]:
    return [
        {"method": method, "route": route, **asdict(counters[(method, route)])}
        for method, route in sorted(counters, key=lambda k: (k[1], k[0]))
    ]


# --- scraping ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    replica: str
    text: str


def fetch(url: str, timeout: float = TIMEOUT_S) -> Answer | None:
    """``GET url`` on a new connection (loopback: no proxy); None when nothing usable came back."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            if int(response.status) != 200:
                return None
            text = response.read().decode("utf-8", "replace")
            return Answer(str(response.headers.get("X-Replica") or ""), text)
    except (OSError, urllib.error.URLError, ValueError):
        return None


Fetch = Callable[[str], Answer | None]


@dataclass(frozen=True)
class Targets:
    """Where the replicas' ``/metrics`` are: one URL each, or one shared URL for ``expected``."""

    direct: dict[str, str]  # replica -> its /metrics URL
    shared: str = ""  # the stack's /metrics, when the replicas have no port of their own
    expected: int = 0

    @property
    def source(self) -> str:
        return "direct" if self.direct else "balancer"

    @classmethod
    def of(cls, url: str, components: Sequence[ComponentStatus]) -> Targets:
        replicas = [c for c in components if c.name.startswith("api-")]
        if replicas and all(c.port for c in replicas):
            return cls({c.name: f"http://127.0.0.1:{c.port}/metrics" for c in replicas})
        return cls({}, f"{url.rstrip('/')}/metrics", len(replicas))


def snapshot(targets: Targets, fetch: Fetch) -> dict[str, Counters]:
    """Every replica's counters now. Through a shared URL, ask until ``targets.expected``
    distinct replicas have answered, or the tries run out."""
    found: dict[str, Counters] = {}
    if targets.direct:
        for name, url in targets.direct.items():
            if (answer := fetch(url)) is not None:
                found[name] = parse_metrics(answer.text)
        return found
    for _ in range(TRIES_PER_REPLICA * max(1, targets.expected)):
        if len(found) >= targets.expected:
            break
        answer = fetch(targets.shared)
        if answer is not None and answer.replica and answer.replica not in found:
            found[answer.replica] = parse_metrics(answer.text)
    return found


# --- the phase's schedule ----------------------------------------------------------------------
@dataclass
class Edge:
    """One window edge (seconds from the load start) and what was scraped there."""

    at_s: float
    replicas: dict[str, Counters] | None = None  # None: not scraped yet
    began: float = 0.0  # unix time the scrape began and ended
    ended: float = 0.0


class CostScraper:
    """``poll(t)`` scrapes at every edge of the steady ``windows`` as it comes due; ``write``
    puts the change over the windows into ``endpoint_costs.json``."""

    def __init__(
        self,
        targets: Targets,
        windows: Sequence[tuple[float, float]],
        say: Callable[[str], None] = lambda _line: None,
        phase: str = "",
        fetch: Fetch = fetch,
        marks: Sequence[float] = (),
    ) -> None:
        self.targets = targets
        self.windows = [(float(a), float(b)) for a, b in windows]
        self.marks = sorted({float(t) for t in marks})  # a fault's edges: cache answers there
        edges = {t for w in self.windows for t in w} | set(self.marks)
        self.edges = {t: Edge(t) for t in sorted(edges)}
        self.say = say
        self.phase = phase
        self.fetch = fetch

    def poll(self, t: float) -> None:
        for edge in self.edges.values():
            if edge.replicas is None and t >= edge.at_s:
                self._take(edge)

    def mark(self, t: float) -> None:
        """Scrape now, ``t`` s after the load start, as a mark (a fault began or ended)."""
        t = round(float(t), 3)
        if t not in self.edges:
            self.edges[t] = Edge(t)
            self.marks.append(t)
        self._take(self.edges[t])

    def next_due_s(self, t: float) -> float | None:
        due = [e.at_s for e in self.edges.values() if e.replicas is None]
        return max(0.0, min(due) - t) if due else None

    def _take(self, edge: Edge) -> None:
        edge.began = time.time()
        edge.replicas = snapshot(self.targets, self.fetch)
        edge.ended = time.time()
        expected = len(self.targets.direct) or self.targets.expected
        if len(edge.replicas) < expected:
            self.say(
                f"{self.phase}: endpoint costs: {len(edge.replicas)} of {expected} replica(s) "
                f"answered /metrics at {edge.at_s:.0f} s"
            )

    def document(self) -> dict[str, Any] | None:
        """The change over the windows, per replica and in total; None before any window ended."""
        spans = [(self.edges[a], self.edges[b]) for a, b in self.windows]
        spans = [(a, b) for a, b in spans if a.replicas is not None and b.replicas is not None]
        if not spans:
            return None
        names = sorted({n for a, b in spans for n in (*(a.replicas or {}), *(b.replicas or {}))})
        replicas: dict[str, Counters] = {}
        missing: list[str] = []
        for name in names:
            changes = [_change(a, b, name) for a, b in spans]
            if all(isinstance(c, dict) for c in changes):
                replicas[name] = add(c for c in changes if isinstance(c, dict))
            else:
                missing += [f"{name}: {c}" for c in changes if isinstance(c, str)]
        missing += [
            f"{n}: never answered /metrics" for n in sorted(set(self.targets.direct) - set(names))
        ]
        count = len(self.targets.direct) or self.targets.expected
        if not self.targets.direct and len(names) < count:
            missing.append(f"{count - len(names)} replica(s) never answered through the balancer")
        return {
            "schema": SCHEMA,
            "source": self.targets.source,
            "windows": [
                {"start_s": a.at_s, "end_s": b.at_s, "start_ts": a.began, "end_ts": b.ended}
                for a, b in spans
            ],
            "complete": not missing and len(replicas) == count,
            "missing": missing,
            "replicas": {name: rows(counters) for name, counters in replicas.items()},
            "total": rows(add(replicas.values())),
            "marks": [
                {
                    "at_s": t,
                    "ts": self.edges[t].began,
                    "replicas": {
                        name: cache_answers(counters)
                        for name, counters in (self.edges[t].replicas or {}).items()
                    },
                }
                for t in sorted(self.marks)
                if self.edges[t].replicas is not None
            ],
        }

    def write(self, directory: Path) -> bool:
        """Write ``endpoint_costs.json`` into ``directory``; False when there is nothing to say
        (the load ended before a steady window did)."""
        doc = self.document()
        if doc is None:
            return False
        write_json(directory / COSTS_FILE, doc)
        return True


def cache_answers(counters: Counters) -> dict[str, float]:
    """One replica's cache look-ups so far, by answer, over every route."""
    return {
        "hit": sum(c.cache_hit for c in counters.values()),
        "miss": sum(c.cache_miss for c in counters.values()),
        "bypass": sum(c.cache_bypass for c in counters.values()),
    }


def _change(start: Edge, end: Edge, name: str) -> Counters | str:
    """One replica's change over one window, or why there is none."""
    before = (start.replicas or {}).get(name)
    after = (end.replicas or {}).get(name)
    if before is None or after is None:
        edge = start if before is None else end
        return f"did not answer /metrics at {edge.at_s:.0f} s"
    change = difference(before, after)
    if change is None:
        return f"restarted between {start.at_s:.0f} s and {end.at_s:.0f} s (its counters went down)"
    return change
