"""Rate limits: per user on authenticated routes, per client IP on register and login."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
import redis

from tests._wait import wait_until

from ._support import PASSWORD, Api, ApiFactory

USER_MAX = 5
AUTH_MAX = 3


@pytest.fixture(scope="module")
def limited(api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str], redis_url: str) -> Api:
    return api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=redis_url,
        RATE_LIMIT_MAX=str(USER_MAX),
        RATE_LIMIT_AUTH_MAX=str(AUTH_MAX),
        RATE_LIMIT_WINDOW="1",
    )


def from_ip(ip: str) -> dict[str, str]:
    """Seen through a trusted proxy (the test client is on loopback, like nginx)."""
    return {"X-Forwarded-For": ip}


def a_user(api: Api) -> dict[str, str]:
    """Register and log in from an address of its own, so the IP budget is not spent."""
    ip = f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    email = f"r{uuid.uuid4().hex[:10]}@example.com"
    api.client.post(
        "/api/auth/register",
        headers=from_ip(ip),
        json={"email": email, "password": PASSWORD, "name": "R"},
    )
    login = api.client.post(
        "/api/auth/login", headers=from_ip(ip), json={"email": email, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_successful_answers_carry_the_ratelimit_headers(limited: Api) -> None:
    headers = a_user(limited)
    first = limited.client.get("/api/tasks", headers=headers)
    second = limited.client.get("/api/tasks", headers=headers)
    assert first.headers["ratelimit-limit"] == str(USER_MAX)
    assert int(first.headers["ratelimit-remaining"]) == USER_MAX - 1
    assert int(second.headers["ratelimit-remaining"]) == USER_MAX - 2
    assert 0 < int(first.headers["ratelimit-reset"]) <= 60


def test_a_user_over_the_limit_gets_429_with_retry_after(limited: Api) -> None:
    headers = a_user(limited)
    answers = [limited.client.get("/api/tasks", headers=headers) for _ in range(USER_MAX + 2)]
    assert [a.status_code for a in answers] == [200] * USER_MAX + [429, 429]
    refused = answers[-1]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-limit"] == str(USER_MAX)
    assert 'rate_limit_rejections_total{scope="user"}' in limited.client.get("/metrics").text


def test_one_users_limit_does_not_touch_another_user(limited: Api) -> None:
    alice, bob = a_user(limited), a_user(limited)
    for _ in range(USER_MAX + 1):
        limited.client.get("/api/tasks", headers=alice)
    assert limited.client.get("/api/tasks", headers=alice).status_code == 429
    assert limited.client.get("/api/tasks", headers=bob).status_code == 200


def test_login_attempts_are_limited_per_client_ip(limited: Api) -> None:
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    attempts = [
        limited.client.post("/api/auth/login", json=body, headers=from_ip("10.9.9.9"))
        for _ in range(AUTH_MAX + 1)
    ]
    assert [a.status_code for a in attempts] == [401] * AUTH_MAX + [429]
    assert attempts[0].headers["ratelimit-remaining"] == str(AUTH_MAX - 1)
    assert "retry-after" in attempts[-1].headers
    elsewhere = limited.client.post("/api/auth/login", json=body, headers=from_ip("10.9.9.10"))
    assert elsewhere.status_code == 401


def test_forwarded_addresses_from_an_untrusted_peer_are_ignored(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str], redis_url: str
) -> None:
    strict = api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=redis_url,
        RATE_LIMIT_AUTH_MAX="100000",
        FORWARDED_ALLOW_IPS="10.0.0.1",
    )
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    remaining = [
        int(
            strict.client.post(
                "/api/auth/login", json=body, headers=from_ip(f"10.0.5.{i}")
            ).headers["ratelimit-remaining"]
        )
        for i in range(3)
    ]
    # One shared budget (the socket peer's), whatever address each request claimed.
    assert remaining == [remaining[0], remaining[0] - 1, remaining[0] - 2]


def test_the_limit_can_be_switched_off(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str], redis_url: str
) -> None:
    off = api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=redis_url,
        RATE_LIMIT_ENABLED="false",
        RATE_LIMIT_AUTH_MAX="1",
    )
    body = {"email": "nobody@example.com", "password": "wrong-password"}
    answers: list[httpx.Response] = [
        off.client.post("/api/auth/login", json=body) for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert "ratelimit-limit" not in answers[0].headers


def a_task(api: Api, headers: dict[str, str]) -> str:
    response = api.client.post("/api/tasks", json={"title": "counted"}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/tasks", None),
        ("GET", "/api/tasks/stats", None),
        ("GET", "/api/tasks/{id}", None),
        ("PATCH", "/api/tasks/{id}", {"status": "done"}),
        ("POST", "/api/tasks", {"title": "over"}),
        ("DELETE", "/api/tasks/{id}", None),
        ("GET", "/api/auth/me", None),
    ],
)
def test_every_authenticated_route_counts_against_the_users_limit(
    limited: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    headers = a_user(limited)
    ids = [a_task(limited, headers) for _ in range(USER_MAX - 1)]  # the last one is counted too
    answers = [
        limited.client.request(
            method, path.format(id=ids[i % len(ids)]), json=body, headers=headers
        )
        for i in range(2)
    ]
    # USER_MAX - 1 creates and one request: the budget is spent; the second is refused.
    assert answers[0].status_code in {200, 201, 204}, answers[0].text
    assert answers[0].headers["ratelimit-remaining"] == "0"
    assert answers[1].status_code == 429
    assert answers[1].json()["error"]["code"] == "rate_limited"
    assert answers[1].headers["ratelimit-remaining"] == "0"
    assert 0 < int(answers[1].headers["retry-after"]) <= 60


def test_a_cached_answer_over_the_limit_is_refused_too(limited: Api) -> None:
    headers = a_user(limited)
    states = [limited.client.get("/api/tasks/stats", headers=headers) for _ in range(USER_MAX + 1)]
    assert [a.headers.get("x-cache") for a in states[:USER_MAX]] == ["MISS"] + ["HIT"] * (
        USER_MAX - 1
    )
    assert states[-1].status_code == 429
    assert "x-cache" not in states[-1].headers


@pytest.mark.parametrize(("method", "body"), [("PATCH", {"title": "refused"}), ("DELETE", None)])
def test_a_write_refused_by_the_limit_is_not_applied(
    limited: Api, redis_url: str, method: str, body: dict[str, str] | None
) -> None:
    headers = a_user(limited)
    task = limited.client.post("/api/tasks", json={"title": "kept"}, headers=headers).json()
    for _ in range(USER_MAX - 1):
        assert limited.client.get("/api/auth/me", headers=headers).status_code == 200

    refused = limited.client.request(method, f"/api/tasks/{task['id']}", json=body, headers=headers)

    assert refused.status_code == 429
    with redis.Redis.from_url(redis_url) as direct:  # a new window, without waiting for it
        direct.delete(*direct.keys(f"rl2:*user/{task['owner']}/*"))
    after = limited.client.get(f"/api/tasks/{task['id']}", headers=headers)
    assert (after.status_code, after.json()["title"]) == (200, "kept")


@dataclass(frozen=True)
class Sent:
    started: float
    answered: float
    status: int


def most_within_one_window(sent: list[Sent], window: float) -> int:
    """The most successful requests that the limiter can only have counted within one window:
    from the start of one to the answer of the last (clocks of this process)."""
    ok = [s for s in sent if s.status == 200]
    return max(
        sum(1 for later in ok[i:] if later.answered - first.started < window)
        for i, first in enumerate(ok)
    )


@pytest.mark.parametrize(
    ("strategy", "slack"),
    [
        ("moving-window", 0),
        # floor() of the previous window's weighted share lets one more through at its edge
        ("sliding-window-counter", 1),
    ],
)
def test_a_burst_across_a_window_edge_gets_the_limit_through_not_twice_the_limit(
    api_factory: ApiFactory,
    fresh_mongodb_uri: Callable[[], str],
    redis_url: str,
    strategy: str,
    slack: int,
) -> None:
    """A fixed window lets a burst at the end of one window and another at the start of the
    next through: twice the limit within one window's time. Here: the limit's worth, spent at
    once; then the first request let through again (the edge, whenever the limiter puts it);
    then another burst at once."""
    window, limit = 2.0, 5
    short = api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=redis_url,
        RATE_LIMIT_MAX=str(limit),
        RATE_LIMIT_WINDOW=str(window / 60),
        RATE_LIMIT_STRATEGY=strategy,
    )
    headers = a_user(short)
    sent: list[Sent] = []

    def send() -> int:
        started = time.monotonic()
        status = short.client.get("/api/auth/me", headers=headers).status_code
        sent.append(Sent(started, time.monotonic(), status))
        return status

    first_burst = [send() for _ in range(limit + 1)]
    wait_until(lambda: send() == 200, timeout=3 * window, interval=0.01)
    for _ in range(limit):  # the second burst, at once
        send()

    assert first_burst == [200] * limit + [429]
    assert most_within_one_window(sent, window) <= limit + slack < 2 * limit
