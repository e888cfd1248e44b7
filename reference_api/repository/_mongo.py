"""What both repositories share: the document type, the clock, error translation, id parsing,
and the rule that makes an insert safe to retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, ExecutionTimeout, WTimeoutError

from reference_api.errors import DatabaseUnavailable

Document = dict[str, Any]


def now_utc() -> datetime:
    """Now, to the millisecond: what BSON stores, so a value read back equals the one written."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@asynccontextmanager
async def database_errors() -> AsyncIterator[None]:
    try:
        yield
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as exc:
        raise DatabaseUnavailable() from exc


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
