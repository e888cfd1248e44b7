"""The generator's side of the write ledger (its format: ``harness.core.ledger``); no locust.

A simulated user sends each request inside :func:`attempt`: for a write to ``/api/tasks`` it
notes what was sent and when, the user passes on the answer, and on the way out the write is
added to the process's :class:`Ledger` — acknowledged, answered 5xx, or (the request failed, or
was stopped with the run before its answer) with no answer at all. The ledger is drained into
the samples batches (``_recorder``), so its memory is bounded by one flush interval; the
collector's :class:`LedgerWriter` appends each generator process's records to a file of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from harness.core.ledger import LedgerRecord, Op, decode, encode, is_task_id, ledger_file, noted

TASKS = "/api/tasks"


REFUSED_STATUS = 503
REFUSED_CODE = "overloaded"  # reference_api/admission.py: refused before the app saw it


def api_error(body: Callable[[], Any]) -> dict[str, Any] | None:
    """The API's common error (``{"error": {"code", "message", ...}}``) from ``body()``, which
    parses the answer; None when the answer is not one."""
    try:
        parsed = body()
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return error if isinstance(error, dict) else None


def refused(body: Callable[[], Any]) -> bool:
    """Whether a 503's body says the API's admission control refused the request: a write
    refused so was never applied, unlike a 503 from the database's deadline, whose write may or
    may not have landed."""
    error = api_error(body)
    return error is not None and error.get("code") == REFUSED_CODE


class Attempt:
    """One write on its way: what was sent, and its answer once it arrives."""

    def __init__(self, op: Op, account: int, task: str | None, data: Any) -> None:
        self.op: Op = op
        self.account = account
        self.task = task
        self.data = data
        self.sent = time.time()
        self.answered: float | None = None
        self.status = 0
        self.refused = False  # the API's admission control refused it: never applied

    def answer(self, status: int, body: Callable[[], Any]) -> None:
        """The answer arrived: ``status`` (0 none), and ``body()`` parses it (read for a create's
        id only)."""
        self.answered = time.time()
        self.status = int(status or 0)
        if self.status == REFUSED_STATUS:
            self.refused = refused(body)
        if self.op == "create" and self.status == 201:
            try:
                parsed = body()
            except ValueError:
                return  # a 201 without a readable id: the ledger cannot tell which task it made
            task = parsed.get("id") if isinstance(parsed, dict) else None
            self.task = task if isinstance(task, str) and is_task_id(task) else None

    def record(self) -> LedgerRecord:
        answered = self.answered if self.answered is not None else time.time()
        return LedgerRecord(
            self.op, self.status, self.sent, answered, self.account, self.task, self.data
        )


def write_of(method: str, path: str, payload: Any, account: int) -> Attempt | None:
    """The ledger's view of a request: a create, an update or a delete of a task, or None."""
    method = method.upper()
    if method == "POST" and path == TASKS:
        title = payload.get("title") if isinstance(payload, dict) else None
        return Attempt("create", account, None, title)
    task = path[len(TASKS) + 1 :] if path.startswith(f"{TASKS}/") else ""
    if not is_task_id(task):
        return None
    if method == "PATCH" and isinstance(payload, dict):
        return Attempt("update", account, task, dict(payload))
    if method == "DELETE":
        return Attempt("delete", account, task, None)
    return None


class Ledger:
    """One generator process's noted writes, buffered between flushes."""

    def __init__(self) -> None:
        self._records: list[LedgerRecord] = []
        self.total = 0  # records drained so far

    def add(self, attempt: Attempt) -> None:
        if noted(attempt.op, attempt.status, refused=attempt.refused):
            self._records.append(attempt.record())

    def __len__(self) -> int:
        return len(self._records)

    def drain(self) -> bytes:
        """The buffered records as ledger lines; the buffer starts again empty."""
        records, self._records = self._records, []
        self.total += len(records)
        return encode(records)

    def requeue(self, payload: bytes) -> None:
        """Put back drained records that could not be sent (they go out with the next batch)."""
        records = [decode(line) for line in payload.decode().splitlines() if line]
        self._records[:0] = records
        self.total -= len(records)


@contextmanager
def attempt(
    ledger: Ledger | None, method: str, path: str, payload: Any, account: int
) -> Iterator[Attempt | None]:
    """Around one request: an :class:`Attempt` to pass the answer to, when the request is a write
    and the process keeps a ledger (else None). The write is noted however the block ends: a
    request stopped before its answer (the run ended) is a write without one."""
    write = write_of(method, path, payload, account) if ledger is not None else None
    try:
        yield write
    finally:
        if ledger is not None and write is not None:
            ledger.add(write)


class LedgerWriter:
    """Appends each generator process's ledger lines to ``ledger-<worker>.jsonl``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._files: dict[int, IO[bytes]] = {}

    def write(self, worker: int, payload: bytes) -> int:
        """Append ``payload`` (lines of :func:`~harness.core.ledger.encode`); how many records."""
        if not payload:
            return 0
        fh = self._files.get(worker)
        if fh is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fh = self._files[worker] = (self.directory / ledger_file(worker)).open("ab")
        fh.write(payload)
        return payload.count(b"\n")

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
