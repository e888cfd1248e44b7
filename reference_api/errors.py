"""Every error the API can answer with, and the one place that maps them to HTTP.

Domain errors (raised by repositories, security, cache and rate limiting) derive from
``ApiError``; each carries its HTTP status and a stable machine-readable ``code``. Every 4xx/5xx
leaves the service as ``{"error": {"code", "message", "request_id", "details"?}}``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

log = logging.getLogger("reference_api")

_SENSITIVE_FIELDS = frozenset({"password", "passwordHash", "access_token"})


class ApiError(Exception):
    status_code = 500
    code = "internal_error"
    message = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details
        self.headers = dict(headers or {})


class InvalidCredentials(ApiError):
    status_code = 401
    code = "invalid_credentials"
    message = "Invalid email or password"


class NotAuthenticated(ApiError):
    status_code = 401
    code = "not_authenticated"
    message = "Missing, invalid or expired bearer token"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class TaskNotFound(ApiError):
    status_code = 404
    code = "not_found"
    message = "Task not found"


class UserNotFound(ApiError):
    status_code = 404
    code = "not_found"
    message = "User not found"


class EmailTaken(ApiError):
    status_code = 409
    code = "email_taken"
    message = "An account with this email already exists"


class InvalidCursor(ApiError):
    status_code = 400
    code = "invalid_cursor"
    message = "The pagination cursor is invalid for this query"


class RateLimited(ApiError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests"


class DatabaseUnavailable(ApiError):
    """The database did not answer within the deadline, was unreachable, or its circuit is
    open; a write answered so was not acknowledged (it may or may not have been applied)."""

    status_code = 503
    code = "database_unavailable"
    message = "The database is unavailable; try again shortly"

    def __init__(self, message: str | None = None, *, retry_after: float = 1.0) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, math.ceil(retry_after)))})


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` while a streamed body grows past the limit.

    A Starlette ``HTTPException`` on purpose: FastAPI re-raises those unchanged from body
    parsing, where any other exception would turn into a 400.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"Request body larger than {limit} bytes")


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


def error_body(
    status: int, code: str, message: str, request_id: str, details: Any = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(status, code, message, request_id_of(request), details)
    # The rate-limit quota counted for this request is worth knowing on errors too.
    quota: dict[str, str] = getattr(request.state, "quota_headers", None) or {}
    return JSONResponse(body, status_code=status, headers={**quota, **(headers or {})})


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors without the offending input (it may be a password)."""
    details = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        item: dict[str, Any] = {
            "loc": loc,
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        if not _SENSITIVE_FIELDS.intersection(loc) and isinstance(err.get("ctx"), dict):
            item["ctx"] = {k: str(v) for k, v in err["ctx"].items()}
        details.append(item)
    return details


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(request, exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = "No such resource"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return error_response(request, exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """The methods documented for the first path template that matches, as the router picks it
    (Starlette alone names only the first partially matching route's methods)."""
    table: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "allow_table", None
    )
    if table is None:
        table = [
            (compile_path(path)[0], sorted(method.upper() for method in item))
            for path, item in request.app.openapi()["paths"].items()
        ]
        request.app.state.allow_table = table
    path = request.scope.get("path", "")
    return next((methods for regex, methods in table if regex.match(path)), [])


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(
        request,
        422,
        "validation_error",
        "The request is invalid",
        details=validation_details(exc.errors()),
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
