"""Request logs: one JSON line per request, with the request's id and user from context
variables, and never a secret."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests._wait import wait_until

from ._support import PASSWORD, ApiFactory

WRONG_PASSWORD = "not-the-password-8c1f"


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_no_line_carries_a_bearer_token_or_a_password_and_each_request_is_one_json_line(
    api_factory: ApiFactory,
    fresh_mongodb_uri: Callable[[], str],
    redis_url: str,
    tmp_path: Path,
) -> None:
    log_file = tmp_path / "api.log"
    api = api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=redis_url,
        LOG_LEVEL="debug",  # every line there is
        LOG_FILE_PATH=str(log_file),
        REPLICA_ID="logged-2",
    )
    email, headers = api.register()
    token = headers["Authorization"].removeprefix("Bearer ")
    refused = api.client.post("/api/auth/login", json={"email": email, "password": WRONG_PASSWORD})
    invalid = api.client.post(
        "/api/auth/register", json={"email": "not-an-email", "password": WRONG_PASSWORD}
    )
    ids = [f"log-test-{n}" for n in range(3)]
    answers = [
        api.client.get("/api/tasks", headers={**headers, "X-Request-ID": ids[0]}),
        api.client.get("/api/auth/me", headers={**headers, "X-Request-ID": ids[1]}),
        api.client.get(
            "/api/auth/me", headers={"Authorization": "Bearer x", "X-Request-ID": ids[2]}
        ),
    ]

    def access_lines() -> list[dict[str, Any]] | None:
        entries = [json.loads(line) for line in lines_of(log_file)]
        found = [e for e in entries if e.get("msg") == "request" and e.get("request_id") in ids]
        return found if {e["request_id"] for e in found} == set(ids) else None

    found = wait_until(access_lines)  # written by a background thread

    assert (refused.status_code, invalid.status_code) == (401, 422)
    assert [a.status_code for a in answers] == [200, 200, 401]
    assert sorted(e["request_id"] for e in found) == ids  # one line per request
    by_id = {e["request_id"]: e for e in found}
    me = api.client.get("/api/auth/me", headers=headers).json()
    assert by_id[ids[0]]["user"] == me["id"]  # bound by the auth dependency
    assert "user" not in by_id[ids[2]]  # not authenticated: no user
    for entry in found:
        assert entry["replica"] == "logged-2"
        assert entry["level"] == "info"
        assert entry["logger"] == "reference_api.access"
        assert {"ts", "method", "route", "status", "duration_ms"} <= entry.keys()
    text = log_file.read_text(encoding="utf-8") + api.log()
    assert all(json.loads(line) for line in lines_of(log_file))  # every line is one object
    for secret in (token, PASSWORD, WRONG_PASSWORD, "Bearer", "authorization"):
        assert secret.lower() not in text.lower(), secret
