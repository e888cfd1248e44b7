"""Accounts in the ``users`` collection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from reference_api.errors import EmailTaken, UserNotFound
from reference_api.repository._mongo import (
    DatabaseGuard,
    Document,
    database_errors,
    insert_once,
    now_utc,
    object_id,
)


@dataclass(frozen=True)
class UserRecord:
    id: str
    email: str
    name: str
    password_hash: str
    created_at: datetime


class UsersRepository:
    def __init__(self, db: AsyncDatabase[Document], guard: DatabaseGuard) -> None:
        self._users: AsyncCollection[Document] = db["users"]
        self._guard = guard  # every request's database work: deadline and circuit breaker

    async def ensure_indexes(self) -> None:
        async with database_errors():
            await self._users.create_index([("email", ASCENDING)], unique=True, name="email_1")

    async def create(self, email: str, name: str, password_hash: str) -> UserRecord:
        doc: Document = {
            "_id": ObjectId(),
            "email": email,
            "name": name,
            "passwordHash": password_hash,
            "createdAt": now_utc(),
        }
        async with self._guard():
            try:
                # The bcrypt hash has a random salt: only this request can have stored it, so a
                # duplicate that carries it is this registration retried by the driver.
                stored = await insert_once(self._users, doc, same=("email", "passwordHash"))
            except DuplicateKeyError as exc:
                raise EmailTaken() from exc
        return self._record(stored)

    async def by_email(self, email: str) -> UserRecord | None:
        async with self._guard():
            doc = await self._users.find_one({"email": email})
        return self._record(doc) if doc else None

    async def by_id(self, user_id: str) -> UserRecord:
        oid = object_id(user_id)
        if oid is None:
            raise UserNotFound()
        async with self._guard():
            doc = await self._users.find_one({"_id": oid})
        if doc is None:
            raise UserNotFound()
        return self._record(doc)

    @staticmethod
    def _record(doc: Mapping[str, Any]) -> UserRecord:
        return UserRecord(
            str(doc["_id"]),
            doc["email"],
            doc.get("name", ""),
            doc.get("passwordHash", ""),
            doc["createdAt"],
        )
