"""A phase's data integrity: the write audit's counts, from ``audit.json`` (written by the runner).

The audit (``harness.run.audit``) compared the database with the generator's write ledger before
the stack went down; this reads what it found: per kind (lost, resurrected, phantom, ambiguous,
defined in ``harness.run.reconcile``) and per write it is about (create, update, delete). A phase
without the file (run before the ledger existed, or stopped before its audit) has no integrity;
one whose audit was not possible says why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.analysis.load import read_json
from harness.core.layout import AUDIT
from harness.core.ledger import KINDS, OPS
from harness.errors import BadInputError

EXAMPLES = 5  # findings a phase shows, the lost first


@dataclass(frozen=True)
class Integrity:
    audited: bool
    reason: str = ""  # why not, when not audited
    acknowledged: dict[str, int] = field(default_factory=dict)  # per write: create, update, delete
    uncertain: dict[str, int] = field(default_factory=dict)  # no definite answer, per write
    totals: dict[str, int] = field(default_factory=dict)  # per kind
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # per kind, per write
    ledger_complete: bool = True
    ledger_missing: list[str] = field(default_factory=list)  # processes whose records are missing
    examples: list[str] = field(default_factory=list)  # "lost update <task>: what was found"

    @property
    def lost(self) -> int:
        return self.totals.get("lost", 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_integrity(phase_dir: Path) -> Integrity | None:
    """The phase's audit, or None when it has none; a corrupt file is bad input."""
    path = Path(phase_dir) / AUDIT
    if not path.is_file():
        return None
    return integrity_of(read_json(path), path)


def integrity_of(doc: dict[str, Any], path: Path) -> Integrity:
    """``audit.json`` (its layout: docs/architecture.md) as numbers; ``path`` names it in errors."""
    try:
        if not doc["audited"]:
            return Integrity(False, reason=str(doc.get("reason") or "no reason given"))
        counts: dict[str, dict[str, int]] = {k: _per_write(doc["counts"][k]) for k in KINDS}
        ledger = doc["ledger"]
        return Integrity(
            audited=True,
            acknowledged=_per_write(doc["acknowledged"]),
            uncertain=_per_write(doc["uncertain"]),
            totals={kind: sum(counts[kind].values()) for kind in KINDS},
            counts=counts,
            ledger_complete=bool(ledger["complete"]),
            ledger_missing=[str(m) for m in ledger.get("missing", [])],
            examples=_examples(doc.get("findings", [])),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadInputError(f"{path}: not an audit file ({exc!r})") from exc


def _per_write(counts: dict[str, Any]) -> dict[str, int]:
    return {op: int(counts.get(op, 0)) for op in OPS}


def _examples(findings: list[dict[str, Any]]) -> list[str]:
    order: dict[str, int] = {kind: i for i, kind in enumerate(KINDS)}
    ranked = sorted(findings, key=lambda f: order.get(str(f["kind"]), len(order)))
    return [f"{f['kind']} {f['write']} {f['task']}: {f['detail']}" for f in ranked[:EXAMPLES]]
