"""``[[phases]]``: named phases in a scenario, and each setting decided in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.phases import setting_flag
from harness.core.scenario import LOAD_ENV, load_scenario
from tests.harness.core._scenario_files import error_line, write

BASE = """
name = "steps"
[load]
model = "closed"
  [[load.stages]]
  duration = "60s"
  users = 2
  spawn_rate = 2
[mix]
"GET /api/tasks" = 1
[env]
LOG_LEVEL = "WARNING"
"""

TWO_PHASES = """
[[phases]]
name = "phase-1"
description = "one instance"
cache = false
indexes = false
compression = false
lb = "shared-socket"
env = { CACHE_TTL = 60 }
[[phases]]
name = "phase-2"
replicas = 2
"""


def test_phases_keep_the_order_they_are_written_in(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE + TWO_PHASES))

    first, _second = scenario.phases
    assert [p.name for p in scenario.phases] == ["phase-1", "phase-2"]
    assert (first.replicas, first.cache, first.indexes, first.compression, first.lb) == (
        1, False, False, False, "shared-socket",
    )  # fmt: skip
    assert first.description == "one instance"
    assert first.env == {"CACHE_TTL": "60"}


def test_a_phase_left_unsaid_runs_as_production_does(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE + TWO_PHASES))

    second = scenario.phases[1]
    assert (second.cache, second.indexes, second.compression, second.lb) == (True, True, True, None)
    assert second.env == {}


def test_a_phase_env_goes_over_the_scenario_env_and_its_fields_over_both(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE + TWO_PHASES))

    env = scenario.phase_env(scenario.phases[0])

    assert env == {
        **LOAD_ENV,
        "LOG_LEVEL": "WARNING",
        "CACHE_TTL": "60",
        "MONGODB_INDEXES": "false",
        "COMPRESSION": "false",
    }
    assert scenario.phase_env(scenario.phases[1])["MONGODB_INDEXES"] == "true"


def test_the_stack_balancer_is_the_default_of_phases_that_name_none(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, BASE + '[stack]\nlb = "nginx"\n' + TWO_PHASES))

    assert scenario.stack.lb == "nginx"
    assert scenario.phases[1].lb is None


def test_a_scenario_without_phases_has_none() -> None:
    assert load_scenario("smoke").phases == []


def test_the_shipped_strategy_phases_are_the_strategys_three_steps() -> None:
    scenario = load_scenario("strategy-phases")

    assert [
        (p.name, p.replicas, p.cache, p.indexes, p.compression, p.lb) for p in scenario.phases
    ] == [
        ("phase-1", 1, False, False, False, "shared-socket"),
        ("phase-2", 1, True, True, True, "shared-socket"),
        ("phase-3", 2, True, True, True, "nginx"),
    ]
    demo = load_scenario("demo")
    # the demo's mix and data; half its users, so phase 1 (no indexes) answers within the
    # client's timeout (the scenario's comment)
    assert (scenario.mix, scenario.data) == (demo.mix, demo.data)
    assert scenario.load.stages[0].users == 20
    assert scenario.load.think_time_s == 0
    assert (scenario.load.warmup_s, scenario.load.duration_s) == (10, 50)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('name = "phase-2"', 'name = "phase-1"'), "phases[1].name: 'phase-1' names an earlier"),
        (('name = "phase-2"', 'name = "Phase 2"'), "phases[1].name: String should match"),
        (("replicas = 2", "replicas = 0"), "phases[1].replicas: Input should be greater"),
        (("replicas = 2", "replica = 2"), "phases[1].replica: unknown key"),
        (('lb = "shared-socket"', 'lb = "haproxy"'), "phases[0].lb: Input should be 'auto'"),
        (
            ("env = { CACHE_TTL = 60 }", "env = { COMPRESSION = true }"),
            "phases[0].env.COMPRESSION: set it with phases[0].compression",
        ),
        (
            ("env = { CACHE_TTL = 60 }", 'env = { mongodb_indexes = "off" }'),
            "phases[0].env.mongodb_indexes: set it with phases[0].indexes",
        ),
        (
            ("env = { CACHE_TTL = 60 }", "env = { CACHE_ENABLED = false }"),
            "phases[0].env.CACHE_ENABLED: set it with phases[0].cache",
        ),
    ],
)
def test_a_bad_phase_fails_with_one_line_naming_its_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, BASE + TWO_PHASES.replace(*change, 1))

    assert f"x.toml: {expected}" in error_line(path)


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("replicas = [1, 2]", "stack.replicas: not used when the scenario has [[phases]]"),
        ("replicas = [1]", "stack.replicas: not used when the scenario has [[phases]]"),
        ("cache = [false, true]", "stack.cache: not used when the scenario has [[phases]]"),
    ],
)
def test_a_stack_sweep_next_to_phases_is_refused(tmp_path: Path, stack: str, expected: str) -> None:
    path = write(tmp_path, BASE + f"[stack]\n{stack}\n" + TWO_PHASES)

    assert f"x.toml: {expected}" in error_line(path)


def test_a_setting_a_phase_owns_is_refused_in_the_scenario_env(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace("[env]\n", "[env]\nMONGODB_INDEXES = false\n") + TWO_PHASES)

    assert "x.toml: env.MONGODB_INDEXES: each phase sets it (phases[i].indexes)" in error_line(path)


def test_a_sweep_may_set_the_settings_in_its_env_but_only_as_booleans(tmp_path: Path) -> None:
    sweep = BASE.replace("[env]\n", "[env]\nCOMPRESSION = false\n")
    assert load_scenario(write(tmp_path, sweep)).env["COMPRESSION"] == "false"

    line = error_line(write(tmp_path, BASE.replace("[env]\n", '[env]\nCOMPRESSION = "gz"\n')))

    assert line.endswith("x.toml: env.COMPRESSION: 'gz' is not true or false")


def test_a_replica_fault_must_exist_in_every_phase_it_applies_to(tmp_path: Path) -> None:
    fault = '[[faults]]\nat = "20s"\naction = "kill"\ncomponent = "api-2"\n'

    line = error_line(write(tmp_path, BASE + TWO_PHASES + fault))
    accepted = load_scenario(write(tmp_path, BASE + TWO_PHASES + fault + "replicas = [2]\n"))

    assert "x.toml: faults[0].target: api-2 does not exist at 1 replica(s)" in line
    assert accepted.faults_for(2)[0].target == "api-2"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("OFF", False), ("1", True), ("no", False), (None, True)],
)
def test_a_setting_is_read_as_the_api_reads_a_boolean(value: str | None, expected: bool) -> None:
    env = {} if value is None else {"mongodb_indexes": value}

    assert setting_flag(env, "MONGODB_INDEXES") is expected
