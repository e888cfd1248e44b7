"""Classifying ledger writes against what the database holds (no database: a snapshot)."""

from __future__ import annotations

from typing import Any

from harness.core.ledger import LedgerRecord, Op
from harness.run.reconcile import Snapshot, StoredTask, reconcile

A = "65f0c0ffee000000000000a1"
B = "65f0c0ffee000000000000b2"
SEEDED = "65f0c0ffee000000000000c3"


def write(
    op: Op, status: int, sent: float, answered: float, task: str | None, data: Any = None
) -> LedgerRecord:
    return LedgerRecord(op, status, sent, answered, 0, task, data)


def stored(task: str, status: str = "todo", title: str = "ephemeral a b") -> StoredTask:
    return StoredTask(task, 0, title, {"status": status})


def snapshot(*tasks: StoredTask, strangers: tuple[StoredTask, ...] = ()) -> Snapshot:
    return Snapshot({t.id: t for t in tasks}, list(strangers))


def kinds(records: list[LedgerRecord], snap: Snapshot) -> dict[str, str]:
    return {f.task: f.kind for f in reconcile(records, snap).findings}


def test_a_clean_ledger_reconciles_to_zeros() -> None:
    records = [
        write("create", 201, 1.0, 1.1, A, "ephemeral a b"),
        write("create", 201, 2.0, 2.1, B, "ephemeral c d"),
        write("update", 200, 3.0, 3.1, SEEDED, {"status": "done"}),
        write("delete", 204, 4.0, 4.1, B),
    ]

    result = reconcile(records, snapshot(stored(A), stored(SEEDED, "done")))

    assert result.findings == []
    assert result.totals() == {"lost": 0, "resurrected": 0, "phantom": 0, "ambiguous": 0}
    assert dict(result.acknowledged) == {"create": 2, "update": 1, "delete": 1}


def test_an_acknowledged_create_missing_from_the_database_is_lost() -> None:
    records = [write("create", 201, 1.0, 1.1, A, "ephemeral a b")]

    (finding,) = reconcile(records, snapshot()).findings

    assert (finding.kind, finding.write, finding.task) == ("lost", "create", A)
    assert "missing from the database" in finding.detail


def test_a_deleted_task_still_in_the_database_is_resurrected() -> None:
    records = [write("create", 201, 1.0, 1.1, A, "t"), write("delete", 204, 2.0, 2.1, A)]

    assert kinds(records, snapshot(stored(A))) == {A: "resurrected"}


def test_a_task_nobody_created_is_a_phantom() -> None:
    result = reconcile([], snapshot(strangers=(stored(B, title="Plan nothing"),)))

    (finding,) = result.findings
    assert (finding.kind, finding.task) == ("phantom", B)
    assert result.totals()["phantom"] == 1


def test_a_field_other_than_its_last_acknowledged_update_is_a_lost_update() -> None:
    records = [
        write("update", 200, 1.0, 1.1, SEEDED, {"status": "in-progress"}),
        write("update", 200, 2.0, 2.1, SEEDED, {"status": "done"}),
    ]

    (finding,) = reconcile(records, snapshot(stored(SEEDED, "in-progress"))).findings

    assert (finding.kind, finding.write) == ("lost", "update")
    assert "holds 'in-progress'" in finding.detail
    assert "sent 'done'" in finding.detail


def test_overlapping_updates_to_one_task_are_ambiguous_not_lost() -> None:
    # two users on one account: the second was sent before the first was answered
    records = [
        write("update", 200, 1.0, 1.5, SEEDED, {"status": "todo"}),
        write("update", 200, 1.2, 1.6, SEEDED, {"status": "done"}),
    ]

    assert kinds(records, snapshot(stored(SEEDED, "todo"))) == {SEEDED: "ambiguous"}


def test_an_update_answered_before_the_next_was_sent_does_not_excuse_a_lost_one() -> None:
    records = [
        write("update", 200, 1.0, 1.1, SEEDED, {"status": "todo"}),
        write("update", 200, 2.0, 2.1, SEEDED, {"status": "done"}),
    ]

    assert kinds(records, snapshot(stored(SEEDED, "todo"))) == {SEEDED: "lost"}


def test_an_unanswered_update_whose_value_landed_is_ambiguous() -> None:
    records = [
        write("update", 200, 1.0, 1.1, SEEDED, {"status": "todo"}),
        write("update", 0, 2.0, 12.0, SEEDED, {"status": "done"}),  # timed out
    ]

    assert kinds(records, snapshot(stored(SEEDED, "done"))) == {SEEDED: "ambiguous"}


def test_a_missing_task_with_an_unanswered_delete_after_its_create_is_ambiguous() -> None:
    records = [write("create", 201, 1.0, 1.1, A, "t"), write("delete", 503, 2.0, 2.1, A)]

    assert kinds(records, snapshot()) == {A: "ambiguous"}


def test_a_delete_answered_5xx_before_the_task_was_updated_explains_nothing() -> None:
    records = [
        write("delete", 503, 1.0, 1.1, SEEDED),
        write("update", 200, 2.0, 2.1, SEEDED, {"status": "done"}),
    ]

    assert kinds(records, snapshot()) == {SEEDED: "lost"}


def test_a_create_answered_5xx_explains_one_task_of_its_account_and_title() -> None:
    records = [write("create", 503, 1.0, 1.1, None, "ephemeral a b")]
    twins = (stored(A), stored(B))

    found = kinds(records, snapshot(strangers=twins))

    assert found == {A: "ambiguous", B: "phantom"}


def test_writes_without_an_acknowledgement_promise_nothing() -> None:
    records = [write("update", 0, 1.0, 11.0, SEEDED, {"status": "done"})]

    assert reconcile(records, snapshot()).findings == []
