"""What each fault of a phase did to the service, and how soon it recovered.

Per fault that happened (the manifest's ``faults``, seconds from the load start like the
samples): the requests that started inside its *window*, their errors, their p95 (successful, as
the SLO judges) and the p99 of every answer, failures included ("answered within"); the
successful throughput before it; and the *time to recover*. That clock starts at the kill itself
(the other replicas must carry the load: nothing comes back) or, for a stop, a restart or a start,
when the component is back; it stops at the end of the first 5-s bin whose successful throughput
is within 10 % of the throughput before the fault and whose p95 is inside the SLO. With the
scenario's ``[slo.faults]``, each of these becomes a check (:func:`fault_checks`).

The API's cache answers (hit, miss, bypass) during and after a fault come from ``/metrics``,
scraped at the fault's edges (``endpoint_costs.json``'s ``marks``, :mod:`harness.run.scrape`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.analysis.load import LATENCY, latency_percentiles, read_json
from harness.core.layout import COSTS_FILE
from harness.core.samples import percentile
from harness.errors import BadInputError

if TYPE_CHECKING:
    from harness.analysis.load import PhaseData
    from harness.core.faults import FaultSlo

BIN_S = 5.0
BEFORE_S = 30.0  # the throughput before a fault: over this long before it, inside the windows
BACK_SHARE = 0.9  # "within 10 % of the throughput before the fault"
MARK_SLACK_S = 1.0  # a mark this close to a fault's edge was taken for it

CacheCounts = dict[str, float]  # hit, miss, bypass


@dataclass(frozen=True)
class FaultImpact:
    action: str
    target: str  # as the scenario wrote it (api-any)
    component: str  # what it hit
    started_s: float
    ended_s: float | None  # None: a kill left it dead
    window_start_s: float
    window_end_s: float
    requests: int
    errors: int
    error_rate: float
    server_errors: int  # 5xx answers in the window
    p95_ms: float  # successful requests started in the window
    answer_p99_ms: float  # every request started in the window, failures included
    before_rps: float  # successful req/s before the fault
    recovery_from_s: float | None  # when the recovery clock started
    recovery_s: float | None  # None: not back by the end of the load
    cache_during: CacheCounts | None = None
    cache_after: CacheCounts | None = None
    error: str = ""  # the fault could not be carried out

    @property
    def name(self) -> str:
        return f"{self.action} {self.component} at {self.started_s:.0f} s"


def fault_impacts(phase: PhaseData) -> list[FaultImpact]:
    """One :class:`FaultImpact` per fault the phase's manifest says began."""
    faults = phase.manifest.get("faults")
    if not isinstance(faults, list):
        return []
    end = max((w.end_s for w in phase.windows), default=math.nan)
    first = min((w.start_s for w in phase.windows), default=0.0)
    p95_limit = None
    if phase.scenario is not None and phase.scenario.slo.p95_ms is not None:
        p95_limit = float(phase.scenario.slo.p95_ms)
    marks = cache_marks(phase.manifest, phase.path)
    out = []
    for fault in faults:
        if not isinstance(fault, dict) or fault.get("started_s") is None:
            continue
        out.append(_impact(fault, phase.requests, first, end, p95_limit, marks))
    return out


def _impact(
    fault: Mapping[str, Any],
    requests: pd.DataFrame,
    first_s: float,
    end_s: float,
    p95_limit: float | None,
    marks: list[tuple[float, dict[str, CacheCounts]]],
) -> FaultImpact:
    action = str(fault.get("action"))
    started = float(fault["started_s"])
    ended = None if fault.get("ended_s") is None else float(fault["ended_s"])
    back = ended if ended is not None else started
    window_end = max(back, started + BIN_S)
    inside = requests[(requests["t"] >= started) & (requests["t"] < window_end)]
    ok = inside[inside["ok"]]
    since = max(first_s, started - BEFORE_S)
    before = requests[(requests["t"] >= since) & (requests["t"] < started)]
    span = started - since
    before_rps = float(before["ok"].sum()) / span if span > 0 else math.nan
    if action == "kill":
        clock: float | None = started
    else:
        clock = ended  # a stop never resumed, or a restart that failed: never back
    recovery = (
        None
        if clock is None or fault.get("error")
        else _recovery(requests, clock, end_s, before_rps, p95_limit)
    )
    during, after = _cache_counts(marks, started, back)
    return FaultImpact(
        action=action,
        target=str(fault.get("target") or fault.get("component")),
        component=str(fault.get("component")),
        started_s=started,
        ended_s=ended,
        window_start_s=started,
        window_end_s=window_end,
        requests=len(inside),
        errors=int((~inside["ok"]).sum()),
        error_rate=float((~inside["ok"]).mean()) if len(inside) else math.nan,
        server_errors=server_error_count(inside),
        p95_ms=latency_percentiles(ok[LATENCY])[1],
        answer_p99_ms=percentile(inside["latency_ms"].to_numpy(dtype=np.float64), 99),
        before_rps=before_rps,
        recovery_from_s=clock,
        recovery_s=recovery,
        cache_during=during,
        cache_after=after,
        error=str(fault.get("error") or ""),
    )


def _recovery(
    requests: pd.DataFrame,
    clock_s: float,
    end_s: float,
    before_rps: float,
    p95_limit: float | None,
) -> float | None:
    """Seconds from ``clock_s`` to the end of the first 5-s bin back (module docstring)."""
    if not math.isfinite(before_rps) or not math.isfinite(end_s):
        return None
    t = clock_s
    while t + BIN_S <= end_s + 1e-9:
        part = requests[(requests["t"] >= t) & (requests["t"] < t + BIN_S)]
        ok = part[part["ok"]]
        rate = len(ok) / BIN_S
        p95 = latency_percentiles(ok[LATENCY])[1]
        fast = p95_limit is None or (math.isfinite(p95) and p95 <= p95_limit)
        if rate >= BACK_SHARE * before_rps and fast:
            return round(t + BIN_S - clock_s, 3)
        t += BIN_S
    return None


# -- the cache's answers from /metrics at the fault's edges ---------------------------------------


def cache_marks(
    manifest: Mapping[str, Any], path: Path
) -> list[tuple[float, dict[str, CacheCounts]]]:
    """``(at_s, {replica: counts})`` of every mark scraped, in time order."""
    file = path / str(manifest.get("endpoint_costs") or COSTS_FILE)
    if not file.is_file():
        return []
    doc = read_json(file)
    try:
        marks = [
            (
                float(m["at_s"]),
                {
                    str(name): {k: float(counts[k]) for k in ("hit", "miss", "bypass")}
                    for name, counts in m["replicas"].items()
                },
            )
            for m in doc.get("marks", ())
        ]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInputError(f"{file}: marks: not what the runner writes ({exc!r})") from exc
    return sorted(marks, key=lambda m: m[0])


def _cache_counts(
    marks: Sequence[tuple[float, dict[str, CacheCounts]]], start_s: float, back_s: float
) -> tuple[CacheCounts | None, CacheCounts | None]:
    """The cache's answers from the fault's start to its end, and from its end to the next
    mark (the phase's end when nothing else came between). The runner marks each fault's
    edges as they happen: the marks nearest them are theirs."""
    begin = _nearest(marks, start_s)
    stop = _nearest(marks, back_s) if back_s > start_s else None
    if stop is not None and begin is not None and stop[0] <= begin[0]:
        stop = None
    later = next((m for m in marks if stop is not None and m[0] > stop[0]), None)
    return _change(begin, stop), _change(stop, later)


def _nearest(
    marks: Sequence[tuple[float, dict[str, CacheCounts]]], at_s: float
) -> tuple[float, dict[str, CacheCounts]] | None:
    return next((m for m in marks if abs(m[0] - at_s) <= MARK_SLACK_S), None)


def _change(
    a: tuple[float, dict[str, CacheCounts]] | None, b: tuple[float, dict[str, CacheCounts]] | None
) -> CacheCounts | None:
    """The counts added between two marks, over the replicas that answered both and did not
    restart in between (their counters would have gone down)."""
    if a is None or b is None:
        return None
    total = {"hit": 0.0, "miss": 0.0, "bypass": 0.0}
    for name, before in a[1].items():
        after = b[1].get(name)
        if after is None or any(after.get(k, 0.0) < before.get(k, 0.0) for k in total):
            continue
        for key in total:
            total[key] += after.get(key, 0.0) - before.get(key, 0.0)
    return total


# -- checks ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultCheck:
    fault: str  # FaultImpact.name, or "every fault" for the phase-wide one
    metric: str
    comparison: str  # "<=" or ">="
    threshold: float
    value: float
    passed: bool
    message: str = ""


def fault_checks(
    impacts: Sequence[FaultImpact], slo: FaultSlo | None, server_errors: int
) -> list[FaultCheck]:
    """The scenario's ``[slo.faults]`` against what each fault did; none without the table."""
    if slo is None:
        return []
    checks: list[FaultCheck] = []
    if slo.server_errors is not None:
        checks.append(
            FaultCheck(
                "every fault",
                "server_errors",
                "<=",
                float(slo.server_errors),
                float(server_errors),
                server_errors <= slo.server_errors,
                "5xx answers in the steady windows",
            )
        )
    for impact in impacts:
        checks.extend(_checks_of(impact, slo))
    return checks


def _checks_of(impact: FaultImpact, slo: FaultSlo) -> list[FaultCheck]:
    name = impact.name
    if impact.error:
        return [FaultCheck(name, "carried_out", ">=", 1.0, 0.0, False, impact.error)]
    checks = []
    if slo.recovery_s is not None:
        value = math.inf if impact.recovery_s is None else impact.recovery_s
        note = "" if impact.recovery_s is not None else "not back by the end of the load"
        passed = value <= slo.recovery_s
        checks.append(FaultCheck(name, "recovery_s", "<=", slo.recovery_s, value, passed, note))
    if slo.error_rate is not None:
        rate = 0.0 if math.isnan(impact.error_rate) else impact.error_rate
        checks.append(
            FaultCheck(name, "error_rate", "<=", slo.error_rate, rate, rate <= slo.error_rate)
        )
    if slo.answer_p99_ms is not None:
        value = impact.answer_p99_ms
        passed = math.isfinite(value) and value <= slo.answer_p99_ms
        checks.append(FaultCheck(name, "answer_p99_ms", "<=", slo.answer_p99_ms, value, passed))
    if slo.cache_back and impact.component == "redis":
        during, after = impact.cache_during, impact.cache_after
        bypass = during["bypass"] if during else math.nan
        hits = after["hit"] if after else math.nan
        checks.append(
            FaultCheck(name, "bypass_during", ">=", 1.0, bypass, bypass >= 1.0,
                       "" if during else "no /metrics scrape at the fault's edges")
        )  # fmt: skip
        checks.append(
            FaultCheck(name, "hits_after", ">=", 1.0, hits, hits >= 1.0,
                       "" if after else "no /metrics scrape after the fault")
        )  # fmt: skip
    return checks


def server_error_count(requests: pd.DataFrame) -> int:
    statuses = requests["status"].to_numpy()
    return int(((statuses >= 500) & (statuses < 600)).sum())
