"""A lost or frozen database makes the API answer 503 quickly (never hang), readiness say so,
and the database circuit breaker open and close again by itself."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx

from harness.stack.processes import ManagedProcess, free_port, stop_group
from tests._wait import wait_until

from ._support import Api, ApiFactory, Counters, counters

BOUND_S = 3.0  # a correctness bound (no hang), not a speed benchmark


def timed(api: Api, method: str, path: str, **kwargs: Any) -> tuple[int, float, dict[str, Any]]:
    started = time.monotonic()
    response = api.client.request(method, path, **kwargs)
    return response.status_code, time.monotonic() - started, dict(response.json())


def test_losing_the_database_gives_503_within_3_seconds(
    own_database: tuple[ManagedProcess, str], api_factory: ApiFactory
) -> None:
    db, uri = own_database
    api = api_factory(MONGODB_URI=uri, REDIS_URL="", CACHE_ENABLED="false")
    headers = api.auth()
    assert api.client.get("/api/tasks", headers=headers).status_code == 200

    db.kill()

    status, elapsed, body = timed(api, "GET", "/health/ready")
    assert status == 503
    assert elapsed < BOUND_S
    assert body["status"] == "unavailable"
    assert body["database"] == "down"
    assert isinstance(body["error"], dict)
    assert body["error"]["code"] == "database_unavailable"
    for method, path, kwargs in (
        ("GET", "/api/tasks", {}),
        ("POST", "/api/tasks", {"json": {"title": "lost?"}}),
        ("POST", "/api/auth/login", {"json": {"email": "a@example.com", "password": "whatever1"}}),
    ):
        status, elapsed, body = timed(api, method, path, headers=headers, **kwargs)
        assert status == 503, (method, path, body)
        assert elapsed < BOUND_S, (method, path, elapsed)
        assert isinstance(body["error"], dict)
        assert body["error"]["code"] == "database_unavailable"
    assert api.client.get("/health").status_code == 200  # liveness touches nothing


def test_the_api_starts_without_a_database_and_reports_not_ready(api_factory: ApiFactory) -> None:
    nowhere = f"mongodb://127.0.0.1:{free_port()}/primo?directConnection=true"
    api = api_factory(MONGODB_URI=nowhere, REDIS_URL="", CACHE_ENABLED="false")
    assert api.client.get("/health").status_code == 200
    status, elapsed, _ = timed(api, "GET", "/health/ready")
    assert status == 503
    assert elapsed < BOUND_S


# --- a frozen database (SIGSTOP): sockets stay open, nothing answers ----------------------------
HANG_BOUND_S = 5.0  # the client gives up here; unbounded, a request waits out a 10-s socket timeout
RECOVERY_BOUND_S = 15.0
BREAKER_STATES = ("closed", "open", "half-open")


def value(counts: Counters, name: str, **labels: str) -> float:
    return counts.get((name, tuple(sorted(labels.items()))), 0.0)


def breaker_state(client: httpx.Client) -> str:
    counts = counters(client)
    states = [s for s in BREAKER_STATES if value(counts, "db_breaker_state", state=s)]
    assert len(states) == 1, states
    return states[0]


def test_a_frozen_database_gives_503_opens_the_breaker_and_it_closes_by_itself(
    own_database: tuple[ManagedProcess, str], api_factory: ApiFactory
) -> None:
    db, uri = own_database
    api = api_factory(
        MONGODB_URI=uri,
        REDIS_URL="",
        CACHE_ENABLED="false",
        MONGODB_BREAKER_FAILURES="2",
        MONGODB_BREAKER_COOLDOWN="3",
    )
    headers = api.auth()
    assert api.client.get("/api/tasks", headers=headers).status_code == 200
    assert db.popen is not None
    client = httpx.Client(base_url=api.base_url, timeout=HANG_BOUND_S)

    stop_group(db.popen.pid)
    try:
        # Writes that cannot reach the database are refused, never acknowledged.
        writes = [
            client.post("/api/tasks", json={"title": "frozen"}, headers=headers) for _ in range(2)
        ]
        assert [w.status_code for w in writes] == [503, 503], [w.text for w in writes]
        assert all(w.json()["error"]["code"] == "database_unavailable" for w in writes)
        assert all(int(w.headers["Retry-After"]) >= 1 for w in writes)
        assert breaker_state(client) == "open"

        before = counters(client)
        rejected = client.get("/api/tasks", headers=headers)
        after = counters(client)
        ready = client.get("/health/ready")
        live = client.get("/health")
    finally:
        os.killpg(db.popen.pid, signal.SIGCONT)

    assert rejected.status_code == 503
    assert rejected.json()["error"]["code"] == "database_unavailable"
    assert int(rejected.headers["Retry-After"]) >= 1
    assert value(after, "db_breaker_rejections_total") == (
        value(before, "db_breaker_rejections_total") + 1
    )
    route = {"method": "GET", "route": "/api/tasks"}
    assert value(after, "db_roundtrips_total", **route) == value(
        before, "db_roundtrips_total", **route
    )  # refused without a command sent
    assert ready.status_code == 503
    assert ready.json()["database"] == "down"
    assert live.status_code == 200

    # No restart, no help: the breaker lets a probe through after its cooldown and closes.
    wait_until(
        lambda: client.get("/api/tasks", headers=headers).status_code == 200,
        timeout=RECOVERY_BOUND_S,
        interval=0.1,
    )
    assert breaker_state(client) == "closed"
    assert client.get("/health/ready").status_code == 200
    created = client.post("/api/tasks", json={"title": "after"}, headers=headers)
    assert created.status_code == 201
    client.close()
