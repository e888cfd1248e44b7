"""Opaque keyset-pagination cursors: the last sort value and ``_id`` of the previous page."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from reference_api.errors import InvalidCursor
from reference_api.repository._mongo import Document, object_id

PRIORITY_ORDER = ("low", "medium", "high")


def encode_cursor(sort: str, value: Any, oid: ObjectId) -> str:
    if isinstance(value, datetime):
        value = {"$date": value.astimezone(UTC).isoformat()}
    raw = json.dumps({"s": sort, "v": value, "id": str(oid)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, ObjectId]:
    """The last sort value and _id of the previous page; ``InvalidCursor`` for anything odd."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursor() from exc
    if not isinstance(data, dict) or data.get("s") != sort or not isinstance(data.get("id"), str):
        raise InvalidCursor()
    oid = object_id(data["id"])
    if oid is None:
        raise InvalidCursor()
    return _sort_value(sort.lstrip("-"), data.get("v")), oid


def _sort_value(field: str, value: Any) -> Any:
    """The cursor's sort value, checked against the field it sorts on."""
    if field in ("createdAt", "updatedAt", "dueDate"):
        if value is None and field == "dueDate":
            return None
        if not isinstance(value, dict) or not isinstance(value.get("$date"), str):
            raise InvalidCursor()
        try:
            when = datetime.fromisoformat(value["$date"])
        except ValueError as exc:
            raise InvalidCursor() from exc
        if when.tzinfo is None:
            raise InvalidCursor()
        return when
    if field == "priority":
        if value not in PRIORITY_ORDER:
            raise InvalidCursor()
        return value
    if not isinstance(value, str):
        raise InvalidCursor()
    return value


def after_cursor(field: str, direction: int, value: Any, oid: ObjectId) -> Document:
    """Documents strictly after (value, _id) in the order (field, _id), in that direction.
    Nulls (only dueDate has them) sort before every date, as MongoDB sorts them."""
    op = "$gt" if direction == ASCENDING else "$lt"
    if value is None:
        if direction == ASCENDING:
            return {"$or": [{field: None, "_id": {"$gt": oid}}, {field: {"$ne": None}}]}
        return {field: None, "_id": {"$lt": oid}}
    branches: list[Document] = [{field: {op: value}}, {field: value, "_id": {op: oid}}]
    if direction == DESCENDING and field == "dueDate":
        branches.append({field: None})
    return {"$or": branches}
