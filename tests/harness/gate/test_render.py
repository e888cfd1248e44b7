from __future__ import annotations

from xml.etree import ElementTree as ET

from harness.gate.checks import GateCheck, GateResult
from harness.gate.render import junit_xml, markdown


def _result(*checks: GateCheck) -> GateResult:
    return GateResult("INVALID", list(checks), max_regression=10.0, baseline="b.json")


def test_junit_counts_failures_errors_and_skips_by_verdict() -> None:
    result = _result(
        GateCheck("r1", "slo", "p95_ms", "PASS", threshold="<= 200", current=20.0),
        GateCheck("r1", "slo", "error_rate", "FAIL", threshold="<= 0.001", current=0.02),
        GateCheck("r1", "validity", "run validity", "INVALID", message="interrupted"),
        GateCheck("r2", "regression", "baseline", "SKIP", message="not in the baseline"),
    )

    suite = ET.fromstring(junit_xml(result)).find("testsuite")  # noqa: S314 - our own output

    assert suite is not None
    counts = {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": "4", "failures": "1", "errors": "1", "skipped": "1"}
    passed, failed, invalid, skipped = suite.findall("testcase")
    assert passed.findtext("system-out") == "threshold <= 200; current 20"
    assert failed.find("failure") is not None
    assert invalid.get("classname") == "capacity-gate.r1.validity"
    error = invalid.find("error")
    assert error is not None
    assert error.get("type") == "INVALID"
    assert error.get("message") == "threshold ; current —; interrupted"
    assert skipped.find("skipped") is not None


def test_junit_details_a_regression_with_its_baseline_change_and_noise() -> None:
    check = GateCheck(
        "r1", "regression", "p95 latency (ms)", "FAIL", threshold="worse by > 10 %",
        baseline=20.0, current=30.0, change_pct=50.0, noise_low_pct=40.0, noise_high_pct=60.0,
        message="outside run-to-run noise",
    )  # fmt: skip

    failure = ET.fromstring(junit_xml(_result(check))).find("testsuite/testcase/failure")  # noqa: S314 - our own output

    assert failure is not None
    assert failure.text == (
        "threshold worse by > 10 %; current 30; baseline 20; change 50.0 %; noise 40.0..60.0 %; "
        "outside run-to-run noise"
    )


def test_the_markdown_has_a_regression_table_only_when_there_is_a_baseline() -> None:
    slo_only = markdown(_result(GateCheck("r1", "slo", "p95_ms", "PASS", "<= 200", current=20.0)))
    with_baseline = markdown(_result(GateCheck("r1", "regression", "baseline", "SKIP")))

    assert slo_only.splitlines()[0] == "## Capacity gate: INVALID"
    assert "| r1 | slo: p95_ms | <= 200 | 20 | PASS |" in slo_only
    assert "Baseline:" not in slo_only
    assert "Baseline: `b.json`." in with_baseline
    assert "| r1 | baseline | — | — | — | — | — | — | SKIP |  |" in with_baseline
    assert "| phase | check |" not in with_baseline
