"""``capacity gate`` and ``capacity baseline save``: SLO checks and a noise-aware comparison.

A baseline stores, per phase, the summary metrics and their per-block values (one value per
5-second block of the steady window). Run-to-run noise is estimated from those blocks: the gate
bootstraps the relative change of each metric's block mean (resampling the blocks of the baseline
and of the current run independently) and calls a change *significant* only when the 95 %
interval of the change lies entirely on the worse side of zero. A metric fails only when it is
both worse by more than ``--max-regression`` and significant.

The checks are pure functions of summaries and measurements; only ``load_baseline``,
``save_baseline`` and the ``run_*_command`` functions touch files, and only the latter return the
exit code.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree import ElementTree as ET

import numpy as np

from harness._files import utc_now, write_json
from harness.analysis.load import PhaseData, load_run, read_json
from harness.analysis.series import BLOCK_S, block_metrics
from harness.analysis.summary import PhaseSummary
from harness.analysis.summary import summarise_phase as _summarise
from harness.core.checks import EXIT_CODES, Status
from harness.errors import BadInputError

BASELINE_SCHEMA = "primo-capacity/baseline/v1"
DEFAULT_MAX_REGRESSION = 10.0  # percent
BOOTSTRAP_ROUNDS = 2000
CONFIDENCE = 0.95
MIN_BLOCKS = 3

# metric -> (label, True when higher is worse)
REGRESSION_METRICS: dict[str, tuple[str, bool]] = {
    "p50_ms": ("p50 latency (ms)", True),
    "p95_ms": ("p95 latency (ms)", True),
    "achieved_rps": ("achieved rate (req/s)", False),
    "cpu_ms_per_request": ("service CPU per request (ms)", True),
}
# summary attribute -> block column
_BLOCK_COLUMN = {
    "p50_ms": "p50_ms",
    "p95_ms": "p95_ms",
    "achieved_rps": "rps",
    "cpu_ms_per_request": "cpu_ms_per_request",
}


# -- baseline ----------------------------------------------------------------------------------


@dataclass
class PhaseBaseline:
    metrics: dict[str, float]
    blocks: dict[str, list[float]]


@dataclass
class Baseline:
    scenario: str
    phases: dict[str, PhaseBaseline]
    block_s: float = BLOCK_S
    created: str = ""
    source: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)  # git commits the baseline runs measured

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": BASELINE_SCHEMA,
            "scenario": self.scenario,
            "created": self.created,
            "source": self.source,
            "commits": self.commits,
            "block_s": self.block_s,
            "phases": {
                name: {
                    "metrics": _clean(p.metrics),
                    "blocks": {k: _clean_list(v) for k, v in p.blocks.items()},
                }
                for name, p in self.phases.items()
            },
        }


def _clean(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: (float(v) if math.isfinite(v) else None) for k, v in values.items()}


def _clean_list(values: Sequence[float]) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def phase_measurement(phase: PhaseData, summary: PhaseSummary) -> PhaseBaseline:
    """The summary metrics and per-block values of one phase (what a baseline stores)."""
    blocks = block_metrics(phase)
    return PhaseBaseline(
        metrics={m: float(getattr(summary, m)) for m in REGRESSION_METRICS},
        blocks={m: [float(v) for v in blocks[col]] for m, col in _BLOCK_COLUMN.items()},
    )


def baseline_from(
    runs: Sequence[Sequence[PhaseData]], summaries: Sequence[Sequence[PhaseSummary]]
) -> Baseline:
    """One baseline from one or more runs of the same scenario (blocks pooled per phase)."""
    scenarios = {s.scenario for run in summaries for s in run}
    if len(scenarios) != 1:
        names = ", ".join(sorted(scenarios))
        raise BadInputError(f"baseline: the runs are of different scenarios ({names})")
    phases: dict[str, PhaseBaseline] = {}
    pooled: dict[str, list[PhaseSummary]] = {}
    for run_phases, run_summaries in zip(runs, summaries, strict=True):
        for phase, summary in zip(run_phases, run_summaries, strict=True):
            m = phase_measurement(phase, summary)
            pooled.setdefault(summary.phase, []).append(summary)
            if summary.phase not in phases:
                phases[summary.phase] = m
            else:
                for k, v in m.blocks.items():
                    phases[summary.phase].blocks[k].extend(v)
    for name, members in pooled.items():  # several runs: the metric is their median
        if len(members) > 1:
            phases[name].metrics = {
                m: float(np.nanmedian([getattr(s, m) for s in members])) for m in REGRESSION_METRICS
            }
    return Baseline(
        scenario=scenarios.pop(),
        phases=phases,
        created=utc_now(),
        source=sorted({s.run for run in summaries for s in run}),
        commits=sorted(
            {
                str(p.manifest.get("git_commit"))
                for run in runs
                for p in run
                if p.manifest.get("git_commit")
            }
        ),
    )


def load_baseline(path: Path) -> Baseline:
    data = read_json(path)
    if data.get("schema") != BASELINE_SCHEMA:
        raise BadInputError(f"{path}: schema {data.get('schema')!r}, expected {BASELINE_SCHEMA!r}")
    try:
        phases = {
            str(name): PhaseBaseline(
                metrics={k: _num(v) for k, v in p["metrics"].items()},
                blocks={k: [_num(x) for x in v] for k, v in p["blocks"].items()},
            )
            for name, p in data["phases"].items()
        }
        return Baseline(
            scenario=str(data["scenario"]),
            phases=phases,
            block_s=float(data.get("block_s", BLOCK_S)),
            created=str(data.get("created", "")),
            source=[str(s) for s in data.get("source", [])],
            commits=[str(c) for c in data.get("commits", [])],
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise BadInputError(f"{path}: not a baseline file ({type(exc).__name__}: {exc})") from exc


def _num(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def save_baseline(baseline: Baseline, path: Path) -> None:
    write_json(path, baseline.to_dict(), indent=1)


# -- noise-aware comparison --------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    change_pct: float  # from the summary values
    low_pct: float  # 95 % interval of the change of the block means
    high_pct: float
    blocks: tuple[int, int]  # (baseline, current)

    @property
    def estimated(self) -> bool:
        return math.isfinite(self.low_pct) and math.isfinite(self.high_pct)


def bootstrap_change(
    baseline_blocks: Sequence[float],
    current_blocks: Sequence[float],
    *,
    rounds: int = BOOTSTRAP_ROUNDS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of mean(current)/mean(baseline) - 1, in percent."""
    b = np.asarray([v for v in baseline_blocks if math.isfinite(v)], dtype=np.float64)
    c = np.asarray([v for v in current_blocks if math.isfinite(v)], dtype=np.float64)
    if b.size < MIN_BLOCKS or c.size < MIN_BLOCKS:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    b_means = b[rng.integers(0, b.size, size=(rounds, b.size))].mean(axis=1)
    c_means = c[rng.integers(0, c.size, size=(rounds, c.size))].mean(axis=1)
    valid = b_means > 0
    ratios = c_means[valid] / b_means[valid] - 1.0
    if ratios.size == 0:
        return (math.nan, math.nan)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return (100.0 * float(low), 100.0 * float(high))


def compare_metric(metric: str, baseline: PhaseBaseline, current: PhaseBaseline) -> Change:
    before, after = baseline.metrics.get(metric, math.nan), current.metrics.get(metric, math.nan)
    finite = math.isfinite(before) and math.isfinite(after) and before != 0
    change = 100.0 * (after - before) / before if finite else math.nan
    low, high = bootstrap_change(baseline.blocks.get(metric, []), current.blocks.get(metric, []))
    return Change(
        change,
        low,
        high,
        (len(baseline.blocks.get(metric, [])), len(current.blocks.get(metric, []))),
    )


# -- the gate ----------------------------------------------------------------------------------


GateCheckKind = Literal["slo", "validity", "regression"]
GateVerdict = Literal["PASS", "FAIL", "INVALID", "SKIP"]


@dataclass
class GateCheck:
    phase: str
    kind: GateCheckKind
    name: str
    verdict: GateVerdict
    threshold: str = ""
    baseline: float | None = None
    current: float | None = None
    change_pct: float | None = None
    noise_low_pct: float | None = None
    noise_high_pct: float | None = None
    significant: bool | None = None
    message: str = ""


@dataclass
class GateResult:
    status: Status
    checks: list[GateCheck]
    max_regression: float
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "max_regression_pct": self.max_regression,
            "baseline": self.baseline,
            "checks": [asdict(c) for c in self.checks],
        }


def slo_checks(summary: PhaseSummary) -> list[GateCheck]:
    checks = []
    for c in summary.slo_checks:
        failed: GateVerdict = "INVALID" if c.kind == "validity" else "FAIL"
        checks.append(
            GateCheck(
                phase=summary.phase,
                kind=c.kind,
                name=c.label if c.endpoint is None else f"{c.endpoint} {c.label}",
                verdict="PASS" if c.passed else failed,
                threshold=f"{c.comparison} {c.threshold:g}",
                current=c.value,
            )
        )
    # Reasons harness.core.slo did not already report as a failed validity check (an incomplete
    # phase; every reason when there was no scenario to judge with).
    reported = any(c.kind == "validity" and c.verdict == "INVALID" for c in checks)
    for reason in summary.invalid_reasons:
        if not reported or reason.startswith("the phase did not complete"):
            checks.append(
                GateCheck(summary.phase, "validity", "run validity", "INVALID", message=reason)
            )
    if summary.slo_status == "n/a":
        checks.append(
            GateCheck(
                summary.phase,
                "slo",
                "SLO",
                "SKIP",
                message="no SLO verdict: the scenario could not be loaded",
            )
        )
    return checks


def regression_checks(
    phase: str, baseline: PhaseBaseline | None, current: PhaseBaseline, max_regression: float
) -> list[GateCheck]:
    if baseline is None:
        return [
            GateCheck(
                phase,
                "regression",
                "baseline",
                "SKIP",
                message="the baseline has no phase of this name",
            )
        ]
    checks = []
    for metric, (label, higher_is_worse) in REGRESSION_METRICS.items():
        change = compare_metric(metric, baseline, current)
        sign = 1.0 if higher_is_worse else -1.0
        worse_by = sign * change.change_pct
        check = GateCheck(
            phase=phase,
            kind="regression",
            name=label,
            verdict="PASS",
            threshold=f"worse by > {max_regression:g} % and significant",
            baseline=_opt(baseline.metrics.get(metric, math.nan)),
            current=_opt(current.metrics.get(metric, math.nan)),
            change_pct=_opt(change.change_pct),
            noise_low_pct=_opt(change.low_pct),
            noise_high_pct=_opt(change.high_pct),
        )
        if not math.isfinite(change.change_pct):
            check.verdict, check.message = "SKIP", "no value to compare"
        elif change.estimated:
            # significant: the whole interval lies on the worse side of zero
            worse_side = change.low_pct > 0 if higher_is_worse else change.high_pct < 0
            check.significant = bool(worse_side)
            if worse_by > max_regression and worse_side:
                check.verdict = "FAIL"
                check.message = f"worse by {worse_by:.1f} %, outside run-to-run noise"
            elif worse_by > max_regression:
                check.message = f"worse by {worse_by:.1f} % but not significant (inside noise)"
            else:
                check.message = "within the allowed regression"
        else:
            # Too few blocks to estimate noise: the threshold alone decides.
            if worse_by > max_regression:
                check.verdict = "FAIL"
            check.message = (
                f"noise unknown (blocks: {change.blocks[0]} baseline, "
                f"{change.blocks[1]} current; need {MIN_BLOCKS})"
            )
        checks.append(check)
    return checks


def _opt(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluate_gate(
    summaries: Sequence[PhaseSummary],
    measurements: Mapping[str, PhaseBaseline],
    baseline: Baseline | None,
    *,
    max_regression: float = DEFAULT_MAX_REGRESSION,
    baseline_name: str | None = None,
) -> GateResult:
    """SLO, validity and (with a baseline) regression checks → PASS, FAIL or INVALID."""
    checks: list[GateCheck] = []
    for s in summaries:
        checks.extend(slo_checks(s))
        if baseline is not None:
            checks.extend(
                regression_checks(
                    s.phase, baseline.phases.get(s.phase), measurements[s.phase], max_regression
                )
            )
    if baseline is not None:
        ran = {s.phase for s in summaries}
        checks.extend(
            GateCheck(
                name,
                "regression",
                "baseline",
                "SKIP",
                message="in the baseline but not in this run",
            )
            for name in baseline.phases
            if name not in ran
        )
    status: Status
    if any(c.verdict == "INVALID" for c in checks) or any(not s.valid for s in summaries):
        status = "INVALID"
    elif any(c.verdict == "FAIL" for c in checks):
        status = "FAIL"
    else:
        status = "PASS"
    return GateResult(status, checks, max_regression, baseline_name)


# -- rendering ---------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def _g(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def markdown(result: GateResult) -> str:
    lines = [f"## Capacity gate: {result.status}", ""]
    slo = [c for c in result.checks if c.kind != "regression"]
    if slo:
        lines += [
            "| phase | check | threshold | measured | verdict |",
            "| --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {c.phase} | {c.kind}: {c.name} | {c.threshold or '—'} | "
            f"{_g(c.current) if c.current is not None else c.message} | {c.verdict} |"
            for c in slo
        ]
        lines.append("")
    reg = [c for c in result.checks if c.kind == "regression"]
    if reg:
        lines += [
            f"Baseline: `{result.baseline}`. A metric fails only when it is worse by more than "
            f"{result.max_regression:g} % **and** the 95 % bootstrap interval of the change "
            "(over 5-second blocks) lies entirely on the worse side of zero.",
            "",
            "| phase | metric | baseline | current | change | noise band (95 %) | significant "
            "| verdict | note |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in reg:
            band = (
                f"{_f(c.noise_low_pct, 1)} % to {_f(c.noise_high_pct, 1)} %"
                if c.noise_low_pct is not None
                else "—"
            )
            sig = "—" if c.significant is None else ("yes" if c.significant else "no")
            lines.append(
                f"| {c.phase} | {c.name} | {_f(c.baseline)} | {_f(c.current)} | "
                f"{_f(c.change_pct, 1, ' %')} | {band} | {sig} | {c.verdict} | {c.message} |"
            )
        lines.append("")
    return "\n".join(lines)


def junit_xml(result: GateResult, suite: str = "capacity-gate") -> str:
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(result.checks)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for c in result.checks:
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.{c.phase}.{c.kind}", name=c.name)
        detail = (
            f"threshold {c.threshold}; current {_g(c.current)}"
            + (
                f"; baseline {_g(c.baseline)}; change {_f(c.change_pct, 1, ' %')}; "
                f"noise {_f(c.noise_low_pct, 1)}..{_f(c.noise_high_pct, 1)} %"
                if c.kind == "regression"
                else ""
            )
            + (f"; {c.message}" if c.message else "")
        )
        if c.verdict == "FAIL":
            ET.SubElement(case, "failure", message=detail, type="FAIL").text = detail
            counts["failures"] += 1
        elif c.verdict == "INVALID":
            ET.SubElement(case, "error", message=detail, type="INVALID").text = detail
            counts["errors"] += 1
        elif c.verdict == "SKIP":
            ET.SubElement(case, "skipped", message=detail)
            counts["skipped"] += 1
        else:
            ET.SubElement(case, "system-out").text = detail
    for key, value in counts.items():
        ts.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# -- CLI ---------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gate = subparsers.add_parser(
        "gate",
        help="check a run against its SLOs and a baseline (exit 0 pass, 1 fail, 3 invalid)",
        description="SLO checks per phase plus a noise-aware comparison with a baseline. Exit "
        "codes: 0 pass, 1 SLO failure or significant regression, 3 invalid run, 2 bad input.",
    )
    gate.add_argument("run", type=Path, metavar="RUN_DIR")
    gate.add_argument("--baseline", type=Path, help="baseline JSON (capacity baseline save)")
    gate.add_argument(
        "--max-regression",
        type=float,
        default=DEFAULT_MAX_REGRESSION,
        metavar="PCT",
        help="allowed worsening in percent (default: %(default)g)",
    )
    gate.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML here")
    gate.add_argument("--markdown", type=Path, metavar="FILE", help="write the table here too")
    gate.add_argument("--json", type=Path, metavar="FILE", help="write the result as JSON")
    gate.set_defaults(func=run_gate_command)

    baseline = subparsers.add_parser("baseline", help="manage performance baselines")
    sub = baseline.add_subparsers(dest="baseline_command", metavar="ACTION", required=True)
    save = sub.add_parser("save", help="store a run's metrics and noise blocks as a baseline")
    save.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    save.add_argument(
        "--out", type=Path, metavar="FILE", help="default: reports/baselines/<scenario>.json"
    )
    save.set_defaults(func=run_baseline_save_command)


def _measure(run: Path) -> tuple[list[PhaseData], list[PhaseSummary]]:
    phases = load_run(run)
    summaries = [_summarise(p) for p in phases]
    return phases, summaries


def run_gate_command(args: argparse.Namespace) -> int:
    if not (0 <= args.max_regression < 1000):
        raise BadInputError(f"--max-regression {args.max_regression:g}: expected 0-1000 percent")
    baseline = load_baseline(args.baseline) if args.baseline else None
    phases, summaries = _measure(args.run)
    if baseline is not None:
        scenarios = {s.scenario for s in summaries}
        if scenarios != {baseline.scenario}:
            raise BadInputError(
                f"{args.baseline}: baseline of scenario {baseline.scenario!r}, but {args.run} ran "
                f"{', '.join(sorted(scenarios))!s}"
            )
    measurements = {
        s.phase: phase_measurement(p, s) for p, s in zip(phases, summaries, strict=True)
    }
    result = evaluate_gate(
        summaries,
        measurements,
        baseline,
        max_regression=args.max_regression,
        baseline_name=str(args.baseline) if args.baseline else None,
    )
    text = markdown(result)
    print(text)
    for path, content in (
        (args.markdown, text),
        (args.junit, junit_xml(result)),
        (args.json, json.dumps(result.to_dict(), indent=2) + "\n"),
    ):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if result.status != "PASS":
        reasons = [
            f"{c.phase} {c.name}: {c.message or c.verdict}"
            for c in result.checks
            if c.verdict in ("FAIL", "INVALID")
        ]
        print(f"capacity gate: {result.status} — " + "; ".join(reasons[:5]), file=sys.stderr)
    return EXIT_CODES[result.status]


def run_baseline_save_command(args: argparse.Namespace) -> int:
    measured = [_measure(run) for run in args.runs]
    baseline = baseline_from([m[0] for m in measured], [m[1] for m in measured])
    out = args.out or Path("reports") / "baselines" / f"{baseline.scenario}.json"
    save_baseline(baseline, out)
    print(out)
    return 0
