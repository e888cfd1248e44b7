"""The data-integrity section: per phase, the writes acknowledged and what the audit of the database
against the write ledger found (``harness.analysis.integrity``)."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.integrity import Integrity
from harness.analysis.summary import PhaseSummary
from harness.core.ledger import KINDS, OPS
from harness.report.tables import Table

INTEGRITY_HEADERS = ["write", "acknowledged", "no definite answer", *KINDS]
_WRITES = {"create": "creates (POST)", "update": "updates (PATCH)", "delete": "deletes (DELETE)"}
HOW_TO_READ = (
    "After each phase, before its stack went down, the database was read and compared with the "
    "load generator's ledger of writes (audit.json in the phase directory). Lost: an "
    "acknowledged create missing with no acknowledged delete after it, or a field that is not "
    "what its last acknowledged update sent. Resurrected: an acknowledged delete whose task is "
    "still there. Phantom: a load user's task that neither the seeder nor an acknowledged create "
    "made. Ambiguous: one of those that a write without a definite answer (none, or a 5xx), or "
    "one in flight at the same time, explains; reported apart, never as lost. The gate requires "
    "0 lost."
)


def integrity_table(s: PhaseSummary, integrity: Integrity) -> Table:
    rows = [_row(_WRITES[op], integrity, [op]) for op in OPS]
    rows.append(_row("all", integrity, list(OPS)))
    return Table(INTEGRITY_HEADERS, rows, caption=s.key)


def _row(label: str, integrity: Integrity, ops: Sequence[str]) -> list[str]:
    def total(per_write: dict[str, int]) -> str:
        return f"{sum(per_write.get(op, 0) for op in ops):,}"

    return [
        label,
        total(integrity.acknowledged),
        total(integrity.uncertain),
        *(total(integrity.counts.get(kind, {})) for kind in KINDS),
    ]


def integrity_notes(s: PhaseSummary, integrity: Integrity) -> list[str]:
    """What the table cannot say: why a phase was not audited, a ledger with records missing,
    and the first findings."""
    if not integrity.audited:
        return [f"{s.key}: not audited: {integrity.reason}."]
    notes = []
    if not integrity.ledger_complete:
        notes.append(
            f"{s.key}: the ledger is incomplete ({'; '.join(integrity.ledger_missing)}): writes "
            "whose records did not arrive may show as lost or phantom."
        )
    notes += [f"{s.key}: {example}" for example in integrity.examples]
    return notes
