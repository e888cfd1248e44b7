"""The write ledger: the on-disk format of every write the load generator sent, and what came back.

The generator (``loadtests/_ledger.py``) notes each ``POST /api/tasks``, ``PATCH /api/tasks/{id}``
and ``DELETE /api/tasks/{id}`` that was acknowledged (201, 200, 204) or left without a definite
answer (no response at all, or a 5xx); a 4xx refused the write and is not noted. The records
travel with the exact samples (in the same batches, so a worker's final count covers both) and
each generator process's records land in ``<samples-dir>/ledger-<worker>.jsonl``, one JSON array
per line, in the order the answers arrived::

    [op, status, sent, answered, account, task, data]

``op`` is ``"create"``, ``"update"`` or ``"delete"``; ``status`` the HTTP status, 0 for no answer
(a timeout, a connection error, a request stopped with the run); ``sent`` and ``answered`` unix
seconds, ``answered`` when the answer (or the failure) arrived; ``account`` the seeded account's
index (``load-NNNNNN@primo.test``); ``task`` the task id (24 hex digits; null for a create that got
no id back); ``data`` a create's title, an update's fields as sent (``{"status": "done"}``), null
for a delete. ``samples.json`` counts each worker's records (``ledger``) and says whether its
final batch arrived (``ledger_complete``).

Standard library only: this runs inside Locust (gevent) and inside the harness's audit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from harness.errors import BadInputError

Op = Literal["create", "update", "delete"]
OPS: tuple[Op, ...] = get_args(Op)
# What the audit finds (harness.run.reconcile has the definitions); audit.json counts them per Op.
Kind = Literal["lost", "resurrected", "phantom", "ambiguous"]
KINDS: tuple[Kind, ...] = get_args(Kind)
ACKNOWLEDGED: dict[Op, int] = {"create": 201, "update": 200, "delete": 204}
LEDGER_GLOB = "ledger-*.jsonl"
_HEX_ID = re.compile(r"[0-9a-f]{24}")


def ledger_file(worker: int) -> str:
    return f"ledger-{worker}.jsonl"


def is_task_id(text: str) -> bool:
    """24 lower-case hex digits: an ObjectId as the API writes it."""
    return _HEX_ID.fullmatch(text) is not None


def noted(op: Op, status: int, *, refused: bool = False) -> bool:
    """Whether the ledger keeps a write answered ``status``: acknowledged, or without a definite
    answer (none, or a 5xx, whose effect may or may not have landed). ``refused``: the API's
    admission control refused it before the app saw it (503 ``overloaded``): never applied, a
    definite answer like a 4xx."""
    if refused:
        return False
    return status == ACKNOWLEDGED[op] or status == 0 or status >= 500


class LedgerRecord(NamedTuple):
    op: Op
    status: int
    sent: float
    answered: float
    account: int
    task: str | None
    data: Any  # create: the title; update: the fields sent; delete: None

    @property
    def acknowledged(self) -> bool:
        """The service said the write is done, and (a create) which task it made."""
        return self.status == ACKNOWLEDGED[self.op] and self.task is not None

    @property
    def settled_by(self) -> float:
        """When the write's effect, if any, had certainly landed: its answer; never, without one
        (a request the client gave up on may still be running on the server)."""
        return math.inf if self.status == 0 else self.answered

    def line(self) -> str:
        return json.dumps(list(self), separators=(",", ":"), ensure_ascii=False)


def encode(records: Iterable[LedgerRecord]) -> bytes:
    """Records as lines of the ledger file (what a worker ships to the master)."""
    return "".join(f"{r.line()}\n" for r in records).encode()


def decode(line: str) -> LedgerRecord:
    """One line of a ledger file; ``ValueError`` (or ``TypeError``) when it is not a record."""
    op, status, sent, answered, account, task, data = json.loads(line)
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}")
    if task is not None and not (isinstance(task, str) and is_task_id(task)):
        raise ValueError(f"task id {task!r}")
    if op == "update" and not isinstance(data, dict):
        raise ValueError("an update without its fields")
    return LedgerRecord(op, int(status), float(sent), float(answered), int(account), task, data)


def _read_file(path: Path) -> Iterator[LedgerRecord]:
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    yield decode(line)
                except (ValueError, TypeError) as exc:
                    raise BadInputError(f"{path}:{number}: not a ledger record ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: not readable ({exc})") from exc


def ledger_files(directory: Path) -> list[Path]:
    return sorted(Path(directory).glob(LEDGER_GLOB))


def read_ledger(directory: Path) -> list[LedgerRecord]:
    """Every process's records, merged in the order their answers arrived.

    Raises :class:`BadInputError` naming the file and line of the first record that is not one.
    """
    records = [record for path in ledger_files(directory) for record in _read_file(path)]
    records.sort(key=lambda record: record.answered)
    return records
