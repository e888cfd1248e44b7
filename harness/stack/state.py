"""The state file that lets ``capacity status`` and ``down`` find a stack from another shell.

``<state_dir>/stack.json`` (default ``.capacity/``) is written by the supervisor: ``status`` is
``starting``, ``ready`` or ``failed`` (with ``error``, one line). It never holds the JWT secret.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import psutil

from harness.errors import BadInputError
from harness.stack.config import ComponentStatus
from harness.stack.health import http_ok, mongo_ok, redis_ok

SCHEMA = 1
DEFAULT_STATE_DIR = Path(".capacity")


class StateFile:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "stack.json"

    def read(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise BadInputError(f"{self.path}: not a stack state file ({exc})") from exc
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise BadInputError(f"{self.path}: not a stack state file (schema {SCHEMA} expected)")
        return data

    def write(self, data: dict[str, Any]) -> None:
        """Atomically: a reader sees the old state or the new one, never half of one."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"schema": SCHEMA, **data}, indent=2) + "\n")
        tmp.replace(self.path)

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def process_identity(pid: int | None) -> float | None:
    """The start time of ``pid``, which tells it apart from a later process with the same pid."""
    if pid is None:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def alive(pid: int | None, identity: float | None = None) -> bool:
    """``pid`` runs (not a zombie) and, when ``identity`` is given, is still the same process."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return identity is None or abs(proc.create_time() - identity) < 0.01
    except psutil.Error:
        return False


def recheck(state: dict[str, Any]) -> list[ComponentStatus]:
    """Each component of a local stack's state, with its health checked now."""
    out = []
    for item in state.get("components", []):
        status = ComponentStatus.from_json(item)
        healthy = alive(status.pid, item.get("identity")) and probe(status, state)
        out.append(ComponentStatus(status.name, status.pid, status.port, status.log, healthy))
    return out


def probe(component: ComponentStatus, state: dict[str, Any]) -> bool:
    name, port = component.name, component.port
    if name == "db":
        return mongo_ok(str(state["mongodb_uri"]))
    if name == "redis":
        return redis_ok(str(state["redis_url"]))
    if name == "nginx":
        return http_ok(f"{state['url']}/health")
    if name.startswith("api-"):
        # A replica behind the shared socket has no port of its own: the socket answers for all.
        base = f"http://127.0.0.1:{port}" if port else str(state["url"])
        return http_ok(f"{base}/health/ready")
    return True
