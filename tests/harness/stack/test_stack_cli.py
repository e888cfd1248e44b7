"""``capacity up | status | down`` from other shells, through the detached supervisor.

The round trip runs the real command in subprocesses; the other cases call ``harness.cli.main``
in-process (each ``capacity`` process pays the whole CLI's imports, seconds on a busy machine).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.core.scenario import load_scenario
from harness.stack.health import port_is_free
from tests.harness._pipes import into_closed_pipe

from .conftest import call, my_children, none_alive, process_tree, replica_spread

pytestmark = pytest.mark.slow


def capacity(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "BCRYPT_ROUNDS": "4", **(env or {})},
    )


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from harness.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_up_status_down_round_trip_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    up = capacity(tmp_path, "up", "--replicas", "2")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".capacity" / "stack.json").read_text())
    pids = process_tree({c["name"]: c["pid"] for c in state["components"]})
    pids.add(state["supervisor_pid"])
    ports = {c["port"] for c in state["components"] if c["port"] is not None}  # None: shared socket

    monkeypatch.chdir(tmp_path)
    try:
        status = run_cli(capsys, "status")
        second = run_cli(capsys, "up")
        spread = replica_spread(state["url"], 20)
    finally:
        down = capacity(tmp_path, "down")

    assert state["url"] in up.stdout
    assert {"api-1", "api-2", "db", "redis"} <= {c["name"] for c in state["components"]}
    assert (tmp_path / ".capacity" / "work" / "logs" / "api-2.log").is_file()
    assert status[0] == 0, status[1]
    assert "api-2" in status[1]
    assert "NO" not in status[1]
    assert second[0] == 2
    assert second[2].startswith(f"capacity up: a stack is already running at {state['url']}")
    assert second[2].count("\n") == 1
    assert set(spread) == {"api-1", "api-2"}
    assert down.returncode == 0, down.stderr
    assert none_alive(pids)
    assert [p for p in ports if not port_is_free(p)] == []
    assert not (tmp_path / ".capacity" / "stack.json").exists()
    assert run_cli(capsys, "status")[0] == 2


def test_up_says_it_uses_the_shared_socket_when_nginx_is_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if Path("/usr/bin/nginx").exists():
        pytest.skip("nginx is in /usr/bin here; cannot hide it from PATH")
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # Debian keeps nginx in /usr/sbin
    monkeypatch.chdir(tmp_path)

    up = run_cli(capsys, "up", "--replicas", "2")
    try:
        state = json.loads((tmp_path / ".capacity" / "stack.json").read_text())
        spread = replica_spread(state["url"], 100)
    finally:
        down = run_cli(capsys, "down")

    assert up[0] == 0, up[2]
    assert "balancer: shared-socket (nginx is not on PATH)" in up[1]
    assert state["balancer"] == "shared-socket"
    assert "nginx" not in {c["name"] for c in state["components"]}
    assert set(spread) == {"api-1", "api-2"}
    assert down[0] == 0


def test_up_on_a_port_in_use_names_the_component_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    before = my_children()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        code, _, err = run_cli(capsys, "up", "--port", str(port), "--lb", "shared-socket")

    assert code == 2
    assert err == f"capacity up: api: port {port} on 127.0.0.1 is already in use\n"
    assert not (tmp_path / ".capacity" / "stack.json").exists()
    assert my_children() <= before  # the supervisor is gone, and so is all it started


def test_up_with_an_unreachable_mongodb_names_db_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    before = my_children()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        uri = f"mongodb://127.0.0.1:{closed.getsockname()[1]}/primo"

        code, _, err = run_cli(capsys, "up", "--mongodb-uri", uri, "--no-cache")

    assert code == 2
    assert err.startswith("capacity up: db: no answer to ping at mongodb://127.0.0.1:")
    assert err.count("\n") == 1
    assert not (tmp_path / ".capacity" / "stack.json").exists()
    assert my_children() <= before


def test_down_without_a_stack_says_so_and_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    code, out, _ = run_cli(capsys, "down")

    assert code == 0
    assert "no stack is running" in out


def test_up_with_a_scenario_gives_the_replicas_its_env_and_an_explicit_env_wins(
    tmp_path: Path,
) -> None:
    smoke = load_scenario("smoke").api_env()
    up = capacity(tmp_path, "up", "--scenario", "smoke", "--env", "RATE_LIMIT_AUTH_MAX=3")
    assert up.returncode == 0, up.stderr
    state = json.loads((tmp_path / ".capacity" / "stack.json").read_text())
    try:
        replicas = [c["pid"] for c in state["components"] if c["name"].startswith("api-")]
        environ = [psutil.Process(pid).environ() for pid in replicas]
        login = f"{state['url']}/api/auth/login"
        wrong = {"email": "nobody@example.com", "password": "not-the-password"}
        logins = [call("POST", login, wrong)[0] for _ in range(4)]
        status = into_closed_pipe("-m", "harness.cli", "status", cwd=tmp_path)  # `| head -3`
    finally:
        down = capacity(tmp_path, "down")

    assert "API settings of scenario smoke: RATE_LIMIT_MAX=" in up.stdout
    assert "(and from --env: RATE_LIMIT_AUTH_MAX)" in up.stdout
    assert environ
    for env in environ:
        assert env["RATE_LIMIT_MAX"] == smoke["RATE_LIMIT_MAX"]
        assert env["LOG_LEVEL"] == smoke["LOG_LEVEL"]
        assert env["RATE_LIMIT_AUTH_MAX"] == "3"
    assert logins == [401, 401, 401, 429]  # the explicit per-IP limit of 3, not the scenario's
    assert (status.returncode, status.stderr) == (141, "")
    assert down.returncode == 0, down.stderr
