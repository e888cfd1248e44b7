"""The strategy's secondary indexes are created at start-up unless MONGODB_INDEXES is off; the
unique email index always is, and search works either way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests._wait import wait_until

from ._support import Api, ApiFactory

SECONDARY = {"user_1_status_1", "user_1_createdAt_-1", "user_1_priority_1"}


@pytest.fixture
def database(fresh_mongodb_uri: Callable[[], str]) -> Iterator[tuple[str, Database[Any]]]:
    uri = fresh_mongodb_uri()
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    yield uri, client.get_default_database()
    client.close()


def indexes(db: Database[Any], collection: str) -> set[str]:
    return set(db[collection].index_information())


def add_tasks(api: Api, headers: dict[str, str]) -> None:
    for title in ("Buy milk", "Call the bank"):
        assert api.client.post("/api/tasks", json={"title": title}, headers=headers).is_success


def test_the_api_creates_the_strategys_indexes_by_default(
    api_factory: ApiFactory, database: tuple[str, Database[Any]]
) -> None:
    uri, db = database
    api = api_factory(MONGODB_URI=uri, REDIS_URL="")

    add_tasks(api, api.auth())

    assert wait_until(lambda: indexes(db, "tasks") >= SECONDARY)
    assert "email_1" in indexes(db, "users")


def test_without_indexes_the_api_creates_only_the_unique_email(
    api_factory: ApiFactory, database: tuple[str, Database[Any]]
) -> None:
    uri, db = database
    api = api_factory(MONGODB_URI=uri, REDIS_URL="", MONGODB_INDEXES="false")
    email, headers = api.register()
    add_tasks(api, headers)

    # the start-up index task has run once the email index is there
    assert wait_until(lambda: "email_1" in indexes(db, "users"))
    assert indexes(db, "tasks") == {"_id_"}
    again = api.client.post(
        "/api/auth/register", json={"email": email, "password": "x" * 12, "name": "Again"}
    )
    assert again.status_code == 409


def test_without_indexes_every_list_query_still_answers(
    api_factory: ApiFactory, database: tuple[str, Database[Any]]
) -> None:
    uri, _ = database
    api = api_factory(MONGODB_URI=uri, REDIS_URL="", MONGODB_INDEXES="false")
    headers = api.auth()
    add_tasks(api, headers)

    found = api.client.get("/api/tasks", params={"q": "MILK"}, headers=headers)
    by_priority = api.client.get("/api/tasks", params={"sort": "priority"}, headers=headers)
    stats = api.client.get("/api/tasks/stats", headers=headers)

    assert [t["title"] for t in found.json()["items"]] == ["Buy milk"]
    assert len(by_priority.json()["items"]) == 2
    assert stats.json()["total"] == 2
