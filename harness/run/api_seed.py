"""Seed a target whose database the generator cannot reach: through the service's own API.

The users are the ones :mod:`harness.run.seed` writes straight into MongoDB (the same e-mails,
names and password, so the journeys log in as they always do), registered with
``POST /api/auth/register``; each new one gets ``tasks_per_user`` tasks of the same variety with
``POST /api/tasks``. A user that already exists (409) is logged in instead and topped up to
``tasks_per_user`` tasks if it has fewer: the API cannot delete a user, so seeding through it
only adds. Registration pays
the target's own bcrypt cost per user, and its per-client-IP auth rate limit applies: a 429
stops the seeding with one line saying so.

Without ``--seed`` nothing is written: :func:`check_users` logs in as the first and the last
user the scenario names, and says which to seed when one cannot.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from harness.core.scenario import Data
from harness.core.workload import LOAD_USER_NAME, LOAD_USER_PASSWORD, load_user_email
from harness.errors import BadInputError, ComponentError
from harness.run.manifest import SeedInfo
from harness.run.seed import make_task
from harness.run.target import Client

THREADS = 4  # registration is bcrypt-bound on the target; a few at a time keep it busy
AUTH_TIMEOUT_S = 60.0  # a bcrypt hash queued behind the others' on a busy target
_TASK_FIELDS = ("title", "description", "status", "priority", "dueDate", "tags")


@dataclass(frozen=True)
class ApiSeedResult:
    users: int  # registered now
    reused: int  # existed already (topped up to the tasks each should have)
    tasks: int  # created now
    seconds: float


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _refuse(what: str, status: int, raw: bytes) -> BadInputError:
    if status == 429:
        return BadInputError(
            f"target: {what} was rate-limited (429); start the target with the scenario's "
            "settings (capacity up --scenario NAME lifts the limits) or raise RATE_LIMIT_*"
        )
    text = raw[:120].decode("utf-8", "replace").replace("\n", " ")
    return BadInputError(f"target: {what} answered {status} {text!r}")


def login(client: Client, index: int) -> str | None:
    """The user's token, or None when the target refuses its credentials (401)."""
    status, _, raw = client.request(
        "POST",
        "/api/auth/login",
        {"email": load_user_email(index), "password": LOAD_USER_PASSWORD},
        timeout=AUTH_TIMEOUT_S,
    )
    if status == 401:
        return None
    body = _body(raw)
    if status != 200 or not isinstance(body, dict) or "access_token" not in body:
        raise _refuse(f"POST /api/auth/login as {load_user_email(index)}", status, raw)
    return str(body["access_token"])


def check_users(client: Client, users: int) -> None:
    """Without ``--seed``: the scenario's first and last load user must log in."""
    for index in sorted({0, users - 1}):
        if login(client, index) is None:
            raise BadInputError(
                f"target: load user {load_user_email(index)} cannot log in (the scenario needs "
                f"{users}); seed the target with --seed, or point it at a seeded one"
            )


def _register(client: Client, index: int) -> bool:
    """True when registered now, False when the user existed (and logs in)."""
    body = {
        "email": load_user_email(index),
        "password": LOAD_USER_PASSWORD,
        "name": LOAD_USER_NAME.format(index=index),
    }
    status, _, raw = client.request("POST", "/api/auth/register", body, timeout=AUTH_TIMEOUT_S)
    if status == 201:
        return True
    if status == 409 and login(client, index) is not None:
        return False
    if status == 409:
        raise BadInputError(
            f"target: {load_user_email(index)} exists with another password; the load users "
            "must use the documented load-test password (harness/core/workload.py)"
        )
    raise _refuse(f"POST /api/auth/register for {load_user_email(index)}", status, raw)


def _payload(task: dict[str, Any]) -> dict[str, Any]:
    out = {k: task[k] for k in _TASK_FIELDS}
    if isinstance(out["dueDate"], datetime):
        out["dueDate"] = out["dueDate"].isoformat().replace("+00:00", "Z")
    return out


def _task_count(client: Client, index: int, token: str) -> int:
    status, _, raw = client.request("GET", "/api/tasks/stats", token=token)
    body = _body(raw)
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("total"), int):
        raise _refuse(f"GET /api/tasks/stats as {load_user_email(index)}", status, raw)
    return int(body["total"])


def _create_tasks(client: Client, index: int, token: str, count: int, seed: int) -> int:
    rng = random.Random(seed * 1_000_003 + index)  # noqa: S311 - task variety, not secrets
    now = datetime.now(UTC).replace(microsecond=0)
    for _ in range(count):
        task = _payload(make_task(rng, ObjectId(), now))
        status, _, raw = client.request("POST", "/api/tasks", task, token=token)
        if status != 201:
            raise _refuse(f"POST /api/tasks as {load_user_email(index)}", status, raw)
    return count


def seed_through_api(
    client: Client, users: int, tasks_per_user: int, *, seed: int = 0
) -> ApiSeedResult:
    """Register the scenario's load users that are missing and give each new one its tasks."""
    started = time.perf_counter()

    def one(index: int) -> tuple[bool, int]:
        try:
            new = _register(client, index)
            token = login(client, index)
            if token is None:
                raise BadInputError(f"target: {load_user_email(index)} cannot log in")
            missing = tasks_per_user - (0 if new else _task_count(client, index, token))
            return new, _create_tasks(client, index, token, max(0, missing), seed)
        except OSError as exc:
            raise ComponentError(
                "target", f"seeding {load_user_email(index)} through the API failed: {exc}"
            ) from exc

    with ThreadPoolExecutor(THREADS, thread_name_prefix="api-seed") as pool:
        outcomes = list(pool.map(one, range(users)))
    registered = sum(1 for new, _ in outcomes if new)
    return ApiSeedResult(
        users=registered,
        reused=users - registered,
        tasks=sum(n for _, n in outcomes),
        seconds=time.perf_counter() - started,
    )


def seed_target(
    client: Client, data: Data, say: Callable[[str], None], phase: str, *, seed: bool
) -> SeedInfo:
    """A target whose database is out of reach: seeded through its API with ``--seed``, else its
    load users reused as they are (the CLI checked they log in before the run began)."""
    if not seed:
        return SeedInfo(data.users, data.tasks_per_user, 0.0, seeded="reused")
    say(
        f"{phase}: seeding {client.base} through its API: {data.users} users x "
        f"{data.tasks_per_user} tasks (registration pays the target's bcrypt) …"
    )
    done = seed_through_api(client, data.users, data.tasks_per_user)
    say(
        f"{phase}: registered {done.users} users ({done.reused} existed), created {done.tasks} "
        f"tasks in {done.seconds:.1f} s"
    )
    return SeedInfo(data.users, data.tasks_per_user, round(done.seconds, 3), seeded="api")
