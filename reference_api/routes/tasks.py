from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from reference_api.cache import Lookup
from reference_api.deps import CacheDep, CurrentUser, TasksDep
from reference_api.models import (
    Priority,
    SortKey,
    Status,
    TaskCreate,
    TaskPublic,
    TasksPage,
    TaskStats,
    TaskUpdate,
)
from reference_api.repository import TaskQuery
from reference_api.routes import errors

router = APIRouter(prefix="/api/tasks", tags=["tasks"])

_JSON = "application/json"
_X_CACHE = {
    "X-Cache": {"description": "HIT, MISS or BYPASS", "schema": {"type": "string",
                                                                 "enum": ["HIT", "MISS", "BYPASS"]}}
}


def _answer(body: bytes, lookup: Lookup, response: Response) -> Response:
    headers = dict(response.headers)
    headers["X-Cache"] = lookup.state
    return Response(body, media_type=_JSON, headers=headers)


@router.post(
    "", status_code=status.HTTP_201_CREATED, responses=errors(400, 401, 413, 422, 429, 503)
)
async def create_task(
    body: TaskCreate, user_id: CurrentUser, tasks: TasksDep, cache: CacheDep
) -> TaskPublic:
    task = await tasks.create(user_id, body)
    await cache.invalidate(user_id)
    return task


@router.get(
    "",
    response_model=TasksPage,
    responses={200: {"headers": _X_CACHE}, **errors(400, 401, 422, 429, 503)},
)
async def list_tasks(
    user_id: CurrentUser,
    tasks: TasksDep,
    cache: CacheDep,
    response: Response,
    status: Status | None = None,
    priority: Priority | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: SortKey = "-createdAt",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    query = TaskQuery(status=status, priority=priority, q=q or None, sort=sort, cursor=cursor,
                      limit=limit)
    lookup = await cache.get(user_id, cache.list_suffix(repr(query)))
    if lookup.value is not None:
        return _answer(lookup.value, lookup, response)
    body = (await tasks.page(user_id, query)).model_dump_json().encode()
    if lookup.state == "MISS":
        await cache.put(lookup, body)
    return _answer(body, lookup, response)


@router.get(
    "/stats",
    response_model=TaskStats,
    responses={200: {"headers": _X_CACHE}, **errors(401, 429, 503)},
)
async def task_stats(
    user_id: CurrentUser, tasks: TasksDep, cache: CacheDep, response: Response
) -> Response:
    lookup = await cache.get(user_id, "stats")
    if lookup.value is not None:
        return _answer(lookup.value, lookup, response)
    body = (await tasks.stats(user_id)).model_dump_json(by_alias=True).encode()
    if lookup.state == "MISS":
        await cache.put(lookup, body)
    return _answer(body, lookup, response)


@router.get(
    "/{task_id}",
    response_model=TaskPublic,
    responses={200: {"headers": _X_CACHE}, **errors(401, 404, 429, 503)},
)
async def get_task(
    task_id: str, user_id: CurrentUser, tasks: TasksDep, cache: CacheDep, response: Response
) -> Response:
    lookup = await cache.get(user_id, f"task:{task_id[:64]}")
    if lookup.value is not None:
        return _answer(lookup.value, lookup, response)
    body = (await tasks.get(user_id, task_id)).model_dump_json().encode()
    if lookup.state == "MISS":
        await cache.put(lookup, body)
    return _answer(body, lookup, response)


@router.patch("/{task_id}", responses=errors(400, 401, 404, 413, 422, 429, 503))
async def update_task(
    task_id: str, body: TaskUpdate, user_id: CurrentUser, tasks: TasksDep, cache: CacheDep
) -> TaskPublic:
    task = await tasks.update(user_id, task_id, body.changes())
    await cache.invalidate(user_id)
    return task


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 404, 429, 503),
)
async def delete_task(
    task_id: str, user_id: CurrentUser, tasks: TasksDep, cache: CacheDep
) -> None:
    await tasks.delete(user_id, task_id)
    await cache.invalidate(user_id)
