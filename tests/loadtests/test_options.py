"""The Primo options Locust accepts (``_options`` imports no Locust: tested in process)."""

from __future__ import annotations

from argparse import Namespace
from pathlib import Path

import pytest
from _options import DEFAULT_SEED_USERS, load_scenario_or_exit, read_options

from harness.core.scenario import load_scenario
from harness.errors import BadInputError


def options(**values: object) -> Namespace:
    defaults: dict[str, object] = {
        "scenario": None,
        "samples_dir": None,
        "seed_users": None,
        "verdict_file": None,
        "no_record_samples": False,
    }
    return Namespace(**(defaults | values))


def test_without_a_scenario_nothing_is_recorded_and_100_users_are_assumed() -> None:
    read = read_options(options(), None)

    assert read.scenario is None
    assert read.seed_users == DEFAULT_SEED_USERS
    assert read.record is False


def test_a_samples_directory_alone_turns_recording_on(tmp_path: Path) -> None:
    read = read_options(options(samples_dir=str(tmp_path)), None)

    assert read.samples_dir == tmp_path
    assert read.record is True


def test_a_scenario_sets_the_seeded_users_and_records_unless_told_not_to() -> None:
    smoke = load_scenario("smoke")

    read = read_options(options(scenario="smoke"), None)
    quiet = read_options(options(scenario="smoke", no_record_samples=True), smoke)

    assert read.scenario == smoke
    assert read.seed_users == smoke.data.users
    assert read.record is True
    assert quiet.record is False


def test_the_scenario_loaded_while_parsing_is_the_one_used() -> None:
    demo = load_scenario("demo")

    read = read_options(options(scenario="smoke"), demo)

    assert read.scenario is demo
    assert read.scenario_arg == "smoke"


def test_seed_users_below_one_are_refused() -> None:
    with pytest.raises(BadInputError, match="--seed-users: 0"):
        read_options(options(seed_users=0), None)


def test_a_bad_scenario_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        load_scenario_or_exit("no-such-scenario")

    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("locust: ")
    assert "no-such-scenario.toml: no such scenario" in lines[0]
