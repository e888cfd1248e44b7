"""Cache-aside in Redis: hits after misses, invalidation on every write, and fail-open."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis as AsyncRedis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from harness.stack.processes import ManagedProcess, free_port, start_redis
from reference_api.breaker import CircuitBreaker
from reference_api.cache import EPOCH_KEY, Cache, Entry
from reference_api.metrics import Metrics
from tests._wait import wait_until, wait_until_async

from ._support import Api, ApiFactory

Headers = dict[str, str]
BREAKER_FAILURES = 3  # consecutive Redis faults that open the breaker
HANG_GUARD_S = 30.0  # far past a normal run of the requests it bounds: only a hang exceeds it


def x_cache(api: Api, path: str, headers: Headers, **params: str) -> str:
    response = api.client.get(path, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"]


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def metric_sum(text: str, name: str) -> float:
    """A counter summed over all its labels (0 before anything was counted)."""
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


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
        patched = api.client.patch(
            f"/api/tasks/{task_id}", json={"title": "after"}, headers=headers
        )
        assert patched.status_code == 200
    else:
        assert api.client.delete(f"/api/tasks/{task_id}", headers=headers).status_code == 204

    page = api.client.get("/api/tasks", headers=headers)
    assert page.headers["x-cache"] == "MISS"
    titles = [t["title"] for t in page.json()["items"]]
    stats = api.client.get("/api/tasks/stats", headers=headers)
    assert stats.headers["x-cache"] == "MISS"
    detail = api.client.get(f"/api/tasks/{task_id}", headers=headers)
    expected = {
        "create": (["second", "before"], 2, 200),
        "update": (["after"], 1, 200),
        "delete": ([], 0, 404),
    }[write]
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

    def data_dir(self, n: int) -> Path:
        return self.work_dir / f"redis-{n}"

    def start(self, keep_data: bool = False) -> None:
        """Start Redis; with ``keep_data``, loading the dump the previous one ``SAVE``d."""
        data_dir = self.data_dir(len(self.procs))
        if keep_data:
            data_dir.mkdir(parents=True)
            shutil.copy(self.data_dir(len(self.procs) - 1) / "dump.rdb", data_dir / "dump.rdb")
        proc, _ = start_redis(data_dir, port=self.port)
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
    return api_factory(
        MONGODB_URI=fresh_mongodb_uri(), REDIS_URL=own_redis.url, REDIS_BREAKER_COOLDOWN="0.5"
    )


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
    # A hang guard, not a speed check: refused connections fail at once, and these 21 requests
    # take well under a second when nothing waits on the dead Redis.
    assert time.monotonic() - started < HANG_GUARD_S
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


def test_a_frozen_redis_is_sent_only_the_calls_that_open_the_breaker(
    own_redis: OwnRedis, api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> None:
    # The cooldown outlasts the test: once open, the breaker sends no probe while it runs.
    api = api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=own_redis.url,
        REDIS_BREAKER_FAILURES=str(BREAKER_FAILURES),
        REDIS_BREAKER_COOLDOWN="600",
    )
    headers = api.auth()
    new_task(api, headers)
    sent_before = metric_sum(api.client.get("/metrics").text, "redis_roundtrips_total")
    own_redis.signal(signal.SIGSTOP)
    try:
        states = [x_cache(api, "/api/tasks", headers) for _ in range(30)]
    finally:
        own_redis.signal(signal.SIGCONT)
    metrics = api.client.get("/metrics").text

    assert set(states) == {"BYPASS"}
    # Without the breaker each of the 30 requests would wait out a Redis timeout; with it, Redis
    # is sent the round trips that time out until it opens, and no more: the first request's
    # rate-limit check and cache look-up, then the second's rate-limit check opens it (the
    # limiter and the cache share one breaker). Only that one look-up timed out; every later one
    # was bypassed at the open breaker. Every request's rate limit failed open.
    assert BREAKER_FAILURES == 3
    assert metric_sum(metrics, "redis_roundtrips_total") - sent_before == BREAKER_FAILURES
    assert metric_sum(metrics, "cache_errors_total") == 1
    assert metric(metrics, "rate_limit_errors_total") == len(states)


@pytest.fixture
def two_replicas(
    own_redis: OwnRedis, api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> tuple[Api, Api]:
    """Two API processes sharing one database and one Redis, as behind a load balancer."""
    uri = fresh_mongodb_uri()
    first, second = (
        api_factory(
            MONGODB_URI=uri,
            REDIS_URL=own_redis.url,
            REDIS_BREAKER_COOLDOWN="0.5",
            REPLICA_ID=f"test-{n}",
        )
        for n in (1, 2)
    )
    return first, second


def test_a_write_whose_invalidation_failed_is_seen_by_every_replica_once_redis_is_back(
    two_replicas: tuple[Api, Api], own_redis: OwnRedis
) -> None:
    writer, other = two_replicas
    headers = writer.auth()
    task_id = new_task(writer, headers, "before")
    paths = ("/api/tasks", f"/api/tasks/{task_id}", "/api/tasks/stats")
    for path in paths:
        x_cache(writer, path, headers)
        assert x_cache(other, path, headers) == "HIT"  # one cache shared by both replicas

    # Redis goes away with the entries on disk, and comes back with them (as after a partition):
    # the writes in between cannot invalidate them, yet are acknowledged.
    with redis.Redis.from_url(own_redis.url) as direct:
        direct.save()
    own_redis.current.kill()
    patched = writer.client.patch(f"/api/tasks/{task_id}", json={"title": "after"}, headers=headers)
    assert patched.status_code == 200, patched.text
    new_task(writer, headers, "second")
    own_redis.start(keep_data=True)
    with redis.Redis.from_url(own_redis.url) as direct:
        assert any(direct.scan_iter("c1:*:list:*")), "the old entries came back"

    def answers(api: Api) -> list[tuple[str, object, object]]:
        """(X-Cache, what the answer says, what it should say) of the list, the task, the stats."""
        page = api.client.get("/api/tasks", headers=headers)
        detail = api.client.get(f"/api/tasks/{task_id}", headers=headers)
        stats = api.client.get("/api/tasks/stats", headers=headers)
        assert {page.status_code, detail.status_code, stats.status_code} == {200}
        return [
            (
                page.headers["x-cache"],
                [t["title"] for t in page.json()["items"]],
                ["second", "after"],
            ),
            (detail.headers["x-cache"], detail.json()["title"], "after"),
            (stats.headers["x-cache"], stats.json()["total"], 2),
        ]

    def served_fresh_from_cache(api: Api) -> bool:
        """Whether the replica answers from Redis again (no BYPASS) and sees both writes. A
        BYPASS answer comes from MongoDB: it sees them already (each answer on its own: the
        first call after Redis is back may fail on a pooled connection to the old one)."""
        got = answers(api)
        for state, said, truth in got:
            if state == "BYPASS":
                assert said == truth
        return all(state != "BYPASS" and said == truth for state, said, truth in got)

    # Until the writer's retried invalidation lands (at most one retry interval, 0.5 s, after it
    # reaches Redis again) the other replica may still HIT the old entries; without the retry it
    # would for the whole TTL (300 s). The deadline leaves room for slow CI machines.
    wait_until(lambda: served_fresh_from_cache(other), timeout=10)
    wait_until(lambda: served_fresh_from_cache(writer), timeout=10)
    for api in (other, writer, other):
        assert [(state, said == truth) for state, said, truth in answers(api)] == [
            ("HIT", True)
        ] * 3


def test_past_max_pending_users_the_retry_bumps_the_global_epoch(own_redis: OwnRedis) -> None:
    """The set of users awaiting a retried invalidation is bounded: past ``max_pending`` they
    are folded into one bump of the epoch every key embeds (everyone bypasses here meanwhile)."""

    async def scenario() -> None:
        client = AsyncRedis.from_url(
            own_redis.url,
            socket_timeout=0.2,
            socket_connect_timeout=0.2,
            retry=Retry(NoBackoff(), 0),
        )
        cache = Cache(client, CircuitBreaker(3, 0.2), Metrics(), ttl=300, max_pending=2)
        try:
            assert (await cache.get(Entry.of_stats("bystander"))).state == "MISS"
            own_redis.current.kill()
            assert [await cache.invalidate(f"u{n}") for n in range(2)] == [False, False]
            assert (await cache.get(Entry.of_stats("bystander"))).state == "BYPASS"  # breaker open
            await asyncio.sleep(0.3)  # the breaker's cooldown: the next call is a real probe
            assert not await cache.invalidate("u2")  # the third pending user: fold
            own_redis.start()  # empty, on the same port

            async def missed() -> bool:  # the epoch bump landed: the old entry is unseen
                return (await cache.get(Entry.of_stats("bystander"))).state == "MISS"

            await wait_until_async(missed)
            assert await client.get(EPOCH_KEY) == b"1"
            assert await client.get("c1:v:u0") is None  # no per-user bump was needed
        finally:
            await cache.aclose()
            await client.aclose()

    asyncio.run(scenario())


# --- a task's own entry ---------------------------------------------------------------------------
def detail(api: Api, headers: Headers, task_id: str) -> tuple[str, dict[str, str]]:
    response = api.client.get(f"/api/tasks/{task_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"], response.json()


def test_a_tasks_entry_survives_writes_to_the_users_other_tasks(api: Api) -> None:
    headers = api.auth()
    kept, other = new_task(api, headers, "kept"), new_task(api, headers, "other")
    detail(api, headers, kept)
    x_cache(api, "/api/tasks", headers)

    new_task(api, headers, "third")
    patched = api.client.patch(f"/api/tasks/{other}", json={"title": "x"}, headers=headers)
    assert patched.status_code == 200
    assert api.client.delete(f"/api/tasks/{other}", headers=headers).status_code == 204

    state, body = detail(api, headers, kept)
    assert (state, body["title"]) == ("HIT", "kept")
    assert x_cache(api, "/api/tasks", headers) == "MISS"  # lists and stats follow every write


def test_a_read_after_an_update_answers_the_update_and_from_the_cache(api: Api) -> None:
    headers = api.auth()
    task_id = new_task(api, headers, "before")
    detail(api, headers, task_id)
    assert detail(api, headers, task_id)[0] == "HIT"

    patched = api.client.patch(f"/api/tasks/{task_id}", json={"title": "after"}, headers=headers)
    after = api.client.get(f"/api/tasks/{task_id}", headers=headers)

    assert patched.status_code == 200
    assert after.headers["x-cache"] == "HIT"  # stored by the update itself
    assert after.content == patched.content
    assert after.json()["title"] == "after"


def test_a_read_after_a_delete_answers_404_every_time(api: Api) -> None:
    headers = api.auth()
    task_id = new_task(api, headers)
    detail(api, headers, task_id)
    assert detail(api, headers, task_id)[0] == "HIT"

    assert api.client.delete(f"/api/tasks/{task_id}", headers=headers).status_code == 204

    for _ in range(2):
        assert api.client.get(f"/api/tasks/{task_id}", headers=headers).status_code == 404


def test_a_task_id_in_upper_case_is_the_same_entry_and_the_same_invalidation(api: Api) -> None:
    headers = api.auth()
    task_id = new_task(api, headers, "before")
    assert detail(api, headers, task_id.upper())[0] == "MISS"
    assert detail(api, headers, task_id)[0] == "HIT"

    patched = api.client.patch(f"/api/tasks/{task_id}", json={"title": "after"}, headers=headers)
    assert patched.status_code == 200

    assert detail(api, headers, task_id.upper())[1]["title"] == "after"


def test_another_user_never_gets_a_cached_task_nor_changes_it(api: Api) -> None:
    alice, bob = api.auth(), api.auth()
    task_id = new_task(api, alice, "alice's")
    detail(api, alice, task_id)
    assert detail(api, alice, task_id)[0] == "HIT"

    url = f"/api/tasks/{task_id}"
    for _ in range(2):  # the second would be a hit, if anything were shared
        assert api.client.get(url, headers=bob).status_code == 404
        assert api.client.get(url.upper(), headers=bob).status_code == 404
    assert api.client.patch(url, json={"title": "bob's"}, headers=bob).status_code == 404

    state, body = detail(api, alice, task_id)
    assert (state, body["title"]) == ("HIT", "alice's")


# --- the races, step by step, on the cache itself ----------------------------------------------
def a_user_id() -> str:
    return uuid.uuid4().hex[:24]


def with_cache(redis_url: str, scenario: Callable[[Cache], Awaitable[None]]) -> None:
    async def run() -> None:
        client = AsyncRedis.from_url(redis_url)
        cache = Cache(client, CircuitBreaker(), Metrics(), ttl=300)
        try:
            await scenario(cache)
        finally:
            await cache.aclose()
            await client.aclose()

    asyncio.run(run())


def with_cache_and_redis(
    redis_url: str, scenario: Callable[[Cache, AsyncRedis], Awaitable[None]]
) -> None:
    """``with_cache``, with a client of the test's own to look at the keys."""

    async def both(cache: Cache) -> None:
        direct = AsyncRedis.from_url(redis_url)
        try:
            await scenario(cache, direct)
        finally:
            await direct.aclose()

    with_cache(redis_url, both)


def task_body(user: str, task: str, title: str) -> bytes:
    return f'{{"id":"{task}","title":"{title}","owner":"{user}"}}'.encode()


@pytest.mark.parametrize("write", ["update", "delete"])
def test_a_read_that_missed_before_a_write_and_stores_after_it_is_never_served(
    redis_url: str, write: str
) -> None:
    user, task = a_user_id(), a_user_id()
    entry = Entry.of_task(user, task)

    async def scenario(cache: Cache) -> None:
        reader = await cache.get(entry)  # misses, then reads the database: the old state
        assert reader.state == "MISS"
        writer = await cache.before_write(entry)
        new = task_body(user, task, "new") if write == "update" else None
        assert await cache.invalidate(user, task, answer=new, seen=writer.seen)  # acknowledged
        await cache.put(reader, task_body(user, task, "old"))  # the reader, late

        after = await cache.get(entry)

        assert (after.state, after.value) == (("HIT", new) if new else ("MISS", None))

    with_cache(redis_url, scenario)


def test_a_write_through_stores_the_answer(redis_url: str) -> None:
    user, task = a_user_id(), a_user_id()
    entry = Entry.of_task(user, task)

    async def scenario(cache: Cache) -> None:
        writer = await cache.before_write(entry)
        answer = task_body(user, task, "a")
        assert await cache.invalidate(user, task, answer=answer, seen=writer.seen)
        assert (await cache.get(entry)).value == answer

    with_cache(redis_url, scenario)


@pytest.mark.parametrize("first_to_redis", ["first write", "second write"])
def test_of_two_updates_racing_no_answer_older_than_the_last_acknowledged_one_is_stored(
    redis_url: str, first_to_redis: str
) -> None:
    """Both writers look the version up before either bumps it; the database applies the first,
    then the second. Whichever reaches Redis first, the first write's answer (read back before
    the second write) is never served once both are acknowledged."""
    user, task = a_user_id(), a_user_id()
    entry = Entry.of_task(user, task)
    one, two = task_body(user, task, "one"), task_body(user, task, "two")

    async def scenario(cache: Cache) -> None:
        first, second = [await cache.before_write(entry) for _ in range(2)]
        bumps = [(one, first), (two, second)]
        if first_to_redis == "second write":
            bumps.reverse()
        for answer, before in bumps:
            assert await cache.invalidate(user, task, answer=answer, seen=before.seen)

        after = await cache.get(entry)

        assert after.value != one
        assert after.value in (None, two)

    with_cache(redis_url, scenario)


def test_an_entry_whose_answer_names_another_owner_is_not_served(redis_url: str) -> None:
    alice, bob, task = a_user_id(), a_user_id(), a_user_id()
    entry = Entry.of_task(alice, task)

    async def scenario(cache: Cache) -> None:
        lookup = await cache.get(entry)
        await cache.put(lookup, task_body(bob, task, "bob's"))  # a bug storing the wrong answer

        assert (await cache.get(entry)).state == "MISS"

    with_cache(redis_url, scenario)


def test_a_deleted_tasks_generation_expires_with_its_entries_not_after_a_day(
    redis_url: str,
) -> None:
    user, task = a_user_id(), a_user_id()

    async def scenario(cache: Cache, direct: AsyncRedis) -> None:
        assert await cache.invalidate(user, task)  # a DELETE's

        ttl = await direct.ttl(f"c1:g:{user}:{task}")

        assert 300 + 60 < ttl <= 2 * (300 + 60)  # outlives every entry under it, and no more

    with_cache_and_redis(redis_url, scenario)


@pytest.mark.parametrize("of", ["task", "list"])
def test_a_read_that_may_store_keeps_its_counter_alive(redis_url: str, of: str) -> None:
    """A counter that expired would start again from 0, and could climb back to a value whose
    entry a read stored just before: so every read renews the counter it stores under."""
    user, task = a_user_id(), a_user_id()
    entry = Entry.of_task(user, task) if of == "task" else Entry.of_list(user, "query")

    async def scenario(cache: Cache, direct: AsyncRedis) -> None:
        assert await cache.invalidate(user, task)  # the counters exist
        await direct.expire(entry.counter, 5)

        await cache.get(entry)

        assert await direct.ttl(entry.counter) > 300 + 60

    with_cache_and_redis(redis_url, scenario)
