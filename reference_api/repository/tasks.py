"""Tasks in the ``tasks`` collection. Every query filters by its owner."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from reference_api.errors import TaskNotFound
from reference_api.models import (
    Priority,
    PriorityCounts,
    SortKey,
    Status,
    StatusCounts,
    TaskCreate,
    TaskPublic,
    TasksPage,
    TaskStats,
)
from reference_api.repository._keyset import (
    PRIORITY_ORDER,
    after_cursor,
    decode_cursor,
    encode_cursor,
)
from reference_api.repository._mongo import (
    DatabaseGuard,
    Document,
    database_errors,
    insert_once,
    now_utc,
    object_id,
)

log = logging.getLogger("reference_api.repository")

_CANNOT_CREATE_INDEX = 67


@dataclass(frozen=True)
class TaskQuery:
    status: Status | None = None
    priority: Priority | None = None
    q: str | None = None
    sort: SortKey = "-createdAt"
    cursor: str | None = None
    limit: int = 20


def _to_public(doc: Mapping[str, Any]) -> TaskPublic:
    return TaskPublic(
        id=str(doc["_id"]),
        title=doc["title"],
        description=doc.get("description", ""),
        status=doc["status"],
        priority=doc["priority"],
        dueDate=doc.get("dueDate"),
        tags=list(doc.get("tags", [])),
        createdAt=doc["createdAt"],
        updatedAt=doc["updatedAt"],
        owner=str(doc["user"]),
    )


class TasksRepository:
    def __init__(self, db: AsyncDatabase[Document], guard: DatabaseGuard) -> None:
        self._tasks: AsyncCollection[Document] = db["tasks"]
        self._guard = guard  # every request's database work: deadline and circuit breaker
        self.text_search = False  # until the text index is known to exist

    async def ensure_indexes(self, *, secondary: bool = True) -> None:
        """The strategy's secondary indexes; without ``secondary`` none are created, and search
        uses the regex fallback (the query planner has only ``_id`` to work with)."""
        if not secondary:
            self.text_search = False
            log.info("secondary indexes off: search uses a case-insensitive regex")
            return
        async with database_errors():
            await self._tasks.create_index([("user", ASCENDING), ("status", ASCENDING)])
            await self._tasks.create_index([("user", ASCENDING), ("createdAt", DESCENDING)])
            await self._tasks.create_index([("user", ASCENDING), ("priority", ASCENDING)])
            try:
                await self._tasks.create_index(
                    [("title", "text"), ("description", "text")], name="title_text_description_text"
                )
            except OperationFailure as exc:
                if exc.code != _CANNOT_CREATE_INDEX:
                    raise
                self.text_search = False
                log.warning(
                    "the database refused a text index (code %s); search uses a "
                    "case-insensitive regex on title and description instead",
                    exc.code,
                )
            else:
                self.text_search = True

    async def create(self, owner: str, data: TaskCreate) -> TaskPublic:
        now = now_utc()
        doc: Document = {
            "_id": ObjectId(),
            "user": ObjectId(owner),
            "title": data.title,
            "description": data.description,
            "status": data.status.value,
            "priority": data.priority.value,
            "dueDate": data.dueDate,
            "tags": list(data.tags),
            "createdAt": now,
            "updatedAt": now,
        }
        # A stored task with our fresh _id, this owner and this creation instant is this create,
        # retried by the driver after it was stored. Any other holder of the _id (not possible
        # with ObjectIds we mint, short of a bug) stays a DuplicateKeyError: a 500, logged.
        async with self._guard():
            stored = await insert_once(self._tasks, doc, same=("user", "createdAt"))
        return _to_public(stored)

    async def get(self, owner: str, task_id: str) -> TaskPublic:
        oid = object_id(task_id)
        if oid is None:
            raise TaskNotFound()
        async with self._guard():
            doc = await self._tasks.find_one({"_id": oid, "user": ObjectId(owner)})
        if doc is None:
            raise TaskNotFound()
        return _to_public(doc)

    async def update(self, owner: str, task_id: str, changes: Mapping[str, Any]) -> TaskPublic:
        """``update_one``, then read the task back: the $set (updatedAt included) is fixed before
        the call, so a driver retry that runs it again writes the same values.

        Not one ``find_one_and_update``: SecantusDB runs every findAndModify as a collection
        scan (158 ms at 10,000 tasks against 1.9 ms + 1.1 ms for these two, BENCHMARKS.md); a
        real MongoDB would serve either from the _id index."""
        oid = object_id(task_id)
        if oid is None:
            raise TaskNotFound()
        fields: Document = {
            k: (v.value if isinstance(v, Status | Priority) else v) for k, v in changes.items()
        }
        fields["updatedAt"] = now_utc()
        mine = {"_id": oid, "user": ObjectId(owner)}
        async with self._guard():
            result = await self._tasks.update_one(mine, {"$set": fields})
            if result.matched_count == 0:
                raise TaskNotFound()
            doc = await self._tasks.find_one(mine)
        if doc is None:  # deleted between the two calls
            raise TaskNotFound()
        return _to_public(doc)

    async def delete(self, owner: str, task_id: str) -> None:
        """Delete the owner's task; ``TaskNotFound`` when there is none.

        A driver retry of a delete that was already applied is answered from the server's
        retryable-write record (deleted: 1). Only a server that runs the retry again finds
        nothing and this raises ``TaskNotFound``: a 404 for a task that is indeed gone, which
        HTTP allows for a repeated DELETE (RFC 9110, 9.2.2). We keep that rather than answer
        204 for every missing id, which would break the 404 of the contract; find_one_and_delete
        would not tell the two apart either, and only adds the document to the reply.
        """
        oid = object_id(task_id)
        if oid is None:
            raise TaskNotFound()
        async with self._guard():
            result = await self._tasks.delete_one({"_id": oid, "user": ObjectId(owner)})
        if result.deleted_count == 0:
            raise TaskNotFound()

    def _filter(self, owner: str, query: TaskQuery) -> tuple[Document, list[Document]]:
        """(indexable, residual): flat equality conditions every index starts with, and the
        clauses with ``$or`` (regex search, keyset cursors).

        Kept apart because a planner may give up on indexes for a filter with ``$or`` in it
        (SecantusDB scans the whole collection: 430 ms instead of 8 ms at 10,000 tasks); the
        residual clauses then run as a second ``$match`` over the indexed selection.
        """
        indexable: Document = {"user": ObjectId(owner)}
        residual: list[Document] = []
        if query.status is not None:
            indexable["status"] = query.status.value
        if query.priority is not None:
            indexable["priority"] = query.priority.value
        if query.q:
            if self.text_search:
                indexable["$text"] = {"$search": query.q}
            else:
                pattern = re.escape(query.q)
                residual.append(
                    {
                        "$or": [
                            {"title": {"$regex": pattern, "$options": "i"}},
                            {"description": {"$regex": pattern, "$options": "i"}},
                        ]
                    }
                )
        return indexable, residual

    async def _select(
        self,
        indexable: Document,
        residual: list[Document],
        sort: list[tuple[str, int]],
        limit: int,
    ) -> list[Document]:
        """``find`` when the filter is plain; otherwise an aggregation whose first ``$match`` is
        the indexable part (MongoDB merges the two stages; SecantusDB then uses the index)."""
        async with self._guard():
            if not residual:
                found: list[Document] = (
                    await self._tasks.find(indexable).sort(sort).limit(limit).to_list(limit)
                )
                return found
            pipeline: list[Document] = [
                {"$match": indexable},
                {"$match": residual[0] if len(residual) == 1 else {"$and": residual}},
                {"$sort": dict(sort)},
                {"$limit": limit},
            ]
            cursor = await self._tasks.aggregate(pipeline)
            docs: list[Document] = await cursor.to_list(limit)
            return docs

    async def page(self, owner: str, query: TaskQuery) -> TasksPage:
        indexable, residual = self._filter(owner, query)
        field = query.sort.lstrip("-")
        direction = DESCENDING if query.sort.startswith("-") else ASCENDING
        last = decode_cursor(query.cursor, query.sort) if query.cursor else None
        if field == "priority":
            docs = await self._list_by_priority(indexable, residual, direction, last, query)
        else:
            after = [] if last is None else [after_cursor(field, direction, *last)]
            docs = await self._select(
                indexable,
                residual + after,
                [(field, direction), ("_id", direction)],
                query.limit + 1,
            )
        more = len(docs) > query.limit
        docs = docs[: query.limit]
        next_cursor = None
        if more and docs:
            tail = docs[-1]
            next_cursor = encode_cursor(query.sort, tail.get(field), tail["_id"])
        return TasksPage(items=[_to_public(d) for d in docs], next_cursor=next_cursor)

    async def _list_by_priority(
        self,
        indexable: Document,
        residual: list[Document],
        direction: int,
        last: tuple[Any, ObjectId] | None,
        query: TaskQuery,
    ) -> list[Document]:
        """Priority sorts by rank (low < medium < high), not alphabetically: one indexed query
        per level, in rank order, each ordered by _id, until the page is full."""
        levels = list(PRIORITY_ORDER if direction == ASCENDING else reversed(PRIORITY_ORDER))
        if query.priority is not None:
            levels = [query.priority.value]
        start_after: ObjectId | None = None
        if last is not None:
            level, start_after = last
            if level not in levels:
                return []
            levels = levels[levels.index(level) :]
        wanted = query.limit + 1
        docs: list[Document] = []
        for i, level in enumerate(levels):
            flt: Document = {**indexable, "priority": level}
            if i == 0 and start_after is not None:
                flt["_id"] = {"$gt" if direction == ASCENDING else "$lt": start_after}
            docs.extend(await self._select(flt, residual, [("_id", direction)], wanted - len(docs)))
            if len(docs) >= wanted:
                break
        return docs

    async def stats(self, owner: str) -> TaskStats:
        """One aggregation: counts by status and priority, and the overdue ones among them:
        what ``{dueDate: {$lt: now}, status: {$ne: "done"}}`` matches (a query compares dates
        with dates only; an expression would also take null, a missing field or a string to be
        less than a date, hence ``$type``)."""
        user = ObjectId(owner)
        by_status = StatusCounts()
        by_priority = PriorityCounts()
        total = overdue = 0
        late = {
            "$and": [
                {"$eq": [{"$type": "$dueDate"}, "date"]},
                {"$lt": ["$dueDate", now_utc()]},
                {"$ne": ["$status", "done"]},
            ]
        }
        async with self._guard():
            cursor = await self._tasks.aggregate(
                [
                    {"$match": {"user": user}},
                    {
                        "$group": {
                            "_id": {"s": "$status", "p": "$priority"},
                            "n": {"$sum": 1},
                            "late": {"$sum": {"$cond": [late, 1, 0]}},
                        }
                    },
                ]
            )
            groups = await cursor.to_list(None)
        for group in groups:
            n = int(group["n"])
            total += n
            overdue += int(group["late"])
            key = group["_id"]
            status = {"in-progress": "in_progress"}.get(key.get("s"), key.get("s"))
            if status in StatusCounts.model_fields:
                setattr(by_status, status, getattr(by_status, status) + n)
            if key.get("p") in PriorityCounts.model_fields:
                setattr(by_priority, key["p"], getattr(by_priority, key["p"]) + n)
        return TaskStats(total=total, by_status=by_status, by_priority=by_priority, overdue=overdue)

    async def ping(self) -> None:
        async with self._guard():
            await self._tasks.database.command("ping")
