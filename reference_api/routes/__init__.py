"""HTTP routes: they speak HTTP and delegate to repositories, cache and security."""

from __future__ import annotations

from typing import Any

from reference_api.models import ErrorResponse


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, all in the common shape."""
    text = {
        400: "Bad request: an invalid pagination cursor, or a body that is not UTF-8 JSON",
        401: "Missing, invalid or expired bearer token, or wrong credentials",
        404: "Not found (also for another user's task and for a malformed id)",
        409: "Conflict",
        413: "Request body too large",
        422: "Validation error",
        429: "Rate limit exceeded (see Retry-After and RateLimit-* headers)",
        503: "The database is unavailable, or this replica is overloaded (see Retry-After)",
    }
    return {s: {"model": ErrorResponse, "description": text[s]} for s in statuses}
