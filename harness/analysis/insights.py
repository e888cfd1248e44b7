"""Insights: each a published numeric rule (docs/insights.md) that fires with its evidence (when,
which component, the values). Pure: a phase and its summary in, a list of :class:`Insight` out.

The rules' thresholds are the constants below; docs/insights.md states each rule with them.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from harness.analysis.costs import cost_table
from harness.analysis.recovery import cache_marks
from harness.analysis.stability import faulted_component, idle_component
from harness.core.checks import RATE_LIMITED_SHARE
from harness.core.samples import bin_counts, count_below, row_chunks
from harness.errors import BadInputError

if TYPE_CHECKING:
    from harness.analysis.load import PhaseData
    from harness.analysis.summary import PhaseSummary

LIMIT_INFLIGHT_RISE = 0.5  # in flight +50 % from the first to the last third ...
LIMIT_FLAT = 0.10  # ... while successful completions/s moved less than 10 %
LIMIT_MIN_INFLIGHT = 2.0
ONSET_PP = 10.0  # error % at least 10 points above the first 10 s of the window ...
ONSET_BASE_S = 10.0
ONSET_SUSTAIN_S = 10.0  # ... for two 5-s bins running
EARLY_S = 10.0  # the phase's first 10 s ...
EARLY_SHARE = 0.5  # ... with half its requests failed
EARLY_MIN = 20
FEW_SAMPLES = 500  # successful requests in the steady window
STALL_S = 5  # seconds running ...
STALL_SHARE = 0.10  # ... under 10 % of the window's median successful completions/s
# The stall began where completions first fell under half the median (or most requests started
# failed) and stayed there until the stall: a cache keeps some reads answering for a few seconds
# after the database stops, and the stall is dated from the fall, not from the last cached hit.
STALL_ONSET_SHARE = 0.5
RATE_LIMITED_MIN = 10  # 429s, at least
CACHE_DROP_PP = 20.0  # a stretch's hit ratio this many points under the window's
CACHE_MIN_LOOKUPS = 50
DB_CEILING = 85.0  # % of its one core
API_IDLE = 50.0  # % of a core per replica
UPSTREAM_5XX_SHARE = 0.01  # 502/504 (the balancer's own errors) in the steady window
_NGINX_EVENTS = re.compile(
    r"^(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[\w+\].*?"
    r"(upstream server temporarily disabled|no live upstreams|connect\(\) failed)"
)
_UPSTREAM = re.compile(r'upstream: "([^"]+)"')


@dataclass(frozen=True)
class Insight:
    rule: str  # the rule's id in docs/insights.md
    start_s: float | None  # from the run start
    component: str | None
    evidence: str  # the values the rule saw
    message: str  # one plain sentence, as in the report's warnings


def insights(phase: PhaseData, s: PhaseSummary) -> list[Insight]:
    found = [
        *_throughput_limit(phase),
        *_error_onset(phase),
        *_early_failure(phase),
        *_few_samples(s),
        *_generator(s),
        *_stalls(phase),
        *_rate_limited(phase, s),
        *_cache_drop(phase, s),
        *_database_bound(s),
        *_balancer(phase, s),
    ]
    return sorted(found, key=lambda i: (math.inf if i.start_s is None else i.start_s, i.rule))


def _span(phase: PhaseData) -> tuple[float, float] | None:
    windows = phase.declared_windows or phase.windows
    if not windows:
        return None
    return min(w.start_s for w in windows), max(w.end_s for w in windows)


def _seconds(phase: PhaseData, a: float, b: float) -> tuple[npt.NDArray[np.float64], ...]:
    """Per 1-s bin of [a, b): edges, successful completions, requests in flight at the bin's
    middle, requests started and failures among them."""
    req = phase.requests
    edges = a + np.arange(int(b - a) + 1, dtype=np.float64)
    t = req["t"].to_numpy(dtype=np.float64)
    service = req["latency_ms"].to_numpy(dtype=np.float64)
    ok_all = req["ok"].to_numpy(dtype=bool)
    mid = edges[:-1] + 0.5
    bins = edges.size - 1
    done, flight = np.zeros(bins, dtype=np.int64), np.zeros(bins, dtype=np.int64)
    started, failed = np.zeros(bins, dtype=np.int64), np.zeros(bins, dtype=np.int64)
    for rows in row_chunks(t.size):  # exact counts, a chunk of rows at a time
        start = t[rows]
        end = start + service[rows] / 1000.0
        ok = ok_all[rows]
        done += bin_counts(end[ok], edges)
        flight += count_below(start, mid) - count_below(end, mid)
        started += bin_counts(start, edges)
        failed += bin_counts(start[~ok], edges)
    return (
        edges,
        done.astype(np.float64),
        flight.astype(np.float64),
        started.astype(np.float64),
        failed.astype(np.float64),
    )


def _throughput_limit(phase: PhaseData) -> list[Insight]:
    span = _span(phase)
    if span is None or span[1] - span[0] < 15:
        return []
    edges, done, flight, _, _ = _seconds(phase, *span)
    third = done.size // 3
    f1, f3 = float(flight[:third].mean()), float(flight[-third:].mean())
    d1, d3 = float(done[:third].mean()), float(done[-third:].mean())
    if f1 < LIMIT_MIN_INFLIGHT or d1 <= 0:
        return []
    if f3 < (1 + LIMIT_INFLIGHT_RISE) * f1 or abs(d3 - d1) / d1 >= LIMIT_FLAT:
        return []
    evidence = f"in flight {f1:.0f} → {f3:.0f}, successful req/s {d1:.0f} → {d3:.0f}"
    return [
        Insight(
            "throughput-limit",
            float(edges[0]),
            None,
            evidence,
            f"throughput limit from {edges[0]:.0f} s: requests in flight kept rising "
            f"({f1:.0f} → {f3:.0f}) while successful completions stayed flat "
            f"({d1:.0f} → {d3:.0f} req/s): the service is at its capacity",
        )
    ]


def _error_onset(phase: PhaseData) -> list[Insight]:
    span = _span(phase)
    if span is None:
        return []
    edges, _, _, started, failed = _seconds(phase, *span)
    n = started.size // 5
    if n < 4:
        return []
    s5 = started[: n * 5].reshape(n, 5).sum(axis=1)
    f5 = failed[: n * 5].reshape(n, 5).sum(axis=1)
    pct = 100.0 * np.divide(f5, s5, out=np.zeros(n), where=s5 > 0)
    base_bins = int(ONSET_BASE_S // 5)
    base = 100.0 * f5[:base_bins].sum() / max(s5[:base_bins].sum(), 1.0)
    high = pct >= base + ONSET_PP
    run = int(ONSET_SUSTAIN_S // 5)
    hits = [i for i in range(base_bins, n - run + 1) if high[i : i + run].all()]
    if not hits:
        return []
    at = float(edges[hits[0] * 5])
    peak = float(pct[hits[0] :].max())
    return [
        Insight(
            "error-onset",
            at,
            _fault_or_idle(phase, at, at + ONSET_SUSTAIN_S),
            f"error % {base:.1f} in the first {ONSET_BASE_S:.0f} s → {pct[hits[0]]:.1f} "
            f"at {at:.0f} s (peak {peak:.1f})",
            f"errors began at {at:.0f} s: {pct[hits[0]]:.1f} % of requests failed, against "
            f"{base:.1f} % at the start of the window",
        )
    ]


def _early_failure(phase: PhaseData) -> list[Insight]:
    req = phase.requests
    early = req[req["t"] < EARLY_S]
    if len(early) < EARLY_MIN:
        return []
    failed = early[~early["ok"]]
    share = len(failed) / len(early)
    if share < EARLY_SHARE:
        return []
    status = int(failed["status"].mode().iloc[0])
    endpoint = str(failed["endpoint"].mode().iloc[0])
    return [
        Insight(
            "early-failure",
            float(failed["t"].min()),
            None,
            f"{len(failed)} of {len(early)} requests failed in the first {EARLY_S:.0f} s; "
            f"most: status {status} on {endpoint}",
            f"{share:.0%} of requests failed in the first {EARLY_S:.0f} s (mostly status "
            f"{status} on {endpoint}): a script or data fault, not load",
        )
    ]


def _few_samples(s: PhaseSummary) -> list[Insight]:
    if s.successes >= FEW_SAMPLES:
        return []
    return [
        Insight(
            "too-few-samples",
            None,
            None,
            f"{s.successes} successful requests in {s.window_s:.0f} s",
            f"too few samples: {s.successes} successful requests in the steady window; p99 and "
            f"per-endpoint percentiles rest on few requests (want {FEW_SAMPLES}+)",
        )
    ]


def _generator(s: PhaseSummary) -> list[Insight]:
    """The generator-bound validity checks (``harness.core.slo``) that failed."""
    out = []
    for c in s.slo_checks:
        if c.kind != "validity" or c.passed or c.metric not in ("generator_cpu", "achieved_rate"):
            continue
        if c.metric == "generator_cpu":
            what = f"{c.process} used {c.value:.0f} % of a core (limit {c.threshold:.0f} %)"
        else:
            what = f"achieved {c.value:.1f} req/s, under the {c.threshold:.1f} req/s required"
        out.append(
            Insight(
                "generator-saturation",
                c.window[0] if c.window else None,
                c.process or "generator",
                what,
                f"generator saturation: {what}; the load generator, not the service, was the limit",
            )
        )
    return out


def _stalls(phase: PhaseData) -> list[Insight]:
    span = _span(phase)
    if span is None:
        return []
    edges, done, flight, started, failed = _seconds(phase, *span)
    median = float(np.median(done)) if done.size else 0.0
    if median <= 0:
        return []
    low = (done <= STALL_SHARE * median) & ((flight > 0) | (started > 0))
    failing = failed > STALL_ONSET_SHARE * np.maximum(started, 1.0)
    falling = (done < STALL_ONSET_SHARE * median) | failing
    out = []
    for first, last in _runs(low):
        if last - first + 1 < STALL_S:
            continue
        first = stall_onset(falling, first)
        a, b = float(edges[first]), float(edges[last + 1])
        who = _fault_or_idle(phase, a, b)
        out.append(
            Insight(
                "stall",
                a,
                who,
                f"{median:.0f} → {done[first : last + 1].mean():.1f} successful req/s for "
                f"{b - a:.0f} s, {flight[first]:.0f} requests in flight",
                f"stall from {a:.0f} s to {b:.0f} s: successful completions fell from "
                f"{median:.0f} to {done[first : last + 1].mean():.1f} req/s while requests were "
                f"in flight" + (f"; {who} went idle" if who else ""),
            )
        )
    return out


def stall_onset(falling: npt.NDArray[np.bool_], first: int) -> int:
    """The first 1-s bin of the stretch of ``falling`` bins that ends in the stall at ``first``."""
    while first > 0 and falling[first - 1]:
        first -= 1
    return first


def _fault_or_idle(phase: PhaseData, a: float, b: float) -> str | None:
    fault = faulted_component(phase.manifest.get("faults"), a, b)
    if fault:
        return fault[0]
    windows = [(w.start_s, w.end_s) for w in phase.declared_windows or phase.windows]
    return idle_component(phase.resources, a, b, windows)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last) indices of each run of True, vectorised."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b) - 1) for a, b in zip(change[::2], change[1::2], strict=True)]


def _rate_limited(phase: PhaseData, s: PhaseSummary) -> list[Insight]:
    steady = phase.steady()
    failed = steady[~steady["ok"]]
    limited = failed[failed["status"] == 429]
    if len(limited) < RATE_LIMITED_MIN or len(limited) <= RATE_LIMITED_SHARE * len(failed):
        return []
    return [
        Insight(
            "rate-limited",
            float(limited["t"].min()),
            "api",
            f"{len(limited)} of {len(failed)} failures were 429, first at "
            f"{limited['t'].min():.0f} s",
            f"429-dominated errors: {len(limited)} of {len(failed)} failures were 429 (Too Many "
            "Requests): the rate limiter, not capacity, refused them",
        )
    ]


def _cache_drop(phase: PhaseData, s: PhaseSummary) -> list[Insight]:
    """A stretch between two scrapes of the API's cache counters whose hit ratio fell under the
    whole window's (``endpoint_costs.json``: the window's totals and the marks between)."""

    try:
        table = cost_table(phase) if s.cache else None
    except BadInputError:  # not a whole costs file (the report's costs section says so)
        return []
    total = table.total if table is not None else None
    if total is None or not (total.cache_hit + total.cache_miss):
        return []
    overall = 100.0 * total.cache_hit / (total.cache_hit + total.cache_miss + total.cache_bypass)
    marks = cache_marks(phase.manifest, phase.path)
    out = []
    for (a, before), (b, after) in itertools.pairwise(marks):
        hit = sum(after[r]["hit"] - before[r]["hit"] for r in after if r in before)
        looks = sum(
            sum(after[r][k] - before[r][k] for k in ("hit", "miss", "bypass"))
            for r in after
            if r in before
        )
        if looks < CACHE_MIN_LOOKUPS or 100.0 * hit / looks > overall - CACHE_DROP_PP:
            continue
        ratio = 100.0 * hit / looks
        out.append(
            Insight(
                "cache-drop",
                a,
                "redis",
                f"hit ratio {ratio:.0f} % in {a:.0f}-{b:.0f} s against {overall:.0f} % over the "
                f"window ({looks:.0f} look-ups)",
                f"the cache hit ratio dropped to {ratio:.0f} % from {a:.0f} s to {b:.0f} s "
                f"({overall:.0f} % over the window): reads went to the database",
            )
        )
    return out


def _database_bound(s: PhaseSummary) -> list[Insight]:
    db, api = s.cpu.get("db", math.nan), s.cpu.get("api", math.nan) / max(s.replicas, 1)
    if not (db >= DB_CEILING and api < API_IDLE) and not s.database_bound:
        return []
    cache = (
        "the cache is on but did not take enough reads off it" if s.cache else "without the cache"
    )
    return [
        Insight(
            "database-bound",
            None,
            "db",
            f"db {db:.0f} % of its one core, API {api:.0f} % per replica",
            f"database-bound ({cache}): the database used {db:.0f} % of a core while each API "
            f"replica used {api:.0f} % on average; more replicas will not help until the "
            "database is faster" + ("" if s.cache else " or the cache is on"),
        )
    ]


def _balancer(phase: PhaseData, s: PhaseSummary) -> list[Insight]:
    out = []
    if s.balancer == "shared-socket" and s.lb != "shared-socket":
        out.append(
            Insight(
                "balancer-fallback",
                None,
                "nginx",
                f"asked for {s.lb}, ran shared-socket",
                "the balancer fell back to a shared listening socket (nginx was not found): the "
                "kernel, not least_conn, spread the load",
            )
        )
    events = nginx_events(phase.path, phase.run_start)
    steady = phase.steady()
    bad = steady[steady["status"].isin((502, 504))]
    if events or (len(steady) and len(bad) >= UPSTREAM_5XX_SHARE * len(steady) and len(bad)):
        at = events[0][0] if events else float(bad["t"].min())
        what = f"{len(events)} upstream event(s) in nginx's log" if events else ""
        what += ("; " if what and len(bad) else "") + (
            f"{len(bad)} of {len(steady)} requests answered 502/504" if len(bad) else ""
        )
        upstream = next((u for _, u in events if u), None)
        out.append(
            Insight(
                "balancer-fallback",
                at,
                upstream or "nginx",
                what,
                f"the balancer marked a replica down or lost its upstream from {at:.0f} s ({what})",
            )
        )
    return out


def nginx_events(path: Path, run_start: float) -> list[tuple[float, str | None]]:
    """(seconds from the run start, upstream) of nginx's upstream failures in its error log."""
    out: list[tuple[float, str | None]] = []
    for log in (path / "stack" / "logs" / "nginx.log", path / "logs" / "nginx.log"):
        if not log.is_file():
            continue
        for line in log.read_text(errors="replace").splitlines():
            m = _NGINX_EVENTS.match(line)
            if m:
                ts = time.mktime(time.strptime(m.group(1), "%Y/%m/%d %H:%M:%S"))
                upstream = _UPSTREAM.search(line)
                out.append((ts - run_start, upstream.group(1) if upstream else None))
    return sorted(out, key=lambda e: e[0])
