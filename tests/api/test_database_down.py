"""A lost database makes the API answer 503 quickly (never hang), and readiness say so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.stack.processes import ManagedProcess, free_port, start_secantusd

from ._support import Api, ApiFactory

BOUND_S = 3.0  # a correctness bound (no hang), not a speed benchmark


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[tuple[ManagedProcess, str]]:
    proc, uri = start_secantusd(tmp_path / "db")
    yield proc, uri
    proc.stop()


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
