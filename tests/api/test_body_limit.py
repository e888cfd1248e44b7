"""Request bodies over 64 KiB are refused with 413, announced or streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator

from ._support import Api

LIMIT = 64 * 1024


def big_task_json(size: int) -> bytes:
    return json.dumps({"title": "big", "description": "x" * size}).encode()


def test_a_body_announced_over_the_limit_is_refused_with_413(api: Api) -> None:
    headers = api.auth()
    response = api.client.post(
        "/api/tasks",
        content=big_task_json(LIMIT + 10),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["x-request-id"] == response.json()["error"]["request_id"]


def test_a_chunked_body_growing_over_the_limit_is_refused_with_413(api: Api) -> None:
    headers = api.auth()
    body = big_task_json(LIMIT + 10)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = api.client.post(
        "/api/tasks", content=chunks(), headers={**headers, "Content-Type": "application/json"}
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_a_chunked_body_under_the_limit_is_accepted(api: Api) -> None:
    headers = api.auth()
    body = json.dumps({"title": "streamed", "description": "y" * 4000}).encode()
    response = api.client.post(
        "/api/tasks",
        content=iter([body[:100], body[100:]]),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 201
    assert response.json()["title"] == "streamed"


def test_the_limit_applies_before_authentication(api: Api) -> None:
    response = api.client.post(
        "/api/auth/login",
        content=b"{" + b" " * (LIMIT + 1) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
