"""Request and response bodies. Request models forbid unknown fields (no mass assignment)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema


class Status(StrEnum):
    todo = "todo"
    in_progress = "in-progress"
    done = "done"


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


def _as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    # BSON dates hold milliseconds: answer with what will be stored.
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _iso_text_only(value: Any) -> Any:
    """pydantic would read a number as seconds since the epoch; the schema says a string."""
    if value is None or isinstance(value, str | datetime):
        return value
    raise ValueError("expected an ISO 8601 date-time string")


# A pattern as well as strip_whitespace, so that the schema itself says "not blank". U+0085 is
# listed because pydantic strips it (Unicode White_Space) while ECMA-262's \s does not cover it.
_NOT_BLANK = r"[^\s\u0085]"
Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NOT_BLANK)
]
Description = Annotated[str, StringConstraints(max_length=5000)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32, pattern=_NOT_BLANK)
]
Tags = Annotated[list[Tag], Field(max_length=20)]
DueDate = Annotated[datetime | None, BeforeValidator(_iso_text_only), AfterValidator(_as_utc)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s\u0085]+@[^@\s\u0085]+\.[^@\s\u0085]+$",
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_NOT_BLANK)
]


def json_bytes(model: BaseModel) -> bytes:
    """The model's JSON as pydantic's core writes it, the bytes an answer and a cache entry
    hold (``model_dump_json()`` decodes them to ``str``, which ``.encode()`` would copy back)."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(_Request):
    email: Email
    password: Password
    name: Name


class UserLogin(_Request):
    email: Email
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class UserPublic(BaseModel):
    id: str
    email: str
    name: str
    createdAt: datetime


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class TaskCreate(_Request):
    title: Title
    description: Description = ""
    status: Status = Status.todo
    priority: Priority = Priority.medium
    dueDate: DueDate = None
    tags: Tags = Field(default_factory=list)


class TaskUpdate(_Request):
    """Partial update: only the fields sent change; ``dueDate: null`` clears the due date.

    An empty body is refused (422) rather than treated as a no-op, so that a client bug that
    sends nothing is visible. Other fields may not be null.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # SkipJsonSchema: the schema says "absent or a value"; an explicit null is refused below.
    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    status: Status | SkipJsonSchema[None] = None
    priority: Priority | SkipJsonSchema[None] = None
    dueDate: DueDate = None
    tags: Tags | SkipJsonSchema[None] = None

    @model_validator(mode="after")
    def _not_empty(self) -> TaskUpdate:
        if not self.model_fields_set:
            raise ValueError("send at least one field to change")
        nulls = sorted(
            f for f in self.model_fields_set if f != "dueDate" and getattr(self, f) is None
        )
        if nulls:
            raise ValueError(f"may not be null: {', '.join(nulls)}")
        return self

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True, mode="python")


class TaskPublic(BaseModel):
    id: str
    title: str
    description: str
    status: Status
    priority: Priority
    dueDate: datetime | None
    tags: list[str]
    createdAt: datetime
    updatedAt: datetime
    owner: str


class TasksPage(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None


class StatusCounts(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    todo: int = 0
    in_progress: int = Field(default=0, alias="in-progress")
    done: int = 0


class PriorityCounts(BaseModel):
    low: int = 0
    medium: int = 0
    high: int = 0


class TaskStats(BaseModel):
    total: int
    by_status: StatusCounts
    by_priority: PriorityCounts
    overdue: int


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ErrorDetail(BaseModel):
    code: str
    message: str
    request_id: str
    details: Any = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable", "draining"]
    # Not probed while draining (reference_api/drain.py): the answer is 503 whatever they are.
    database: Literal["up", "down"] | None = None
    redis: Literal["up", "down", "disabled"] | None = None
    # Present (the common error shape) when the answer is 503.
    error: ErrorDetail | None = None


SortKey = Literal[
    "-createdAt",
    "createdAt",
    "-updatedAt",
    "updatedAt",
    "-dueDate",
    "dueDate",
    "-priority",
    "priority",
    "title",
    "-title",
]


class TaskListParams(BaseModel):
    """Query parameters of ``GET /api/tasks`` (one model: one validation per request)."""

    status: Status | None = None
    priority: Priority | None = None
    q: Annotated[str | None, Field(max_length=200)] = None
    sort: SortKey = "-createdAt"
    cursor: Annotated[str | None, Field(max_length=512)] = None
    limit: Annotated[int, Field(ge=1, le=100)] = 20
