"""One user never sees, changes or deletes another user's tasks: cached or not."""

from __future__ import annotations

from typing import Any

import pytest

from ._support import Api


@pytest.fixture(params=["cached", "uncached"], scope="session")
def any_api(request: pytest.FixtureRequest) -> Api:
    name = "api" if request.param == "cached" else "uncached_api"
    api: Api = request.getfixturevalue(name)
    return api


@pytest.fixture
def alice_and_bob(any_api: Api) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    alice, bob = any_api.auth(), any_api.auth()
    task = any_api.client.post(
        "/api/tasks",
        json={"title": "alice secret plan", "description": "zebra", "status": "done"},
        headers=alice,
    ).json()
    return alice, bob, task


def test_another_users_task_is_404_for_read_update_and_delete(
    any_api: Api, alice_and_bob: tuple[dict[str, str], dict[str, str], dict[str, Any]]
) -> None:
    alice, bob, task = alice_and_bob
    url = f"/api/tasks/{task['id']}"
    assert any_api.client.get(url, headers=alice).status_code == 200  # alice's read is cached
    assert any_api.client.get(url, headers=bob).status_code == 404
    assert any_api.client.patch(url, json={"title": "pwned"}, headers=bob).status_code == 404
    assert any_api.client.delete(url, headers=bob).status_code == 404
    assert any_api.client.get(url, headers=alice).json() == task


def test_another_users_tasks_never_appear_in_lists_search_or_stats(
    any_api: Api, alice_and_bob: tuple[dict[str, str], dict[str, str], dict[str, Any]]
) -> None:
    alice, bob, _ = alice_and_bob
    # Warm alice's cache entries with the very queries bob will make.
    queries: list[dict[str, str]] = [{}, {"q": "zebra"}, {"status": "done"}]
    for params in queries:
        assert (
            len(any_api.client.get("/api/tasks", params=params, headers=alice).json()["items"]) == 1
        )
    assert any_api.client.get("/api/tasks/stats", headers=alice).json()["total"] == 1
    for _ in range(2):  # the second round would be a cache hit, if anything were shared
        for params in queries:
            page = any_api.client.get("/api/tasks", params=params, headers=bob)
            assert page.status_code == 200
            assert page.json() == {"items": [], "next_cursor": None}
        stats = any_api.client.get("/api/tasks/stats", headers=bob).json()
        assert stats["total"] == 0
        assert stats["by_status"]["done"] == 0
