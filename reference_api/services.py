"""The clients one app owns (MongoDB, Redis) and what is built on them; opened and closed by
the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from reference_api.breaker import REDIS_FAULTS, STATES, BreakerState, CircuitBreaker
from reference_api.cache import Cache
from reference_api.costs import RoundTrips
from reference_api.errors import ApiError, DatabaseUnavailable
from reference_api.metrics import Metrics
from reference_api.ratelimit import RateLimiter
from reference_api.repository import DatabaseGuard, Document, TasksRepository, UsersRepository
from reference_api.security import TokenIssuer, hash_password
from reference_api.settings import Settings

log = logging.getLogger("reference_api")

_INDEX_RETRY_SECONDS = 5.0


@dataclass
class Services:
    settings: Settings
    metrics: Metrics
    tokens: TokenIssuer
    mongo: AsyncMongoClient[Document]
    users: UsersRepository
    tasks: TasksRepository
    redis: Redis | None
    breaker: CircuitBreaker  # Redis's
    db_breaker: CircuitBreaker
    cache: Cache
    limiter: RateLimiter
    dummy_hash: str
    background: set[asyncio.Task[None]] = field(default_factory=set)

    async def database_up(self, within: float) -> bool:
        """A ping through the database guard: refused while the circuit is open, and, when it
        is half-open, the probe that may close it."""
        try:
            with pymongo.timeout(within):  # shortens the guard's deadline
                await self.tasks.ping()
        except (ApiError, PyMongoError):
            return False
        return True

    async def redis_state(self, within: float) -> str:
        if self.redis is None:
            return "disabled"
        redis = self.redis
        try:
            async with asyncio.timeout(within):
                await redis.ping()
        except REDIS_FAULTS:
            return "down"
        return "up"


def _mongo_client(settings: Settings) -> AsyncMongoClient[Document]:
    timeout = settings.mongodb_timeout_ms
    return AsyncMongoClient(
        settings.mongodb_uri,
        maxPoolSize=settings.mongodb_pool_size,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        # Only for work outside a request (index builds may take long): a request's operations
        # run under the guard's deadline (DatabaseGuard), which replaces this.
        socketTimeoutMS=max(10_000, timeout * 5),
        tz_aware=True,
        appname=f"reference_api/{settings.replica_id}",
        event_listeners=[RoundTrips()],  # db round trips per route (reference_api/costs.py)
    )


def _redis_client(url: str, settings: Settings) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        decode_responses=False,
    )


def _database_breaker(settings: Settings, metrics: Metrics) -> CircuitBreaker:
    def changed(state: BreakerState) -> None:
        if state == "open":
            metrics.db_breaker.opened.inc()
            log.warning(
                "database circuit open after %d consecutive outages: answering 503 at once "
                "for %g s, then one request probes",
                settings.mongodb_breaker_failures,
                settings.mongodb_breaker_cooldown,
            )
        else:
            log.warning("database circuit closed: the database answers again")

    breaker = CircuitBreaker(
        settings.mongodb_breaker_failures,
        settings.mongodb_breaker_cooldown,
        faults=(DatabaseUnavailable,),
        on_change=changed,
    )
    metrics.db_breaker.watch(lambda: breaker.state, STATES)
    return breaker


async def _ensure_indexes(
    users: UsersRepository, tasks: TasksRepository, *, secondary: bool
) -> None:
    """Create the unique email index and, with ``secondary`` (MONGODB_INDEXES), the strategy's
    secondary ones; if the database is not up yet, keep trying in the background rather than
    refuse to start."""
    while True:
        try:
            await users.ensure_indexes()
            await tasks.ensure_indexes(secondary=secondary)
        except (ApiError, PyMongoError) as exc:
            log.warning("could not create indexes yet (%s); retrying", type(exc).__name__)
            await asyncio.sleep(_INDEX_RETRY_SECONDS)
        else:
            return


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, metrics: Metrics, tokens: TokenIssuer
) -> AsyncIterator[Services]:
    mongo = _mongo_client(settings)
    db = mongo.get_default_database("primo")
    db_breaker = _database_breaker(settings, metrics)
    guard = DatabaseGuard(
        db_breaker,
        settings.mongodb_timeout_ms / 1000,
        on_reject=metrics.db_breaker.rejections.inc,
        on_outage=metrics.db_breaker.outages.inc,
    )
    users, tasks = UsersRepository(db, guard), TasksRepository(db, guard)
    url = settings.effective_redis_url
    redis = _redis_client(url, settings) if url else None
    breaker = CircuitBreaker(settings.redis_breaker_failures, settings.redis_breaker_cooldown)
    services = Services(
        settings=settings,
        metrics=metrics,
        tokens=tokens,
        mongo=mongo,
        users=users,
        tasks=tasks,
        redis=redis,
        breaker=breaker,
        db_breaker=db_breaker,
        cache=Cache(redis, breaker, metrics, settings.cache_ttl),
        limiter=RateLimiter(
            redis,
            breaker,
            metrics,
            enabled=settings.rate_limit_enabled,
            window_seconds=settings.rate_limit_window_seconds,
            user_max=settings.rate_limit_max,
            auth_max=settings.rate_limit_auth_max,
            strategy=settings.rate_limit_strategy,
        ),
        # Unknown users are checked against this, so they cost what a wrong password costs.
        dummy_hash=await hash_password("not-a-real-password", settings.bcrypt_rounds),
    )
    indexes = asyncio.create_task(_ensure_indexes(users, tasks, secondary=settings.mongodb_indexes))
    services.background.add(indexes)
    indexes.add_done_callback(services.background.discard)
    try:
        yield services
    finally:
        for task in list(services.background):
            task.cancel()
        await asyncio.gather(*services.background, return_exceptions=True)
        await services.cache.aclose()
        if redis is not None:
            await redis.aclose()
        await mongo.close()
