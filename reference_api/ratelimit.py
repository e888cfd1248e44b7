"""Fixed-window rate limiting in Redis: per user on authenticated routes, per client IP on
``/api/auth/register|login``. Fails open (and counts it) when Redis is unavailable."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from reference_api.breaker import REDIS_FAULTS, BreakerOpen, CircuitBreaker
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

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    async def hit(self, scope: str, subject: str) -> Quota | None:
        """Count one request; the quota left, None when not limiting, ``RateLimited`` if over."""
        redis = self._redis
        if redis is None:
            return None
        now = time.time()
        window = int(now // self._window)
        key = f"rl1:{scope}:{subject}:{window}"

        async def count() -> int:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, self._expire)
                hits, _ = await pipe.execute()
            return int(hits)

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
