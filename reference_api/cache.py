"""Redis cache-aside for list, detail and stats answers.

Keys are per user and embed the user's version counter (``c1:v:<user>``), so one ``INCR`` on a
write makes every cached answer of that user unreachable; old entries expire by TTL. One round
trip per read: a Lua script returns the version and the entry together.

Fail-open: Redis faults (short socket timeouts, circuit breaker) make the request a ``BYPASS``
served from MongoDB. If an invalidation fails, the user is remembered locally and bypasses the
cache until an invalidation succeeds, so this process never serves a stale entry after its own
acknowledged write.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

from reference_api.breaker import REDIS_FAULTS, BreakerOpen, CircuitBreaker
from reference_api.metrics import Metrics

log = logging.getLogger("reference_api.cache")

CacheState = Literal["HIT", "MISS", "BYPASS"]

_READ = """
local v = redis.call('GET', KEYS[1]) or '0'
return {v, redis.call('GET', ARGV[1] .. v .. ARGV[2])}
"""


_BUMP = """
local v = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
return v
"""


@dataclass
class Lookup:
    state: CacheState
    value: bytes | None = None
    key: str | None = None  # where to store the answer on a MISS


class Cache:
    def __init__(
        self,
        redis: Redis | None,
        breaker: CircuitBreaker,
        metrics: Metrics,
        ttl: int,
    ) -> None:
        self._redis = redis
        self._breaker = breaker
        self._metrics = metrics
        self._ttl = ttl
        self._version_ttl = max(ttl * 4, 86400)
        self._dirty: set[str] = set()
        self._read = redis.register_script(_READ) if redis is not None else None
        self._bump = redis.register_script(_BUMP) if redis is not None else None

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    @staticmethod
    def list_suffix(query: str) -> str:
        return "list:" + hashlib.sha256(query.encode()).hexdigest()[:32]

    async def get(self, user_id: str, suffix: str) -> Lookup:
        if self._redis is None or self._read is None:
            self._metrics.cache.labels("bypass").inc()
            return Lookup("BYPASS")
        if user_id in self._dirty and not await self.invalidate(user_id):
            self._metrics.cache.labels("bypass").inc()
            return Lookup("BYPASS")
        read = self._read
        try:
            version, value = await self._breaker.call(
                lambda: read(keys=[f"c1:v:{user_id}"], args=[f"c1:{user_id}:", f":{suffix}"])
            )
        except BreakerOpen:
            self._metrics.cache.labels("bypass").inc()
            return Lookup("BYPASS")
        except REDIS_FAULTS as exc:
            self._fault("get", exc)
            return Lookup("BYPASS")
        key = f"c1:{user_id}:{version.decode()}:{suffix}"
        if value is None:
            self._metrics.cache.labels("miss").inc()
            return Lookup("MISS", key=key)
        self._metrics.cache.labels("hit").inc()
        return Lookup("HIT", value=value)

    async def put(self, lookup: Lookup, value: bytes) -> None:
        redis, key = self._redis, lookup.key
        if redis is None or key is None:
            return
        try:
            await self._breaker.call(lambda: redis.set(key, value, ex=self._ttl))
        except BreakerOpen:
            pass
        except REDIS_FAULTS as exc:
            self._fault("set", exc)

    async def invalidate(self, user_id: str) -> bool:
        """Bump the user's version; False (and the user bypasses the cache here) on failure."""
        bump_script = self._bump
        if bump_script is None:
            return True

        async def bump() -> None:
            await bump_script(keys=[f"c1:v:{user_id}"], args=[self._version_ttl])

        try:
            await self._breaker.call(bump)
        except BreakerOpen:
            self._dirty.add(user_id)
            return False
        except REDIS_FAULTS as exc:
            self._dirty.add(user_id)
            self._fault("invalidate", exc)
            return False
        self._dirty.discard(user_id)
        return True

    def _fault(self, operation: str, exc: BaseException) -> None:
        self._metrics.cache.labels("error").inc()
        self._metrics.cache_errors.labels(operation).inc()
        log.debug("cache %s failed: %s", operation, type(exc).__name__)
