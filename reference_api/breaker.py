"""A small circuit breaker, so that a dead or frozen dependency costs almost nothing: one in front
of Redis (cache, rate limits) and one in front of MongoDB (every request's database work,
``reference_api/repository/_mongo.py``).

closed → (``failures`` consecutive faults) → open → (``cooldown`` s) → half-open: one call probes;
success closes the circuit, failure opens it again. Single event loop: no locks needed.

:meth:`CircuitBreaker.call` runs one awaitable through it; a caller that needs a block instead
(the database guard) uses :meth:`~CircuitBreaker.allow` and reports the outcome itself with
:meth:`~CircuitBreaker.succeeded`, :meth:`~CircuitBreaker.failed` or
:meth:`~CircuitBreaker.abandoned`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Literal, TypeVar

from redis.exceptions import RedisError

T = TypeVar("T")

BreakerState = Literal["closed", "open", "half-open"]
STATES: tuple[BreakerState, ...] = ("closed", "open", "half-open")

# Everything a Redis call can raise when Redis is down, slow or confused.
REDIS_FAULTS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class BreakerOpen(Exception):
    """The call was not attempted: the circuit is open."""


class CircuitBreaker:
    def __init__(
        self,
        failures: int = 3,
        cooldown: float = 2.0,
        *,
        faults: tuple[type[BaseException], ...] = REDIS_FAULTS,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.failures_to_open = failures
        self.cooldown = cooldown
        self.faults = faults  # what :meth:`call` counts as a failure
        self._on_change = on_change  # told "open" when it opens, "closed" when it closes again
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self.cooldown:
            return "half-open"
        return "open"

    def retry_after(self) -> float:
        """Seconds until a probe may pass (0 once the cooldown is over)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown - time.monotonic())

    def allow(self) -> bool:
        """May a call go ahead? In half-open, the first one asking becomes the probe; it must
        then report its outcome."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        was_open = self._opened_at is not None
        self._failures = 0
        self._opened_at = None
        self._probing = False
        if was_open and self._on_change is not None:
            self._on_change("closed")

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.failures_to_open:
            was_closed = self._opened_at is None
            self._opened_at = time.monotonic()
            if was_closed and self._on_change is not None:
                self._on_change("open")
        self._probing = False

    def abandoned(self) -> None:
        """The call ended without telling (cancelled): no verdict, but a probe may go again."""
        self._probing = False

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn``; raise ``BreakerOpen`` without running it while the circuit is open.
        Faults are recorded and re-raised."""
        if not self.allow():
            raise BreakerOpen()
        try:
            result = await fn()
        except self.faults:
            self.failed()
            raise
        except BaseException:
            self.abandoned()
            raise
        self.succeeded()
        return result
