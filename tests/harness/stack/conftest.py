"""Fixtures for the stack tests: stacks that always stop, and ways to look at what they run."""

from __future__ import annotations

import collections
import contextlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.stack import LocalStack, StackConfig
from harness.stack.processes import find_nginx

needs_nginx = pytest.mark.skipif(
    find_nginx() is None, reason="nginx is not on PATH (apt-get install nginx-light)"
)

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, timeout: float = 5.0) -> tuple[int, dict[str, str]]:
    """Status and headers of ``GET url`` on a fresh connection; HTTP errors are answers too."""
    try:
        with _opener.open(url, timeout=timeout) as response:
            return int(response.status), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), dict(exc.headers)


def call(
    method: str, url: str, body: object = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of one API request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, method=method, data=data)  # noqa: S310 - loopback http
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener.open(request, timeout=10) as response:
            raw = response.read()
            return int(response.status), json.loads(raw) if raw else {}
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read() or b"{}")


def log_in(url: str, email: str = "stack@example.com") -> str:
    """A bearer token of ``email`` (registered first if need be)."""
    password = "correct horse battery staple"
    account = {"email": email, "password": password, "name": "S"}
    status, _ = call("POST", f"{url}/api/auth/register", account)
    assert status in (201, 409)
    status, body = call("POST", f"{url}/api/auth/login", {"email": email, "password": password})
    assert status == 200, body
    return str(body["access_token"])


def replica_spread(url: str, requests: int) -> collections.Counter[str]:
    """How many of ``requests`` GETs each replica answered (its ``X-Replica`` header)."""
    seen: collections.Counter[str] = collections.Counter()
    for _ in range(requests):
        status, headers = get(f"{url}/health")
        assert status == 200
        seen[headers.get("X-Replica") or headers.get("x-replica", "?")] += 1
    return seen


def process_tree(pids: dict[str, int]) -> set[int]:
    """The pids and every descendant (nginx workers), as they are now."""
    tree = set(pids.values())
    for pid in pids.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            tree.update(c.pid for c in psutil.Process(pid).children(recursive=True))
    return tree


def none_alive(pids: set[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            continue
    return True


def my_children() -> set[int]:
    return {c.pid for c in psutil.Process().children(recursive=True)}


@pytest.fixture
def stack_config(tmp_path: Path) -> Callable[..., StackConfig]:
    """A config with its work dir under ``tmp_path``; fast bcrypt so tests can log in."""

    def make(**fields: object) -> StackConfig:
        env = {"BCRYPT_ROUNDS": "4", **dict(fields.pop("env", {}))}  # type: ignore[call-overload]
        return StackConfig(work_dir=tmp_path / "stack", env=env, **fields)  # type: ignore[arg-type]

    return make


@pytest.fixture
def start_stack() -> Iterator[Callable[[StackConfig], LocalStack]]:
    """Start a local stack that is stopped at the end of the test whatever happens."""
    started: list[LocalStack] = []

    def start(config: StackConfig) -> LocalStack:
        stack = LocalStack(config)
        started.append(stack)
        return stack.up()

    yield start
    for stack in started:
        stack.down()
