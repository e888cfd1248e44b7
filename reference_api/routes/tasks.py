from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from reference_api.cache import Entry
from reference_api.deps import Caller, CurrentUser
from reference_api.models import (
    TaskCreate,
    TaskListParams,
    TaskPublic,
    TasksPage,
    TaskStats,
    TaskUpdate,
    json_bytes,
)
from reference_api.repository import TaskQuery
from reference_api.routes import errors

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

_JSON = "application/json"
_X_CACHE = {
    "X-Cache": {
        "description": "HIT, MISS or BYPASS",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "BYPASS"]},
    }
}


async def _cached(
    caller: Caller, entry: Entry, produce: Callable[[], Awaitable[bytes]]
) -> Response:
    """Cache-aside: the cached answer, or ``produce()``'s (stored on a miss); ``X-Cache`` says
    which."""
    lookup = await caller.cache.get(entry)
    body = lookup.value
    if body is None:
        body = await produce()
        if lookup.state == "MISS":
            await caller.cache.put(lookup, body)
    return Response(body, media_type=_JSON, headers={**caller.headers, "X-Cache": lookup.state})


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=errors(400, 401, 413, 422, 429, 503)
)
async def create_task(body: TaskCreate, caller: CurrentUser) -> TaskPublic:
    # Every write drops the caller's cached reads it touches whatever its outcome: a write can
    # have been applied although the call failed (a DELETE whose retry the server ran again
    # answers 404; a time-out can strike after the write), and a cached copy would outlive it.
    try:
        return await caller.tasks.create(caller.id, body)
    finally:
        await caller.cache.invalidate(caller.id)


_INVALID_CURSOR = {
    **errors(400)[400],
    "description": "invalid_cursor: `cursor` is opaque, and only the `next_cursor` of a page of "
    "this same query is one (a forged or malformed value, or another sort's, is refused)",
}


@router.get(
    "",
    response_model=TasksPage,
    responses={200: {"headers": _X_CACHE}, **errors(401, 422, 429, 503), 400: _INVALID_CURSOR},
)
async def list_tasks(
    caller: CurrentUser,
    params: Annotated[TaskListParams, Query()],
) -> Response:
    query = TaskQuery(
        status=params.status,
        priority=params.priority,
        q=params.q or None,
        sort=params.sort,
        cursor=params.cursor,
        limit=params.limit,
    )

    async def produce() -> bytes:
        return json_bytes(await caller.tasks.page(caller.id, query))

    return await _cached(caller, Entry.of_list(caller.id, repr(query)), produce)


@router.get(
    "/stats",
    response_model=TaskStats,
    responses={200: {"headers": _X_CACHE}, **errors(401, 429, 503)},
)
async def task_stats(caller: CurrentUser) -> Response:
    async def produce() -> bytes:
        return json_bytes(await caller.tasks.stats(caller.id))

    return await _cached(caller, Entry.of_stats(caller.id), produce)


@router.get(
    "/{task_id}",
    response_model=TaskPublic,
    responses={200: {"headers": _X_CACHE}, **errors(401, 404, 429, 503)},
)
async def get_task(task_id: str, caller: CurrentUser) -> Response:
    async def produce() -> bytes:
        return json_bytes(await caller.tasks.get(caller.id, task_id))

    return await _cached(caller, Entry.of_task(caller.id, task_id), produce)


@router.patch(
    "/{task_id}", response_model=TaskPublic, responses=errors(400, 401, 404, 413, 422, 429, 503)
)
async def update_task(task_id: str, body: TaskUpdate, caller: CurrentUser) -> Response:
    # The task entry's version before the write lets the answer be stored as the task's new
    # entry after it (reference_api/cache.py).
    before = await caller.cache.before_write(Entry.of_task(caller.id, task_id))
    answer = None
    try:
        task = await caller.tasks.update(caller.id, task_id, body.changes())
        answer = json_bytes(task)  # what GET /api/tasks/{id} answers
    finally:
        await caller.cache.invalidate(caller.id, task_id, answer=answer, seen=before.seen)
    return Response(answer, media_type=_JSON, headers=caller.headers)


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 404, 429, 503),
)
async def delete_task(task_id: str, caller: CurrentUser) -> None:
    try:
        await caller.tasks.delete(caller.id, task_id)
    finally:
        await caller.cache.invalidate(caller.id, task_id)
