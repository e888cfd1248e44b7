"""Fixed-window rate limiting in Redis: per user on authenticated routes, per client IP on
``/api/auth/register|login``. Fails open (and counts it) when Redis is unavailable."""

from __future__ import annotations

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

    async def hit(self, scope: str, subject: str) -> Quota | None:
        """Count one request; the quota left, None when not limiting, ``RateLimited`` if over."""
        count_script = self._count
        if count_script is None:
            return None
        now = time.time()
        window = int(now // self._window)
        key = f"rl1:{scope}:{subject}:{window}"

        async def count() -> int:
            count_redis()
            return int(await count_script(keys=[key], args=[self._expire]))

        try:
            hits = await self._breaker.call(count)
        except BreakerOpen:
            self._metrics.rate_limit_errors.inc()
            return None
        except REDIS_FAULTS:
            self._metrics.rate_limit_errors.inc()
            return None
        limit = self._max[scope]
        reset = max(1, math.ceil((window + 1) * self._window - now))
        quota = Quota(limit=limit, remaining=max(0, limit - hits), reset=reset)
        if hits > limit:
            self._metrics.rate_limited.labels(scope).inc()
            raise RateLimited(
                "Too many requests; retry after the window resets",
                headers={**quota.headers(), "Retry-After": str(reset)},
            )
        return quota
