from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.core.ledger import LedgerRecord, encode, ledger_file, noted, read_ledger
from harness.errors import BadInputError

TASK = "65f0c0ffee00000000000001"


def test_a_record_reads_back_as_it_was_written(tmp_path: Path) -> None:
    record = LedgerRecord("update", 200, 1.5, 1.75, 12, TASK, {"status": "done", "tags": ["a"]})
    (tmp_path / ledger_file(0)).write_bytes(encode([record]))

    assert read_ledger(tmp_path) == [record]


def test_every_processs_records_merge_by_the_time_their_answers_came(tmp_path: Path) -> None:
    def at(answered: float) -> LedgerRecord:
        return LedgerRecord("delete", 204, answered - 1, answered, 0, TASK, None)

    (tmp_path / ledger_file(0)).write_bytes(encode([at(1.0), at(4.0)]))
    (tmp_path / ledger_file(3)).write_bytes(encode([at(2.0), at(3.0)]))

    assert [r.answered for r in read_ledger(tmp_path)] == [1.0, 2.0, 3.0, 4.0]


def test_a_directory_without_a_ledger_has_no_records(tmp_path: Path) -> None:
    assert read_ledger(tmp_path) == []


@pytest.mark.parametrize(
    "line",
    [
        '{"op": "create"}',
        '["create",201,1.0,1.1,0]',
        '["rename",200,1.0,1.1,0,"65f0c0ffee00000000000001",null]',
        '["update",200,1.0,1.1,0,"not-an-object-id",{"status":"done"}]',
        '["update",200,1.0,1.1,0,"65f0c0ffee00000000000001","done"]',
        '["delete",204,1.0,1.1,0,"65f0c0ffee0000000000',
    ],
)
def test_a_line_that_is_not_a_record_is_named_by_file_and_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / ledger_file(2)
    good = LedgerRecord("delete", 204, 1.0, 1.1, 0, TASK, None)
    path.write_text(encode([good]).decode() + line + "\n")

    with pytest.raises(BadInputError, match=rf"^{path}:2: not a ledger record"):
        read_ledger(tmp_path)


def test_the_ledger_keeps_acknowledged_and_unanswered_writes_only() -> None:
    kept = [("create", 201), ("update", 200), ("delete", 204), ("create", 0), ("update", 503)]
    dropped = [("update", 404), ("create", 200), ("delete", 429)]

    assert all(noted(op, status) for op, status in kept)
    assert not any(noted(op, status) for op, status in dropped)


def test_a_write_without_an_answer_never_settles() -> None:
    unanswered = LedgerRecord("update", 0, 1.0, 11.0, 0, TASK, {"status": "done"})
    answered = unanswered._replace(status=503)

    assert math.isinf(unanswered.settled_by)
    assert answered.settled_by == 11.0
    assert not unanswered.acknowledged
    assert not answered.acknowledged
