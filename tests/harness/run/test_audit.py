"""The audit against a real MongoDB-wire server: planted lost, resurrected and phantom writes."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient
from pymongo.database import Database

from harness.core.layout import AUDIT, SAMPLES
from harness.core.ledger import LedgerRecord, Op, encode, ledger_file
from harness.core.workload import load_user_email
from harness.run.audit import audit_phase
from harness.run.seed import SeedResult, seed

pytestmark = pytest.mark.slow

RUN_START = 1_800_000_000.0


class Planted:
    """A seeded database, a phase directory, and a ledger to write into it."""

    def __init__(self, uri: str, directory: Path, seeded: SeedResult, db: Database[Any]) -> None:
        self.uri, self.directory, self.seeded, self.db = uri, directory, seeded, db
        self.records: list[LedgerRecord] = []
        by_email = {u["email"]: u["_id"] for u in db.users.find()}
        self.owners = [by_email[load_user_email(i)] for i in range(3)]

    def task(self, account: int, title: str = "ephemeral plan notes") -> str:
        """A task the API made for ``account``, as it stores it."""
        now = datetime.now(UTC)
        doc = {
            "_id": ObjectId(), "user": self.owners[account], "title": title, "description": "",
            "status": "todo", "priority": "low", "dueDate": None, "tags": [],
            "createdAt": now, "updatedAt": now,
        }  # fmt: skip
        self.db.tasks.insert_one(doc)
        return str(doc["_id"])

    def note(
        self, op: Op, status: int, task: str | None, data: Any = None, account: int = 0
    ) -> None:
        at = RUN_START + len(self.records)
        self.records.append(LedgerRecord(op, status, at, at + 0.1, account, task, data))

    def audit(self, **kwargs: Any) -> dict[str, Any]:
        samples = self.directory / SAMPLES
        samples.mkdir(parents=True, exist_ok=True)
        (samples / ledger_file(0)).write_bytes(encode(self.records))
        meta = {"run_start": RUN_START, "workers": [{"name": "generator", "ledger_complete": True}]}
        (samples / "samples.json").write_text(json.dumps(meta))
        lines: list[str] = []
        outcome = audit_phase(
            self.uri, self.directory, self.seeded.task_ids, say=lines.append, name="p", **kwargs
        )
        doc: dict[str, Any] = json.loads((self.directory / AUDIT).read_text())
        assert outcome.audited == doc["audited"]
        doc["said"] = lines
        return doc


@pytest.fixture
def planted(fresh_mongodb_uri: Callable[[], str], tmp_path: Path) -> Iterator[Planted]:
    uri = fresh_mongodb_uri()
    seeded = seed(uri, 3, 2, bcrypt_rounds=4)
    client: MongoClient[dict[str, Any]] = MongoClient(uri, tz_aware=True)
    try:
        yield Planted(uri, tmp_path / "r1-cache-on", seeded, client.get_default_database())
    finally:
        client.drop_database(client.get_default_database())
        client.close()


def found(doc: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {f["task"]: (f["kind"], f["write"]) for f in doc["findings"]}


def test_a_clean_ledger_audits_to_zeros(planted: Planted) -> None:
    kept, gone = planted.task(0), planted.task(1)
    first_seeded, second_seeded = sorted(str(t) for t in planted.seeded.task_ids)[:2]
    planted.db.tasks.update_one({"_id": ObjectId(first_seeded)}, {"$set": {"status": "done"}})
    planted.db.tasks.delete_one({"_id": ObjectId(gone)})
    planted.note("create", 201, kept, "ephemeral plan notes")
    planted.note("create", 201, gone, "ephemeral plan notes", account=1)
    planted.note("update", 200, first_seeded, {"status": "done"})
    planted.note("delete", 204, gone, account=1)
    planted.note("delete", 204, second_seeded)
    planted.db.tasks.delete_one({"_id": ObjectId(second_seeded)})

    doc = planted.audit()

    assert doc["totals"] == {"lost": 0, "resurrected": 0, "phantom": 0, "ambiguous": 0}
    assert doc["acknowledged"] == {"create": 2, "update": 1, "delete": 2}
    assert doc["tasks_scanned"] == 6 - 1 + 1  # seeded, less the one deleted, plus the kept create
    assert doc["ledger"]["complete"] is True
    assert any("0 lost" in line for line in doc["said"])


def test_planted_lost_resurrected_phantom_and_ambiguous_writes_are_each_found(
    planted: Planted,
) -> None:
    lost = str(ObjectId())  # acknowledged, never stored
    resurrected = planted.task(0)
    phantom = planted.task(1, "ephemeral nobody asked")
    landed = planted.task(2, "ephemeral answered 503")
    updated = sorted(str(t) for t in planted.seeded.task_ids)[0]
    planted.db.tasks.update_one({"_id": ObjectId(updated)}, {"$set": {"status": "todo"}})
    planted.note("create", 201, lost, "ephemeral plan notes")
    planted.note("create", 201, resurrected, "ephemeral plan notes")
    planted.note("delete", 204, resurrected)
    planted.note("update", 200, updated, {"status": "done"})  # the database says todo
    planted.note("create", 503, None, "ephemeral answered 503", account=2)

    doc = planted.audit()

    assert found(doc) == {
        lost: ("lost", "create"),
        resurrected: ("resurrected", "delete"),
        phantom: ("phantom", "create"),
        updated: ("lost", "update"),
        landed: ("ambiguous", "create"),
    }
    assert doc["totals"] == {"lost": 2, "resurrected": 1, "phantom": 1, "ambiguous": 1}
    assert doc["counts"]["lost"] == {"create": 1, "update": 1, "delete": 0}
    assert doc["uncertain"]["create"] == 1
    assert any(line.startswith(f"p: lost update {updated}: status:") for line in doc["said"])


def test_an_unreachable_database_leaves_an_audit_that_says_why(planted: Planted) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    planted.uri = f"mongodb://127.0.0.1:{port}/primo"
    planted.note("create", 201, str(ObjectId()), "t")

    doc = planted.audit(budget_s=1.0)

    assert doc["audited"] is False
    assert doc["reason"].startswith("the database could not be reached (127.0.0.1:")
    assert doc["said"] == [
        "p: auditing the database against 1 ledger record(s) …",
        f"p: audit not possible: {doc['reason']}",
    ]


def test_a_corrupt_ledger_file_is_named_and_not_audited(planted: Planted) -> None:
    samples = planted.directory / SAMPLES
    samples.mkdir(parents=True)
    (samples / ledger_file(1)).write_text('["create",201,1.0,1.1,0,null,"t"]\n{"oops"\n')
    lines: list[str] = []

    outcome = audit_phase(planted.uri, planted.directory, (), say=lines.append, name="p")

    assert not outcome.audited
    assert outcome.reason.startswith(f"{samples / ledger_file(1)}:2: not a ledger record")
    assert json.loads((planted.directory / AUDIT).read_text())["reason"] == outcome.reason
