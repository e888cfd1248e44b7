"""Redis cache-aside for list, detail and stats answers.

Every key embeds its user and a global epoch (``c1:epoch``), and hangs on a counter that a write
bumps: lists and stats on the user's version (``c1:v:<user>``: any write of theirs makes them
unreachable), a task's detail on the task's generation (``c1:g:<user>:<task>``: only a write of
that task does). One ``INCR`` of the epoch makes every answer of every user unreachable; old
entries expire by TTL. A read is one round trip: a Lua script returns the epoch, the counter and
the entry together. (The request's rate limit is counted apart, by ``limits``:
``reference_api/ratelimit.py``.)

A write bumps the user's version and, for a task it updated or deleted, the task's generation,
after the database write (one script). A read that looked up an entry before that bump stores
what it read under the old counter, where nobody looks any more. An update also stores its answer
as the task's new entry (write-through), but only if no other write of the task bumped its
generation between the look-up of its version before the update and this bump: then that
answer was read back after every write whose bump came before it, and any later write bumps again.

A counter expires (a user's version after a day, a task's generation after 2 x (TTL + 60 s))
counted from the last bump or read that may store under it: later than any entry stored under one
of its values, so a counter that starts again from 0 finds none of them.

Fail-open: Redis faults (short socket timeouts, circuit breaker) make the request a ``BYPASS``
served from MongoDB.

A write whose invalidation fails is still acknowledged. Its user is then *pending*: this process
bypasses the cache for them, and one background task retries the ``INCR`` of their version and
of the generations of the tasks written (not through the breaker) with backoff capped at
``RETRY_MAX`` s, woken early by any successful cache call, until it lands; so other replicas stop
serving the old entries at most one retry interval after this process reaches Redis again.

Residual window: while Redis answers other replicas but not this one (a partial partition, or
Redis back before this process's next retry), those replicas may serve entries older than the
write, for as long as this process cannot reach Redis plus at most ``RETRY_MAX``. It never exceeds
the TTL (+ a small slack): every entry that could be stale has expired by then, which is also when
the retries give up. A process that stops with bumps still pending (after one last attempt at
shutdown) leaves the same window, up to the TTL.

Memory is bounded: past ``max_pending`` counters to bump (users and tasks), they are folded into
one pending bump of the global epoch (every user's entries), during which this process bypasses
the cache for everyone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis

from reference_api._pending import STALE_SLACK, PendingBumps
from reference_api.breaker import REDIS_FAULTS, BreakerOpen, CircuitBreaker
from reference_api.costs import count_lookup, count_redis
from reference_api.metrics import Metrics

log = logging.getLogger("reference_api.cache")

CacheState = Literal["HIT", "MISS", "BYPASS"]

EPOCH_KEY = "c1:epoch"
MAX_PENDING = 10_000  # counters awaiting a retried bump, before folding into an epoch bump
_HEX = frozenset("0123456789abcdef")

# KEYS: the entry's counter and the epoch. ARGV: the entry key's prefix and suffix, what to
# answer (_VERSION or _ENTRY), the counter's TTL. A read may store under the counter's value: it
# keeps the counter alive for that long.
_READ = """
local v = redis.call('GET', KEYS[1])
if v then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
local version = (redis.call('GET', KEYS[2]) or '0') .. ':' .. (v or '0')
if ARGV[3] == '1' then return {version} end
return {version, redis.call('GET', ARGV[1] .. version .. ARGV[2])}
"""
_VERSION, _ENTRY = 1, 2

# After a write. KEYS: the user's version, the epoch and, for a task written, its generation.
# ARGV: the version's and the generation's TTLs; for a write-through, the task entry's version
# before the write (from the read script), the entry key's prefix and suffix, the answer and its
# TTL. The answer is stored only if this bump is the first since then (the generation was g - 1).
_WRITTEN = """
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if not KEYS[3] then return 0 end
local g = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[2])
if not ARGV[3] then return 0 end
local e = redis.call('GET', KEYS[2]) or '0'
if ARGV[3] ~= e .. ':' .. (g - 1) then return 0 end
redis.call('SET', ARGV[4] .. e .. ':' .. g .. ARGV[5], ARGV[6], 'EX', ARGV[7])
return 1
"""

_BUMP = """
for _, key in ipairs(KEYS) do
  redis.call('INCR', key)
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""


def task_name(task_id: str) -> str | None:
    """A task id as keys spell it (an ObjectId's 24 hex digits, lower case: ``ObjectId`` takes
    either case, and one task must have one generation); None when it names no task."""
    name = task_id.lower()
    return name if len(name) == 24 and _HEX.issuperset(name) else None


def _generation_key(user_id: str, task: str) -> str:
    return f"c1:g:{user_id}:{task}"


def _counters(user_id: str, tasks: Iterable[str]) -> list[str]:
    return [f"c1:v:{user_id}", *(_generation_key(user_id, task) for task in tasks)]


@dataclass(frozen=True)
class Entry:
    """Where one cached answer lives: ``c1:<user>:<epoch>:<counter's value><suffix>``. An entry
    with ``mark`` is served only if its answer contains it (a task's answer names its owner)."""

    user: str
    counter: str
    suffix: str
    mark: bytes | None = None
    per_task: bool = False  # the counter is a task's generation, not the user's version

    @classmethod
    def of_list(cls, user_id: str, query: str) -> Entry:
        digest = hashlib.sha256(query.encode()).hexdigest()[:32]
        return cls(user_id, f"c1:v:{user_id}", f":list:{digest}")

    @classmethod
    def of_stats(cls, user_id: str) -> Entry:
        return cls(user_id, f"c1:v:{user_id}", ":stats")

    @classmethod
    def of_task(cls, user_id: str, task_id: str) -> Entry:
        task = task_name(task_id) or task_id[:64]  # a malformed id's answer is a 404: never stored
        mark = f'"owner":"{user_id}"'.encode()
        return cls(user_id, _generation_key(user_id, task), f":t:{task}", mark, per_task=True)


@dataclass
class Lookup:
    state: CacheState
    value: bytes | None = None
    key: str | None = None  # where to store the answer on a MISS
    seen: str | None = None  # the entry's "epoch:counter", for a write-through after a write


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
        # cache_requests_total's children, made once: labels() is not free
        self._counted = {r: metrics.cache.labels(r) for r in ("hit", "miss", "bypass", "error")}
        self._ttl = ttl
        self._version_ttl = max(ttl * 4, 86400)
        # A counter must outlive every entry stored under its values, so that once it expires
        # and starts again from 0 none of them is left: every bump, and every read that may
        # store, renews its TTL, and an entry is stored at most STALE_SLACK after the read and
        # lives the TTL. A generation (one per task written: a deleted task's lingers) gets
        # twice that, as margin, and so that volatile-ttl evicts entries before it.
        self._generation_ttl = 2 * (ttl + STALE_SLACK)
        self._pending = PendingBumps(
            self._bump_keys, _counters, EPOCH_KEY, ttl=ttl, max_pending=max_pending
        )
        self._read = redis.register_script(_READ) if redis is not None else None
        self._written = redis.register_script(_WRITTEN) if redis is not None else None
        self._bump = redis.register_script(_BUMP) if redis is not None else None

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    async def get(self, entry: Entry) -> Lookup:
        """Look ``entry`` up."""
        lookup = await self._get(entry, read=True)
        count_lookup(lookup.state)  # per route, by the request's X-Cache answer
        return lookup

    async def before_write(self, entry: Entry) -> Lookup:
        """Before a write of ``entry``'s task: note the entry's version (``seen``) for
        :meth:`invalidate`'s write-through. Not a look-up: nothing is read and nothing counted
        as one."""
        return await self._get(entry, read=False)

    async def _get(self, entry: Entry, *, read: bool) -> Lookup:
        if self._read is None or self._pending.covers(entry.user):
            return self._bypass(read)
        try:
            reply = await self._call_read(entry, _ENTRY if read else _VERSION)
        except BreakerOpen:
            return self._bypass(read)
        except REDIS_FAULTS as exc:
            self._fault("get" if read else "version", exc, lookup=read)
            return Lookup("BYPASS")
        if self._pending.covers(entry.user):  # an invalidation failed meanwhile
            return self._bypass(read)
        seen: str = reply[0].decode()
        if not read:
            return Lookup("BYPASS", seen=seen)
        value: bytes | None = reply[1]
        if value is not None and entry.mark is not None and entry.mark not in value:
            log.error("cache entry of %s without its mark; served from the database", entry.user)
            value = None
        if value is None:
            self._counted["miss"].inc()
            return Lookup("MISS", key=f"c1:{entry.user}:{seen}{entry.suffix}")
        self._counted["hit"].inc()
        return Lookup("HIT", value=value)

    async def _call_read(self, entry: Entry, answer: int) -> list[Any]:
        script = self._read
        assert script is not None
        keys = [entry.counter, EPOCH_KEY]
        counter_ttl = self._generation_ttl if entry.per_task else self._version_ttl
        args: list[str | int] = [f"c1:{entry.user}:", entry.suffix, answer, counter_ttl]

        def send() -> Awaitable[list[Any]]:  # [version, entry or None], as asked
            count_redis()
            return script(keys=keys, args=args)

        reply = await self._breaker.call(send)
        self._pending.redis_answered()
        return reply

    def _bypass(self, counted: bool) -> Lookup:
        if counted:  # a look-up's
            self._counted["bypass"].inc()
        return Lookup("BYPASS")

    async def put(self, lookup: Lookup, value: bytes) -> None:
        redis, key = self._redis, lookup.key
        if redis is not None and key is not None:
            await self._send("set", lambda: redis.set(key, value, ex=self._ttl))

    async def invalidate(
        self,
        user_id: str,
        task_id: str | None = None,
        *,
        answer: bytes | None = None,
        seen: str | None = None,
    ) -> bool:
        """After a write of ``user_id``'s: bump their version and, for a task updated or
        deleted, its generation; with the ``answer`` read back after an update and the version
        :meth:`before_write` saw, store it as the task's entry unless another write came in
        between. On failure return False: the user bypasses the cache here and the bumps are
        retried in the background until they land (or the TTL makes them moot)."""
        script = self._written
        if script is None:
            return True
        task = task_name(task_id) if task_id is not None else None
        keys = [f"c1:v:{user_id}", EPOCH_KEY]
        args: list[str | int | bytes] = [self._version_ttl, self._generation_ttl]
        if task is not None:
            keys.append(_generation_key(user_id, task))
            if answer is not None and seen is not None:
                args += [seen, f"c1:{user_id}:", f":t:{task}", answer, self._ttl]
        if await self._send("invalidate", lambda: script(keys=keys, args=args)):
            return True
        self._pending.remember(user_id, task)
        return False

    async def _send(self, operation: str, call: Callable[[], Awaitable[object]]) -> bool:
        """A request's call to Redis, through the breaker and counted as its round trip; False
        when it was not sent (breaker open) or failed (recorded)."""

        def send() -> Awaitable[object]:
            count_redis()
            return call()

        try:
            await self._breaker.call(send)
        except BreakerOpen:
            return False
        except REDIS_FAULTS as exc:
            self._fault(operation, exc)
            return False
        self._pending.redis_answered()
        return True

    async def aclose(self) -> None:
        """Stop the retry task (at shutdown), after one last, short attempt at pending bumps."""
        await self._pending.aclose()

    async def _bump_keys(self, keys: list[str]) -> bool:
        """INCR the given counters in one round trip; False on a Redis fault.

        Not through the breaker: the retry task is one serialized background call at most every
        ``RETRY_MAX`` s, and must notice Redis is back without waiting for the breaker's
        cooldown or for traffic to probe it. Counted as an error only: it is no request's."""
        bump_script = self._bump
        if bump_script is None:
            return True
        try:
            await bump_script(keys=keys, args=[self._version_ttl])
        except REDIS_FAULTS as exc:
            self._metrics.cache_errors.labels("invalidate_retry").inc()
            log.debug("cache invalidation retry failed: %s", type(exc).__name__)
            return False
        return True

    def _fault(self, operation: str, exc: BaseException, *, lookup: bool = True) -> None:
        if lookup:
            self._counted["error"].inc()
        self._metrics.cache_errors.labels(operation).inc()
        log.debug("cache %s failed: %s", operation, type(exc).__name__)
