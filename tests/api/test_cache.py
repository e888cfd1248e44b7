"""Cache-aside in Redis: hits after misses, invalidation on every write, and fail-open."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.processes import ManagedProcess, free_port, start_redis

from ._support import Api, ApiFactory, wait_until

Headers = dict[str, str]


def x_cache(api: Api, path: str, headers: Headers, **params: str) -> str:
    response = api.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def new_task(api: Api, headers: Headers, title: str = "t") -> str:
    response = api.client.post("/api/tasks", json={"title": title}, headers=headers)
    assert response.status_code == 201
    return str(response.json()["id"])


def test_a_second_read_is_a_hit_for_list_detail_and_stats(api: Api) -> None:
    headers = api.auth()
    task_id = new_task(api, headers)
    for path in ("/api/tasks", f"/api/tasks/{task_id}", "/api/tasks/stats"):
        assert x_cache(api, path, headers) == "MISS"
        assert x_cache(api, path, headers) == "HIT"


def test_different_query_parameters_are_different_entries(api: Api) -> None:
    headers = api.auth()
    new_task(api, headers)
    assert x_cache(api, "/api/tasks", headers, limit="5") == "MISS"
    assert x_cache(api, "/api/tasks", headers, limit="6") == "MISS"
    assert x_cache(api, "/api/tasks", headers, limit="5") == "HIT"


def test_a_hit_returns_the_same_body_as_the_miss(api: Api) -> None:
    headers = api.auth()
    new_task(api, headers, "same")
    miss = api.client.get("/api/tasks", headers=headers)
    hit = api.client.get("/api/tasks", headers=headers)
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert hit.json() == miss.json()
    assert hit.headers["ratelimit-limit"] == miss.headers["ratelimit-limit"]


@pytest.mark.parametrize("write", ["create", "update", "delete"])
def test_every_kind_of_write_invalidates_the_users_entries(api: Api, write: str) -> None:
    headers = api.auth()
    task_id = new_task(api, headers, "before")
    paths = ("/api/tasks", f"/api/tasks/{task_id}", "/api/tasks/stats")
    for path in paths:
        x_cache(api, path, headers)
        assert x_cache(api, path, headers) == "HIT"
    if write == "create":
        new_task(api, headers, "second")
    elif write == "update":
        patched = api.client.patch(f"/api/tasks/{task_id}", json={"title": "after"},
                                   headers=headers)
        assert patched.status_code == 200
    else:
        assert api.client.delete(f"/api/tasks/{task_id}", headers=headers).status_code == 204

    page = api.client.get("/api/tasks", headers=headers)
    assert page.headers["x-cache"] == "MISS"
    titles = [t["title"] for t in page.json()["items"]]
    stats = api.client.get("/api/tasks/stats", headers=headers)
    assert stats.headers["x-cache"] == "MISS"
    detail = api.client.get(f"/api/tasks/{task_id}", headers=headers)
    expected = {"create": (["second", "before"], 2, 200), "update": (["after"], 1, 200),
                "delete": ([], 0, 404)}[write]
    assert (titles, stats.json()["total"], detail.status_code) == expected


def test_one_users_write_does_not_invalidate_another_users_entries(api: Api) -> None:
    alice, bob = api.auth(), api.auth()
    x_cache(api, "/api/tasks", bob)
    new_task(api, alice)
    assert x_cache(api, "/api/tasks", bob) == "HIT"


def test_without_redis_every_cacheable_answer_is_a_bypass(uncached_api: Api) -> None:
    headers = uncached_api.auth()
    task_id = new_task(uncached_api, headers)
    for path in ("/api/tasks", f"/api/tasks/{task_id}", "/api/tasks/stats"):
        assert x_cache(uncached_api, path, headers) == "BYPASS"
        assert x_cache(uncached_api, path, headers) == "BYPASS"


@dataclass
class OwnRedis:
    """A Redis one test may kill, freeze and restart on the same port."""

    work_dir: Path
    port: int = field(default_factory=free_port)
    procs: list[ManagedProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def current(self) -> ManagedProcess:
        return self.procs[-1]

    def start(self) -> None:
        proc, _ = start_redis(self.work_dir / f"redis-{len(self.procs)}", port=self.port)
        self.procs.append(proc)

    def signal(self, sig: signal.Signals) -> None:
        assert self.current.pid is not None
        os.killpg(self.current.pid, sig)

    def close(self) -> None:
        for proc in self.procs:
            if proc.running() and proc.pid is not None:
                os.killpg(proc.pid, signal.SIGCONT)
            proc.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.close()


@pytest.fixture
def redis_port_api(
    own_redis: OwnRedis, api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> Api:
    return api_factory(MONGODB_URI=fresh_mongodb_uri(), REDIS_URL=own_redis.url,
                       REDIS_BREAKER_COOLDOWN="0.5")


def test_requests_succeed_as_bypass_when_redis_dies_and_hit_again_after_it_returns(
    redis_port_api: Api, own_redis: OwnRedis
) -> None:
    api = redis_port_api
    headers = api.auth()
    new_task(api, headers)
    x_cache(api, "/api/tasks", headers)
    assert x_cache(api, "/api/tasks", headers) == "HIT"

    own_redis.current.kill()
    started = time.monotonic()
    for _ in range(20):
        assert x_cache(api, "/api/tasks", headers) == "BYPASS"
    assert new_task(api, headers, "written while redis was down")
    assert time.monotonic() - started < 5.0
    ready = api.client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "degraded", "database": "up", "redis": "down"}
    metrics = api.client.get("/metrics").text
    assert metric(metrics, 'cache_requests_total{result="bypass"}') > 0
    assert metric(metrics, "rate_limit_errors_total") > 0  # the limiter failed open

    own_redis.start()
    wait_until(lambda: x_cache(api, "/api/tasks", headers) == "MISS", timeout=10)
    assert x_cache(api, "/api/tasks", headers) == "HIT"
    titles = [t["title"] for t in api.client.get("/api/tasks", headers=headers).json()["items"]]
    assert "written while redis was down" in titles
    assert api.client.get("/health/ready").json()["status"] == "ready"


def test_a_frozen_redis_costs_little_once_the_breaker_opens(
    redis_port_api: Api, own_redis: OwnRedis
) -> None:
    api = redis_port_api
    headers = api.auth()
    new_task(api, headers)
    own_redis.signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        states = [x_cache(api, "/api/tasks", headers) for _ in range(30)]
        elapsed = time.monotonic() - started
    finally:
        own_redis.signal(signal.SIGCONT)
    assert set(states) == {"BYPASS"}
    # Without the breaker and short timeouts, 30 requests would wait seconds each.
    assert elapsed < 6.0
