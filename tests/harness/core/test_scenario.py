from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.scenario import load_scenario, parse_duration, shipped_scenarios
from harness.core.workload import ENDPOINTS, load_user_email
from harness.errors import BadInputError

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


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_line(path: Path) -> str:
    with pytest.raises(BadInputError) as excinfo:
        load_scenario(path)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("path", list(shipped_scenarios()), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads_and_has_steady_time(path: Path) -> None:
    scenario = load_scenario(path)

    assert scenario.name == path.stem
    assert scenario.steady_windows()
    assert set(scenario.mix) <= set(ENDPOINTS)


def test_the_shipped_scenarios_are_the_promised_set() -> None:
    names = {p.stem for p in shipped_scenarios()}

    assert names >= {"smoke", "demo", "baseline", "target-1k", "stress", "spike", "soak", "login"}


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
