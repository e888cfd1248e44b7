"""``capacity compare RUN_A RUN_B [...]``: N runs side by side, each against the first.

Per phase (matched by name), the exact steady-window figures of each run (ok req/s, p50, p95,
p99 from the exact samples, error %) and, for every run after the first, the change against the
first with a 95 % block-bootstrap interval: the steady window's 5-s blocks
(:func:`harness.analysis.series.block_metrics`) of both runs are resampled independently and the
interval is that of ``mean(blocks B) / mean(blocks A) - 1`` (:func:`harness.gate.noise.
bootstrap_interval`, seeded: the same runs always give the same interval). A change whose interval
excludes zero is marked. ``--markdown`` writes the tables for a pull-request comment.

This is a reading aid, not a verdict: the gate (``capacity gate``) decides pass or fail.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness._files import write_atomic
from harness.analysis.load import PhaseData, load_run
from harness.analysis.series import block_metrics
from harness.analysis.summary import PhaseSummary, summarise_phase
from harness.errors import BadInputError
from harness.gate.baseline import phase_topology, topology_text
from harness.gate.noise import MIN_BLOCKS, bootstrap_interval

# PhaseSummary attribute -> (label, its column in block_metrics, higher is better)
METRICS: dict[str, tuple[str, str, bool]] = {
    "ok_rps": ("ok req/s", "ok_rps", True),
    "p50_ms": ("p50 ms", "p50_ms", False),
    "p95_ms": ("p95 ms", "p95_ms", False),
    "p99_ms": ("p99 ms", "p99_ms", False),
    "error_pct": ("errors %", "error_pct", False),
}


@dataclass(frozen=True)
class Delta:
    change_pct: float  # from the exact figures
    low_pct: float  # 95 % block-bootstrap interval of the block means' change (NaN: too few)
    high_pct: float
    better: bool | None  # None: the interval holds zero (or is unknown)
    both_zero: bool = False  # zero in both runs (no errors on either side): nothing to estimate


@dataclass
class RunPhase:
    run: str
    values: dict[str, float]
    blocks: dict[str, list[float]]
    topology: dict[str, object]


@dataclass
class PhaseComparison:
    phase: str
    runs: list[RunPhase | None]  # one per run, None where the run has no such phase
    deltas: list[dict[str, Delta] | None]  # one per run after the first
    notes: list[str] = field(default_factory=list)


def measure(phase: PhaseData, summary: PhaseSummary) -> RunPhase:
    blocks = block_metrics(phase)
    return RunPhase(
        run=phase.run,
        values={m: float(getattr(summary, m)) for m in METRICS},
        blocks={m: [float(v) for v in blocks[col]] for m, (_, col, _) in METRICS.items()},
        topology=phase_topology(phase),
    )


def delta(metric: str, first: RunPhase, other: RunPhase, *, seed: int = 0) -> Delta:
    before, after = first.values[metric], other.values[metric]
    finite = math.isfinite(before) and math.isfinite(after)
    if finite and before != 0:
        change = 100.0 * (after - before) / before
    else:
        change = 0.0 if finite and after == before else math.nan
    interval = bootstrap_interval(first.blocks[metric], other.blocks[metric], seed=seed)
    low, high = interval.low_pct, interval.high_pct
    better: bool | None = None
    if math.isfinite(low) and math.isfinite(high) and (low > 0 or high < 0):
        up = low > 0
        better = up if METRICS[metric][2] else not up
    return Delta(change, low, high, better, both_zero=finite and before == after == 0)


def compare(runs: Sequence[Sequence[tuple[PhaseData, PhaseSummary]]]) -> list[PhaseComparison]:
    """Every phase of any run, in the first run's order, each run's figures and its change
    against the first run's."""
    measured = [{s.phase: measure(p, s) for p, s in run} for run in runs]
    names = list(dict.fromkeys(name for run in measured for name in run))
    out = []
    for name in names:
        per_run = [run.get(name) for run in measured]
        first = per_run[0]
        notes = []
        deltas: list[dict[str, Delta] | None] = []
        for other in per_run[1:]:
            if first is None or other is None:
                deltas.append(None)
                continue
            deltas.append({m: delta(m, first, other) for m in METRICS})
            if other.topology != first.topology:
                notes.append(
                    f"{other.run} ran {topology_text(other.topology)}, "
                    f"{first.run} {topology_text(first.topology)}"
                )
        missing = [str(i + 1) for i, r in enumerate(per_run) if r is None]
        if missing:
            notes.append(f"not in run {', '.join(missing)}")
        out.append(PhaseComparison(name, per_run, deltas, notes))
    return out


def _value(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:,.2f}" if metric == "error_pct" else f"{value:,.1f}"


def _delta(d: Delta) -> str:
    if not math.isfinite(d.change_pct):
        return "—"
    if d.both_zero:
        return "none in either"
    text = f"{d.change_pct:+.1f} %"
    if math.isfinite(d.low_pct):
        text += f" [{d.low_pct:+.1f}, {d.high_pct:+.1f}]"
    else:
        text += f" [noise unknown: < {MIN_BLOCKS} blocks]"
    if d.better is not None:
        text += " better" if d.better else " **worse**"
    return text


def markdown(run_names: Sequence[str], found: Sequence[PhaseComparison]) -> str:
    lines = [
        f"## Capacity compare: {' vs '.join(run_names)}",
        "",
        f"Each run against run 1 ({run_names[0]}): change of the exact figure, [95 % "
        "block-bootstrap interval]; marked better or **worse** only when the interval excludes 0.",
    ]
    for c in found:
        lines += ["", f"### {c.phase}", ""]
        head = ["metric", "1"]
        for i in range(2, len(c.runs) + 1):
            head += [str(i), f"Δ {i} vs 1"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for metric, (label, _, _) in METRICS.items():
            first = c.runs[0]
            row = [label, _value(metric, first.values[metric]) if first else "—"]
            for run, d in zip(c.runs[1:], c.deltas, strict=True):
                row.append(_value(metric, run.values[metric]) if run else "—")
                row.append(_delta(d[metric]) if d else "—")
            lines.append("| " + " | ".join(row) + " |")
        lines += [f"\n*{note}*" for note in c.notes]
    lines += ["", "Runs: " + "; ".join(f"{i}. {n}" for i, n in enumerate(run_names, 1))]
    return "\n".join(lines) + "\n"


def to_dict(run_names: Sequence[str], found: Sequence[PhaseComparison]) -> dict[str, object]:
    return {
        "runs": list(run_names),
        "phases": [
            {
                "phase": c.phase,
                "values": [r.values if r else None for r in c.runs],
                "deltas": [{m: asdict(v) for m, v in d.items()} if d else None for d in c.deltas],
                "notes": c.notes,
            }
            for c in found
        ],
    }


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmp = subparsers.add_parser(
        "compare",
        help="N runs side by side, each against the first, with bootstrap intervals",
        description="Per phase: ok req/s, p50, p95, p99 and errors of each run, and each run's "
        "change against the first with a 95 %% block-bootstrap interval. A reading aid for pull "
        "requests; `capacity gate` gives the verdict.",
    )
    cmp.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    cmp.add_argument("--markdown", type=Path, metavar="FILE", help="also write the tables here")
    cmp.add_argument("--json", type=Path, metavar="FILE", help="write the comparison as JSON")
    cmp.set_defaults(func=run_compare_command)


def run_compare_command(args: argparse.Namespace) -> int:
    if len(args.runs) < 2:
        raise BadInputError("capacity compare: give at least two run directories")
    loaded = []
    for run in args.runs:
        phases = load_run(run)
        loaded.append([(p, summarise_phase(p)) for p in phases])
    names = [Path(r).resolve().name for r in args.runs]
    found = compare(loaded)
    text = markdown(names, found)
    print(text, end="")
    if args.markdown is not None:
        write_atomic(args.markdown, text)
    if args.json is not None:
        write_atomic(args.json, json.dumps(to_dict(names, found), indent=2) + "\n")
    return 0
