"""SIGTERM drains the API before it shuts down: readiness 503 ("draining"), ``Connection:
close`` on every answer, the request in flight finishes, then the process exits by itself."""

from __future__ import annotations

import os
import signal

import httpx

from harness.stack.processes import ManagedProcess, port_is_open, stop_group
from tests._wait import wait_until

from ._support import ApiFactory, counters, getter

DRAIN_SECONDS = "3"


def draining(client: httpx.Client) -> httpx.Response | None:
    """The readiness answer once it says draining (the signal lands asynchronously)."""
    answer = client.get("/health/ready")
    return answer if answer.json()["status"] == "draining" else None


def test_sigterm_drains_then_lets_the_request_in_flight_finish_and_exits(
    own_database: tuple[ManagedProcess, str], api_factory: ApiFactory
) -> None:
    db, uri = own_database
    api = api_factory(
        MONGODB_URI=uri,
        REDIS_URL="",
        CACHE_ENABLED="false",
        DRAIN_SECONDS=DRAIN_SECONDS,
        MONGODB_TIMEOUT_MS="20000",  # the request in flight outwaits the drain
    )
    headers = api.auth()
    assert db.popen is not None
    assert api.process.popen is not None
    port = int(api.base_url.rsplit(":", 1)[1])
    answers: list[int | str] = []  # the status, or the error

    stop_group(db.popen.pid)  # the request below waits for its database: it stays in flight
    worker = getter(f"{api.base_url}/api/tasks", headers, answers)
    worker.start()
    try:
        os.kill(api.process.popen.pid, signal.SIGTERM)

        ready = wait_until(lambda: draining(api.client), timeout=5)
        wait_until(  # that request, and the scrape asking
            lambda: counters(api.client).get(("http_requests_in_flight", ()), 0) >= 2, timeout=5
        )
        live = api.client.get("/health")
        wait_until(lambda: not port_is_open("127.0.0.1", port), timeout=int(DRAIN_SECONDS) + 10)
        still_in_flight = worker.is_alive()
    finally:
        os.killpg(db.popen.pid, signal.SIGCONT)
        worker.join(timeout=30)

    assert ready.status_code == 503
    assert ready.json()["error"]["code"] == "draining"
    assert ready.headers["connection"] == "close"
    assert live.status_code == 200  # still serving while draining, each answer closing
    assert live.headers["connection"] == "close"
    assert still_in_flight  # the listener closed with the request still waiting for the db
    assert answers == [200]  # ... and it finished all the same
    assert wait_until(lambda: not api.process.running(), timeout=15)
