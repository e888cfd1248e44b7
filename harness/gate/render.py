"""A :class:`~harness.gate.checks.GateResult` as a Markdown table (stdout, ``--markdown``, a pull
request comment) and as JUnit XML (``--junit``, for CI test reports)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from harness.gate.verdicts import GateCheck, GateResult, GateVerdict


def _f(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def _g(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


# -- Markdown ----------------------------------------------------------------------------------


def markdown(result: GateResult) -> str:
    lines = [f"## Capacity gate: {result.status}", ""]
    apart = [c for c in result.checks if c.kind == "comparability" and c.verdict != "PASS"]
    if apart:
        lines += _comparability_list(result, apart)
    slo = [c for c in result.checks if c.kind not in ("regression", "comparability")]
    if slo:
        lines += _slo_table(slo)
    reg = [c for c in result.checks if c.kind == "regression"]
    if reg:
        lines += _regression_table(result, reg)
    return "\n".join(lines)


def _comparability_list(result: GateResult, checks: Sequence[GateCheck]) -> list[str]:
    """What could not be compared with the baseline, first: it is why the gate cannot pass."""
    return [
        f"Comparisons with `{result.baseline}` that could not be made:",
        "",
        *(f"- **{c.phase}** ({c.name}, {c.verdict}): {c.message}" for c in checks),
        "",
    ]


def _slo_table(checks: Sequence[GateCheck]) -> list[str]:
    return [
        "| phase | check | threshold | measured | verdict |",
        "| --- | --- | --- | --- | --- |",
        *(
            f"| {c.phase} | {c.kind}: {c.name} | {c.threshold or '—'} | "
            f"{_g(c.current) if c.current is not None else c.message} | {c.verdict} |"
            for c in checks
        ),
        "",
    ]


def _regression_table(result: GateResult, checks: Sequence[GateCheck]) -> list[str]:
    lines = [
        f"Baseline: `{result.baseline}`. A metric fails only when it is worse by more than "
        f"{result.max_regression:g} % **and** its noise band (the change of the 5-second "
        "block means ± 2.33 or more times its noise: 1 % of unchanged runs reach either side) "
        "lies entirely on the worse side of zero; worse by more than "
        f"{result.max_regression:g} % but inside that band is INCONCLUSIVE. The effect is the "
        "change in units of its own noise (bootstrap standard error of the block means plus "
        "1 % drift per run). See docs/gate.md.",
        "",
        "| phase | metric | baseline | current | change | noise band (98 %) | effect "
        "| significant | verdict | note |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in checks:
        band = (
            f"{_f(c.noise_low_pct, 1)} % to {_f(c.noise_high_pct, 1)} %"
            if c.noise_low_pct is not None
            else "—"
        )
        sig = "—" if c.significant is None else ("yes" if c.significant else "no")
        lines.append(
            f"| {c.phase} | {c.name} | {_f(c.baseline)} | {_f(c.current)} | "
            f"{_f(c.change_pct, 1, ' %')} | {band} | {_f(c.effect, 1, '×')} | {sig} | "
            f"{c.verdict} | {c.message} |"
        )
    lines.append("")
    return lines


# -- JUnit XML ---------------------------------------------------------------------------------


def junit_xml(result: GateResult, suite: str = "capacity-gate") -> str:
    """One test case per check: FAIL a failure, INVALID and INCONCLUSIVE an error (the check
    could not judge), SKIP skipped."""
    root = ET.Element("testsuites", name=suite)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(result.checks)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for c in result.checks:
        case = ET.SubElement(ts, "testcase", classname=f"{suite}.{c.phase}.{c.kind}", name=c.name)
        counter = _add_outcome(case, c.verdict, _detail(c))
        if counter is not None:
            counts[counter] += 1
    for key, value in counts.items():
        ts.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _detail(c: GateCheck) -> str:
    detail = f"threshold {c.threshold}; current {_g(c.current)}"
    if c.kind == "regression":
        detail += (
            f"; baseline {_g(c.baseline)}; change {_f(c.change_pct, 1, ' %')}; "
            f"noise {_f(c.noise_low_pct, 1)}..{_f(c.noise_high_pct, 1)} %"
        )
        if c.effect is not None:
            detail += f"; effect {c.effect:+.1f}× its noise"
    return detail + (f"; {c.message}" if c.message else "")


def _add_outcome(case: ET.Element, verdict: GateVerdict, detail: str) -> str | None:
    """The element JUnit expects for ``verdict``; returns the testsuite counter it adds to."""
    if verdict == "PASS":
        ET.SubElement(case, "system-out").text = detail
        return None
    if verdict == "SKIP":
        ET.SubElement(case, "skipped", message=detail)
        return "skipped"
    tag, counter = ("failure", "failures") if verdict == "FAIL" else ("error", "errors")
    ET.SubElement(case, tag, message=detail, type=verdict).text = detail
    return counter
