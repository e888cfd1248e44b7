"""Two small things every stage needs, written once: atomic file writes and UTC timestamps.

Standard library only: the load generator (inside Locust) uses it too.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any


def write_atomic(path: Path, data: bytes | str) -> None:
    """Write ``path`` through a temporary file beside it: a reader sees the old file or the new
    one, never half of one, and an interrupted write leaves no partial file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: Path, payload: Any, *, indent: int = 2) -> None:
    """``payload`` as JSON (values JSON does not know, such as paths, as their ``str``)."""
    write_atomic(path, json.dumps(payload, indent=indent, default=str) + "\n")


def utc_now() -> str:
    """The current time as ``2026-12-02T02:40:00Z`` (UTC, whole seconds)."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
