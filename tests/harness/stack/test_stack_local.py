"""The local backend: replicas behind nginx or a shared socket, fault hooks, clean stops."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ComponentError
from harness.stack import LocalStack, StackConfig
from harness.stack.health import port_is_free
from harness.stack.processes import free_port
from tests._wait import wait_until

from .conftest import (
    call,
    get,
    log_in,
    my_children,
    needs_nginx,
    none_alive,
    process_tree,
    replica_spread,
)

pytestmark = pytest.mark.slow

Start = Callable[[StackConfig], LocalStack]
Config = Callable[..., StackConfig]


def ready_body(url: str) -> dict:
    return call("GET", f"{url}/health/ready")[1]


@needs_nginx
def test_one_replica_answers_through_nginx(start_stack: Start, stack_config: Config) -> None:
    stack = start_stack(stack_config(replicas=1, lb="nginx"))

    spread = replica_spread(stack.url, 10)

    assert stack.balancer == "nginx"
    assert spread == {"api-1": 10}
    assert [c.name for c in stack.components()] == ["db", "redis", "api-1", "nginx"]
    assert all(c.healthy for c in stack.components())


@needs_nginx
def test_three_replicas_share_the_requests_through_nginx(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=3, lb="nginx"))

    spread = replica_spread(stack.url, 60)

    assert set(spread) == {"api-1", "api-2", "api-3"}
    assert min(spread.values()) >= 10, spread  # least_conn on sequential requests: near even


def test_a_shared_socket_spreads_requests_over_every_replica(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=3, lb="shared-socket"))

    spread = replica_spread(stack.url, 150)

    assert stack.balancer == "shared-socket"
    assert "nginx" not in stack.pids()
    assert set(spread) == {"api-1", "api-2", "api-3"}, spread


def test_auto_picks_the_shared_socket_when_nginx_is_not_on_path(
    monkeypatch: pytest.MonkeyPatch, stack_config: Config
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # Debian keeps nginx in /usr/sbin
    if Path("/usr/bin/nginx").exists():
        pytest.skip("nginx is in /usr/bin here; cannot hide it from PATH")

    assert LocalStack(stack_config(lb="auto")).balancer == "shared-socket"


@needs_nginx
def test_killing_a_replica_under_load_fails_no_get_through_nginx(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=3, lb="nginx"))
    results: list[tuple[float, int, str]] = []  # (started, status, replica)
    stop = threading.Event()

    def stream() -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                status, headers = get(f"{stack.url}/health", timeout=5)
                results.append((began, status, headers.get("x-replica", "")))
            except OSError:
                results.append((began, 0, ""))

    worker = threading.Thread(target=stream)
    worker.start()
    try:
        assert wait_until(lambda: len(results) >= 50)
        killed_at = time.monotonic()
        stack.kill("api-2")
        dead_at = time.monotonic()  # kill() returns once the process has exited
        assert wait_until(lambda: sum(r[0] > dead_at for r in results) >= 200)
    finally:
        stop.set()
        worker.join()

    after = [r for r in results if r[0] > killed_at]
    failed = [r for r in after if not 200 <= r[1] < 300]
    assert failed == []  # nginx retried every GET that hit the dead replica on another one
    # a request sent once api-2 was dead was answered by another replica (no time bound)
    assert {r[2] for r in after if r[0] > dead_at} <= {"api-1", "api-3"}
    assert not next(c for c in stack.components() if c.name == "api-2").healthy

    stack.start("api-2")
    assert next(c for c in stack.components() if c.name == "api-2").healthy


def test_the_api_keeps_answering_while_redis_is_down(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=1))
    token = log_in(stack.url)
    redis_port = stack.components()[1].port
    assert call("GET", f"{stack.url}/api/tasks", token=token)[0] == 200

    stack.kill("redis")
    answers = [call("GET", f"{stack.url}/api/tasks", token=token)[0] for _ in range(10)]

    assert answers == [200] * 10
    assert wait_until(lambda: ready_body(stack.url).get("redis") == "down", timeout=10)
    assert ready_body(stack.url)["status"] == "degraded"

    stack.start("redis")
    assert stack.components()[1].port == redis_port
    assert wait_until(lambda: ready_body(stack.url).get("redis") == "up", timeout=15)


def test_restarting_the_database_keeps_its_port_and_its_data(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=1, cache=False))
    log_in(stack.url, "keep@example.com")
    port = stack.components()[0].port

    stack.restart("db")

    assert stack.components()[0].port == port
    assert stack.redis_url is None
    login = {"email": "keep@example.com", "password": "correct horse battery staple"}
    assert wait_until(
        lambda: call("POST", f"{stack.url}/api/auth/login", login)[0] == 200, timeout=20
    )


@needs_nginx
def test_down_leaves_no_process_and_frees_every_port(stack_config: Config) -> None:
    stack = LocalStack(stack_config(replicas=2, lb="nginx")).up()
    pids = process_tree(stack.pids())
    ports = {c.port for c in stack.components() if c.port}
    assert len(pids) > len(stack.pids())  # nginx workers are in the tree too

    stack.down()

    assert none_alive(pids)
    assert [p for p in ports if not port_is_free(p)] == []


def test_a_replica_that_cannot_start_is_named_and_stops_what_started(
    stack_config: Config,
) -> None:
    before = my_children()

    with pytest.raises(ComponentError) as caught:
        LocalStack(stack_config(replicas=2, app="no_such_module:create_app")).up()

    assert caught.value.component == "api-1"
    assert 'Could not import module "no_such_module"' in str(caught.value)  # the log's tail
    assert "\n" not in str(caught.value)
    assert wait_until(lambda: my_children() <= before, timeout=5)


def test_an_unreachable_redis_url_is_named_and_the_database_is_stopped(
    stack_config: Config,
) -> None:
    before = my_children()

    with pytest.raises(ComponentError) as caught:
        LocalStack(stack_config(redis_url=f"redis://127.0.0.1:{free_port()}/0")).up()

    assert caught.value.component == "redis"
    assert wait_until(lambda: my_children() <= before, timeout=5)


def test_a_port_in_use_is_named_before_anything_starts(stack_config: Config) -> None:
    before = my_children()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]

        with pytest.raises(ComponentError, match=rf"port {port} .* already in use"):
            LocalStack(stack_config(port=port)).up()

    assert my_children() <= before
