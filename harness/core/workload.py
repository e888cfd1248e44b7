"""The workload's vocabulary: the endpoints the journeys emit and the data they expect.

Shared by the journeys (``loadtests/``), the seeder (``harness/run/seed.py``) and the scenario
schema, so that a seeded user can log in, a search finds seeded words and an SLO names a real
endpoint. Constants, and the load users' e-mail both ways: it runs inside Locust.
"""

from __future__ import annotations

import re

# --- the load-test credential convention (seeded users; see harness/run/seed.py) -------------
LOAD_USER_EMAIL = "load-{index:06d}@primo.test"
LOAD_USER_PASSWORD = "primo-load-test-password"  # noqa: S105 - a documented, load-test-only account
LOAD_USER_NAME = "Load User {index}"
LOAD_EMAIL_PATTERN = r"^load-(\d{6})@primo\.test$"  # LOAD_USER_EMAIL, as MongoDB's $regex too


# Words seeded titles and descriptions are made of (harness/run/seed.py); the search journey looks
# for them, so searches hit real data.
TASK_WORDS: tuple[str, ...] = (
    "invoice", "report", "deploy", "review", "budget", "meeting", "design", "backup",
    "release", "customer", "migration", "roadmap", "hiring", "audit", "launch", "security",
)  # fmt: skip
TASK_TAGS: tuple[str, ...] = (
    "work", "home", "urgent", "later", "ops", "dev", "finance", "people", "q1", "q2",
)  # fmt: skip
# Tasks created by the journeys carry this word in their title, so that journeys never pick
# another simulated user's short-lived task (it may be deleted under them).
EPHEMERAL_WORD = "ephemeral"


def load_user_email(index: int) -> str:
    """The e-mail of the ``index``-th seeded load-test user."""
    return LOAD_USER_EMAIL.format(index=index)


def load_user_index(email: str) -> int | None:
    """The index of the seeded load-test user with this e-mail; None for anyone else."""
    match = re.match(LOAD_EMAIL_PATTERN, email)
    return int(match[1]) if match else None


# --- the endpoint catalogue: request names (route templates) the journeys emit -----------------
# Locust shows ``name`` (the path template) with the method in its own column; samples, mixes and
# SLOs use "METHOD template".
ENDPOINTS: tuple[str, ...] = (
    "GET /api/tasks",  # first page, with random status/priority filters and sort
    "GET /api/tasks?cursor={cursor}",  # the next page of a previous list
    "GET /api/tasks?q={q}",  # text search
    "GET /api/tasks/{id}",
    "POST /api/tasks",
    "PATCH /api/tasks/{id}",
    "DELETE /api/tasks/{id}",
    "GET /api/tasks/stats",
    "POST /api/auth/login",
    "GET /api/auth/me",
    "GET /health",
)
