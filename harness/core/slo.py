"""SLO verdicts: PASS, FAIL or INVALID, from exact samples and a scenario.

Pure and numpy-only: Locust calls :func:`evaluate` at the end of a ``--scenario`` run, and
``capacity gate`` calls it again on the recorded samples; both get the same answer.

Only the steady-state windows of the scenario count (warm-up and ramps are left out). Latency
percentiles use the coordinated-omission corrected latency (from the intended start; in the closed
model it equals the service latency) of successful requests only; failures are counted in the
error rate. A run is INVALID — not FAIL — when the load generator, not the service, was the
limit (a generator process above ``cpu_limit`` % of one core on average, or an open-model window
that achieved less than ``rate_tolerance`` of its target rate while the service itself answered
within the p95 SLO) or when there are too few samples to judge. A shortfall while the service's own
p95 (from the actual start) breaks the SLO is the service's: FAIL.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.core import stability
from harness.core.checks import (
    SLO_METRICS,
    Check,
    Status,
    Verdict,
)
from harness.core.samples import (
    SAMPLE_DTYPE,
    Records,
    SampleColumns,
    Samples,
    percentile,
    row_chunks,
)
from harness.core.scenario import Scenario, Thresholds

CPU_LIMIT_PERCENT = 80.0
RATE_TOLERANCE = 0.95
MIN_SAMPLES = 100
LATE_THRESHOLD_MS = 10.0


def window_mask(
    records: Records, windows: Sequence[tuple[float, float]], run_start: float
) -> npt.NDArray[np.bool_]:
    """Records that started in one of the windows (relative to ``run_start``).

    By actual start, so that an open-model backlog (requests intended during the warm-up but sent
    much later) counts, with its corrected latency, in the window where it was sent.
    """
    mask = np.zeros(records.shape[0], dtype=bool)
    for rows in row_chunks(records.shape[0]):
        t = records["ts"][rows] - run_start
        part = mask[rows]
        for begin, end in windows:
            part |= (t >= begin) & (t < end)
    return mask


def latency_stats(records: Records, column: str = "co_latency_ms") -> dict[str, float]:
    """Exact percentiles of successful requests; counts and error rate over all of them."""
    ok = records["ok"] == 1
    values = records[column][ok]  # a copy, reordered in place by the percentiles
    total = int(records.shape[0])
    failures = total - int(ok.sum())
    del ok
    return {
        "requests": float(total),
        "failures": float(failures),
        "error_rate": failures / total if total else float("nan"),
        "p50_ms": percentile(values, 50, scratch=True),
        "p95_ms": percentile(values, 95, scratch=True),
        "p99_ms": percentile(values, 99, scratch=True),
        "max_ms": float(values.max()) if values.size else float("nan"),
    }


def failure_statuses(records: Records) -> dict[str, int]:
    """Failed requests by HTTP status (``"0"``: no response), most common first. String keys,
    as ``verdict.json`` writes them."""
    statuses, counts = np.unique(records["status"][records["ok"] == 0], return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return {str(int(statuses[i])): int(counts[i]) for i in order}


def average_cpu(
    timeline: Sequence[Sequence[float]], windows: Sequence[tuple[float, float]], run_start: float
) -> float:
    """Mean CPU % of ``[[ts, cpu_percent], ...]`` points inside the windows (NaN when none)."""
    if not timeline:
        return float("nan")
    arr = np.asarray(timeline, dtype=np.float64).reshape(-1, 2)
    t = arr[:, 0] - run_start
    mask = np.zeros(arr.shape[0], dtype=bool)
    for begin, end in windows:
        mask |= (t >= begin) & (t <= end + 1.0)  # a point covers the second before it
    return float(arr[mask, 1].mean()) if mask.any() else float("nan")


def generator_cpu_from_meta(
    meta: Mapping[str, Any], windows: Sequence[tuple[float, float]], run_start: float
) -> dict[str, float]:
    """Per generator process, mean CPU % in the windows, from ``samples.json`` ``workers``."""
    out: dict[str, float] = {}
    for worker in meta.get("workers", []) or []:
        if isinstance(worker, Mapping) and worker.get("cpu"):
            name = str(worker.get("name", f"generator-{worker.get('index', len(out))}"))
            out[name] = average_cpu(worker["cpu"], windows, run_start)
    return out


def _threshold_checks(
    endpoint: str | None, limits: Thresholds, stats: Mapping[str, float]
) -> list[Check]:
    checks = []
    for metric in SLO_METRICS:
        threshold = getattr(limits, metric)
        if threshold is None:
            continue
        value = stats["ok_rate" if metric == "min_rate" else metric]
        if metric == "min_rate":
            passed = bool(value >= threshold)
        else:
            passed = bool(math.isfinite(value) and value <= threshold)
        checks.append(
            Check("slo", metric, float(threshold), float(value), passed, endpoint=endpoint)
        )
    return checks


@dataclass
class _Steady:
    """The requests that started in the steady windows, and what they add up to."""

    records: Records
    endpoints: npt.NDArray[np.integer[Any]]  # each record's index into [*samples.endpoints, "?"]
    groups: dict[str, list[int]]  # endpoint name -> its indices, by name
    seconds: float

    def rate(self, count: float) -> float:
        return count / self.seconds if self.seconds else float("nan")


def _steady(samples: Samples, windows: Sequence[tuple[float, float]], start: float) -> _Steady:
    mask = window_mask(samples.records, windows, start)
    seconds = float(sum(end - begin for begin, end in windows))
    records = samples.records[mask]
    index = samples.endpoint_index(records)
    return _Steady(records, index, samples.endpoint_groups(index), seconds)


def _aggregate(steady: _Steady, late_threshold_ms: float) -> dict[str, float]:
    records = steady.records
    aggregate = latency_stats(records)
    aggregate["rate"] = steady.rate(records.shape[0])
    aggregate["ok_rate"] = (
        aggregate["rate"] * (1.0 - aggregate["error_rate"]) if steady.seconds else 0.0
    )
    aggregate["service_p95_ms"] = percentile(
        records["latency_ms"][records["ok"] == 1], 95, scratch=True
    )
    aggregate["late_starts"] = float(late_starts(records, late_threshold_ms))
    return aggregate


def late_starts(records: Records, late_threshold_ms: float = LATE_THRESHOLD_MS) -> int:
    """Requests that started more than ``late_threshold_ms`` after their intended start. From
    the ``intended`` column, or (records that keep only the flag, as the analysis loads them)
    from ``late``, computed at the default threshold when loaded."""
    names = records.dtype.names if isinstance(records, np.ndarray) else tuple(records.columns)
    if "intended" not in (names or ()):
        if late_threshold_ms != LATE_THRESHOLD_MS:
            raise ValueError(f"records keep late starts at {LATE_THRESHOLD_MS:g} ms only")
        return int(np.count_nonzero(records["late"]))
    count = 0
    for rows in row_chunks(records.shape[0]):
        lateness_ms = (records["ts"][rows] - records["intended"][rows]) * 1000.0
        count += int((lateness_ms > late_threshold_ms).sum())
    return count


def _per_endpoint(steady: _Steady) -> dict[str, dict[str, float]]:
    per_endpoint: dict[str, dict[str, float]] = {}
    # only the two columns the numbers need, not a copy of every column per endpoint
    needed = SampleColumns({c: steady.records[c] for c in ("ok", "co_latency_ms")})
    for endpoint, indices in steady.groups.items():
        part = needed[np.isin(steady.endpoints, indices)]
        stats = latency_stats(part)
        stats["rate"] = steady.rate(part.shape[0])
        stats["ok_rate"] = (
            float((part["ok"] == 1).sum()) / steady.seconds if steady.seconds else 0.0
        )
        per_endpoint[endpoint] = stats
    return per_endpoint


def _slo_checks(
    scenario: Scenario, aggregate: Mapping[str, float], per_endpoint: Mapping[str, Any]
) -> list[Check]:
    checks = _threshold_checks(None, scenario.slo, aggregate)
    nothing = {**latency_stats(np.empty(0, dtype=SAMPLE_DTYPE)), "rate": 0.0, "ok_rate": 0.0}
    for endpoint, limits in scenario.slo.endpoints.items():
        checks.extend(_threshold_checks(endpoint, limits, per_endpoint.get(endpoint) or nothing))
    return checks


def stability_checks(
    records: Records, windows: Sequence[tuple[float, float]], start: float
) -> list[Check]:
    """Did the service hold steady (``harness.core.stability``)? A collapse or a stall fails
    the run: its users were not served, and its numbers are not a capacity."""
    checks = []
    floor = stability.floor_share(records, windows, start)
    if math.isfinite(floor):
        share = stability.COLLAPSE_SHARE
        checks.append(Check("stability", "throughput_floor", share, floor, floor >= share))
    longest = stability.longest_stall_s(records, windows, start)
    limit = stability.STALL_S
    checks.append(Check("stability", "longest_stall_s", limit, longest, longest < limit))
    return checks


@dataclass
class _Validity:
    """Checks and plain-word reasons for "the generator, not the service, was the limit"."""

    checks: list[Check] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    failed_slo: list[Check] = field(default_factory=list)  # shortfalls that are the service's


def _generator_cpu(
    samples: Samples,
    given: Mapping[str, float] | float | None,
    windows: Sequence[tuple[float, float]],
    start: float,
) -> dict[str, float]:
    if given is None:
        return generator_cpu_from_meta(samples.meta, windows, start)
    if isinstance(given, Mapping):
        return dict(given)
    return {"generator": float(given)}


def _judge_generator_cpu(cpu: Mapping[str, float], cpu_limit: float, out: _Validity) -> None:
    for process, value in sorted(cpu.items()):
        if not math.isfinite(value):
            continue
        ok = value <= cpu_limit
        out.checks.append(Check("validity", "generator_cpu", cpu_limit, value, ok, process=process))
        if not ok:
            out.reasons.append(
                f"generator {process} used {value:.0f} % of a core (limit {cpu_limit:.0f} %): "
                "the load generator, not the service, was the limit"
            )


def _judge_rates(
    samples: Samples,
    scenario: Scenario,
    windows: Sequence[tuple[float, float]],
    start: float,
    rate_tolerance: float,
    late_starts: int,
    out: _Validity,
) -> list[dict[str, Any]]:
    """Per steady window: did the generator offer its target rate? (Open model only.)"""
    records = samples.records
    window_rates = []
    for (begin, end), target in zip(windows, scenario.window_targets(), strict=True):
        # achieved rate: requests actually started in the window
        in_window = window_mask(records, [(begin, end)], start)
        achieved = float(in_window.sum()) / (end - begin)
        window_rates.append({"window": [begin, end], "target": target, "achieved": achieved})
        if target is None:
            continue
        ok = achieved >= rate_tolerance * target
        if not ok and _service_overloaded(records[in_window], scenario):
            # The service's own latency (from the actual start) breaks the SLO: it, not the
            # generator, held the rate down. That is a failed run, not an invalid one.
            out.failed_slo.append(
                Check("slo", "achieved_rate", rate_tolerance * target, achieved, False,
                      window=(begin, end))
            )  # fmt: skip
            continue
        out.checks.append(
            Check("validity", "achieved_rate", rate_tolerance * target, achieved, ok,
                  window=(begin, end))
        )  # fmt: skip
        if not ok:
            out.reasons.append(
                f"achieved {achieved:.1f} req/s in {begin:g}-{end:g} s, below "
                f"{rate_tolerance:.0%} of the {target:g} req/s target "
                f"({late_starts} late starts): the generator could not offer "
                "the load (CPU, or too few users: raise load.max_users)"
            )
    return window_rates


def _service_overloaded(records: Records, scenario: Scenario) -> bool:
    """Did the service itself (latency from the actual start) break the p95 SLO here?"""
    service_p95 = percentile(records["latency_ms"][records["ok"] == 1], 95, scratch=True)
    limit = scenario.slo.p95_ms
    return limit is not None and math.isfinite(service_p95) and service_p95 > limit


def evaluate(
    samples: Samples,
    scenario: Scenario,
    generator_cpu_percent: Mapping[str, float] | float | None = None,
    *,
    run_start: float | None = None,
    replicas: int | None = None,
    cpu_limit: float = CPU_LIMIT_PERCENT,
    rate_tolerance: float = RATE_TOLERANCE,
    min_samples: int = MIN_SAMPLES,
    late_threshold_ms: float = LATE_THRESHOLD_MS,
    windows: Sequence[tuple[float, float]] | None = None,
) -> Verdict:
    """Judge ``samples`` against ``scenario.slo`` on the steady windows.

    ``generator_cpu_percent``: mean CPU % (100 = one core) of each generator process over the
    steady windows; when None it is taken from ``samples.meta["workers"][i]["cpu"]`` timelines.
    ``run_start`` (unix s) defaults to ``samples.meta["run_start"]``. ``replicas``: the phase's,
    to pick its faults (None: every fault of the scenario). ``windows``: the scenario's steady
    windows with their starts moved by the data (the analysis's MSER-5 check,
    ``harness.analysis.steady``), one per scenario window; None: the scenario's own (Locust's
    end-of-run verdict). Stability always judges the scenario's: a moved start hides no stall.
    """
    start = float(run_start if run_start is not None else samples.meta.get("run_start", 0.0))
    declared = scenario.steady_windows()
    windows = list(windows) if windows is not None else declared
    steady = _steady(samples, windows, start)
    aggregate = _aggregate(steady, late_threshold_ms)
    per_endpoint = _per_endpoint(steady)
    checks = _slo_checks(scenario, aggregate, per_endpoint)
    # A fault drill's dips are judged by its [slo.faults] (harness.analysis.recovery), not here.
    judged = stability.without(declared, scenario.fault_spans(replicas))
    checks += stability_checks(samples.records, judged, start)

    # Validity: too few requests and nothing can be judged. Enough requests but too few
    # successes: the latency percentiles cannot be judged, but a failed check (say, the error
    # rate) still can.
    validity = _Validity()
    total = int(steady.records.shape[0])
    successful = int((steady.records["ok"] == 1).sum())
    validity.checks.append(
        Check("validity", "samples", float(min_samples), float(total), total >= min_samples)
    )
    if total < min_samples:
        validity.reasons.append(f"only {total} requests in the steady windows (need {min_samples})")
    cpu = _generator_cpu(samples, generator_cpu_percent, windows, start)
    _judge_generator_cpu(cpu, cpu_limit, validity)
    window_rates = _judge_rates(
        samples, scenario, windows, start, rate_tolerance, int(aggregate["late_starts"]), validity
    )
    checks += validity.failed_slo
    failed = [c for c in checks if not c.passed]
    # Too few successes with a check already failed (say, every request timed out): the phase
    # is a FAIL, not INVALID, and no row may read PASS beside 0 successes: the check is left out.
    if successful >= min_samples or not failed:
        validity.checks.append(
            Check("validity", "successful_samples", float(min_samples), float(successful),
                  successful >= min_samples)
        )  # fmt: skip
    if total >= min_samples and successful < min_samples and not failed:
        validity.reasons.append(
            f"only {successful} successful requests in the steady windows (need {min_samples}) "
            "to judge latency"
        )
    status, reasons = _status(validity.reasons, failed)
    return Verdict(
        status=status,
        checks=checks + validity.checks,
        reasons=reasons,
        windows=windows,
        measured={
            "aggregate": aggregate,
            "endpoints": per_endpoint,
            "statuses": failure_statuses(steady.records),
            "generator_cpu_percent": cpu,
            "windows": window_rates,
            "steady_seconds": steady.seconds,
            "run_start": start,
        },
    )


def _status(invalid: list[str], failed: list[Check]) -> tuple[Status, list[str]]:
    if invalid:
        return "INVALID", invalid
    if failed:
        return "FAIL", [
            f"{c.subject} {c.label} = {c.value:.4g} (limit {c.comparison} {c.threshold:g})"
            for c in failed
        ]
    return "PASS", []
