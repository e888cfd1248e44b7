"""The cache's failed invalidations, retried in the background until they land (what that
guarantees, and for how long: ``reference_api/cache.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

log = logging.getLogger("reference_api.cache")

RETRY_MIN = 0.05  # s, first retry delay; doubles up to RETRY_MAX
RETRY_MAX = 0.5
_BUMP_BATCH = 500  # counters per retry round trip
STALE_SLACK = 60  # s: a read that began before the write may store its answer a little later

Bump = Callable[[list[str]], Awaitable[bool]]  # INCR these counters in one round trip; landed?
Counters = Callable[[str, Iterable[str]], list[str]]  # a user's version, and generations of tasks


@dataclass
class _Pending:
    deadline: float  # monotonic; by then every entry older than the write has expired
    seq: int  # order of the failed invalidation, to tell it from a later one of the same user
    tasks: set[str] = field(default_factory=set)  # whose generations to bump with the version


class PendingBumps:
    """Users whose invalidation failed in this process (with the tasks they wrote), and the one
    background task that bumps their counters with backoff until the bump lands; past
    ``max_pending`` counters, one bump of the epoch instead."""

    def __init__(
        self, bump: Bump, counters: Counters, epoch_key: str, *, ttl: int, max_pending: int
    ) -> None:
        self._bump = bump
        self._counters = counters
        self._epoch_key = epoch_key
        self._ttl = ttl
        self._max_pending = max_pending
        self._pending: dict[str, _Pending] = {}  # users whose invalidation has not landed yet
        self._size = 0  # their versions and task generations
        self._flush: _Pending | None = None  # an epoch bump (every user) that has not landed yet
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def covers(self, user_id: str) -> bool:
        """Whether this process must bypass the cache for ``user_id``."""
        return self._flush is not None or user_id in self._pending

    def remember(self, user_id: str, task: str | None) -> None:
        """Record a failed invalidation; start the retry task if it is not running."""
        deadline, seq = time.monotonic() + self._ttl + STALE_SLACK, next(self._seq)
        if self._flush is not None:
            self._flush = _Pending(deadline, seq)  # the epoch bump now also has to follow this
        else:
            known = self._pending.pop(user_id, None)
            tasks = known.tasks if known is not None else set()
            self._size += (known is None) + (task is not None and task not in tasks)
            if task is not None:
                tasks.add(task)
            self._pending[user_id] = _Pending(deadline, seq, tasks)
            if self._size > self._max_pending:
                log.warning(
                    "%d counters of %d users await cache invalidation; bumping the global "
                    "epoch instead",
                    self._size,
                    len(self._pending),
                )
                self._pending.clear()
                self._size = 0
                self._flush = _Pending(deadline, seq)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._retry_loop(), name="cache-invalidation")

    def redis_answered(self) -> None:
        """Redis answered a request: retry now rather than after the backoff."""
        if self._pending or self._flush is not None:
            self._wake.set()

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

    def _forget(self, user_id: str) -> None:
        known = self._pending.pop(user_id)
        self._size -= 1 + len(known.tasks)

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
            self._forget(user_id)
        if expired:
            log.warning(
                "cache invalidation given up for %d users: their entries expired", len(expired)
            )

    async def _retry_once(self) -> bool:
        """One attempt at the pending bumps; True if every one attempted landed."""
        self._forget_expired(time.monotonic())
        mark = next(self._seq)  # a failure recorded after this may postdate the bump
        if self._flush is not None:
            if not await self._bump([self._epoch_key]):
                return False
            if self._flush is not None and self._flush.seq < mark:
                self._flush = None
            for user_id in [u for u, p in self._pending.items() if p.seq < mark]:
                self._forget(user_id)
            return True
        users: list[str] = []
        keys: list[str] = []
        for user_id, pending in list(self._pending.items()):
            users.append(user_id)
            keys += self._counters(user_id, pending.tasks)
            if len(keys) >= _BUMP_BATCH:
                if not await self._land(users, keys, mark):
                    return False
                users, keys = [], []
        return not keys or await self._land(users, keys, mark)

    async def _land(self, users: list[str], keys: list[str], mark: int) -> bool:
        """Bump ``keys`` (the counters of ``users``); once they landed, forget the users'
        failures from before ``mark``."""
        if not await self._bump(keys):
            return False
        for user_id in users:
            pending = self._pending.get(user_id)
            if pending is not None and pending.seq < mark:
                self._forget(user_id)
        return True
