"""The abstract Primo user and its steps: one method per endpoint of the catalogue.

Every simulated user logs in once (``on_start``) as a seeded load user, then runs steps. Each
step makes exactly one request, named by its route template (a step that cannot make its own
yet — no token, no task to delete, no cursor — makes the one that prepares it instead: a login,
a create, a first page), checks the status *and* the body (a 200 with the wrong body is a
failure), and keeps what later steps need (task ids, the next cursor).
Journey files (``browse.py``, ``manage.py``, ...) weight these steps; ``mixed.py`` weights them
by the scenario's ``[mix]``.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from _ledger import api_error, attempt
from _runtime import RUN
from locust import FastHttpUser, between

from harness.core.workload import (
    EPHEMERAL_WORD,
    LOAD_USER_PASSWORD,
    TASK_TAGS,
    TASK_WORDS,
    load_user_email,
)

STATUSES = ("todo", "in-progress", "done")
PRIORITIES = ("low", "medium", "high")
SORTS = ("-createdAt", "-updatedAt", "dueDate", "-priority")
Check = Callable[[Any], str | None]


def _is_task(item: Any) -> bool:
    return isinstance(item, dict) and {"id", "title", "status", "priority"} <= item.keys()


def _page_problem(body: Any, status: str | None = None, priority: str | None = None) -> str | None:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        return "body has no items list"
    if "next_cursor" not in body:
        return "body has no next_cursor"
    for item in body["items"]:
        if not _is_task(item):
            return "an item is not a task"
        if status and item["status"] != status:
            return f"filter status={status} returned a {item['status']} task"
        if priority and item["priority"] != priority:
            return f"filter priority={priority} returned a {item['priority']} task"
    return None


# Seeded accounts are handed out in turn from a random start, so the simulated users of one
# process are distinct people while there are enough accounts (two users on one account race
# each other's writes: a PATCH answer showing the other's later status is right, and would be
# counted as an error); generator processes start at different places.
_ACCOUNTS = itertools.count(random.randrange(1 << 30))


def failure_text(body: str | None) -> str:
    """What a failure is called in Locust's statistics: the API's error code and message, never
    its request id. Locust keeps one entry per distinct message for the whole run, so a message
    that carried each answer's unique id grew the master's memory with every failure."""
    error = api_error(lambda: json.loads(body or ""))
    if error is None or "code" not in error or "message" not in error:
        return (body or "")[:160]
    return f"{error['code']}: {error['message']}"[:160]


class PrimoUser(FastHttpUser):
    """Logs in as its own seeded account (the same one every time); steps share its token and
    what it has seen of that account."""

    abstract = True
    network_timeout = 10.0
    connection_timeout = 5.0
    wait_time = between(0.5, 1.5)  # plain (journey) mode; the scenario user overrides it

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not RUN.cookie_jar:
            # The API answers no request with a cookie (the token goes in a header); the jar's
            # look-ups on every request and answer cost generator CPU (BENCHMARKS.md).
            self.client.client.cookiejar = None
        self.email = ""
        self.auth: dict[str, str] = {}
        self.known_ids: list[str] = []  # seeded tasks of this account (never deleted)
        self.own_ids: list[str] = []  # tasks this simulated user created
        self.page_params: dict[str, Any] = {}
        self.cursor: str | None = None
        self.intended: float | None = None
        self.account: int | None = None  # the seeded account's index, fixed at the first login

    # Locust merges this into every request's context; the recorder reads "intended".
    def context(self) -> dict[str, Any]:
        intended, self.intended = self.intended, None  # only the step's first request
        return {"intended": intended} if intended is not None else {}

    def on_start(self) -> None:
        if self.login() and not self.known_ids:
            self.list_tasks()

    # --- helpers -------------------------------------------------------------------------
    def call(
        self,
        method: str,
        path: str,
        name: str,
        expect: int,
        check: Check | None = None,
        json: Any = None,
        auth: bool = True,
    ) -> Any:
        """One checked request; the body on success, None on failure (already reported).

        A write to a task is noted in the ledger with its answer, whatever the body says."""
        headers = dict(self.auth) if auth else {}
        account = self.account if self.account is not None else -1
        with (
            attempt(RUN.ledger, method, path, json, account) as write,
            self.client.request(
                method, path, name=name, json=json, headers=headers, catch_response=True
            ) as resp,
        ):
            if write is not None:
                write.answer(resp.status_code, resp.json)
            if resp.status_code != expect:
                text = failure_text(resp.text) if resp.status_code else str(resp.error)
                resp.failure(f"HTTP {resp.status_code} (expected {expect}): {text}")
                if resp.status_code == 401:
                    self.auth = {}  # log in again before the next step
                return None
            body: Any = None
            if expect != 204:
                try:
                    body = resp.json()
                except ValueError:
                    resp.failure("body is not JSON")
                    return None
            problem = check(body) if check else None
            if problem:
                resp.failure(problem)
                return None
            resp.success()
            return body if expect != 204 else True

    def ensure_login(self) -> bool:
        """True when logged in; otherwise this step logs in *instead* and the caller stops.

        One step = one request: in the open model a step is one arrival slot, and a second
        request in the same slot would exceed the scheduled rate and carry no intended start.
        The re-login is recorded as what it is (``POST /api/auth/login``) and the next step, with
        the fresh token, does the work.
        """
        if self.auth:
            return True
        self.login()
        return False

    def _credentials(self) -> dict[str, str]:
        if self.account is None:
            self.account = next(_ACCOUNTS) % RUN.seed_users
        return {"email": load_user_email(self.account), "password": LOAD_USER_PASSWORD}

    def _remember_page(self, body: dict[str, Any]) -> None:
        self.cursor = body.get("next_cursor")
        if not self.known_ids:
            self.known_ids = [
                item["id"] for item in body["items"] if EPHEMERAL_WORD not in item["title"]
            ]

    # --- steps: one request each, named by the catalogue ---------------------------------------
    def login(self) -> bool:
        """POST /api/auth/login as this user's seeded account; keeps the token."""
        credentials = self._credentials()
        body = self.call(
            "POST", "/api/auth/login", "/api/auth/login", 200, check=_token_problem,
            json=credentials, auth=False,
        )  # fmt: skip
        if body is None:
            return False
        self.email = credentials["email"]
        self.auth = {"Authorization": f"Bearer {body['access_token']}"}
        return True

    def login_again(self) -> None:
        """The login journey: a fresh login each time (bcrypt on the server)."""
        self.login()

    def list_tasks(self) -> None:
        """GET /api/tasks: the first page, with random filters and sort."""
        if not self.ensure_login():
            return
        params: dict[str, Any] = {"limit": random.choice((10, 20, 50))}
        if random.random() < 0.4:
            params["status"] = random.choice(STATUSES)
        if random.random() < 0.2:
            params["priority"] = random.choice(PRIORITIES)
        if random.random() < 0.3:
            params["sort"] = random.choice(SORTS)
        body = self.call(
            "GET", f"/api/tasks?{urlencode(params)}", "/api/tasks", 200,
            check=lambda b: _page_problem(b, params.get("status"), params.get("priority")),
        )  # fmt: skip
        if body is not None:
            self.page_params = params
            self._remember_page(body)

    def next_page(self) -> None:
        """GET /api/tasks?cursor=...: the page after the last one (or a first page)."""
        if not self.cursor:
            self.list_tasks()
            return
        if not self.ensure_login():
            return
        params = {**self.page_params, "cursor": self.cursor}
        body = self.call(
            "GET", f"/api/tasks?{urlencode(params)}", "/api/tasks?cursor={cursor}", 200,
            check=lambda b: _page_problem(b, params.get("status"), params.get("priority")),
        )  # fmt: skip
        if body is not None:
            self._remember_page(body)
        else:
            self.cursor = None

    def search(self) -> None:
        """GET /api/tasks?q=...: a word the seeded titles and descriptions contain."""
        if not self.ensure_login():
            return
        word = random.choice(TASK_WORDS)

        def check(body: Any) -> str | None:
            problem = _page_problem(body)
            if problem:
                return problem
            for item in body["items"]:
                text = f"{item['title']} {item.get('description', '')}".lower()
                if word not in text:
                    return f"search {word!r} returned a task without it"
            return None

        self.call(
            "GET", f"/api/tasks?{urlencode({'q': word, 'limit': 20})}", "/api/tasks?q={q}", 200,
            check=check,
        )  # fmt: skip

    def open_task(self) -> None:
        """GET /api/tasks/{id} of a task this account owns."""
        if not self.known_ids:
            self.list_tasks()
            return
        if not self.ensure_login():
            return
        task_id = random.choice(self.known_ids)
        self.call(
            "GET", f"/api/tasks/{task_id}", "/api/tasks/{id}", 200,
            check=lambda b: None if _is_task(b) and b["id"] == task_id else "wrong task",
        )  # fmt: skip

    def create_task(self) -> None:
        """POST /api/tasks with realistic fields; remembers the id to delete it later."""
        if not self.ensure_login():
            return
        words = random.sample(TASK_WORDS, 2)
        due = None
        if random.random() < 0.6:
            due = (datetime.now(UTC) + timedelta(days=random.randint(-10, 30))).isoformat()
        payload = {
            "title": f"{EPHEMERAL_WORD} {words[0]} {words[1]}",
            "description": f"Load-test task about the {words[1]}.",
            "status": random.choice(STATUSES),
            "priority": random.choice(PRIORITIES),
            "dueDate": due,
            "tags": random.sample(TASK_TAGS, random.randint(0, 3)),
        }

        def check(body: Any) -> str | None:
            if not _is_task(body):
                return "body is not a task"
            for key in ("title", "status", "priority", "tags"):
                if body[key] != payload[key]:
                    return f"created task has {key}={body[key]!r}, sent {payload[key]!r}"
            return None

        body = self.call("POST", "/api/tasks", "/api/tasks", 201, check=check, json=payload)
        if body is not None:
            self.own_ids.append(body["id"])
            del self.own_ids[:-50]  # bounded

    def update_status(self) -> None:
        """PATCH /api/tasks/{id}: move a task to another status."""
        if not self.known_ids:
            self.list_tasks()
            return
        if not self.ensure_login():
            return
        task_id = random.choice(self.known_ids)
        status = random.choice(STATUSES)
        self.call(
            "PATCH", f"/api/tasks/{task_id}", "/api/tasks/{id}", 200, json={"status": status},
            check=lambda b: None if _is_task(b) and b["status"] == status else "status not set",
        )  # fmt: skip

    def delete_task(self) -> None:
        """DELETE /api/tasks/{id} of a task this simulated user created.

        With none yet, this step creates one instead (recorded as ``POST /api/tasks``), which a
        later delete step removes: one request per step, never POST then DELETE in one slot.
        """
        if not self.own_ids:
            self.create_task()
            return
        if not self.ensure_login():
            return
        task_id = self.own_ids.pop()
        self.call("DELETE", f"/api/tasks/{task_id}", "/api/tasks/{id}", 204)

    def stats(self) -> None:
        """GET /api/tasks/stats: counts must add up."""
        if not self.ensure_login():
            return
        self.call("GET", "/api/tasks/stats", "/api/tasks/stats", 200, check=_stats_problem)

    def me(self) -> None:
        """GET /api/auth/me: the account we logged in as."""
        if not self.ensure_login():
            return
        self.call(
            "GET", "/api/auth/me", "/api/auth/me", 200,
            check=lambda b: None if isinstance(b, dict) and b.get("email") == self.email
            else "not the logged-in user",
        )  # fmt: skip

    def health(self) -> None:
        """GET /health."""
        self.call(
            "GET", "/health", "/health", 200, auth=False,
            check=lambda b: None if b == {"status": "ok"} else "not ok",
        )  # fmt: skip


def _token_problem(body: Any) -> str | None:
    if not isinstance(body, dict) or not body.get("access_token"):
        return "no access_token"
    if body.get("token_type") != "bearer":
        return "token_type is not bearer"
    return None


def _stats_problem(body: Any) -> str | None:
    try:
        by_status, by_priority = body["by_status"], body["by_priority"]
        total = body["total"]
        if sum(by_status.values()) != total or sum(by_priority.values()) != total:
            return "by_status/by_priority do not add up to total"
        if not 0 <= body["overdue"] <= total:
            return "overdue out of range"
    except (KeyError, TypeError, AttributeError):
        return "not a stats body"
    return None


# Step per catalogue endpoint, for the scenario-driven user.
STEPS: dict[str, Callable[[PrimoUser], None]] = {
    "GET /api/tasks": PrimoUser.list_tasks,
    "GET /api/tasks?cursor={cursor}": PrimoUser.next_page,
    "GET /api/tasks?q={q}": PrimoUser.search,
    "GET /api/tasks/{id}": PrimoUser.open_task,
    "POST /api/tasks": PrimoUser.create_task,
    "PATCH /api/tasks/{id}": PrimoUser.update_status,
    "DELETE /api/tasks/{id}": PrimoUser.delete_task,
    "GET /api/tasks/stats": PrimoUser.stats,
    "POST /api/auth/login": PrimoUser.login_again,
    "GET /api/auth/me": PrimoUser.me,
    "GET /health": PrimoUser.health,
}
