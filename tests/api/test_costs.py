"""What each request costs, per route: app CPU, database and Redis round trips, cache answers.

The trampoline's semantics run on a bare event loop; the command listener on a real SecantusDB;
the counters on a real API with Redis.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from reference_api.costs import CURRENT, RequestCosts, RoundTrips, on_cpu

from ._support import Api, Counters, counters

TASK_ROUTE = ("GET", "/api/tasks/{task_id}")


# --- the trampoline -----------------------------------------------------------------------------
def burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class Yielder:
    """An awaitable that yields a bare ``None`` once, as a zero-length sleep of asyncio does."""

    def __await__(self) -> Generator[None, None, str]:
        yield None
        return "resumed"


def test_the_trampoline_returns_what_the_coroutine_returns() -> None:
    async def answer() -> int:
        await Yielder()
        return 42

    async def main() -> int:
        return await on_cpu(answer(), RequestCosts())

    assert asyncio.run(main()) == 42


def test_the_trampoline_passes_futures_and_bare_yields_through_and_their_results_back() -> None:
    async def inner() -> tuple[str, str]:
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, "from the future")
        return await future, await Yielder()

    async def main() -> tuple[str, str]:
        return await on_cpu(inner(), RequestCosts())

    assert asyncio.run(main()) == ("from the future", "resumed")


def test_an_exception_of_the_coroutine_comes_out_of_the_trampoline_as_it_is() -> None:
    async def failing() -> None:
        await Yielder()
        raise KeyError("inner")

    async def main() -> None:
        await on_cpu(failing(), RequestCosts())

    with pytest.raises(KeyError, match="inner"):
        asyncio.run(main())


def test_cancelling_the_task_cancels_the_coroutine_inside_the_trampoline() -> None:
    seen: list[str] = []

    async def main() -> None:
        waiting = asyncio.Event()

        async def wait_forever() -> None:
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                seen.append("cancelled inside")
                raise

        task = asyncio.create_task(wrapped(wait_forever))
        await waiting.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert seen == ["cancelled inside"]


def test_a_cancellation_thrown_in_at_a_bare_yield_reaches_the_coroutine_inside() -> None:
    seen: list[str] = []

    async def main() -> None:
        started = asyncio.Event()

        async def at_a_bare_yield() -> None:
            try:
                started.set()
                await Yielder()  # no future to cancel: the task throws CancelledError in
            except asyncio.CancelledError:
                seen.append("cancelled inside")
                raise

        task = asyncio.create_task(wrapped(at_a_bare_yield))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())

    assert seen == ["cancelled inside"]


def test_what_is_thrown_into_the_trampoline_is_thrown_into_the_coroutine() -> None:
    async def handles() -> str:
        try:
            await Yielder()
        except ValueError as exc:
            await Yielder()  # and it may suspend again before it answers
            return f"handled {exc}"
        return "never"

    outer = wrapped(handles)
    outer.send(None)
    outer.throw(ValueError("this"))
    with pytest.raises(StopIteration) as done:
        outer.send(None)

    assert done.value.value == "handled this"


def test_a_coroutine_that_handles_the_cancellation_returns_its_value_through_the_trampoline() -> (
    None
):
    async def main() -> str:
        waiting = asyncio.Event()

        async def stubborn() -> str:
            try:
                waiting.set()
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                await Yielder()  # it may still await while it cleans up
                return "cleaned up"
            return "never"

        task = asyncio.create_task(wrapped(stubborn))
        await waiting.wait()
        task.cancel()
        return await task

    assert asyncio.run(main()) == "cleaned up"


def test_closing_the_awaiting_coroutine_closes_the_one_inside() -> None:
    closed: list[bool] = []

    async def inner() -> None:
        try:
            await Yielder()
        finally:
            closed.append(True)

    outer = wrapped(inner)
    outer.send(None)  # suspended inside the trampoline, at the bare yield
    outer.close()

    assert closed == [True]


def test_the_trampoline_counts_cpu_spent_in_the_coroutine_but_not_time_waiting() -> None:
    costs = RequestCosts()

    async def work() -> None:
        burn(0.03)
        await asyncio.sleep(0.1)  # waiting off the CPU: the time the trampoline must not count
        burn(0.03)

    async def main() -> None:
        await on_cpu(work(), costs)

    asyncio.run(main())

    assert 0.055 <= costs.cpu < 0.09  # two 30 ms bursts; the 100 ms sleep is not CPU


async def wrapped(factory: Callable[[], Any]) -> Any:
    return await on_cpu(factory(), RequestCosts())


# --- the command listener under the async client ------------------------------------------------
class SeesCurrent(monitoring.CommandListener):
    """Records which request record ``started`` sees, per command."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, RequestCosts | None]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append((event.command_name, CURRENT.get()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_the_command_listener_sees_the_request_of_the_task_that_sent_the_command(
    fresh_mongodb_uri: Callable[[], str],
) -> None:
    spy = SeesCurrent()

    async def request(client: AsyncMongoClient[dict[str, Any]], n: int) -> RequestCosts:
        costs = RequestCosts()
        CURRENT.set(costs)  # each task has its own context
        tasks = client.get_default_database()["tasks"]
        for i in range(n):
            await tasks.insert_one({"i": i})
            await tasks.find_one({"i": i})
        return costs

    async def main() -> tuple[RequestCosts, RequestCosts]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            fresh_mongodb_uri(), event_listeners=[RoundTrips(), spy]
        )
        try:
            one, two = await asyncio.gather(request(client, 1), request(client, 3))
        finally:
            await client.close()
        return one, two

    one, two = asyncio.run(main())

    assert (one.db, two.db) == (2, 6)
    mine = [(name, costs) for name, costs in spy.seen if costs is not None]
    assert sorted(name for name, _ in mine) == ["find"] * 4 + ["insert"] * 4
    assert sum(costs is one for _, costs in mine) == 2


# --- the counters of a real API ----------------------------------------------------------------
def per_route(before: Counters, after: Counters, route: tuple[str, str]) -> dict[str, float]:
    """The change of every per-route series of ``route`` (requests summed over status)."""
    method, template = route
    out: dict[str, float] = {}
    for (name, labels), value in after.items():
        label = dict(labels)
        if (label.get("method"), label.get("route")) != (method, template):
            continue
        key = f"{name}[{label['result']}]" if "result" in label else name
        if name == "http_requests_total":
            key = name
        elif name.startswith("http_request_duration"):
            continue
        out[key] = out.get(key, 0.0) + value - before.get((name, labels), 0.0)
    return out


def new_task(api: Api, headers: dict[str, str]) -> str:
    response = api.client.post("/api/tasks", json={"title": "costed"}, headers=headers)
    assert response.status_code == 201
    return str(response.json()["id"])


def test_n_reads_of_one_task_cost_one_find_and_three_redis_round_trips_each_plus_one_store(
    api: Api,
) -> None:
    headers = api.auth()
    task_id = new_task(api, headers)
    before = counters(api.client)

    states = [
        api.client.get(f"/api/tasks/{task_id}", headers=headers).headers["x-cache"]
        for _ in range(5)
    ]

    costs = per_route(before, counters(api.client), TASK_ROUTE)
    assert states == ["MISS", "HIT", "HIT", "HIT", "HIT"]
    assert costs["http_requests_total"] == 5
    assert costs["db_roundtrips_total"] == 1  # the miss's find; a hit reads no database
    # every request: the rate limit's state and its hit (limits: reference_api/ratelimit.py),
    # then the cache read; the miss also stores its answer
    assert costs["redis_roundtrips_total"] == 5 * 3 + 1
    assert costs["cache_lookups_total[hit]"] == 4
    assert costs["cache_lookups_total[miss]"] == 1
    assert costs["app_cpu_seconds_total"] > 0


def test_a_write_costs_one_insert_the_rate_limits_two_and_one_invalidation(api: Api) -> None:
    headers = api.auth()
    before = counters(api.client)

    for _ in range(3):
        new_task(api, headers)

    costs = per_route(before, counters(api.client), ("POST", "/api/tasks"))
    assert costs["http_requests_total"] == 3
    assert costs["db_roundtrips_total"] == 3
    assert costs["redis_roundtrips_total"] == 3 * 3
    assert not any(key.startswith("cache_lookups_total") for key in costs)
    assert costs["app_cpu_seconds_total"] > 0


def test_an_update_costs_two_database_and_four_redis_round_trips_and_its_next_read_none(
    api: Api,
) -> None:
    headers = api.auth()
    task_id = new_task(api, headers)
    before = counters(api.client)

    patched = api.client.patch(f"/api/tasks/{task_id}", json={"status": "done"}, headers=headers)
    read = api.client.get(f"/api/tasks/{task_id}", headers=headers)

    after = counters(api.client)
    update = per_route(before, after, ("PATCH", "/api/tasks/{task_id}"))
    detail = per_route(before, after, TASK_ROUTE)
    assert (patched.status_code, read.headers["x-cache"]) == (200, "HIT")
    # update_one and the read back; the rate limit's two, the entry's version, and the bump
    # that stores the answer
    assert (update["db_roundtrips_total"], update["redis_roundtrips_total"]) == (2, 4)
    assert (detail.get("db_roundtrips_total", 0.0), detail["redis_roundtrips_total"]) == (0, 3)


def test_without_redis_reads_are_bypasses_with_no_redis_round_trips(uncached_api: Api) -> None:
    headers = uncached_api.auth()
    task_id = new_task(uncached_api, headers)
    before = counters(uncached_api.client)

    for _ in range(3):
        uncached_api.client.get(f"/api/tasks/{task_id}", headers=headers)

    costs = per_route(before, counters(uncached_api.client), TASK_ROUTE)
    assert costs["db_roundtrips_total"] == 3
    assert costs["redis_roundtrips_total"] == 0
    assert costs["cache_lookups_total[bypass]"] == 3


def test_stats_cost_one_database_round_trip_on_a_miss(api: Api) -> None:
    headers = api.auth()
    new_task(api, headers)
    before = counters(api.client)

    first = api.client.get("/api/tasks/stats", headers=headers)

    costs = per_route(before, counters(api.client), ("GET", "/api/tasks/stats"))
    assert first.headers["x-cache"] == "MISS"
    assert costs["db_roundtrips_total"] == 1  # counts and overdue in one aggregation
