"""What both repositories share: the document type, the clock, error translation, the guard
every request's database work goes through, id parsing, and the rule that makes an insert safe
to retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import (
    ConnectionFailure,
    DuplicateKeyError,
    ExecutionTimeout,
    PyMongoError,
    WaitQueueTimeoutError,
    WTimeoutError,
)

from reference_api.breaker import CircuitBreaker
from reference_api.errors import DatabaseUnavailable

Document = dict[str, Any]


def now_utc() -> datetime:
    """Now, to the millisecond: what BSON stores, so a value read back equals the one written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def is_outage(exc: PyMongoError) -> bool:
    """The database did not answer (in time): a lost or refused connection, no server to select,
    no pooled connection free, or a deadline that passed. Anything else is an answer."""
    return isinstance(exc, ConnectionFailure | ExecutionTimeout | WTimeoutError) or exc.timeout


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    """Outages as ``DatabaseUnavailable``, for work outside a request (index creation)."""
    try:
        yield
    except PyMongoError as exc:
        if not is_outage(exc):
            raise
        raise DatabaseUnavailable() from exc


class DatabaseGuard:
    """The way every request's database work goes (``async with guard(): ...``): refused at once
    while the circuit is open, bounded by one deadline, its outages counted by the breaker and
    raised as ``DatabaseUnavailable`` (503 with ``Retry-After``).

    The deadline is PyMongo's client-side operation timeout (``pymongo.timeout``), not an
    ``asyncio.timeout`` around the block. It covers every step of every operation in the block:
    server selection, the wait for a pooled connection, and the reply, which a frozen server
    never sends (its sockets stay open: only ``socketTimeoutMS``, 10 s, would end the wait). The
    driver sends what is left of it along as ``maxTimeMS``, so the server stops working on an
    answer nobody waits for, and stops retrying a retryable write when it runs out. Its expiry
    is an error of the driver's own (``exc.timeout``): the connection that did not answer is
    closed, the pool keeps the others, and a timeout after the handshake does not mark the
    server unknown. A cancellation from outside would close that connection too, but reaches
    the driver's retry and pool code as an interruption rather than a deadline it planned for,
    and sends the server nothing. The deadline lives in a ContextVar, so it bounds the calling
    task's operations only (PyMongo: ``pymongo.timeout`` is asyncio-safe).

    Outcomes, for the breaker: an outage is a failure; anything else the block raises (a
    duplicate key, ``TaskNotFound`` on what the database answered) is the database answering,
    a success; a cancelled block tells nothing.
    """

    def __init__(
        self,
        breaker: CircuitBreaker,
        deadline: float,
        on_reject: Callable[[], None] | None = None,
        on_outage: Callable[[], None] | None = None,
    ) -> None:
        self.breaker = breaker
        self.deadline = deadline
        self._on_reject = on_reject
        self._on_outage = on_outage

    def _outage(self, exc: PyMongoError) -> DatabaseUnavailable:
        """Count an outage (or not) and say what to answer."""
        if isinstance(exc, WaitQueueTimeoutError):
            # The deadline passed while this process's own pool had no free connection: this
            # replica is overloaded, which says nothing of the database. Answered 503 all the
            # same, but not counted: under overload the breaker opened on it, refused every
            # request at once, and the flood of fast refusals starved the probe that would
            # close it (target-1k at 1 replica fell to 45 successful req/s that way).
            self.breaker.abandoned()
        else:
            self.breaker.failed()
        if self._on_outage is not None:
            self._on_outage()
        return DatabaseUnavailable(retry_after=self.breaker.retry_after())

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        breaker = self.breaker
        if not breaker.allow():
            if self._on_reject is not None:
                self._on_reject()
            raise DatabaseUnavailable(
                "The database is unavailable (circuit open); try again shortly",
                retry_after=breaker.retry_after(),
            )
        try:
            with pymongo.timeout(self.deadline):
                yield
        except PyMongoError as exc:
            if not is_outage(exc):
                breaker.succeeded()
                raise
            raise self._outage(exc) from exc
        except DatabaseUnavailable:  # a guard inside this one already counted it
            breaker.abandoned()
            raise
        except Exception:
            breaker.succeeded()
            raise
        except BaseException:
            breaker.abandoned()
            raise
        else:
            breaker.succeeded()


def object_id(value: str) -> ObjectId | None:
    if len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


async def insert_once(
    collection: AsyncCollection[Document], doc: Document, *, same: Sequence[str]
) -> Document:
    """Insert ``doc``, whose ``_id`` the caller minted, and return the stored document.

    The driver retries a write whose reply it did not get (retryable writes). A server that
    does not recognise the retry runs it again, and the second run fails with E11000 on our own
    ``_id`` although the first one stored the document. SecantusDB does so when the attempts
    differ in ``maxTimeMS`` (``timeoutMS`` in the URI) or run at the same time; mongod once its
    retry record is gone. That duplicate is success: the document under our ``_id`` that also
    matches ``doc`` in the ``same`` fields (values only this request wrote) is ours, and is
    returned as stored.

    Any other duplicate (another unique key; an ``_id`` held by a document that is not this
    one) propagates as ``DuplicateKeyError``. The read-back filters on ``same``, so nothing of
    another owner's document is ever read.
    """
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        stored = await collection.find_one({"_id": doc["_id"], **{k: doc[k] for k in same}})
        if stored is None:
            raise
        return stored
    return doc
