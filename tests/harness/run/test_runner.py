"""Planning phases, naming runs, and the one line printed when a phase ends."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from harness.core.scenario import load_scenario
from harness.run.runner import Phase, PhaseResult, phase_line, plan_phases, read_verdict, run_id


def result(verdict: dict[str, Any]) -> PhaseResult:
    return PhaseResult(Phase(2, True), Path("r2-cache-on"), status="complete", verdict=verdict)


def test_phases_go_cache_off_first_then_by_replicas() -> None:
    scenario = load_scenario("smoke")

    phases = plan_phases(scenario, [4, 1, 2, 1], [True, False])

    assert [p.name for p in phases] == [
        "r1-cache-off", "r2-cache-off", "r4-cache-off", "r1-cache-on", "r2-cache-on", "r4-cache-on",
    ]  # fmt: skip


def test_without_overrides_the_scenario_decides_the_phases() -> None:
    scenario = load_scenario("smoke")

    phases = plan_phases(scenario, None, None)

    assert phases == [Phase(r, c) for c in scenario.stack.cache for r in scenario.stack.replicas]


def test_a_run_is_named_by_its_utc_start_and_scenario() -> None:
    when = dt.datetime(2026, 12, 2, 2, 40, 5, tzinfo=dt.UTC)

    assert run_id(load_scenario("smoke"), when) == "20261202T024005Z_smoke"


def test_the_phase_line_shows_the_verdict_rate_p95_and_errors() -> None:
    verdict = {
        "status": "PASS",
        "measured": {"aggregate": {"rate": 47.06, "p95_ms": 245.71, "error_rate": 0.0012}},
    }

    assert phase_line(result(verdict)) == (
        "r2-cache-on: PASS  47.1 req/s  p95 245.7 ms  errors 0.12 %"
    )


def test_the_phase_line_leaves_out_what_is_not_known() -> None:
    verdict = {"status": "INVALID", "measured": {"aggregate": {"rate": 3.0, "p95_ms": None}}}

    assert phase_line(result(verdict)) == "r2-cache-on: INVALID  3.0 req/s"
    assert phase_line(result({})) == "r2-cache-on: ?"


def test_a_missing_or_half_written_verdict_reads_as_none(tmp_path: Path) -> None:
    half = tmp_path / "half.json"
    half.write_text('{"status": "PA')
    whole = tmp_path / "verdict.json"
    whole.write_text(json.dumps({"status": "PASS"}))

    assert read_verdict(tmp_path / "missing.json") == {}
    assert read_verdict(half) == {}
    assert read_verdict(whole) == {"status": "PASS"}
