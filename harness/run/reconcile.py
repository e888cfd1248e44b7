"""The write ledger against the database: which acknowledged writes held (a pure function).

Definitions, per task, with the ledger's writes to it ordered by the time their answers arrived:

- **lost**: an acknowledged create (201) whose task is missing while its last acknowledged write
  is not a delete; or a task that holds, for a field, another value than its last acknowledged
  update (200) of that field set (a lost update). Seeded tasks count as created before the run.
- **resurrected**: a task whose last acknowledged write is a delete (204), still in the database.
- **phantom**: a task in the database, owned by a load user, neither seeded nor made by an
  acknowledged create.
- **ambiguous**: what would be one of those, but a write without a definite answer (no answer,
  a 5xx, a create whose answer named no task), or one in flight at the same time, explains it. A
  phantom is explained by an unconfirmed create of the same account and title (each explains one
  task); a missing task by a delete, a task still there by a create or an update, a field by an
  update that sent the value found.

When writes happened: a write took effect, if at all, between being sent and its answer; without
an answer, any time after it was sent (the server may still have been running it). So another
write X *may follow* the write W that decides the expected state when X had not settled before
W was sent (``X.settled_by > W.sent``): two simulated users sharing an account and racing on one
task, or a write retried or left unanswered. The conservative reading of such an overlap is
ambiguous, never lost. Times are the generator processes' clocks: on one machine they agree; Locust
workers on other machines must keep theirs in step (the analysis already assumes it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.core.ledger import KINDS, OPS, Kind, LedgerRecord, Op

_MISSING = object()


@dataclass(frozen=True)
class StoredTask:
    """A task as the database holds it: the fields the audit compares, by their stored names."""

    id: str
    account: int  # the load user's index
    title: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Snapshot:
    """What the audit read: the ledger's tasks that exist, and the load users' tasks that nobody
    (neither the seeder nor an acknowledged create) made."""

    tasks: dict[str, StoredTask]
    strangers: list[StoredTask]
    scanned: int = 0  # tasks read


@dataclass(frozen=True)
class Finding:
    kind: Kind
    write: Op  # the write it is about: a create (its task), an update, a delete
    task: str
    account: int
    detail: str


@dataclass
class Reconciliation:
    acknowledged: Counter[Op]
    uncertain: Counter[Op]  # noted without a definite answer
    findings: list[Finding]

    def counts(self) -> dict[Kind, dict[Op, int]]:
        counts: dict[Kind, dict[Op, int]] = {k: dict.fromkeys(OPS, 0) for k in KINDS}
        for f in self.findings:
            counts[f.kind][f.write] += 1
        return counts

    def totals(self) -> dict[Kind, int]:
        return {kind: sum(per_write.values()) for kind, per_write in self.counts().items()}


def wanted(records: Iterable[LedgerRecord]) -> tuple[set[str], set[str], set[str]]:
    """(tasks the ledger wrote to, tasks acknowledged as created, fields its updates set)."""
    touched: set[str] = set()
    created: set[str] = set()
    fields: set[str] = set()
    for r in records:
        if r.task is not None:
            touched.add(r.task)
        if r.op == "create" and r.acknowledged and r.task is not None:
            created.add(r.task)
        if r.op == "update":
            fields.update(r.data)
    return touched, created, fields


def reconcile(
    records: Sequence[LedgerRecord], snapshot: Snapshot, t0: float = 0.0
) -> Reconciliation:
    """Classify every write of ``records`` (ordered by answer) against ``snapshot``; times in the
    findings are seconds after ``t0``."""
    by_task: dict[str, list[LedgerRecord]] = defaultdict(list)
    for r in records:
        if r.task is not None:
            by_task[r.task].append(r)
    when = _clock(t0)
    findings = [
        finding
        for task, writes in by_task.items()
        if (finding := _task_finding(task, writes, snapshot.tasks.get(task), when)) is not None
    ]
    findings += _stranger_findings(records, snapshot.strangers, when)
    return Reconciliation(
        acknowledged=Counter(r.op for r in records if r.acknowledged),
        uncertain=Counter(r.op for r in records if not r.acknowledged),
        findings=findings,
    )


def _clock(t0: float) -> Callable[[LedgerRecord], str]:
    return lambda r: (
        f"{r.status} at +{r.answered - t0:.1f} s"
        if r.status
        else (f"no answer, sent at +{r.sent - t0:.1f} s")
    )


def _task_finding(
    task: str,
    writes: list[LedgerRecord],
    stored: StoredTask | None,
    when: Callable[[LedgerRecord], str],
) -> Finding | None:
    acknowledged = [r for r in writes if r.acknowledged]
    if not acknowledged:
        return None  # nothing was promised about it (a phantom, if it exists, is found as one)
    last = acknowledged[-1]
    account = last.account
    if last.op == "delete":
        if stored is None:
            return None
        other = _may_follow(writes, last, lambda r: r.op != "delete")
        kind: Kind = "ambiguous" if other else "resurrected"
        detail = f"deleted ({when(last)}), still in the database" + _because(other, when)
        return Finding(kind, "delete", task, account, detail)
    if stored is None:
        other = _may_follow(writes, last, lambda r: r.op == "delete")
        what = "created" if last.op == "create" else f"last acknowledged: an {last.op}"
        detail = f"{what} ({when(last)}), missing from the database" + _because(other, when)
        return Finding("ambiguous" if other else "lost", "create", task, account, detail)
    return _field_finding(task, writes, acknowledged, stored, when)


def _field_finding(
    task: str,
    writes: list[LedgerRecord],
    acknowledged: list[LedgerRecord],
    stored: StoredTask,
    when: Callable[[LedgerRecord], str],
) -> Finding | None:
    """The first field (by name) that differs from its last acknowledged update."""
    last_set: dict[str, LedgerRecord] = {}
    for r in acknowledged:
        if r.op == "update":
            last_set.update(dict.fromkeys(r.data, r))
    differs = [
        (name, update, stored.fields.get(name, _MISSING))
        for name, update in sorted(last_set.items())
        if not _same(update.data[name], stored.fields.get(name, _MISSING))
    ]
    if not differs:
        return None
    name, update, value = differs[0]
    other = _may_follow(writes, update, _sends(name, value))
    found = "nothing" if value is _MISSING else repr(_plain(value))
    detail = (
        f"{name}: the database holds {found}, the update acknowledged ({when(update)}) sent "
        f"{update.data[name]!r}" + _because(other, when)
    )
    return Finding("ambiguous" if other else "lost", "update", task, update.account, detail)


def _sends(name: str, value: Any) -> Callable[[LedgerRecord], bool]:
    """Whether a write is an update that sent ``value`` for ``name``."""
    return lambda r: r.op == "update" and _same(r.data.get(name, _MISSING), value)


def _stranger_findings(
    records: Sequence[LedgerRecord],
    strangers: Iterable[StoredTask],
    when: Callable[[LedgerRecord], str],
) -> list[Finding]:
    unconfirmed: dict[tuple[int, Any], list[LedgerRecord]] = defaultdict(list)
    for r in records:
        if r.op == "create" and not r.acknowledged:
            unconfirmed[(r.account, r.data)].append(r)
    findings = []
    for task in strangers:
        candidates = unconfirmed.get((task.account, task.title))
        other = candidates.pop(0) if candidates else None
        detail = f"{task.title!r} of account {task.account}, made by no acknowledged create"
        kind: Kind = "ambiguous" if other else "phantom"
        findings.append(
            Finding(kind, "create", task.id, task.account, detail + _because(other, when))
        )
    return findings


def _may_follow(
    writes: Iterable[LedgerRecord], write: LedgerRecord, could: Callable[[LedgerRecord], bool]
) -> LedgerRecord | None:
    """A write other than ``write`` that may have taken effect after it and that ``could``
    explain what the database holds."""
    return next(
        (r for r in writes if r is not write and r.settled_by > write.sent and could(r)), None
    )


def _because(other: LedgerRecord | None, when: Callable[[LedgerRecord], str]) -> str:
    return f"; a {other.op} ({when(other)}) may explain it" if other is not None else ""


def _same(sent: Any, stored: Any) -> bool:
    """A value as the API was sent it (JSON) against the value stored (BSON, read tz-aware)."""
    if isinstance(stored, datetime) and isinstance(sent, str):
        try:
            parsed = datetime.fromisoformat(sent)
        except ValueError:
            return False
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        return bool(abs(parsed - stored) < timedelta(milliseconds=1))  # BSON keeps milliseconds
    return sent is not _MISSING and bool(sent == stored)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
