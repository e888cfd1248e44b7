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
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.core.samples import SampleArray, Samples, percentile
from harness.core.scenario import Scenario, Thresholds

Status = Literal["PASS", "FAIL", "INVALID"]
EXIT_CODES: dict[str, int] = {"PASS": 0, "FAIL": 1, "INVALID": 3}

CPU_LIMIT_PERCENT = 80.0
RATE_TOLERANCE = 0.95
MIN_SAMPLES = 100
LATE_THRESHOLD_MS = 10.0


@dataclass(frozen=True)
class Check:
    name: str  # "aggregate", an endpoint ("GET /api/tasks/{id}"), or "validity"
    metric: str  # p50_ms | p95_ms | p99_ms | error_rate | min_rate | generator_cpu | ...
    threshold: float
    value: float
    passed: bool

    @property
    def comparison(self) -> str:
        return ">=" if self.metric.startswith(AT_LEAST) else "<="


# Metrics judged as lower bounds (a check named "achieved_rate@5-35s" starts with one of them).
AT_LEAST = ("min_rate", "achieved_rate", "samples", "successful_samples")


@dataclass
class Verdict:
    status: Status
    checks: list[Check]
    reasons: list[str]
    windows: list[tuple[float, float]]
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": 1,
            "status": self.status,
            "exit_code": self.exit_code,
            "reasons": self.reasons,
            "windows": [list(w) for w in self.windows],
            "checks": [asdict(c) for c in self.checks],
            "measured": jsonable(self.measured),
        }


def jsonable(value: Any) -> Any:
    """JSON has no NaN or infinity: non-finite floats become None, recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def window_mask(
    records: SampleArray, windows: Sequence[tuple[float, float]], run_start: float
) -> npt.NDArray[np.bool_]:
    """Records that started in one of the windows (relative to ``run_start``).

    By actual start, so that an open-model backlog (requests intended during the warm-up but sent
    much later) counts, with its corrected latency, in the window where it was sent.
    """
    t = records["ts"] - run_start
    mask = np.zeros(records.shape[0], dtype=bool)
    for begin, end in windows:
        mask |= (t >= begin) & (t < end)
    return mask


def latency_stats(records: SampleArray, column: str = "co_latency_ms") -> dict[str, float]:
    """Exact percentiles of successful requests; counts and error rate over all of them."""
    ok = records["ok"] == 1
    values = records[column][ok]
    total = int(records.shape[0])
    failures = total - int(ok.sum())
    return {
        "requests": float(total),
        "failures": float(failures),
        "error_rate": failures / total if total else float("nan"),
        "p50_ms": percentile(values, 50),
        "p95_ms": percentile(values, 95),
        "p99_ms": percentile(values, 99),
        "max_ms": float(values.max()) if values.size else float("nan"),
    }


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


def _threshold_checks(name: str, limits: Thresholds, stats: Mapping[str, float]) -> list[Check]:
    checks = []
    for metric in ("p50_ms", "p95_ms", "p99_ms", "error_rate", "min_rate"):
        threshold = getattr(limits, metric)
        if threshold is None:
            continue
        value = stats["ok_rate" if metric == "min_rate" else metric]
        if metric == "min_rate":
            passed = bool(value >= threshold)
        else:
            passed = bool(math.isfinite(value) and value <= threshold)
        checks.append(Check(name, metric, float(threshold), float(value), passed))
    return checks


def evaluate(
    samples: Samples,
    scenario: Scenario,
    generator_cpu_percent: Mapping[str, float] | float | None = None,
    *,
    run_start: float | None = None,
    cpu_limit: float = CPU_LIMIT_PERCENT,
    rate_tolerance: float = RATE_TOLERANCE,
    min_samples: int = MIN_SAMPLES,
    late_threshold_ms: float = LATE_THRESHOLD_MS,
) -> Verdict:
    """Judge ``samples`` against ``scenario.slo`` on the steady windows.

    ``generator_cpu_percent``: mean CPU % (100 = one core) of each generator process over the
    steady windows; when None it is taken from ``samples.meta["workers"][i]["cpu"]`` timelines.
    ``run_start`` (unix s) defaults to ``samples.meta["run_start"]``.
    """
    start = float(run_start if run_start is not None else samples.meta.get("run_start", 0.0))
    windows = scenario.steady_windows()
    records = samples.records
    steady = records[window_mask(records, windows, start)]
    names = samples.endpoint_names()[window_mask(records, windows, start)]
    seconds = sum(end - begin for begin, end in windows)

    aggregate = latency_stats(steady)
    aggregate["rate"] = steady.shape[0] / seconds if seconds else float("nan")
    aggregate["ok_rate"] = aggregate["rate"] * (1.0 - aggregate["error_rate"]) if seconds else 0.0
    aggregate["service_p95_ms"] = percentile(steady["latency_ms"][steady["ok"] == 1], 95)
    lateness_ms = (steady["ts"] - steady["intended"]) * 1000.0
    aggregate["late_starts"] = float((lateness_ms > late_threshold_ms).sum())

    checks = _threshold_checks("aggregate", scenario.slo, aggregate)
    per_endpoint: dict[str, dict[str, float]] = {}
    for endpoint in sorted(set(names.tolist())):
        part = steady[names == endpoint]
        stats = latency_stats(part)
        stats["rate"] = part.shape[0] / seconds if seconds else float("nan")
        stats["ok_rate"] = (part["ok"] == 1).sum() / seconds if seconds else 0.0
        per_endpoint[endpoint] = stats
    for endpoint, limits in scenario.slo.endpoints.items():
        stats = per_endpoint.get(endpoint) or {
            **latency_stats(np.empty(0, dtype=records.dtype)),
            "rate": 0.0,
            "ok_rate": 0.0,
        }
        checks.extend(_threshold_checks(endpoint, limits, stats))

    # validity: was the generator the limit, or is there too little to judge?
    reasons: list[str] = []
    validity: list[Check] = []
    successful = int((steady["ok"] == 1).sum())
    total = int(steady.shape[0])
    # Too few requests: nothing can be judged. Enough requests but too few successes: the
    # latency percentiles cannot be judged, but a failed check (say, the error rate) still can.
    validity.append(
        Check("validity", "samples", float(min_samples), float(total), total >= min_samples)
    )
    if total < min_samples:
        reasons.append(f"only {total} requests in the steady windows (need {min_samples})")
    few_successes = total >= min_samples and successful < min_samples

    if generator_cpu_percent is None:
        cpu = generator_cpu_from_meta(samples.meta, windows, start)
    elif isinstance(generator_cpu_percent, Mapping):
        cpu = dict(generator_cpu_percent)
    else:
        cpu = {"generator": float(generator_cpu_percent)}
    for process, value in sorted(cpu.items()):
        if not math.isfinite(value):
            continue
        ok = value <= cpu_limit
        validity.append(Check("validity", f"cpu:{process}", cpu_limit, value, ok))
        if not ok:
            reasons.append(
                f"generator {process} used {value:.0f} % of a core (limit {cpu_limit:.0f} %): "
                "the load generator, not the service, was the limit"
            )

    window_rates = []
    t = records["ts"] - start  # achieved rate: requests actually started in the window
    for (begin, end), target in zip(windows, scenario.window_targets(), strict=True):
        in_window = (t >= begin) & (t < end)
        achieved = float(in_window.sum()) / (end - begin)
        # Did the service itself (latency from the actual start) break the p95 SLO here?
        service_p95 = percentile(records["latency_ms"][in_window & (records["ok"] == 1)], 95)
        service_overloaded = (
            scenario.slo.p95_ms is not None
            and math.isfinite(service_p95)
            and service_p95 > scenario.slo.p95_ms
        )
        window_rates.append({"window": [begin, end], "target": target, "achieved": achieved})
        if target is None:
            continue
        ok = achieved >= rate_tolerance * target
        check = Check(
            "validity", f"achieved_rate@{begin:g}-{end:g}s", rate_tolerance * target, achieved, ok
        )
        if not ok and service_overloaded:
            # The service's own latency (from the actual start) breaks the SLO: it, not the
            # generator, held the rate down. That is a failed run, not an invalid one.
            checks.append(Check("aggregate", check.metric, check.threshold, achieved, False))
            continue
        validity.append(check)
        if not ok:
            reasons.append(
                f"achieved {achieved:.1f} req/s in {begin:g}-{end:g} s, below "
                f"{rate_tolerance:.0%} of the {target:g} req/s target "
                f"({int(aggregate['late_starts'])} late starts): the generator could not offer "
                "the load (CPU, or too few users: raise load.max_users)"
            )

    failed = [c for c in checks if not c.passed]
    validity.append(
        Check(
            "validity",
            "successful_samples",
            float(min_samples),
            float(successful),
            successful >= min_samples or bool(failed),
        )
    )
    if few_successes and not failed:
        reasons.append(
            f"only {successful} successful requests in the steady windows (need {min_samples}) "
            "to judge latency"
        )
    status: Status
    if reasons:
        status = "INVALID"
    elif failed:
        status = "FAIL"
        reasons = [
            f"{c.name} {c.metric} = {c.value:.4g} (limit {c.comparison} {c.threshold:g})"
            for c in failed
        ]
    else:
        status = "PASS"
    return Verdict(
        status=status,
        checks=checks + validity,
        reasons=reasons,
        windows=windows,
        measured={
            "aggregate": aggregate,
            "endpoints": per_endpoint,
            "generator_cpu_percent": cpu,
            "windows": window_rates,
            "steady_seconds": seconds,
            "run_start": start,
        },
    )


def format_table(verdict: Verdict) -> str:
    """The verdict as a plain-text table: check, threshold, measured, PASS/FAIL."""
    rows = [("check", "threshold", "measured", "result")]
    for check in verdict.checks:
        rows.append(
            (
                f"{check.name} {check.metric}",
                f"{check.comparison} {check.threshold:g}",
                f"{check.value:.6g}",
                "PASS" if check.passed else "FAIL",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    agg = verdict.measured.get("aggregate", {})
    lines.append("")
    lines.append(
        f"steady windows: {', '.join(f'{a:g}-{b:g}s' for a, b in verdict.windows)}; "
        f"requests {int(agg.get('requests', 0))}, failures {int(agg.get('failures', 0))}, "
        f"p95 {agg.get('p95_ms', float('nan')):.3f} ms "
        f"(service {agg.get('service_p95_ms', float('nan')):.3f} ms), "
        f"late starts {int(agg.get('late_starts', 0))}"
    )
    lines.append(
        f"VERDICT: {verdict.status}"
        + (f" — {'; '.join(verdict.reasons)}" if verdict.reasons else "")
    )
    return "\n".join(lines)
