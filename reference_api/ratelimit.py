"""Rate limits through the ``limits`` library, on the app's Redis connections: per user on
authenticated routes, per client IP on ``/api/auth/register|login``. Fails open (and counts
it) when Redis is unavailable or its circuit is open.

A request costs two round trips: the window's state (for the ``RateLimit-*`` headers, and to
refuse without counting), then the hit. ``limits`` answers a hit with a bool only, and each of
its calls is a script of its own: neither can join the cache's look-up
(``reference_api/cache.py``), so a cached read is three round trips, not one as with the
hand-written fixed window this replaced (``benchmarks/ratelimit_cost.py`` measures both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from redis.asyncio import Redis

from reference_api.breaker import REDIS_FAULTS, BreakerOpen, CircuitBreaker
from reference_api.costs import count_redis
from reference_api.errors import RateLimited
from reference_api.metrics import Metrics

T = TypeVar("T")
Scope = Literal["user", "ip"]
Strategy = Literal["moving-window", "sliding-window-counter"]
_STRATEGIES = {
    "moving-window": MovingWindowRateLimiter,  # exact: a log of the last `limit` hits
    "sliding-window-counter": SlidingWindowCounterRateLimiter,  # two counters, weighted
}
KEY_PREFIX = "rl2"
_FAIL_OPEN: tuple[type[BaseException], ...] = (BreakerOpen, *REDIS_FAULTS)


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until one more request is allowed (at least 1)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    def __init__(
        self,
        redis: Redis | None,
        breaker: CircuitBreaker,
        metrics: Metrics,
        *,
        enabled: bool,
        window_seconds: float,
        user_max: int,
        auth_max: int,
        strategy: Strategy,
    ) -> None:
        self._breaker = breaker
        self._metrics = metrics
        # limits counts whole seconds (RATE_LIMIT_WINDOW is in minutes: 0.05 is 3 s, not 4)
        window = max(1, math.ceil(round(window_seconds, 3)))
        self._items: dict[Scope, RateLimitItem] = {
            "user": RateLimitItemPerSecond(user_max, window, namespace="user"),
            "ip": RateLimitItemPerSecond(auth_max, window, namespace="ip"),
        }
        self._limiter = None
        if redis is not None and enabled:
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                # The app's pool: its timeouts, no retries. limits hands its options to
                # redis-py's Redis() and annotates them narrower than that takes.
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
            )
            self._limiter = _STRATEGIES[strategy](storage)

    @property
    def enabled(self) -> bool:
        return self._limiter is not None

    async def hit(self, scope: Scope, subject: str) -> Quota | None:
        """Count one request; the quota left, None when not limiting (or failing open),
        ``RateLimited`` if over (and then not counted)."""
        limiter, item = self._limiter, self._items[scope]
        if limiter is None:
            return None
        try:
            stats = await self._send(lambda: limiter.get_window_stats(item, subject))
            allowed = stats.remaining > 0 and await self._send(lambda: limiter.hit(item, subject))
        except _FAIL_OPEN:
            self._metrics.rate_limit_errors.inc()
            return None
        # Nothing counted yet (reset_time now): this hit starts the window.
        reset = math.ceil(stats.reset_time - time.time()) or item.get_expiry()
        reset = max(1, reset)
        if not allowed:
            self._metrics.rate_limited.labels(scope).inc()
            headers = Quota(item.amount, 0, reset).headers()
            raise RateLimited(
                "Too many requests; retry after the window resets",
                headers={**headers, "Retry-After": str(reset)},
            )
        return Quota(item.amount, stats.remaining - 1, reset)

    async def _send(self, call: Callable[[], Awaitable[T]]) -> T:
        def counted() -> Awaitable[T]:
            count_redis()
            return call()

        return await self._breaker.call(counted)
