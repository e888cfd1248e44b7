"""Planning phases, naming runs, and the one line printed when a phase ends."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.core.scenario import Scenario, load_scenario
from harness.errors import BadInputError, ComponentError
from harness.run.runner import (
    Phase,
    PhaseResult,
    Runner,
    phase_line,
    plan_phases,
    read_verdict,
    run_id,
)


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


# --- named phases --------------------------------------------------------------------------------
SWEEP = """
name = "sweep"
[load]
model = "closed"
  [[load.stages]]
  duration = "30s"
  users = 2
  spawn_rate = 2
[mix]
"GET /api/tasks" = 1
[env]
LOG_LEVEL = "WARNING"
"""

PHASES = """
[[phases]]
name = "zeta"
cache = false
indexes = false
compression = false
lb = "shared-socket"
env = { JWT_SECRET = "not-for-the-manifest", CACHE_TTL = 5 }
[[phases]]
name = "alpha"
replicas = 2
"""


def scenario_at(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path)


def test_named_phases_run_in_the_order_written_each_in_a_directory_of_its_name(
    tmp_path: Path,
) -> None:
    scenario = scenario_at(tmp_path, SWEEP + PHASES)

    phases = plan_phases(scenario, None, None)

    assert [p.name for p in phases] == ["zeta", "alpha"]
    assert [(p.replicas, p.cache, p.indexes, p.compression, p.lb) for p in phases] == [
        (1, False, False, False, "shared-socket"),
        (2, True, True, True, None),
    ]
    assert all(p.named for p in phases)
    assert dict(phases[0].env) == {
        **scenario.api_env(),
        "JWT_SECRET": "not-for-the-manifest",
        "CACHE_TTL": "5",
        "MONGODB_INDEXES": "false",
        "COMPRESSION": "false",
    }


@pytest.mark.parametrize(("replicas", "cache"), [([2], None), (None, [True])])
def test_a_scenario_with_phases_refuses_a_replicas_or_cache_override(
    tmp_path: Path, replicas: list[int] | None, cache: list[bool] | None
) -> None:
    scenario = scenario_at(tmp_path, SWEEP + PHASES)

    with pytest.raises(BadInputError, match=r"^--(replicas|cache): scenario 'sweep' runs its own"):
        plan_phases(scenario, replicas, cache)


def test_a_sweep_runs_with_the_indexes_and_gzip_its_env_gives_the_api(tmp_path: Path) -> None:
    scenario = scenario_at(tmp_path, SWEEP.replace("[env]\n", "[env]\nMONGODB_INDEXES = 0\n"))

    phases = plan_phases(scenario, [1, 2], None)

    assert [(p.name, p.indexes, p.compression, p.named) for p in phases] == [
        ("r1-cache-on", False, True, False),
        ("r2-cache-on", False, True, False),
    ]


def test_a_named_phase_gets_its_own_balancer_and_settings_from_the_runner(tmp_path: Path) -> None:
    scenario = scenario_at(tmp_path, SWEEP + '[stack]\nlb = "nginx"\n' + PHASES)
    runner = Runner(scenario, tmp_path / "s.toml", tmp_path / "run")
    zeta, alpha = plan_phases(scenario, None, None)

    first = runner._stack_config(zeta, tmp_path / "zeta")
    second = runner._stack_config(alpha, tmp_path / "alpha")

    assert (first.replicas, first.cache, first.lb) == (1, False, "shared-socket")
    assert (second.replicas, second.cache, second.lb) == (2, True, "nginx")  # [stack].lb
    assert first.env == dict(zeta.env)
    assert first.work_dir == tmp_path / "zeta" / "stack"  # a fresh database per phase


def test_the_manifest_of_a_named_phase_records_its_settings_but_no_secret(
    tmp_path: Path,
) -> None:
    scenario = scenario_at(tmp_path, SWEEP + PHASES)
    runner = Runner(scenario, tmp_path / "s.toml", tmp_path / "run")
    zeta, _ = plan_phases(scenario, None, None)

    written = runner._manifest(zeta).to_dict()

    topology = written["topology"]
    assert (topology["lb"], topology["indexes"], topology["compression"]) == (
        "shared-socket", False, False,
    )  # fmt: skip
    assert topology["env"]["JWT_SECRET"] == "<redacted>"
    assert topology["env"]["CACHE_TTL"] == "5"
    assert "not-for-the-manifest" not in json.dumps(written)
    assert (written["phase"], written["plan"]) == ("zeta", "phases")


def test_the_manifest_of_a_sweep_phase_says_no_plan(tmp_path: Path) -> None:
    scenario = scenario_at(tmp_path, SWEEP)
    runner = Runner(scenario, tmp_path / "s.toml", tmp_path / "run")

    written = runner._manifest(Phase(1, False)).to_dict()

    assert "plan" not in written
    assert "description" not in written
    assert (written["topology"]["indexes"], written["topology"]["compression"]) == (True, True)
    assert written["topology"]["env"] == scenario.api_env()


# --- a phase that fails ------------------------------------------------------------------------
def test_a_failed_phase_stops_the_run_and_both_records_say_what_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = scenario_at(tmp_path, SWEEP)
    out = tmp_path / "run"
    printed = io.StringIO()
    runner = Runner(scenario, tmp_path / "s.toml", out, console=Console(file=printed, width=200))
    phases = plan_phases(scenario, [1, 2, 4], [True])

    def load(phase: Phase, config: Any, manifest: Any, result: PhaseResult) -> None:
        if phase.replicas == 2:
            raise ComponentError("redis", "exited during start-up")
        result.exit_code = 0
        verdict = {"status": "PASS", "measured": {"aggregate": {"rate": 9.5}}}
        (result.directory / "verdict.json").write_text(json.dumps(verdict))

    monkeypatch.setattr(runner, "_load", load)

    with pytest.raises(ComponentError, match=r"^redis: exited during start-up$"):
        runner.run(phases, ["run", "s.toml"])

    run = json.loads((out / "run.json").read_text())
    assert (run["status"], run["completed_phases"]) == ("failed", ["r1-cache-on"])
    assert run["phases"] == ["r1-cache-on", "r2-cache-on", "r4-cache-on"]
    passed = json.loads((out / "r1-cache-on" / "manifest.json").read_text())
    assert (passed["status"], passed["locust_exit_code"], "error" in passed) == (
        "complete", 0, False,
    )  # fmt: skip
    failed = json.loads((out / "r2-cache-on" / "manifest.json").read_text())
    assert (failed["status"], failed["locust_exit_code"]) == ("failed", None)
    assert failed["error"] == "redis: exited during start-up"
    assert not (out / "r4-cache-on").exists()  # the run stopped at the failed phase
    assert printed.getvalue().splitlines() == ["r1-cache-on: PASS  9.5 req/s"]
