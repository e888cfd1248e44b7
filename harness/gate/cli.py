"""``capacity gate`` and ``capacity baseline save``: the only part of the gate that touches the run
directory and the output files, and the only one that decides the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness._files import write_atomic
from harness.analysis.load import PhaseData, load_run
from harness.analysis.summary import PhaseSummary, summarise_phase
from harness.core.checks import EXIT_CODES
from harness.errors import BadInputError
from harness.gate.baseline import (
    Baseline,
    baseline_from,
    load_baseline,
    phase_measurement,
    save_baseline,
)
from harness.gate.checks import DEFAULT_MAX_REGRESSION, GateResult, evaluate_gate
from harness.gate.render import junit_xml, markdown

MAX_REGRESSION_LIMIT = 1000.0  # percent; --max-regression must be below it


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
    summaries = [summarise_phase(p) for p in phases]
    return phases, summaries


def run_gate_command(args: argparse.Namespace) -> int:
    if not (0 <= args.max_regression < MAX_REGRESSION_LIMIT):
        raise BadInputError(
            f"--max-regression {args.max_regression:g}: expected 0-{MAX_REGRESSION_LIMIT:g} percent"
        )
    baseline = load_baseline(args.baseline) if args.baseline else None
    phases, summaries = _measure(args.run)
    if baseline is not None:
        _require_same_scenario(baseline, summaries, baseline_path=args.baseline, run=args.run)
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
    _write_outputs(args, result, text)
    if result.status != "PASS":
        print(_failure_line(result), file=sys.stderr)
    return EXIT_CODES[result.status]


def _require_same_scenario(
    baseline: Baseline, summaries: Sequence[PhaseSummary], *, baseline_path: Path, run: Path
) -> None:
    scenarios = {s.scenario for s in summaries}
    if scenarios != {baseline.scenario}:
        raise BadInputError(
            f"{baseline_path}: baseline of scenario {baseline.scenario!r}, but {run} ran "
            f"{', '.join(sorted(scenarios))!s}"
        )


def _write_outputs(args: argparse.Namespace, result: GateResult, text: str) -> None:
    """The files asked for with --markdown, --junit and --json."""
    for path, content in (
        (args.markdown, text),
        (args.junit, junit_xml(result)),
        (args.json, json.dumps(result.to_dict(), indent=2) + "\n"),
    ):
        if path is not None:
            write_atomic(path, content)


def _failure_line(result: GateResult) -> str:
    """One stderr line: the status and the first five checks that caused it, an unstable
    phase's story first (it explains the failed numbers after it)."""
    failed = [c for c in result.checks if c.verdict in ("FAIL", "INVALID")]
    failed.sort(key=lambda c: c.kind != "stability")
    reasons = [f"{c.phase} {c.name}: {c.message or c.verdict}" for c in failed]
    return f"capacity gate: {result.status} — " + "; ".join(reasons[:5])


def run_baseline_save_command(args: argparse.Namespace) -> int:
    measured = [_measure(run) for run in args.runs]
    baseline = baseline_from([m[0] for m in measured], [m[1] for m in measured])
    out = args.out or Path("reports") / "baselines" / f"{baseline.scenario}.json"
    save_baseline(baseline, out)
    print(out)
    return 0
