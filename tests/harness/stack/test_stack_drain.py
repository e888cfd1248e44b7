"""A rolling restart through the local stack's ``restart``, under a stream of reads and writes:
each replica is drained, stopped, started and put back in turn, and no request fails.

The clients open a connection per request. Kept alive, a connection to nginx can be cut by the
reloads themselves: an old worker closes its idle client connections at once, and a request the
client sent in that instant is reset unread (nginx before 1.31 has no ``keepalive_min_timeout``).
That is the client's hop and any reload's, not the replica's drain; nginx keeps its own
connections to the replicas alive either way, and those are what the drain is about.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle

import httpx
import pytest

from harness.stack import LocalStack, StackConfig
from tests._wait import wait_until

from .conftest import log_in, needs_nginx

pytestmark = pytest.mark.slow

Start = Callable[[StackConfig], LocalStack]
Config = Callable[..., StackConfig]

CLIENTS = 4  # concurrent request streams
STREAM_BOUND_S = 150.0  # the stream stops by itself by then, whatever happens
REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Outcome:
    started: float  # monotonic
    method: str
    status: int  # 0: no answer (connection error or time-out)
    replica: str
    error: str = ""


class Stream:
    """``CLIENTS`` threads sending POST, GET, PATCH and list requests until stopped."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.outcomes: list[Outcome] = []
        self.stop = threading.Event()
        self.deadline = time.monotonic() + STREAM_BOUND_S
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(CLIENTS)]

    def __enter__(self) -> Stream:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _run(self, n: int) -> None:
        with httpx.Client(
            base_url=self.url,
            headers=self.headers,
            timeout=REQUEST_TIMEOUT_S,
            limits=httpx.Limits(max_keepalive_connections=0),  # see the module's docstring
        ) as client:
            task_id = ""
            for step in cycle(("create", "get", "update", "list")):
                if self.stop.is_set() or time.monotonic() > self.deadline:
                    return
                if step == "create":
                    answer = self._send(client, "POST", "/api/tasks", {"title": f"drain {n}"})
                    if answer is not None and answer.status_code == 201:
                        task_id = answer.json()["id"]
                elif step == "get" and task_id:
                    self._send(client, "GET", f"/api/tasks/{task_id}")
                elif step == "update" and task_id:
                    self._send(client, "PATCH", f"/api/tasks/{task_id}", {"status": "done"})
                elif step == "list":
                    self._send(client, "GET", "/api/tasks?limit=5")

    def _send(
        self, client: httpx.Client, method: str, path: str, body: object = None
    ) -> httpx.Response | None:
        began = time.monotonic()
        try:
            answer = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            self.outcomes.append(Outcome(began, method, 0, "", f"{type(exc).__name__}: {exc}"))
            return None
        self.outcomes.append(
            Outcome(began, method, answer.status_code, answer.headers.get("x-replica", ""))
        )
        return answer

    def sent_since(self, since: float, at_least: int) -> Callable[[], bool]:
        """Whether ``at_least`` requests started after ``since``, as a check to poll."""
        return lambda: sum(o.started > since for o in self.outcomes) >= at_least

    def served_since(self, replica: str, since: float) -> int:
        return sum(
            o.replica == replica and o.started > since and o.status < 500 for o in self.outcomes
        )


@needs_nginx
def test_restarting_each_replica_in_turn_under_load_fails_no_request(
    start_stack: Start, stack_config: Config
) -> None:
    stack = start_stack(
        stack_config(replicas=2, lb="nginx", cache=False, env={"RATE_LIMIT_ENABLED": "false"})
    )
    token = log_in(stack.url)
    replicas = ["api-1", "api-2"]
    back: dict[str, float] = {}

    with Stream(stack.url, token) as stream:
        assert wait_until(lambda: stream.served_since("api-1", 0) >= 20, timeout=30)
        for name in replicas:
            stack.restart(name)
            back[name] = time.monotonic()
            # the next restart happens under load too
            assert wait_until(stream.sent_since(back[name], at_least=20), timeout=30)
        served_again = wait_until(
            lambda: all(stream.served_since(n, back[n]) >= 5 for n in replicas), timeout=30
        )

    writes = [o for o in stream.outcomes if o.method in ("POST", "PATCH")]
    failed = [o for o in stream.outcomes if o.status == 0 or o.status >= 500]
    assert len(writes) >= 50, len(writes)  # the restarts happened under writes, not beside them
    assert failed == [], f"{len(failed)} of {len(stream.outcomes)} failed: {failed[:5]}"
    assert served_again, {n: stream.served_since(n, back[n]) for n in replicas}
    assert all(c.healthy for c in stack.components())
