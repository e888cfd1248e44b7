from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.scenario import LOAD_ENV, load_scenario, shipped_scenarios
from harness.core.schema import parse_duration
from harness.core.workload import ENDPOINTS, load_user_email
from harness.errors import BadInputError
from tests.harness.core._scenario_files import error_line, write

MINIMAL = """
name = "tiny"
[load]
model = "closed"
  [[load.stages]]
  duration = "10s"
  users = 2
  spawn_rate = 2
[mix]
"GET /api/tasks" = 1
"""


@pytest.mark.parametrize("path", list(shipped_scenarios()), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_has_steady_time(path: Path) -> None:
    scenario = load_scenario(path)

    assert scenario.name == path.stem
    assert scenario.steady_windows()
    assert set(scenario.mix) <= set(ENDPOINTS)


def test_the_shipped_scenarios_are_the_promised_set() -> None:
    names = {p.stem for p in shipped_scenarios()}

    assert names >= {"smoke", "demo", "baseline", "target-1k", "stress", "spike", "soak", "login",
                     "failover", "rolling-restart", "redis-outage", "db-outage"}  # fmt: skip


def test_a_name_resolves_to_the_scenarios_folder() -> None:
    assert load_scenario("smoke").name == "smoke"


def test_smoke_finishes_within_a_minute() -> None:
    assert load_scenario("smoke").load.duration_s < 60


def test_target_1k_is_the_open_model_headline() -> None:
    scenario = load_scenario("target-1k")

    assert scenario.load.model == "open"
    assert scenario.target_rate == 1000
    assert scenario.slo.p95_ms == 200
    assert scenario.slo.error_rate == 0.001


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("2m", 120), ("1h", 3600), ("500ms", 0.5), ("1m30s", 90), (12, 12), ("7", 7)],
)
def test_durations_are_parsed_from_strings_or_numbers(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_steady_windows_leave_out_warmup_and_every_ramp(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "steps"
[load]
model = "closed"
warmup = "5s"
  [[load.stages]]
  duration = "20s"
  users = 10
  spawn_rate = 5
  [[load.stages]]
  duration = "20s"
  users = 20
  spawn_rate = 2
[mix]
"GET /api/tasks" = 1
""",
    )

    scenario = load_scenario(path)

    # stage 1 ramps 2 s (inside the warm-up), stage 2 ramps 5 s from t=20
    assert scenario.steady_windows() == [(5.0, 20.0), (25.0, 40.0)]


def test_open_model_windows_skip_rate_ramps_and_carry_their_target(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
name = "open"
[load]
model = "open"
  [[load.stages]]
  duration = "10s"
  rate = 100
  ramp = "4s"
  [[load.stages]]
  duration = "10s"
  rate = 200
[mix]
"GET /api/tasks" = 1
""",
    )

    scenario = load_scenario(path)

    assert scenario.steady_windows() == [(4.0, 10.0), (10.0, 20.0)]
    assert scenario.window_targets() == [100.0, 200.0]
    assert scenario.load.rate_at(2.0) == pytest.approx(50.0)
    assert scenario.target_rate == 200.0


def test_credentials_follow_the_documented_convention() -> None:
    assert load_user_email(123) == "load-000123@primo.test"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('"GET /api/tasks" = 1', '"GET /nope" = 1'), 'x.toml: mix."GET /nope": unknown endpoint'),
        (("[mix]", "colour = 3\n[mix]"), "x.toml: load.stages[0].colour: unknown key"),
        (("users = 2", 'users = "many"'), "x.toml: load.stages[0].users:"),
        (('duration = "10s"', 'duration = "0s"'), "x.toml: load.stages[0].duration:"),
        (('duration = "10s"', 'duration = "soon"'), "x.toml: load.stages[0].duration:"),
        (("spawn_rate = 2", ""), "x.toml: load.stages[0].spawn_rate: required when users change"),
        (('model = "closed"', 'model = "open"'), "x.toml: load.stages[0].rate: required"),
        (('model = "closed"', 'model = "closed"\nduration = "11s"'), "x.toml: load.duration:"),
        (('model = "closed"', 'model = "closed"\nwarmup = "10s"'), "x.toml: load.warmup:"),
        (('"GET /api/tasks" = 1', '"GET /api/tasks" = 0'), "x.toml: mix: every weight is 0"),
        (("spawn_rate = 2", "spawn_rate = 0.1"), "x.toml: load.stages[0].spawn_rate: the ramp"),
    ],
)
def test_a_bad_file_fails_with_one_line_naming_file_and_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, MINIMAL.replace(*change))

    line = error_line(path)

    assert line.startswith(str(path)) or line.startswith("x.toml") or "/x.toml: " in line
    assert expected in line


def test_an_unknown_endpoint_in_an_slo_is_named_with_its_quotes(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[slo.endpoints."GET /nope"]\np95_ms = 10\n')

    assert error_line(path).endswith('x.toml: slo.endpoints."GET /nope": unknown endpoint')


def test_an_unknown_top_level_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[extras]\nx = 1\n")

    assert error_line(path).endswith("x.toml: extras: unknown key")


def test_a_wrong_type_names_the_field(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[stack]\nreplicas = "two"\n')

    assert "x.toml: stack.replicas:" in error_line(path)


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name = \n")

    assert "x.toml: not valid TOML" in error_line(path)


def test_a_missing_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(BadInputError, match=r"nope\.toml: no such scenario \(shipped: .*smoke"):
        load_scenario("nope")


def test_env_values_become_strings(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[env]\nRATE_LIMIT_MAX = 1000\nCACHE_ENABLED = false\n")

    assert load_scenario(path).env == {"RATE_LIMIT_MAX": "1000", "CACHE_ENABLED": "false"}


def test_a_load_lifts_the_rate_limits_unless_the_scenario_sets_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[env]\nRATE_LIMIT_MAX = 50\nLOG_LEVEL = "WARNING"\n')

    assert load_scenario(path).api_env() == {
        **LOAD_ENV,
        "RATE_LIMIT_MAX": "50",
        "LOG_LEVEL": "WARNING",
    }
    assert load_scenario(write(tmp_path, MINIMAL, "bare.toml")).api_env() == LOAD_ENV
    assert LOAD_ENV == {"RATE_LIMIT_MAX": "100000000", "RATE_LIMIT_AUTH_MAX": "100000000"}


# --- [[faults]] ----------------------------------------------------------------------------------
WITH_FAULT = (
    MINIMAL.replace('duration = "10s"', 'duration = "60s"')
    + "[stack]\nreplicas = [1, 2, 3]\n"
    + '[[faults]]\nat = "25s"\naction = "stop"\ncomponent = "db"\nduration = "15s"\n{more}'
)


def test_a_fault_is_data_applied_only_at_the_replica_counts_it_names(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, WITH_FAULT.format(more="replicas = [2]\n")))

    (fault,) = scenario.faults
    assert (fault.at_s, fault.action, fault.target, fault.duration_s) == (25, "stop", "db", 15)
    assert scenario.faults_for(1) == []
    assert scenario.faults_for(2) == [fault]
    assert load_scenario("smoke").faults == []


def test_the_stall_drill_stops_the_db_in_its_two_replica_phase_only() -> None:
    scenario = load_scenario("stall-drill")

    assert scenario.stack.replicas == [1, 2, 3]
    assert [(f.at_s, f.action, f.target, f.duration_s) for f in scenario.faults_for(2)] == [
        (25, "stop", "db", 15)
    ]
    assert scenario.faults_for(1) == scenario.faults_for(3) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('duration = "15s"', ""), "faults[0].duration: required when action = 'stop'"),
        (
            ('"stop"', '"restart"'),
            "faults[0].duration: only for action = 'stop' or 'kill' (not 'restart')",
        ),
        (
            ('"stop"', '"freeze"'),
            "faults[0].action: Input should be 'stop', 'kill', 'restart' or 'start'",
        ),
        (('"db"', '"mongo"'), "faults[0].component: 'mongo' is not a component"),
        (('"db"', '"api-2"'), "faults[0].target: api-2 does not exist at 1 replica(s)"),
        (('component = "db"', 'target = "mongo"'), "faults[0].target: 'mongo' is not a component"),
        (('duration = "15s"', 'duration = "15s"\nthen = "start"'), "faults[0].then: only for"),
        (('at = "25s"', 'at = "50s"'), "faults[0].duration: ends at 65 s, after the load (60 s)"),
        (('at = "25s"', 'at = "later"'), "faults[0].at: 'later' is not a duration"),
        (('at = "25s"', 'at = "25s"\nwhen = 1'), "faults[0].when: unknown key"),
    ],
)
def test_a_bad_fault_fails_with_one_line_naming_its_field(
    tmp_path: Path, change: tuple[str, str], expected: str
) -> None:
    path = write(tmp_path, WITH_FAULT.format(more="").replace(*change, 1))

    assert f"x.toml: {expected}" in error_line(path)


def test_a_kill_with_a_duration_and_a_named_target_is_accepted(tmp_path: Path) -> None:
    text = WITH_FAULT.format(more='then = "start"\n').replace('"stop"', '"kill"')

    fault = load_scenario(write(tmp_path, text.replace("component =", "target ="))).faults[0]

    assert (fault.action, fault.target, fault.duration_s, fault.then) == ("kill", "db", 15, "start")


def test_a_kill_at_the_very_end_of_the_load_is_refused(tmp_path: Path) -> None:
    text = WITH_FAULT.format(more="").replace('"stop"', '"kill"').replace('duration = "15s"\n', "")

    line = error_line(write(tmp_path, text.replace('at = "25s"', 'at = "60s"')))

    assert line.endswith("x.toml: faults[0].at: 60 s is not before the end of the load (60 s)")


def test_a_replica_fault_limited_to_phases_that_have_it_is_accepted(tmp_path: Path) -> None:
    text = WITH_FAULT.format(more="replicas = [2, 3]\n").replace('"db"', '"api-2"')

    assert load_scenario(write(tmp_path, text)).faults[0].target == "api-2"


def test_the_scaling_scenario_caps_each_of_four_replica_counts() -> None:
    from harness.core.scenario import load_scenario

    stack = load_scenario("scaling").stack
    assert stack.replicas == [1, 2, 3, 4]
    assert stack.cpus_per_replica == 0.4
