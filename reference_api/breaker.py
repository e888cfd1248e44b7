"""A small circuit breaker in front of Redis, so that a dead or slow Redis costs almost nothing.

closed → (``failures`` consecutive errors) → open → (``cooldown`` s) → half-open: one request
probes; success closes the circuit, failure opens it again. Single event loop: no locks needed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from redis.exceptions import RedisError

T = TypeVar("T")

# Everything a Redis call can raise when Redis is down, slow or confused.
REDIS_FAULTS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class BreakerOpen(Exception):
    """The call was not attempted: the circuit is open."""


class CircuitBreaker:
    def __init__(self, failures: int = 3, cooldown: float = 2.0) -> None:
        self.failures_to_open = failures
        self.cooldown = cooldown
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def _allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def _success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def _failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failures_to_open:
            self._opened_at = time.monotonic()
        self._probing = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn``; raise ``BreakerOpen`` without running it while the circuit is open.
        Redis faults are recorded and re-raised."""
        if not self._allow():
            raise BreakerOpen()
        try:
            result = await fn()
        except REDIS_FAULTS:
            self._failure()
            raise
        except BaseException:
            self._probing = False
            raise
        self._success()
        return result
