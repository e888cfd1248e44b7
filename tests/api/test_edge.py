"""Health, metrics and the behaviour every answer shares: headers, request ids, errors, gzip."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx

from tests._wait import wait_until

from ._support import PASSWORD, Api, ApiFactory

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    return dict(error)


def test_liveness_answers_ok(api: Api) -> None:
    response = api.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_database_and_redis_up(api: Api) -> None:
    response = api.client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "up", "redis": "up"}


def test_readiness_says_redis_is_disabled_when_not_configured(uncached_api: Api) -> None:
    response = uncached_api.client.get("/health/ready")
    assert response.json() == {"status": "ready", "database": "up", "redis": "disabled"}


def test_every_answer_carries_the_security_headers(api: Api) -> None:
    for response in (
        api.client.get("/health"),
        api.client.get("/api/tasks"),  # a 401
        api.client.get("/no/such/route"),
    ):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, (response.url, name)
        assert "max-age=" in response.headers["strict-transport-security"]


def test_the_replica_id_is_sent_back(api: Api) -> None:
    assert api.client.get("/health").headers["x-replica"] == "test-1"


def test_a_sane_request_id_is_echoed_back(api: Api) -> None:
    response = api.client.get("/health", headers={"X-Request-ID": "abc-123.DEF_9"})
    assert response.headers["x-request-id"] == "abc-123.DEF_9"


def test_an_unsafe_request_id_is_replaced_by_a_generated_one(api: Api) -> None:
    for bad in ("a" * 200, "has space", 'quote"s', ""):
        response = api.client.get("/health", headers={"X-Request-ID": bad})
        echoed = response.headers["x-request-id"]
        assert echoed != bad
        assert len(echoed) == 32
        assert uuid.UUID(echoed)


def test_an_unknown_route_answers_404_in_the_error_shape(api: Api) -> None:
    assert_error_shape(api.client.get("/nope"), 404, "not_found")


def test_a_wrong_method_answers_405_with_every_allowed_method(api: Api) -> None:
    response = api.client.put("/api/tasks")
    assert_error_shape(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, POST"


def test_a_malformed_json_body_answers_422_in_the_error_shape(api: Api) -> None:
    response = api.client.post(
        "/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error_shape(response, 422, "validation_error")


def test_metrics_count_requests_by_route_template_not_raw_path(api: Api) -> None:
    headers = api.auth()
    api.client.get(f"/api/tasks/{'0' * 24}", headers=headers)
    api.client.get(f"/api/tasks/{'1' * 24}", headers=headers)
    text = api.client.get("/metrics").text
    assert 'route="/api/tasks/{task_id}"' in text
    assert "0" * 24 not in text
    assert "1" * 24 not in text
    assert "http_request_duration_seconds_bucket" in text
    assert "cache_requests_total" in text
    assert "rate_limit_rejections_total" in text


def test_metrics_expose_the_process_cpu_and_memory(api: Api) -> None:
    # What `capacity run --target` reads a service's CPU and memory by, from outside.
    lines = api.client.get("/metrics").text.splitlines()
    values = {line.split()[0]: float(line.split()[1]) for line in lines if line[:1] != "#"}
    assert values["process_cpu_seconds_total"] > 0
    assert values["process_resident_memory_bytes"] > 10e6  # a Python process with FastAPI


def test_large_answers_are_gzipped_when_the_client_accepts_it(api: Api) -> None:
    headers = api.auth()
    for i in range(10):
        body = {"title": f"task {i}", "description": "lorem ipsum " * 50}
        assert api.client.post("/api/tasks", json=body, headers=headers).status_code == 201
    response = api.client.get("/api/tasks", headers={**headers, "Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["items"]) == 10  # httpx decoded it


def test_without_compression_large_answers_are_sent_as_they_are(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> None:
    api = api_factory(MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="", COMPRESSION="false")
    headers = api.auth()
    for i in range(10):
        body = {"title": f"task {i}", "description": "lorem ipsum " * 50}
        assert api.client.post("/api/tasks", json=body, headers=headers).status_code == 201

    response = api.client.get("/api/tasks", headers={**headers, "Accept-Encoding": "gzip"})

    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) > 5_000
    assert len(response.json()["items"]) == 10


def test_cors_allows_only_the_configured_origins(api: Api) -> None:
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = api.client.options(
        "/api/tasks", headers={"Origin": "https://app.example.com", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
    denied = api.client.options(
        "/api/tasks", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in denied.headers


def test_each_request_is_logged_as_one_json_line_without_secrets(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> None:
    logged = api_factory(
        MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="", LOG_LEVEL="info", REPLICA_ID="logged-1"
    )
    _, headers = logged.register()
    me = logged.client.get("/api/auth/me", headers=headers).json()
    logged.client.get("/api/tasks", headers={**headers, "X-Request-ID": "find-me-1"})
    token = headers["Authorization"].removeprefix("Bearer ")

    def the_line() -> dict[str, object] | None:
        for line in logged.log().splitlines():
            if line.startswith("{") and '"find-me-1"' in line:
                return dict(json.loads(line))
        return None

    entry = wait_until(the_line)  # the log is written by a background thread
    assert entry["route"] == "/api/tasks"
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert entry["replica"] == "logged-1"
    assert entry["request_id"] == "find-me-1"
    assert entry["user"] == me["id"]  # the caller's id, never their token or email
    assert isinstance(entry["duration_ms"], float)
    assert entry["duration_ms"] > 0.0
    text = logged.log()
    assert token not in text
    assert PASSWORD not in text
    assert "Traceback" not in text
