"""``capacity run`` and ``capacity demo``: their options and the mistakes refused before a stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.errors import BadInputError
from harness.run.cli import parse_cache, parse_replicas


def test_replicas_and_cache_are_comma_separated_lists() -> None:
    assert parse_replicas("1, 2,4") == [1, 2, 4]
    assert parse_cache("off,ON") == [False, True]
    assert parse_cache("true") == [True]


@pytest.mark.parametrize(
    ("text", "counts"), [("1", [1]), ("4,1,2", [4, 1, 2]), (" 4, 1 ,", [4, 1]), ("64", [64])]
)
def test_replica_counts_are_read_in_the_order_given(text: str, counts: list[int]) -> None:
    assert parse_replicas(text) == counts


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("two", "expected numbers like 1,2,4"),
        ("1,,x", "expected numbers like 1,2,4"),
        ("1,2.5", "expected numbers like 1,2,4"),
        ("", "each count must be between 1 and 64"),
        (",", "each count must be between 1 and 64"),
        ("0", "each count must be between 1 and 64"),
        ("65", "each count must be between 1 and 64"),
    ],
)
def test_bad_replica_counts_are_refused_naming_the_flag_the_text_and_why(
    text: str, why: str
) -> None:
    with pytest.raises(BadInputError) as refused:
        parse_replicas(text)

    assert str(refused.value) == f"--replicas {text!r}: {why}"


@pytest.mark.parametrize("text", ["", "maybe", "on,of"])
def test_bad_cache_settings_are_refused(text: str) -> None:
    with pytest.raises(BadInputError, match="--cache"):
        parse_cache(text)


def test_run_takes_a_scenario_and_the_topology_options() -> None:
    args = build_parser("run").parse_args(
        ["run", "smoke", "--replicas", "1,2", "--lb", "nginx", "--processes", "2"]
    )

    assert (args.scenario, args.replicas, args.lb, args.processes) == ("smoke", "1,2", "nginx", 2)
    assert (args.backend, args.cache, args.out) == ("local", None, None)


def test_demo_takes_no_options() -> None:
    args = build_parser("demo").parse_args(["demo"])

    assert args.command == "demo"


def test_a_non_empty_out_directory_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "old.txt").write_text("a previous run")

    code = main(["run", "smoke", "--out", str(tmp_path)])

    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"capacity run: --out {tmp_path}: exists and is not empty; pick a new directory"
    )


def test_an_unknown_scenario_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["run", "no-such-scenario"])

    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("capacity run: ")
    assert "no-such-scenario" in err
    assert "\n" not in err


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        (["--replicas", "1,2"], "--replicas: scenario 'strategy-phases' runs its own [[phases]]"),
        (["--cache", "on"], "--cache: scenario 'strategy-phases' runs its own [[phases]]"),
        (["--lb", "nginx"], "--lb: scenario 'strategy-phases' runs its own [[phases]]"),
    ],
)
def test_a_topology_option_on_a_scenario_with_phases_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], expected: str
) -> None:
    code = main(["run", "strategy-phases", *option, "--out", str(tmp_path / "run")])

    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"capacity run: {expected}")
    assert not (tmp_path / "run").exists()  # refused before anything was written
