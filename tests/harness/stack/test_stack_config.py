"""Stack configuration, the state file, and the small probes the stack is checked with."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import BadInputError
from harness.stack import StackConfig
from harness.stack.health import http_ok, redis_ok
from harness.stack.local import redact
from harness.stack.processes import free_port
from harness.stack.state import StateFile, alive, process_identity


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"replicas": 0}, "replicas: must be at least 1, got 0"),
        ({"lb": "haproxy"}, "lb: must be auto, nginx or shared-socket, got 'haproxy'"),
        ({"backend": "k8s"}, "backend: must be local or compose, got 'k8s'"),
        ({"port": 70000}, "port: must be 1..65535, got 70000"),
    ],
)
def test_a_bad_config_names_its_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(BadInputError) as caught:
        StackConfig(**fields)  # type: ignore[arg-type]

    assert str(caught.value) == message


def test_each_config_gets_its_own_strong_secret_that_json_never_holds() -> None:
    first, second = StackConfig(), StackConfig()

    assert first.jwt_secret != second.jwt_secret
    assert len(first.jwt_secret) >= 64
    assert first.jwt_secret not in repr(first)
    assert "jwt_secret" not in first.to_json()


def test_config_round_trips_through_json_except_the_secret(tmp_path: Path) -> None:
    config = StackConfig(replicas=3, cache=False, lb="nginx", work_dir=tmp_path, env={"A": "1"})

    again = StackConfig.from_json(config.to_json())

    assert again.to_json() == config.to_json()
    assert again.jwt_secret != config.jwt_secret


def test_the_state_file_is_replaced_whole_and_removed(tmp_path: Path) -> None:
    state = StateFile(tmp_path / ".capacity")

    state.write({"status": "starting"})
    state.write({"status": "ready", "url": "http://127.0.0.1:1"})

    assert state.read() == {"schema": 1, "status": "ready", "url": "http://127.0.0.1:1"}
    assert [p.name for p in state.dir.iterdir()] == ["stack.json"]  # no temporary file left
    state.remove()
    assert state.read() is None


def test_a_corrupt_state_file_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    state = StateFile(tmp_path)
    state.path.write_text("{not json")

    with pytest.raises(BadInputError, match=r"stack\.json: not a stack state file"):
        state.read()


def test_a_pid_is_alive_only_while_it_is_the_same_process() -> None:
    me = os.getpid()
    identity = process_identity(me)

    assert alive(me, identity)
    assert not alive(me, (identity or 0) - 100)  # same pid, an earlier process
    assert not alive(None)


def test_probes_answer_false_for_nothing_listening() -> None:
    port = free_port()

    assert not redis_ok(f"redis://127.0.0.1:{port}/0", timeout=0.5)
    assert not http_ok(f"http://127.0.0.1:{port}/health", timeout=0.5)


def test_passwords_are_redacted_from_uris() -> None:
    assert redact("mongodb://app:s3cret@db.example:27017/primo") == (
        "mongodb://app:***@db.example:27017/primo"
    )
    assert redact("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
