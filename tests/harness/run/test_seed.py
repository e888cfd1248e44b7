from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from harness.cli import main as capacity
from harness.core.workload import LOAD_USER_PASSWORD, load_user_email
from harness.errors import BadInputError
from harness.run.seed import seed
from harness.stack.processes import start_secantusd

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, uri = start_secantusd(tmp_path_factory.mktemp("db"))
    try:
        yield uri
    finally:
        proc.stop()


@pytest.fixture
def db(mongodb_uri: str) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, tz_aware=True)
    yield client.get_default_database(default="primo")
    client.close()


def test_seeding_writes_the_promised_counts(mongodb_uri: str, db: Database[Any]) -> None:
    result = seed(mongodb_uri, 20, 5, bcrypt_rounds=4)

    assert (result.users, result.tasks) == (20, 100)
    assert db.users.count_documents({}) == 20
    assert db.tasks.count_documents({}) == 100


def test_seeded_documents_have_the_api_shape(mongodb_uri: str, db: Database[Any]) -> None:
    seed(mongodb_uri, 5, 40, bcrypt_rounds=4)

    user = db.users.find_one({"email": load_user_email(3)})
    tasks = list(db.tasks.find({"user": user["_id"]}))
    assert set(user) == {"_id", "email", "name", "passwordHash", "createdAt"}
    assert bcrypt.checkpw(LOAD_USER_PASSWORD.encode(), user["passwordHash"].encode())
    assert len(tasks) == 40
    keys = {"_id", "user", "title", "description", "status", "priority", "dueDate", "tags",
            "createdAt", "updatedAt"}  # fmt: skip
    for task in tasks:
        assert set(task) == keys
        assert isinstance(task["user"], ObjectId)
        assert task["status"] in {"todo", "in-progress", "done"}
        assert task["priority"] in {"low", "medium", "high"}
        assert 1 <= len(task["title"]) <= 200
        assert len(task["tags"]) <= 3
        assert task["dueDate"] is None or isinstance(task["dueDate"], datetime)
        assert task["createdAt"] <= task["updatedAt"]
    assert {t["status"] for t in tasks} == {"todo", "in-progress", "done"}
    dues = [t["dueDate"] for t in tasks]
    assert None in dues
    assert any(d is not None for d in dues)


def test_reseeding_replaces_load_users_and_keeps_everyone_else(
    mongodb_uri: str, db: Database[Any]
) -> None:
    seed(mongodb_uri, 10, 3, bcrypt_rounds=4)
    other = db.users.insert_one({"email": "someone@example.com", "name": "x", "passwordHash": "x"})
    db.tasks.insert_one({"user": other.inserted_id, "title": "mine", "status": "todo"})

    result = seed(mongodb_uri, 4, 2, bcrypt_rounds=4)

    assert (result.removed_users, result.removed_tasks) == (10, 30)
    assert db.users.count_documents({}) == 5
    assert db.tasks.count_documents({}) == 9
    assert db.users.count_documents({"email": "someone@example.com"}) == 1
    db.users.delete_many({"email": "someone@example.com"})
    db.tasks.delete_many({"user": other.inserted_id})


def test_seeding_is_deterministic_for_a_seed(mongodb_uri: str, db: Database[Any]) -> None:
    seed(mongodb_uri, 2, 5, bcrypt_rounds=4, seed=7)
    first = sorted(t["title"] for t in db.tasks.find())
    seed(mongodb_uri, 2, 5, bcrypt_rounds=4, seed=7)

    assert sorted(t["title"] for t in db.tasks.find()) == first


def test_the_seed_command_needs_a_uri_without_a_running_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = capacity(
        ["seed", "--users", "1", "--tasks-per-user", "1", "--state-file", str(tmp_path / "none")]
    )

    assert code == 2
    assert "--mongodb-uri: required" in capsys.readouterr().err


def test_the_seed_command_reads_the_stack_state_file(
    mongodb_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "stack.json"
    state.write_text(f'{{"schema": 1, "mongodb_uri": "{mongodb_uri}"}}')

    code = capacity(
        ["seed", "--users", "3", "--tasks-per-user", "2", "--bcrypt-rounds", "4",
         "--state-file", str(state)]
    )  # fmt: skip

    assert code == 0
    assert "seeded 3 users and 6 tasks" in capsys.readouterr().out


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(BadInputError, match="--users"):
        seed("mongodb://127.0.0.1:9", 0, 1)


SECONDARY = {"user_1_status_1", "user_1_createdAt_-1", "user_1_priority_1"}


def test_seeding_creates_the_apis_indexes_and_says_which(
    mongodb_uri: str, db: Database[Any]
) -> None:
    result = seed(mongodb_uri, 3, 2, bcrypt_rounds=4)

    assert set(db.tasks.index_information()) >= SECONDARY
    assert "email_1" in db.users.index_information()
    assert {f"tasks.{name}" for name in SECONDARY} <= set(result.indexes)
    assert "users.email_1" in result.indexes


def test_seeding_without_indexes_leaves_only_id_and_the_unique_email(
    mongodb_uri: str, db: Database[Any]
) -> None:
    seed(mongodb_uri, 3, 2, bcrypt_rounds=4)  # a database that has them

    result = seed(mongodb_uri, 3, 2, bcrypt_rounds=4, indexes=False)

    assert set(db.tasks.index_information()) == {"_id_"}
    assert set(db.users.index_information()) == {"_id_", "email_1"}
    assert db.users.index_information()["email_1"].get("unique") is True
    assert result.indexes == ("users._id_", "users.email_1", "tasks._id_")


def test_seeding_without_indexes_drops_them_where_other_data_is_kept(
    mongodb_uri: str, db: Database[Any]
) -> None:
    seed(mongodb_uri, 3, 2, bcrypt_rounds=4)
    other = db.users.insert_one({"email": "keep@example.com", "name": "x", "passwordHash": "x"})
    db.tasks.insert_one({"user": other.inserted_id, "title": "mine", "status": "todo"})

    seed(mongodb_uri, 3, 2, bcrypt_rounds=4, indexes=False)

    assert set(db.tasks.index_information()) == {"_id_"}
    assert db.tasks.count_documents({"user": other.inserted_id}) == 1
    db.users.delete_many({"email": "keep@example.com"})
    db.tasks.delete_many({"user": other.inserted_id})
