"""``capacity gate`` and ``capacity baseline save``: the only part of the gate that touches the run
directory and the output files, and the only one that decides the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness._files import write_atomic
from harness.analysis.load import PhaseData, load_run
from harness.analysis.summary import PhaseSummary, summarise_phase
from harness.errors import BadInputError
from harness.gate.baseline import (
    baseline_from,
    load_baseline,
    phase_measurement,
    save_baseline,
)
from harness.gate.checks import DEFAULT_MAX_REGRESSION, evaluate_gate
from harness.gate.render import junit_xml, markdown
from harness.gate.verdicts import GateResult, GateStatus

MAX_REGRESSION_LIMIT = 1000.0  # percent; --max-regression must be below it

# harness.core.checks' codes (0 PASS, 1 FAIL, 3 INVALID; 2 is bad input), and 4 for a gate that
# cannot tell: a change inside the noise, or a comparison with the baseline that could not be
# made. Not 0: a gate that compared nothing must not pass; not 1: nothing shows the service worse.
GATE_EXIT_CODES: dict[GateStatus, int] = {"PASS": 0, "FAIL": 1, "INVALID": 3, "INCONCLUSIVE": 4}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gate = subparsers.add_parser(
        "gate",
        help="check a run against its SLOs and a baseline "
        "(exit 0 pass, 1 fail, 3 invalid, 4 inconclusive)",
        description="SLO checks per phase plus a noise-aware comparison with a baseline. Exit "
        "codes: 0 pass, 1 SLO failure or significant regression, 3 invalid run, 4 inconclusive "
        "(a change inside the noise, or a phase, scenario or topology the baseline cannot be "
        "compared with), 2 bad input.",
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
    return GATE_EXIT_CODES[result.status]


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
    phase's story first (it explains the failed numbers after it), the undecided ones last."""
    failed = [c for c in result.checks if c.verdict in ("FAIL", "INVALID", "INCONCLUSIVE")]
    failed.sort(key=lambda c: (c.kind != "stability", c.verdict == "INCONCLUSIVE"))
    reasons = [f"{c.phase} {c.name}: {c.message or c.verdict}" for c in failed]
    return f"capacity gate: {result.status} — " + "; ".join(reasons[:5])


def run_baseline_save_command(args: argparse.Namespace) -> int:
    measured = [_measure(run) for run in args.runs]
    baseline = baseline_from([m[0] for m in measured], [m[1] for m in measured])
    out = args.out or Path("reports") / "baselines" / f"{baseline.scenario}.json"
    save_baseline(baseline, out)
    print(out)
    return 0
