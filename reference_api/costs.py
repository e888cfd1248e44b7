"""What one request costs the API: the CPU its own task used, and the round trips sent for it.

Asyncio has no per-task CPU clock, so :func:`on_cpu` drives the request's coroutine itself and
reads the thread's CPU clock around each step (a resume up to its next suspension). That is the
handler, the dependencies, serialisation and whatever driver code runs inside the task (BSON
decoding, redis-py parsing). The event loop's own work between steps (HTTP parsing in protocol
callbacks, the selector) and work handed to other threads (bcrypt, the log writer) is not in it:
a report shows that as the process's unattributed CPU.

The round trips are counted where they are sent (the MongoDB command listener, the cache, the
rate limiter) into the :class:`RequestCosts` of the request in :data:`CURRENT`. The record is
per request, not per route: the route template is only known once the router has matched,
after the first round trips (the rate limiter's) may already have been sent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Generator
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from pymongo import monitoring

T = TypeVar("T")


class RequestCosts:
    """One request's tally; the edge middleware turns it into per-route counters."""

    __slots__ = ("bypass", "cpu", "db", "hit", "miss", "redis")

    def __init__(self) -> None:
        self.cpu = 0.0  # seconds of this thread's CPU while the request's task ran
        self.db = 0  # MongoDB commands sent
        self.redis = 0  # Redis commands or scripts sent (a pipeline would be one)
        self.hit = 0  # cache look-ups, by their X-Cache answer
        self.miss = 0
        self.bypass = 0


CURRENT: ContextVar[RequestCosts | None] = ContextVar("reference_api_request", default=None)


def count_db() -> None:
    costs = CURRENT.get()
    if costs is not None:
        costs.db += 1


def count_redis() -> None:
    costs = CURRENT.get()
    if costs is not None:
        costs.redis += 1


def count_lookup(state: str) -> None:
    """One cache look-up answered ``HIT``, ``MISS`` or ``BYPASS`` (a Redis fault is a bypass:
    the answer came from MongoDB)."""
    costs = CURRENT.get()
    if costs is None:
        return
    if state == "HIT":
        costs.hit += 1
    elif state == "MISS":
        costs.miss += 1
    else:
        costs.bypass += 1


class RoundTrips(monitoring.CommandListener):
    """Counts every MongoDB command the driver sends. PyMongo's async client calls ``started``
    inside the task that runs the operation, so :data:`CURRENT` is the request's own
    (tests/api/test_costs.py checks it)."""

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        count_db()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


class on_cpu(Generic[T]):  # lower case: it reads as a call, ``await on_cpu(coro, costs)``
    """Await ``awaitable``, adding the thread CPU of each of its steps to ``costs.cpu``.

    A trampoline: what it yields (futures, or ``None`` for a bare yield) goes to the task
    unchanged; what the task sends or throws in (a result, ``CancelledError``) goes to it. Its
    return value and its exceptions come out as they would from ``await awaitable``.
    """

    __slots__ = ("_awaitable", "_costs")

    def __init__(self, awaitable: Awaitable[T], costs: RequestCosts) -> None:
        self._awaitable = awaitable
        self._costs = costs

    def __await__(self) -> Generator[Any, Any, T]:
        coro, costs, clock = self._awaitable.__await__(), self._costs, time.thread_time
        value: Any = None
        error: BaseException | None = None
        while True:
            began = clock()
            try:
                if error is None:
                    yielded = coro.send(value)
                else:
                    yielded, error = coro.throw(error), None
            except StopIteration as done:
                result: T = done.value
                return result
            finally:
                costs.cpu += clock() - began
            try:
                value = yield yielded
            except GeneratorExit:  # the awaiting coroutine is being closed: close ours too
                coro.close()
                raise
            except BaseException as exc:  # thrown in by the task (cancellation): pass it on
                value, error = None, exc
