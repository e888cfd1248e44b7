"""Seed the database with load-test users and tasks, straight through PyMongo (no API calls).

Users are ``load-000000@primo.test`` ... (see :mod:`harness.core.scenario` for the convention) and
share one precomputed bcrypt hash of :data:`~harness.core.scenario.LOAD_USER_PASSWORD`, so seeding
1,000 users costs one hash, not 1,000. Tasks have a realistic variety (status and priority mix,
due dates past/future/none, tags, titles made of searchable words). Re-seeding first deletes every
load user and their tasks, so it is idempotent. Documents have the shape of docs/architecture.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bcrypt
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from harness.core.workload import (
    LOAD_EMAIL_PATTERN,
    LOAD_USER_NAME,
    LOAD_USER_PASSWORD,
    TASK_TAGS,
    TASK_WORDS,
    load_user_email,
)
from harness.errors import BadInputError, ComponentError

BATCH = 5_000
DEFAULT_STATE_FILE = Path(".capacity") / "stack.json"

_VERBS = ("Review", "Prepare", "Update", "Plan", "Fix", "Write", "Check", "Send", "Finish", "Draft")
_STATUSES = (("todo", 5), ("in-progress", 3), ("done", 2))
_PRIORITIES = (("low", 3), ("medium", 5), ("high", 2))


@dataclass(frozen=True)
class SeedResult:
    users: int
    tasks: int
    seconds: float
    database: str
    removed_users: int
    removed_tasks: int
    indexes: tuple[str, ...] = ()  # "collection.name" of every index once seeded
    task_ids: frozenset[ObjectId] = frozenset()  # the tasks seeded: the write audit's baseline


def _weighted(rng: random.Random, options: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([o for o, _ in options], [w for _, w in options])[0]


def make_task(rng: random.Random, owner: ObjectId, now: datetime) -> dict[str, Any]:
    first, second, third = rng.sample(TASK_WORDS, 3)
    created = now - timedelta(seconds=rng.randint(3600, 90 * 86400))
    created = created.replace(microsecond=created.microsecond // 1000 * 1000)
    updated = min(now, created + timedelta(seconds=rng.randint(0, 10 * 86400)))
    roll = rng.random()
    due: datetime | None = None
    if roll < 0.3:
        due = (now - timedelta(days=rng.randint(1, 30))).replace(microsecond=0)  # overdue
    elif roll < 0.7:
        due = (now + timedelta(days=rng.randint(1, 60))).replace(microsecond=0)
    return {
        "_id": ObjectId(),
        "user": owner,
        "title": f"{rng.choice(_VERBS)} {first} {second}",
        "description": f"Notes about the {second} for the {third} ({rng.randint(1, 999)}).",
        "status": _weighted(rng, _STATUSES),
        "priority": _weighted(rng, _PRIORITIES),
        "dueDate": due,
        "tags": rng.sample(TASK_TAGS, rng.randint(0, 3)),
        "createdAt": created,
        "updatedAt": updated,
    }


def _batches(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def seed(
    mongodb_uri: str,
    users: int,
    tasks_per_user: int,
    *,
    password: str = LOAD_USER_PASSWORD,
    bcrypt_rounds: int = 12,
    seed: int = 0,
    indexes: bool = True,
) -> SeedResult:
    """Replace every load user and their tasks with ``users`` x ``tasks_per_user`` fresh ones.

    ``indexes`` is the API's ``MONGODB_INDEXES``: with it off, the strategy's secondary indexes
    are not created, and dropped if an earlier seeding left them (the unique email stays)."""
    if users < 1:
        raise BadInputError(f"--users: {users} (must be at least 1)")
    if tasks_per_user < 0:
        raise BadInputError(f"--tasks-per-user: {tasks_per_user} (must be 0 or more)")
    if not 4 <= bcrypt_rounds <= 16:
        raise BadInputError(f"--bcrypt-rounds: {bcrypt_rounds} (4 to 16)")
    started = time.perf_counter()
    rng = random.Random(seed)  # noqa: S311 - task variety, not secrets
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(bcrypt_rounds)).decode()
    now = datetime.now(UTC).replace(microsecond=0)
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongodb_uri, serverSelectionTimeoutMS=5000, tz_aware=True
    )
    try:
        db = client.get_default_database(default="primo")
        users_coll, tasks_coll = db["users"], db["tasks"]
        removed_users, removed_tasks = _remove_load_users(db)
        ids = [ObjectId() for _ in range(users)]
        user_docs = (
            {
                "_id": ids[i],
                "email": load_user_email(i),
                "name": LOAD_USER_NAME.format(index=i),
                "passwordHash": password_hash,
                "createdAt": now - timedelta(days=120),
            }
            for i in range(users)
        )
        for batch in _batches(user_docs, BATCH):
            users_coll.insert_many(batch, ordered=False)
        task_docs = (make_task(rng, owner, now) for owner in ids for _ in range(tasks_per_user))
        inserted: list[ObjectId] = []
        for batch in _batches(task_docs, BATCH):
            inserted += tasks_coll.insert_many(batch, ordered=False).inserted_ids
        _ensure_indexes(db, secondary=indexes)
        present = _index_names(db)
    except PyMongoError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ComponentError("db", f"seeding {mongodb_uri} failed: {first_line[:200]}") from exc
    finally:
        client.close()
    return SeedResult(
        users=users,
        tasks=len(inserted),
        seconds=time.perf_counter() - started,
        database=db.name,
        removed_users=removed_users,
        removed_tasks=removed_tasks,
        indexes=present,
        task_ids=frozenset(inserted),
    )


# The strategy's secondary indexes on tasks, by the names MongoDB gives them (the API's too).
TEXT_INDEX = "title_text_description_text"
SECONDARY_INDEXES: dict[str, list[tuple[str, Any]]] = {
    "user_1_status_1": [("user", ASCENDING), ("status", ASCENDING)],
    "user_1_createdAt_-1": [("user", ASCENDING), ("createdAt", DESCENDING)],
    "user_1_priority_1": [("user", ASCENDING), ("priority", ASCENDING)],
    TEXT_INDEX: [("title", "text"), ("description", "text")],
}


def _ensure_indexes(db: Database[dict[str, Any]], *, secondary: bool = True) -> None:
    """The API's indexes (docs/architecture.md), with its names, so either may go first: the
    unique email always; the secondary ones only with ``secondary``, else none are left."""
    db["users"].create_index([("email", ASCENDING)], unique=True, name="email_1")
    tasks = db["tasks"]
    if not secondary:
        for name in set(SECONDARY_INDEXES) & set(tasks.index_information()):
            tasks.drop_index(name)
        return
    for name, keys in SECONDARY_INDEXES.items():
        if name != TEXT_INDEX:
            tasks.create_index(keys, name=name)
    with contextlib.suppress(OperationFailure):  # SecantusDB refuses text indexes (regex fallback)
        tasks.create_index(SECONDARY_INDEXES[TEXT_INDEX], name=TEXT_INDEX)


def _index_names(db: Database[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(
        f"{collection}.{name}"
        for collection in ("users", "tasks")
        for name in sorted(db[collection].index_information())
    )


def _remove_load_users(db: Database[dict[str, Any]]) -> tuple[int, int]:
    """Delete the load users and their tasks; (users, tasks) removed.

    When a collection holds nothing else (the usual load-test database) it is dropped — with its
    indexes, which are re-created after the bulk insert: deleting 50,000 documents one by one, or
    inserting them under three compound indexes, takes a minute on SecantusDB.
    """
    users, tasks = db["users"], db["tasks"]
    old = [doc["_id"] for doc in users.find({"email": {"$regex": LOAD_EMAIL_PATTERN}}, {"_id": 1})]
    task_count = 0
    if set(tasks.distinct("user")) <= set(old):
        task_count = tasks.estimated_document_count()
        tasks.drop()
    else:
        for owner in old:
            task_count += tasks.delete_many({"user": owner}).deleted_count
    if users.count_documents({}) == len(old):
        users.drop()
    elif old:
        users.delete_many({"_id": {"$in": old}})
    return len(old), task_count


def _uri_from_state(state_file: Path) -> str | None:
    if not state_file.is_file():
        return None
    try:
        data = json.loads(state_file.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{state_file}: not a stack state file ({exc})") from exc
    uri = data.get("mongodb_uri") if isinstance(data, dict) else None
    return str(uri) if uri else None


def _command(args: argparse.Namespace) -> int:
    uri = args.mongodb_uri or _uri_from_state(Path(args.state_file))
    if not uri:
        raise BadInputError(
            f"--mongodb-uri: required (no running stack: {args.state_file} does not exist)"
        )
    result = seed(
        uri,
        args.users,
        args.tasks_per_user,
        bcrypt_rounds=args.bcrypt_rounds,
        seed=args.seed,
        indexes=args.indexes,
    )
    print(
        f"seeded {result.users} users and {result.tasks} tasks into {result.database!r} in "
        f"{result.seconds:.1f} s (replaced {result.removed_users} users, "
        f"{result.removed_tasks} tasks); password: the load-test password in harness/scenario.py"
    )
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "seed",
        help="bulk-load load-test users and tasks into the database",
        description="Replace the load-test users (load-NNNNNN@primo.test) and their tasks.",
    )
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--tasks-per-user", type=int, required=True)
    parser.add_argument(
        "--mongodb-uri", default=None, help=f"default: the running stack's ({DEFAULT_STATE_FILE})"
    )
    parser.add_argument("--state-file", default=str(DEFAULT_STATE_FILE), help=argparse.SUPPRESS)
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="random seed of the task variety")
    parser.add_argument(
        "--no-indexes",
        dest="indexes",
        action="store_false",
        help="without the strategy's secondary indexes (as the API's MONGODB_INDEXES=false)",
    )
    parser.set_defaults(func=_command)
