from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUST = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests")]


def run_locust(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LOCUST, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


@pytest.mark.parametrize("processes", [[], ["--processes", "2"]], ids=["local", "processes"])
def test_a_bad_scenario_exits_2_with_one_line_and_no_traceback(
    tmp_path: Path, processes: list[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\n[load]\n[[load.stages]]\nduration = "5s"\nusers = 1\nspawn_rate = 1\n'
        '[mix]\n"GET /api/tasks" = 1\n[slo.endpoints."GET /nope"]\np95_ms = 1\n'
    )

    result = run_locust(
        "--headless", "--scenario", str(bad), "-H", "http://127.0.0.1:9", *processes
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f'locust: {bad}: slo.endpoints."GET /nope": unknown endpoint'
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unknown_scenario_name_exits_2() -> None:
    result = run_locust("--headless", "--scenario", "no-such-scenario", "-H", "http://127.0.0.1:9")

    assert result.returncode == 2
    assert "no-such-scenario.toml: no such scenario" in result.stderr


def test_every_journey_is_a_user_class_and_there_is_one_shape() -> None:
    result = run_locust("--list")

    users = {line.strip() for line in result.stdout.splitlines()[1:]}
    assert result.returncode == 0
    assert users == {
        "BrowseUser", "ManageUser", "SearchUser", "DashboardUser", "LoginUser", "ScenarioUser",
    }  # fmt: skip
