"""After a phase, before its stack goes down: the database against the write ledger.

``capacity run`` calls :func:`audit_phase` once Locust has finished. It reads the ledger the load
generator wrote beside the exact samples (:mod:`harness.core.ledger`), reads the load users and
their tasks straight from the database (one pass over ``tasks``, only the fields the audit
compares), classifies every write (:mod:`harness.run.reconcile`: lost, resurrected, phantom,
ambiguous) and writes ``audit.json`` (docs/architecture.md). The database read has a time
budget. A database that cannot be reached (a fault killed it) or a ledger that cannot be read
gives an ``audit.json`` that says why the audit was not possible, never a failed run.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pymongo
from bson import ObjectId
from bson.errors import BSONError
from pymongo import MongoClient
from pymongo.errors import PyMongoError, ServerSelectionTimeoutError

from harness._files import write_json
from harness.core.layout import AUDIT, SAMPLES
from harness.core.ledger import KINDS, OPS, LedgerRecord, read_ledger
from harness.core.samples import META_FILE
from harness.core.workload import LOAD_EMAIL_PATTERN, load_user_index
from harness.errors import BadInputError
from harness.run.reconcile import Finding, Reconciliation, Snapshot, StoredTask, reconcile
from harness.run.reconcile import wanted as wanted_by

AUDIT_SCHEMA = 1
BUDGET_S = 120.0  # the whole database read; 50,000 tasks take a few seconds
CONNECT_S = 5.0  # to find the database at all: a dead one costs this, not the whole budget
PROGRESS_EVERY_S = 5.0
FINDINGS_KEPT = 20  # per kind, in audit.json; the counts are exact
SAID_LOST = 3  # lost writes named on the console
SCAN_BATCH = 5_000
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # a top-level field an update may name

Say = Callable[[str], None]


@dataclass(frozen=True)
class AuditOutcome:
    """The manifest's ``audit``: the counts, or why the audit was not possible."""

    audited: bool
    totals: dict[str, int] = field(default_factory=dict)
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        if not self.audited:
            return {"file": AUDIT, "audited": False, "reason": self.reason}
        return {"file": AUDIT, "audited": True, **self.totals}


def audit_phase(
    mongodb_uri: str,
    directory: Path,
    seeded: Collection[ObjectId],
    *,
    say: Say,
    name: str,
    budget_s: float = BUDGET_S,
) -> AuditOutcome:
    """Audit the phase in ``directory`` against the database; write ``audit.json``."""
    started = time.monotonic()
    samples = directory / SAMPLES
    try:
        records = read_ledger(samples)
    except BadInputError as exc:
        return _not_possible(directory, str(exc), started, say, name)
    ledger, run_start = _ledger_state(samples, len(records))
    say(f"{name}: auditing the database against {len(records):,} ledger record(s) …")
    try:
        snapshot = read_snapshot(
            mongodb_uri, records, seeded, budget_s=budget_s, progress=_progress(say, name)
        )
    except (PyMongoError, BSONError) as exc:
        return _not_possible(directory, _why(exc, budget_s), started, say, name)
    result = reconcile(records, snapshot, run_start)
    seconds = time.monotonic() - started
    write_json(directory / AUDIT, audit_document(result, snapshot, ledger, seconds))
    say(f"{name}: {audit_line(result, seconds)}")
    for finding in [f for f in result.findings if f.kind == "lost"][:SAID_LOST]:
        say(f"{name}: lost {finding.write} {finding.task}: {finding.detail}")
    if not ledger["complete"]:
        missing = "; ".join(ledger["missing"])
        say(
            f"{name}: the ledger is incomplete ({missing}): writes whose records did not "
            "arrive may show as lost or phantom"
        )
    return AuditOutcome(True, {kind: n for kind, n in result.totals().items()})


def read_snapshot(
    mongodb_uri: str,
    records: Sequence[LedgerRecord],
    seeded: Collection[ObjectId],
    *,
    budget_s: float = BUDGET_S,
    progress: Callable[[int], None] | None = None,
) -> Snapshot:
    """The ledger's tasks as stored, and the load users' tasks nobody made, in one pass over
    ``tasks`` within ``budget_s`` (a ``PyMongoError`` past it)."""
    touched, created, fields = wanted_by(records)
    compared = sorted(f for f in fields if _FIELD.fullmatch(f) and f not in ("_id", "user"))
    projection = dict.fromkeys(["user", "title", *compared], 1)
    tasks: dict[str, StoredTask] = {}
    strangers: list[StoredTask] = []
    scanned = 0
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongodb_uri, serverSelectionTimeoutMS=int(1000 * CONNECT_S), tz_aware=True
    )
    try:
        # Within a pymongo.timeout, server selection waits out all of it: look for the database
        # under a short one first.
        with pymongo.timeout(min(CONNECT_S, budget_s)):
            client.admin.command("ping")
        with pymongo.timeout(budget_s):
            db = client.get_default_database(default="primo")
            owners = _load_users(db["users"].find({"email": {"$regex": LOAD_EMAIL_PATTERN}}))
            for doc in db["tasks"].find({}, projection, batch_size=SCAN_BATCH):
                scanned += 1
                if progress is not None:
                    progress(scanned)
                task_id, account = str(doc["_id"]), owners.get(doc.get("user"))
                if task_id in touched:
                    tasks[task_id] = _stored(task_id, doc, account, compared)
                if account is not None and task_id not in created and doc["_id"] not in seeded:
                    strangers.append(_stored(task_id, doc, account, compared))
    finally:
        client.close()
    return Snapshot(tasks, strangers, scanned)


def _load_users(docs: Any) -> dict[Any, int]:
    return {
        doc["_id"]: index
        for doc in docs
        if (index := load_user_index(str(doc.get("email", "")))) is not None
    }


def _stored(
    task_id: str, doc: dict[str, Any], account: int | None, compared: Sequence[str]
) -> StoredTask:
    fields = {name: doc[name] for name in compared if name in doc}
    account = account if account is not None else -1  # not a load user's (the ledger's never is)
    return StoredTask(task_id, account, str(doc.get("title", "")), fields)


def audit_document(
    result: Reconciliation, snapshot: Snapshot, ledger: dict[str, Any], seconds: float
) -> dict[str, Any]:
    """``audit.json`` of an audit that ran (its layout: docs/architecture.md)."""
    kept = _kept(result.findings)
    return {
        "schema": AUDIT_SCHEMA,
        "audited": True,
        "seconds": round(seconds, 3),
        "ledger": ledger,
        "tasks_scanned": snapshot.scanned,
        "acknowledged": {op: result.acknowledged[op] for op in OPS},
        "uncertain": {op: result.uncertain[op] for op in OPS},
        "totals": result.totals(),
        "counts": result.counts(),
        "findings": [asdict(f) for f in kept],
        "findings_left_out": len(result.findings) - len(kept),
    }


def audit_line(result: Reconciliation, seconds: float) -> str:
    """``audit: 120 creates, 80 updates, 40 deletes acknowledged: 0 lost, ... (0.4 s)``."""
    acked = ", ".join(f"{result.acknowledged[op]:,} {op}s" for op in OPS)
    found = ", ".join(f"{n:,} {kind}" for kind, n in result.totals().items())
    return f"audit: {acked} acknowledged: {found} ({seconds:.1f} s)"


def _kept(findings: Sequence[Finding]) -> list[Finding]:
    return [f for kind in KINDS for f in [g for g in findings if g.kind == kind][:FINDINGS_KEPT]]


def _ledger_state(samples: Path, records: int) -> tuple[dict[str, Any], float]:
    """How complete the ledger is (every process's final batch arrived), from ``samples.json``,
    and the run's start, which the findings' times count from (0 when unknown)."""
    state: dict[str, Any] = {"records": records, "complete": False, "missing": []}
    try:
        meta = json.loads((samples / META_FILE).read_text())
        workers = [w for w in meta["workers"] if isinstance(w, dict)]
        run_start = float(meta.get("run_start") or 0.0)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        state["missing"] = [f"{META_FILE} unreadable or missing: the load generator did not finish"]
        return state, 0.0
    state["missing"] = [
        f"{w.get('name', 'a generator')} sent no final batch"
        for w in workers
        if not w.get("ledger_complete")
    ]
    state["complete"] = not state["missing"]
    return state, run_start


def _not_possible(
    directory: Path, reason: str, started: float, say: Say, name: str
) -> AuditOutcome:
    seconds = round(time.monotonic() - started, 3)
    doc = {"schema": AUDIT_SCHEMA, "audited": False, "reason": reason, "seconds": seconds}
    write_json(directory / AUDIT, doc)
    say(f"{name}: audit not possible: {reason}")
    return AuditOutcome(False, reason=reason)


def _why(exc: PyMongoError | BSONError, budget_s: float) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    first = first.split(" (configured timeouts", 1)[0][
        :200
    ]  # PyMongo's settings, then its topology
    if isinstance(exc, ServerSelectionTimeoutError):
        return f"the database could not be reached ({first})"
    if isinstance(exc, PyMongoError) and exc.timeout:
        return f"the database did not answer the audit's reads within {budget_s:g} s"
    return f"the database could not be read ({first})"


def _progress(say: Say, name: str) -> Callable[[int], None]:
    """Says how far the scan is, every ``PROGRESS_EVERY_S``."""
    next_at = [time.monotonic() + PROGRESS_EVERY_S]

    def tick(scanned: int) -> None:
        if time.monotonic() >= next_at[0]:
            next_at[0] += PROGRESS_EVERY_S
            say(f"{name}: audit: {scanned:,} tasks read …")

    return tick


def not_audited(directory: Path, reason: str, say: Say, name: str) -> AuditOutcome:
    """Write an ``audit.json`` that says why this phase's database could not be audited."""
    return _not_possible(directory, reason, time.monotonic(), say, name)
