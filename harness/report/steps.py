"""Phase over phase in words: what each of the strategy's steps changed and what it bought, as
a table and one sentence per step; and a named phase's setup for the Answer."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.analysis.steps import Change, PhaseStep, Setup
from harness.report.tables import Table, fmt

STEP_HEADERS = [
    "step", "what changed", "ok req/s", "throughput ×", "p95 ms", "p95 ×",
    "service CPU ms per ok req", "CPU ×", "note",
]  # fmt: skip
LEFT_OUT = "not a capacity: left out"


def times(x: float) -> str:
    """``×2.4``, ``×1.02``, ``×0.42``: two decimals near and below 1, one above."""
    if not math.isfinite(x):
        return "×?"
    if x >= 10:
        return f"×{x:,.0f}"
    if x >= 1.1:
        return f"×{x:.1f}"
    return f"×{x:.2f}"


def change_text(change: Change) -> str:
    value = change.value
    match change.lever:
        case "indexes":
            return "indexes" if value else "no indexes"
        case "cache":
            return "Redis cache" if value else "no cache"
        case "compression":
            return "gzip" if value else "no gzip"
        case "balancer":
            return "a shared socket" if value == "shared-socket" else str(value)
        case "replicas":
            return f"{value} replica{'s' if value != 1 else ''}"
    return f"without {change.key}" if value is None else f"{change.key}={value}"


def changes_text(changes: Sequence[Change]) -> str:
    return ", ".join(change_text(c) for c in changes) or "nothing"


def setup_text(setup: Setup) -> str:
    """``2 replicas behind nginx, the Redis cache, the indexes and gzip``."""
    replicas = f"{setup.replicas} replica{'s' if setup.replicas != 1 else ''}"
    if setup.balancer == "nginx":
        replicas += " behind nginx"
    elif setup.replicas > 1:
        replicas += " on a shared socket"
    parts = [
        replicas,
        "the Redis cache" if setup.cache else "no cache",
        "the indexes" if setup.indexes else "no secondary indexes",
        "gzip" if setup.compression else "no gzip",
    ]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _flaws(step: PhaseStep) -> str:
    return ", ".join(f"{x.phase} ({', '.join(x.flaws)})" for x in step.left_out)


def step_sentence(step: PhaseStep) -> str:
    """``phase-2 (indexes, Redis cache, gzip) bought ×2.4 throughput at the same p95 (p95
    ×1.02); service CPU per successful request ×0.56.``"""
    text = f"{step.after} ({changes_text(step.changes)})"
    if step.throughput == "unknown":
        text += f" cannot be compared with {step.before}: one of them has no successful requests"
    else:
        text += {
            "up": f" bought {times(step.throughput_x)} throughput",
            "same": f" kept the throughput of {step.before} ({times(step.throughput_x)})",
            "down": f" lost throughput ({times(step.throughput_x)})",
        }[step.throughput]
        if step.p95 == "same":
            text += f" at the same p95 (p95 {times(step.p95_x)})"
        elif step.p95 != "unknown":
            text += f" at a p95 {times(step.p95_x)}"
    if math.isfinite(step.cpu_x):
        text += f"; service CPU per successful request {times(step.cpu_x)}"
    text += "."
    if step.left_out:
        text += f" Not a capacity, left out of the answer: {_flaws(step)}."
    return text


def step_table(steps: Sequence[PhaseStep], *, with_run: bool = False) -> Table:
    rows = []
    for s in steps:
        label = f"{s.before} → {s.after}"
        rows.append(
            [
                f"{s.run}/{label}" if with_run else label,
                changes_text(s.changes),
                _pair(s.ok_rps, 1),
                times(s.throughput_x),
                _pair(s.p95_ms, 1),
                times(s.p95_x),
                _pair(s.cpu_ms_per_ok_request, 2),
                times(s.cpu_x),
                f"{LEFT_OUT} ({_flaws(s)})" if s.left_out else "",
            ]
        )
    return Table(list(STEP_HEADERS), rows)


def _pair(values: tuple[float, float], digits: int) -> str:
    return f"{fmt(values[0], digits)} → {fmt(values[1], digits)}"
