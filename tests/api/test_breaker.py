"""The circuit breaker, and the database guard built on it, without any server: outcomes are
raised by hand, time is moved by hand."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from pymongo.errors import (
    DuplicateKeyError,
    NetworkTimeout,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from reference_api import breaker as breaker_module
from reference_api.breaker import BreakerState, CircuitBreaker
from reference_api.errors import DatabaseUnavailable, TaskNotFound
from reference_api.repository import DatabaseGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The breaker's clock only (the event loop keeps the real one)."""
    fake = Clock()
    monkeypatch.setattr(breaker_module, "time", SimpleNamespace(monotonic=fake))
    return fake


def test_consecutive_failures_open_the_circuit_and_a_success_in_between_resets_the_count(
    clock: Clock,
) -> None:
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(3, 2.0, on_change=changes.append)

    breaker.failed()
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()

    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.retry_after() == pytest.approx(2.0)
    assert changes == ["open"]


def test_after_the_cooldown_one_probe_passes_and_its_success_closes_the_circuit(
    clock: Clock,
) -> None:
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(1, 2.0, on_change=changes.append)
    breaker.failed()

    clock.now += 2.0
    assert breaker.state == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for its outcome
    breaker.succeeded()

    assert breaker.state == "closed"
    assert breaker.allow()
    assert changes == ["open", "closed"]


def test_a_failed_probe_opens_the_circuit_for_another_cooldown(clock: Clock) -> None:
    breaker = CircuitBreaker(5, 2.0)
    for _ in range(5):
        breaker.failed()
    clock.now += 2.5
    assert breaker.allow()

    breaker.failed()

    assert breaker.state == "open"
    assert breaker.retry_after() == pytest.approx(2.0)


def test_an_abandoned_probe_lets_the_next_caller_probe(clock: Clock) -> None:
    breaker = CircuitBreaker(1, 2.0)
    breaker.failed()
    clock.now += 3.0
    assert breaker.allow()

    breaker.abandoned()

    assert breaker.allow()


# --- the database guard -------------------------------------------------------------------------
async def run(guard: DatabaseGuard, exc: BaseException | None = None) -> bool:
    """Enter the guard and raise ``exc`` inside it; True if the block ran."""
    ran = False
    async with guard():
        ran = True
        if exc is not None:
            raise exc
    return ran


def test_an_outage_inside_the_guard_is_a_503_with_retry_after_and_a_breaker_failure() -> None:
    outages: list[int] = []
    guard = DatabaseGuard(CircuitBreaker(2, 5.0), 2.0, on_outage=lambda: outages.append(1))

    with pytest.raises(DatabaseUnavailable) as first:
        asyncio.run(run(guard, NetworkTimeout("timed out")))
    with pytest.raises(DatabaseUnavailable) as second:
        asyncio.run(run(guard, ServerSelectionTimeoutError("no server")))

    assert first.value.headers == {"Retry-After": "1"}
    assert second.value.headers == {"Retry-After": "5"}  # the circuit just opened for 5 s
    assert guard.breaker.state == "open"
    assert outages == [1, 1]


def test_no_free_pooled_connection_is_a_503_but_no_breaker_failure() -> None:
    outages: list[int] = []
    guard = DatabaseGuard(CircuitBreaker(1, 5.0), 2.0, on_outage=lambda: outages.append(1))

    for _ in range(3):  # this replica's own pool was the limit, not the database
        with pytest.raises(DatabaseUnavailable):
            asyncio.run(run(guard, WaitQueueTimeoutError("timed out checking out a connection")))

    assert guard.breaker.state == "closed"
    assert outages == [1, 1, 1]


def test_an_open_circuit_refuses_without_running_the_block() -> None:
    rejected: list[int] = []
    breaker = CircuitBreaker(1, 30.0)
    breaker.failed()
    guard = DatabaseGuard(breaker, 2.0, on_reject=lambda: rejected.append(1))

    with pytest.raises(DatabaseUnavailable) as refused:
        asyncio.run(run(guard))

    assert "circuit open" in refused.value.message
    assert int(refused.value.headers["Retry-After"]) in (29, 30)
    assert rejected == [1]


@pytest.mark.parametrize(
    "answer", [DuplicateKeyError("E11000"), TaskNotFound()], ids=["duplicate-key", "not-found"]
)
def test_an_answer_from_the_database_is_no_outage_and_resets_the_count(
    answer: Exception,
) -> None:
    guard = DatabaseGuard(CircuitBreaker(2, 5.0), 2.0)
    with pytest.raises(DatabaseUnavailable):
        asyncio.run(run(guard, NetworkTimeout("timed out")))

    with pytest.raises(type(answer)):
        asyncio.run(run(guard, answer))
    with pytest.raises(DatabaseUnavailable):
        asyncio.run(run(guard, NetworkTimeout("timed out")))

    assert guard.breaker.state == "closed"  # one outage since the answer, not two
