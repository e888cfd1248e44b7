"""``pause``/``resume``: a component frozen whole (SIGSTOP to its group), then let go again."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
import pytest

from harness.errors import ComponentError
from harness.stack import LocalStack, StackConfig
from harness.stack.health import http_ok, mongo_ok

from .conftest import needs_nginx, none_alive, process_tree

pytestmark = pytest.mark.slow

Start = Callable[[StackConfig], LocalStack]
Config = Callable[..., StackConfig]
STOP_GRACE_S = 10.0  # ManagedProcess.stop's SIGTERM grace before its SIGKILL


def states(pids: set[int]) -> set[str]:
    return {psutil.Process(pid).status() for pid in pids}


@needs_nginx
def test_a_paused_balancer_freezes_with_its_workers_until_resumed(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=1, lb="nginx", cache=False))
    group = process_tree({"nginx": stack.pids()["nginx"]})
    assert len(group) > 1  # the master and its workers

    stack.pause("nginx")
    frozen = states(group)
    answered_while_frozen = http_ok(f"{stack.url}/health", timeout=1.0)
    stack.resume("nginx")

    assert frozen == {psutil.STATUS_STOPPED}
    assert not answered_while_frozen
    assert psutil.STATUS_STOPPED not in states(group)
    assert http_ok(f"{stack.url}/health", timeout=5.0)


def test_a_paused_database_answers_again_once_resumed(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=1, lb="shared-socket", cache=False))

    stack.pause("db")
    answered_while_frozen = mongo_ok(stack.mongodb_uri, timeout=1.0)
    stack.resume("db")

    assert not answered_while_frozen
    assert mongo_ok(stack.mongodb_uri, timeout=5.0)


def test_down_resumes_a_paused_component_and_stops_it_at_once(stack_config: Config) -> None:
    stack = LocalStack(stack_config(replicas=1, lb="shared-socket", cache=False)).up()
    pids = process_tree(stack.pids())
    stack.pause("db")

    began = time.monotonic()
    stack.down()
    took = time.monotonic() - began

    assert none_alive(pids)
    # Not a speed check: a db left frozen ignores SIGTERM and is killed only once the stop's
    # grace is over, so finishing inside the grace shows it was resumed first (normal: ~1 s).
    assert took < STOP_GRACE_S


def test_pausing_a_component_that_is_not_there_or_not_running_is_named(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(stack_config(replicas=1, lb="shared-socket"))
    stack.kill("redis")

    with pytest.raises(ComponentError, match=r"^api-2: no such component"):
        stack.pause("api-2")
    with pytest.raises(ComponentError, match=r"^redis: not running"):
        stack.pause("redis")
    stack.resume("redis")  # nothing to resume: no error
