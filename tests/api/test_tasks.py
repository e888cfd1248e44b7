"""Task CRUD, validation, filters, search, keyset pagination and stats."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from reference_api.breaker import CircuitBreaker
from reference_api.repository import DatabaseGuard, Document, TasksRepository

from ._support import Api

Headers = dict[str, str]


@pytest.fixture
def headers(api: Api) -> Headers:
    return api.auth()


def create(api: Api, headers: Headers, **fields: Any) -> dict[str, Any]:
    body = {"title": "a task", **fields}
    response = api.client.post("/api/tasks", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def all_pages(api: Api, headers: Headers, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(100):
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/api/tasks", params=query, headers=headers)
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


def test_a_created_task_has_every_public_field(api: Api, headers: Headers) -> None:
    me = api.client.get("/api/auth/me", headers=headers).json()
    task = create(
        api,
        headers,
        title="  Write report  ",
        description="d",
        status="in-progress",
        priority="high",
        dueDate="2030-01-02T03:04:05+01:00",
        tags=["work", "q1"],
    )
    assert set(task) == {
        "id",
        "title",
        "description",
        "status",
        "priority",
        "dueDate",
        "tags",
        "createdAt",
        "updatedAt",
        "owner",
    }
    assert task["title"] == "Write report"
    assert task["status"] == "in-progress"
    assert task["priority"] == "high"
    assert datetime.fromisoformat(task["dueDate"]) == datetime(2030, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert task["tags"] == ["work", "q1"]
    assert task["owner"] == me["id"]
    assert task["createdAt"] == task["updatedAt"]


def test_defaults_apply_to_a_minimal_task(api: Api, headers: Headers) -> None:
    task = create(api, headers)
    assert (
        task["description"],
        task["status"],
        task["priority"],
        task["dueDate"],
        task["tags"],
    ) == ("", "todo", "medium", None, [])


def test_a_task_reads_back_as_it_was_created(api: Api, headers: Headers) -> None:
    task = create(api, headers, tags=["x"])
    response = api.client.get(f"/api/tasks/{task['id']}", headers=headers)
    assert response.status_code == 200
    assert response.json() == task


def test_patch_changes_only_the_fields_sent(api: Api, headers: Headers) -> None:
    task = create(api, headers, description="keep me", dueDate="2031-01-01T00:00:00Z")
    response = api.client.patch(
        f"/api/tasks/{task['id']}", json={"status": "done"}, headers=headers
    )
    assert response.status_code == 200
    updated = response.json()
    assert updated["status"] == "done"
    assert updated["description"] == "keep me"
    assert updated["updatedAt"] >= task["updatedAt"]
    assert updated["createdAt"] == task["createdAt"]
    cleared = api.client.patch(f"/api/tasks/{task['id']}", json={"dueDate": None}, headers=headers)
    assert cleared.json()["dueDate"] is None


def test_patch_with_an_empty_body_is_refused(api: Api, headers: Headers) -> None:
    task = create(api, headers)
    response = api.client.patch(f"/api/tasks/{task['id']}", json={}, headers=headers)
    assert response.status_code == 422


def test_patch_refuses_null_for_a_required_field(api: Api, headers: Headers) -> None:
    task = create(api, headers)
    response = api.client.patch(f"/api/tasks/{task['id']}", json={"title": None}, headers=headers)
    assert response.status_code == 422


def test_delete_answers_204_and_the_task_is_gone(api: Api, headers: Headers) -> None:
    task = create(api, headers)
    deleted = api.client.delete(f"/api/tasks/{task['id']}", headers=headers)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.client.get(f"/api/tasks/{task['id']}", headers=headers).status_code == 404
    assert api.client.delete(f"/api/tasks/{task['id']}", headers=headers).status_code == 404


@pytest.mark.parametrize("field", ["owner", "user", "_id", "id", "createdAt", "updatedAt"])
def test_unknown_or_server_owned_fields_are_refused_on_create_and_update(
    api: Api, headers: Headers, field: str
) -> None:
    other = "0" * 24
    created = api.client.post("/api/tasks", json={"title": "t", field: other}, headers=headers)
    assert created.status_code == 422
    assert created.json()["error"]["details"][0]["type"] == "extra_forbidden"
    task = create(api, headers)
    patched = api.client.patch(f"/api/tasks/{task['id']}", json={field: other}, headers=headers)
    assert patched.status_code == 422
    assert api.client.get(f"/api/tasks/{task['id']}", headers=headers).json() == task


@pytest.mark.parametrize(
    "body",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "t" * 201},
        {"title": "ok", "description": "d" * 5001},
        {"title": "ok", "status": "blocked"},
        {"title": "ok", "priority": "urgent"},
        {"title": "ok", "tags": ["t"] * 21},
        {"title": "ok", "tags": ["x" * 33]},
        {"title": "ok", "tags": [""]},
        {"title": "ok", "dueDate": "tomorrow"},
        {"title": "ok", "dueDate": 0},
        {"title": 5},
    ],
)
def test_task_fields_are_validated(api: Api, headers: Headers, body: dict[str, Any]) -> None:
    response = api.client.post("/api/tasks", json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


def test_the_largest_valid_task_is_accepted(api: Api, headers: Headers) -> None:
    task = create(api, headers, title="t" * 200, description="d" * 5000, tags=["x" * 32] * 20)
    stored = api.client.get(f"/api/tasks/{task['id']}", headers=headers).json()
    for answer in (task, stored):
        assert answer["title"] == "t" * 200
        assert answer["description"] == "d" * 5000
        assert answer["tags"] == ["x" * 32] * 20


@pytest.mark.parametrize("bad_id", ["nope", "0" * 23, "g" * 24, "0" * 25, "%00", "..%2f"])
def test_a_malformed_task_id_answers_404(api: Api, headers: Headers, bad_id: str) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        kwargs: dict[str, Any] = {"json": {"title": "x"}} if method == "PATCH" else {}
        response = api.client.request(method, f"/api/tasks/{bad_id}", headers=headers, **kwargs)
        assert response.status_code == 404, (method, bad_id, response.text)


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc"])
def test_limit_outside_1_to_100_is_refused(api: Api, headers: Headers, limit: str) -> None:
    response = api.client.get("/api/tasks", params={"limit": limit}, headers=headers)
    assert response.status_code == 422


def test_an_unknown_sort_is_refused(api: Api, headers: Headers) -> None:
    response = api.client.get("/api/tasks", params={"sort": "$where"}, headers=headers)
    assert response.status_code == 422


def test_keyset_pagination_visits_every_task_once_in_order(api: Api) -> None:
    headers = api.auth()
    ids = [create(api, headers, title=f"t{i:02d}")["id"] for i in range(7)]
    seen = all_pages(api, headers, limit=3)
    assert [t["id"] for t in seen] == list(reversed(ids))  # newest first by default
    oldest_first = all_pages(api, headers, limit=2, sort="createdAt")
    assert [t["id"] for t in oldest_first] == ids


def test_sort_by_priority_follows_rank_not_alphabet(api: Api) -> None:
    headers = api.auth()
    for priority in ("medium", "high", "low", "high", "medium", "low"):
        create(api, headers, priority=priority)
    ascending = [t["priority"] for t in all_pages(api, headers, limit=2, sort="priority")]
    assert ascending == ["low", "low", "medium", "medium", "high", "high"]
    descending = [t["priority"] for t in all_pages(api, headers, limit=4, sort="-priority")]
    assert descending == ["high", "high", "medium", "medium", "low", "low"]


def test_sort_by_due_date_pages_through_tasks_without_one(api: Api) -> None:
    headers = api.auth()
    base = datetime(2030, 1, 1, tzinfo=UTC)
    for days in (3, None, 1, None, 2):
        due = (base + timedelta(days=days)).isoformat() if days is not None else None
        create(api, headers, dueDate=due)
    for sort in ("dueDate", "-dueDate"):
        dues = [t["dueDate"] for t in all_pages(api, headers, limit=2, sort=sort)]
        assert len(dues) == 5
        dated = [d for d in dues if d is not None]
        assert dated == sorted(dated, reverse=sort.startswith("-"))
        assert dues.count(None) == 2


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "e30",
        base64.urlsafe_b64encode(b'{"s":"-createdAt","v":1,"id":"x"}').decode(),
        base64.urlsafe_b64encode(
            json.dumps({"s": "title", "v": "a", "id": "0" * 24}).encode()
        ).decode(),
    ],
)
def test_a_tampered_cursor_answers_400_not_500(api: Api, headers: Headers, cursor: str) -> None:
    response = api.client.get("/api/tasks", params={"cursor": cursor}, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_filters_by_status_and_priority(api: Api) -> None:
    headers = api.auth()
    done_high = create(api, headers, status="done", priority="high")["id"]
    done_low = create(api, headers, status="done", priority="low")["id"]
    create(api, headers, status="todo", priority="high")
    done = all_pages(api, headers, status="done")
    assert [t["id"] for t in done] == [done_low, done_high]  # newest first
    assert [t["id"] for t in all_pages(api, headers, status="done", priority="high")] == [done_high]


def test_search_matches_title_and_description_case_insensitively(api: Api) -> None:
    headers = api.auth()
    in_title = create(api, headers, title="Buy MILK")["id"]
    in_description = create(api, headers, title="other", description="remember the milk")["id"]
    create(api, headers, title="unrelated")
    found = all_pages(api, headers, q="milk")
    assert sorted(t["id"] for t in found) == sorted([in_title, in_description])


def test_search_treats_regex_characters_literally(api: Api) -> None:
    headers = api.auth()
    create(api, headers, title="a+b (c)")
    create(api, headers, title="aab c")
    assert [t["title"] for t in all_pages(api, headers, q="a+b (c)")] == ["a+b (c)"]
    assert all_pages(api, headers, q=".*") == []
    assert api.client.get("/api/tasks", params={"q": "(["}, headers=headers).status_code == 200


def test_stats_count_by_status_and_priority_and_overdue(api: Api) -> None:
    headers = api.auth()
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    create(api, headers, status="todo", priority="high", dueDate=past)  # overdue
    create(api, headers, status="in-progress", priority="low", dueDate=past)  # overdue
    create(api, headers, status="done", priority="low", dueDate=past)  # done: not overdue
    create(api, headers, status="todo", priority="medium", dueDate=future)
    create(api, headers, status="todo", priority="medium")
    response = api.client.get("/api/tasks/stats", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "total": 5,
        "by_status": {"todo": 3, "in-progress": 1, "done": 1},
        "by_priority": {"low": 2, "medium": 2, "high": 1},
        "overdue": 2,
    }


def test_stats_of_a_new_user_are_all_zero(api: Api) -> None:
    response = api.client.get("/api/tasks/stats", headers=api.auth())
    assert response.json() == {
        "total": 0,
        "by_status": {"todo": 0, "in-progress": 0, "done": 0},
        "by_priority": {"low": 0, "medium": 0, "high": 0},
        "overdue": 0,
    }


def test_task_routes_need_a_token(api: Api) -> None:
    for method, path in (
        ("GET", "/api/tasks"),
        ("POST", "/api/tasks"),
        ("GET", "/api/tasks/stats"),
        ("GET", f"/api/tasks/{'0' * 24}"),
        ("PATCH", f"/api/tasks/{'0' * 24}"),
        ("DELETE", f"/api/tasks/{'0' * 24}"),
    ):
        response = api.client.request(method, path, json={"title": "x"})
        assert response.status_code == 401, (method, path)


def test_overdue_counts_only_tasks_due_at_a_past_date_and_not_done(
    fresh_mongodb_uri: Callable[[], str],
) -> None:
    """What the aggregation counts as overdue matches the query it replaced, on documents the
    API would not write (a missing or non-date due date) as well."""
    owner, now = ObjectId(), datetime.now(UTC)
    due = {
        "past": now - timedelta(days=1),
        "future": now + timedelta(days=1),
        "null": None,
        "text": "2000-01-01",
    }

    async def stats() -> tuple[int, int]:
        client: AsyncMongoClient[Document] = AsyncMongoClient(fresh_mongodb_uri(), tz_aware=True)
        guard = DatabaseGuard(CircuitBreaker(5, 2.0), 5.0)
        try:
            tasks = client.get_default_database()["tasks"]
            docs = [
                {"user": owner, "status": s, "priority": "low", "dueDate": d}
                for d in due.values()
                for s in ("todo", "done")
            ]
            docs.append({"user": owner, "status": "todo", "priority": "low"})  # no due date
            await tasks.insert_many(docs)
            query = {"user": owner, "dueDate": {"$lt": now}, "status": {"$ne": "done"}}
            counted = await tasks.count_documents(query)
            return (
                await TasksRepository(client.get_default_database(), guard).stats(str(owner))
            ).overdue, counted
        finally:
            await client.close()

    assert asyncio.run(stats()) == (1, 1)
