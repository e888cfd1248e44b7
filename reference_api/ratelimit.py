"""Fixed-window rate limiting in Redis: per user on authenticated routes, per client IP on
``/api/auth/register|login``. Fails open (and counts it) when Redis is unavailable."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from reference_api.breaker import REDIS_FAULTS, BreakerOpen, CircuitBreaker
from reference_api.costs import count_redis
from reference_api.errors import RateLimited
from reference_api.metrics import Metrics


@dataclass(frozen=True)
class Quota:
    limit: int
    remaining: int
    reset: int  # seconds until the window ends

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


# One round trip, and cheaper in redis-py than a pipeline: count, and start the TTL on the first.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


@dataclass(frozen=True)
class Window:
    """One request's count in its fixed window, before it is sent: the counter's key, the TTL
    that starts on its first count, and when the window ends."""

    scope: str
    key: str
    expire: int
    now: float
    end: float


class RateLimiter:
    """Counts requests in Redis; :meth:`hit` in a round trip of its own, or :meth:`window` then
    :meth:`judge` around a round trip that counts it along with other work (the cache's look-up:
    ``reference_api/cache.py``), with the same key, TTL and verdict."""

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
    ) -> None:
        self._redis = redis if enabled else None
        self._breaker = breaker
        self._metrics = metrics
        self._window = window_seconds
        self._expire = max(1, math.ceil(window_seconds))
        self._max = {"user": user_max, "ip": auth_max}
        self._count = self._redis.register_script(_COUNT) if self._redis is not None else None

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    def window(self, scope: str, subject: str) -> Window | None:
        """The count to send for one request of ``subject``; None when not limiting."""
        if self._redis is None:
            return None
        now = time.time()
        index = int(now // self._window)
        key = f"rl1:{scope}:{subject}:{index}"
        return Window(scope, key, self._expire, now, (index + 1) * self._window)

    def judge(self, window: Window | None, hits: int | None) -> Quota | None:
        """The quota left after ``hits`` counts in ``window``; ``RateLimited`` if over. None
        when not limiting, or when the count could not be sent (``hits`` None: fail open, and
        count it)."""
        if window is None:
            return None
        if hits is None:
            self._metrics.rate_limit_errors.inc()
            return None
        limit = self._max[window.scope]
        reset = max(1, math.ceil(window.end - window.now))
        quota = Quota(limit=limit, remaining=max(0, limit - hits), reset=reset)
        if hits > limit:
            self._metrics.rate_limited.labels(window.scope).inc()
            raise RateLimited(
                "Too many requests; retry after the window resets",
                headers={**quota.headers(), "Retry-After": str(reset)},
            )
        return quota

    async def hit(self, scope: str, subject: str) -> Quota | None:
        """Count one request; the quota left, None when not limiting, ``RateLimited`` if over."""
        count_script, window = self._count, self.window(scope, subject)
        if count_script is None or window is None:
            return None

        async def count() -> int:
            count_redis()
            return int(await count_script(keys=[window.key], args=[window.expire]))

        hits: int | None = None  # on a fault, or with the breaker open: not counted, fail open
        with contextlib.suppress(BreakerOpen, *REDIS_FAULTS):
            hits = await self._breaker.call(count)
        return self.judge(window, hits)
