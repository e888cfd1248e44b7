"""Redis cache-aside for list, detail and stats answers.

Keys are per user and embed a global epoch (``c1:epoch``) and the user's version counter
(``c1:v:<user>``), so one ``INCR`` on a write makes every cached answer of that user unreachable
(and one ``INCR`` of the epoch, every answer of every user); old entries expire by TTL. One round
trip per read: a Lua script returns the epoch, the version and the entry together, and counts the
request's rate limit in the same call when it is given the limiter's window (a cached read is one
round trip in all, not one for the limiter and one for the cache).

Fail-open: Redis faults (short socket timeouts, circuit breaker) make the request a ``BYPASS``
served from MongoDB.

A write whose invalidation fails is still acknowledged. Its user is then *pending*: this process
bypasses the cache for them, and one background task retries the ``INCR`` (not through the
breaker) with backoff capped at ``RETRY_MAX`` s, woken early by any successful cache call, until
it lands; so other replicas stop serving the old entries at most one retry interval after this
process reaches Redis again.

Residual window: while Redis answers other replicas but not this one (a partial partition, or
Redis back before this process's next retry), those replicas may serve entries older than the
write, for as long as this process cannot reach Redis plus at most ``RETRY_MAX``. It never exceeds
the TTL (+ a small slack): every entry that could be stale has expired by then, which is also when
the retries give up. A process that stops with bumps still pending (after one last attempt at
shutdown) leaves the same window, up to the TTL.

Memory is bounded: past ``max_pending`` users, they are folded into one pending bump of the global
epoch (every user's entries), during which this process bypasses the cache for everyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from reference_api.breaker import REDIS_FAULTS, BreakerOpen, CircuitBreaker
from reference_api.costs import count_lookup, count_redis
from reference_api.metrics import Metrics
from reference_api.ratelimit import Window

log = logging.getLogger("reference_api.cache")

CacheState = Literal["HIT", "MISS", "BYPASS"]

EPOCH_KEY = "c1:epoch"
MAX_PENDING = 10_000  # users awaiting a retried invalidation, before folding into an epoch bump
RETRY_MIN = 0.05  # s, first retry delay; doubles up to RETRY_MAX
RETRY_MAX = 0.5
_BUMP_BATCH = 500  # version keys per retry round trip
_STALE_SLACK = 60.0  # s: a read that began before the write may store its answer a little later

# KEYS: the user's version, the epoch and, to count a rate limit, the window's counter.
# ARGV: the entry key's prefix and suffix, 1 to read the entry (0: count only), the window's TTL.
# The count is the limiter's own script (reference_api/ratelimit.py), line for line.
_READ = """
local hits = 0
if KEYS[3] then
  hits = redis.call('INCR', KEYS[3])
  if hits == 1 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
end
if ARGV[3] == '0' then return {hits} end
local version = (redis.call('GET', KEYS[2]) or '0') .. ':' .. (redis.call('GET', KEYS[1]) or '0')
return {hits, version, redis.call('GET', ARGV[1] .. version .. ARGV[2])}
"""


_BUMP = """
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""


@dataclass
class Lookup:
    state: CacheState
    value: bytes | None = None
    key: str | None = None  # where to store the answer on a MISS
    hits: int | None = None  # the rate-limit count sent with it (None: none sent, or it failed)


@dataclass(frozen=True)
class _Pending:
    deadline: float  # monotonic; by then every entry older than the write has expired
    seq: int  # order of the failed invalidation, to tell it from a later one of the same user


class Cache:
    def __init__(
        self,
        redis: Redis | None,
        breaker: CircuitBreaker,
        metrics: Metrics,
        ttl: int,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._redis = redis
        self._breaker = breaker
        self._metrics = metrics
        self._ttl = ttl
        self._version_ttl = max(ttl * 4, 86400)
        self._max_pending = max_pending
        self._pending: dict[str, _Pending] = {}  # users whose invalidation has not landed yet
        self._flush: _Pending | None = None  # an epoch bump (every user) that has not landed yet
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._read = redis.register_script(_READ) if redis is not None else None
        self._bump = redis.register_script(_BUMP) if redis is not None else None

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    @staticmethod
    def list_suffix(query: str) -> str:
        return "list:" + hashlib.sha256(query.encode()).hexdigest()[:32]

    def _is_pending(self, user_id: str) -> bool:
        return self._flush is not None or user_id in self._pending

    async def get(self, user_id: str, suffix: str, window: Window | None = None) -> Lookup:
        """Look the entry up, counting ``window`` (the request's rate limit) in the same round
        trip; the limiter judges ``hits``. A user pending here still has the count sent."""
        lookup = await self._get(user_id, suffix, window)
        count_lookup(lookup.state)  # per route, by the request's X-Cache answer
        return lookup

    async def _get(self, user_id: str, suffix: str, window: Window | None) -> Lookup:
        if self._read is None:
            return self._bypass()
        read, pending = self._read, self._is_pending(user_id)
        if pending and window is None:
            return self._bypass()
        keys = [f"c1:v:{user_id}", EPOCH_KEY]
        args: list[str | int] = [f"c1:{user_id}:", f":{suffix}", 0 if pending else 1]
        if window is not None:
            keys.append(window.key)
            args.append(window.expire)

        def send() -> Awaitable[Any]:  # the script's reply: [hits, version, entry or None]
            count_redis()
            return read(keys=keys, args=args)

        try:
            reply = await self._breaker.call(send)
        except BreakerOpen:
            return self._bypass()
        except REDIS_FAULTS as exc:
            self._fault("get", exc)
            return Lookup("BYPASS")
        self._redis_answered()
        hits = int(reply[0]) if window is not None else None
        if pending or self._is_pending(user_id):  # an invalidation failed while we were reading
            return self._bypass(hits)
        version, value = reply[1], reply[2]
        key = f"c1:{user_id}:{version.decode()}:{suffix}"
        if value is None:
            self._metrics.cache.labels("miss").inc()
            return Lookup("MISS", key=key, hits=hits)
        self._metrics.cache.labels("hit").inc()
        return Lookup("HIT", value=value, hits=hits)

    def _bypass(self, hits: int | None = None) -> Lookup:
        self._metrics.cache.labels("bypass").inc()
        return Lookup("BYPASS", hits=hits)

    async def put(self, lookup: Lookup, value: bytes) -> None:
        redis, key = self._redis, lookup.key
        if redis is None or key is None:
            return

        def send() -> Awaitable[object]:
            count_redis()
            return redis.set(key, value, ex=self._ttl)

        try:
            await self._breaker.call(send)
        except BreakerOpen:
            pass
        except REDIS_FAULTS as exc:
            self._fault("set", exc)
        else:
            self._redis_answered()

    async def invalidate(self, user_id: str) -> bool:
        """Bump the user's version. On failure return False: the user bypasses the cache here
        and the bump is retried in the background until it lands (or the TTL makes it moot)."""
        if self._bump is None:
            return True
        if await self._bump_keys([f"c1:v:{user_id}"], via_breaker=True):
            return True
        self._remember(user_id)
        return False

    async def aclose(self) -> None:
        """Stop the retry task (at shutdown), after one last, short attempt at pending bumps."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self._pending or self._flush is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._retry_once()

    async def _bump_keys(self, keys: list[str], via_breaker: bool) -> bool:
        """INCR the given version keys in one round trip; False on a Redis fault.

        Requests go through the breaker. The retry task does not: it is one serialized
        background call at most every ``RETRY_MAX`` s, and must notice Redis is back without
        waiting for the breaker's cooldown or for traffic to probe it."""
        bump_script = self._bump
        if bump_script is None:
            return True

        async def bump() -> None:
            if via_breaker:  # a request's; the retry task's belong to no request
                count_redis()
            await bump_script(keys=keys, args=[self._version_ttl])

        try:
            await (self._breaker.call(bump) if via_breaker else bump())
        except BreakerOpen:
            return False
        except REDIS_FAULTS as exc:
            if via_breaker:
                self._fault("invalidate", exc)
            else:  # not a request: counted as an error only
                self._metrics.cache_errors.labels("invalidate_retry").inc()
                log.debug("cache invalidation retry failed: %s", type(exc).__name__)
            return False
        return True

    def _remember(self, user_id: str) -> None:
        """Record a failed invalidation; start the retry task if it is not running."""
        entry = _Pending(time.monotonic() + self._ttl + _STALE_SLACK, next(self._seq))
        if self._flush is not None:
            self._flush = entry  # the epoch bump now also has to follow this write
        else:
            self._pending.pop(user_id, None)
            self._pending[user_id] = entry
            if len(self._pending) > self._max_pending:
                log.warning(
                    "%d users await cache invalidation; bumping the global epoch instead",
                    len(self._pending),
                )
                self._pending.clear()
                self._flush = entry
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._retry_loop(), name="cache-invalidation")

    def _redis_answered(self) -> None:
        if self._pending or self._flush is not None:
            self._wake.set()

    async def _retry_loop(self) -> None:
        delay = RETRY_MIN
        while self._pending or self._flush is not None:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            try:
                landed = await self._retry_once()
            except Exception:  # never let the task die with bumps pending
                log.exception("cache invalidation retry failed")
                landed = False
            delay = RETRY_MIN if landed else min(delay * 2, RETRY_MAX)

    def _forget_expired(self, now: float) -> None:
        """Pending bumps whose entries have all expired by now need no bump any more."""
        if self._flush is not None and self._flush.deadline <= now:
            self._flush = None
            log.warning("cache epoch bump given up: every entry it was for has expired")
        expired = [u for u, p in self._pending.items() if p.deadline <= now]
        for user_id in expired:
            del self._pending[user_id]
        if expired:
            log.warning(
                "cache invalidation given up for %d users: their entries expired", len(expired)
            )

    async def _retry_once(self) -> bool:
        """One attempt at the pending bumps; True if every one attempted landed."""
        self._forget_expired(time.monotonic())
        mark = next(self._seq)  # a failure recorded after this may postdate the bump
        if self._flush is not None:
            if not await self._bump_keys([EPOCH_KEY], via_breaker=False):
                return False
            if self._flush is not None and self._flush.seq < mark:
                self._flush = None
            for user_id in [u for u, p in self._pending.items() if p.seq < mark]:
                del self._pending[user_id]
            return True
        users = list(self._pending)
        for start in range(0, len(users), _BUMP_BATCH):
            batch = users[start : start + _BUMP_BATCH]
            if not await self._bump_keys([f"c1:v:{u}" for u in batch], via_breaker=False):
                return False
            for user_id in batch:
                entry = self._pending.get(user_id)
                if entry is not None and entry.seq < mark:
                    del self._pending[user_id]
        return True

    def _fault(self, operation: str, exc: BaseException) -> None:
        self._metrics.cache.labels("error").inc()
        self._metrics.cache_errors.labels(operation).inc()
        log.debug("cache %s failed: %s", operation, type(exc).__name__)
