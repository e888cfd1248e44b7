"""``capacity up --scenario NAME``: the replicas get the API settings ``capacity run`` gives them.

No stack here: what ``capacity up`` would start, read from its configuration.
``test_stack_cli.py`` starts one and looks at the replicas.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.core.scenario import LOAD_ENV, SCENARIO_DIR, load_scenario
from harness.run.runner import Phase, Runner
from harness.stack.commands import stack_config

SMOKE = SCENARIO_DIR / "smoke.toml"


def up_env(*args: str, work_dir: Path) -> dict[str, str]:
    """The env ``capacity up ARGS`` gives every replica."""
    return stack_config(build_parser("up").parse_args(["up", *args]), work_dir).env


def test_up_with_a_scenario_applies_its_env_over_the_lifted_rate_limits(tmp_path: Path) -> None:
    smoke_env = tomllib.loads(SMOKE.read_text())["env"]

    env = up_env("--scenario", "smoke", work_dir=tmp_path)

    assert env == {**LOAD_ENV, **{k: str(v) for k, v in smoke_env.items()}}
    assert env["RATE_LIMIT_MAX"] == str(smoke_env["RATE_LIMIT_MAX"])


def test_up_with_a_scenario_gives_the_replicas_the_env_capacity_run_gives_them(
    tmp_path: Path,
) -> None:
    runner = Runner(load_scenario("smoke"), SMOKE, tmp_path)

    run_env = runner._stack_config(Phase(replicas=1, cache=True), tmp_path).env

    assert up_env("--scenario", "smoke", work_dir=tmp_path) == run_env


def test_an_explicit_env_wins_over_the_scenarios(tmp_path: Path) -> None:
    env = up_env(
        "--env", "RATE_LIMIT_AUTH_MAX=3", "--scenario", "smoke", "--env", "CACHE_TTL=5",
        work_dir=tmp_path,
    )  # fmt: skip

    assert env["RATE_LIMIT_AUTH_MAX"] == "3"
    assert env["CACHE_TTL"] == "5"
    assert env["RATE_LIMIT_MAX"] == load_scenario("smoke").api_env()["RATE_LIMIT_MAX"]


def test_up_without_a_scenario_keeps_the_services_own_limits(tmp_path: Path) -> None:
    assert up_env(work_dir=tmp_path) == {}
    assert up_env("--env", "RATE_LIMIT_MAX=7", work_dir=tmp_path) == {"RATE_LIMIT_MAX": "7"}


def test_up_with_an_unknown_scenario_exits_2_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    code = main(["up", "--scenario", "nope"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("capacity up: ")
    assert "nope.toml: no such scenario (shipped: " in err
    assert err.count("\n") == 1
    assert not (tmp_path / ".capacity").exists()
