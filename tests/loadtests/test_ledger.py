from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _ledger import Attempt, Ledger, attempt, write_of
from _recorder import Collector, Recorder

from harness.core.ledger import LedgerRecord, decode, read_ledger

TASK = "65f0c0ffee00000000000001"
OTHER = "65f0c0ffee00000000000002"


def answered(write: Attempt | None, status: int, body: Any = None, at: float | None = None) -> None:
    assert write is not None
    write.answer(status, lambda: body)
    if at is not None:
        write.sent, write.answered = at - 0.01, at


def test_an_acknowledged_create_is_noted_with_the_id_its_answer_gave() -> None:
    ledger = Ledger()

    with attempt(ledger, "POST", "/api/tasks", {"title": "ephemeral a b"}, 7) as write:
        answered(write, 201, {"id": TASK, "title": "ephemeral a b"})

    (record,) = read_back(ledger)
    assert (record.op, record.status, record.account, record.task) == ("create", 201, 7, TASK)
    assert record.data == "ephemeral a b"
    assert record.acknowledged
    assert record.sent <= record.answered


def test_updates_keep_the_fields_sent_and_deletes_the_task_from_the_path() -> None:
    ledger = Ledger()

    with attempt(ledger, "PATCH", f"/api/tasks/{TASK}", {"status": "done"}, 1) as write:
        answered(write, 200, {"id": TASK})
    with attempt(ledger, "DELETE", f"/api/tasks/{OTHER}", None, 1) as write:
        answered(write, 204)

    update, delete = read_back(ledger)
    assert (update.op, update.task, update.data) == ("update", TASK, {"status": "done"})
    assert (delete.op, delete.task, delete.data) == ("delete", OTHER, None)


@pytest.mark.parametrize("status", [400, 401, 404, 422, 429])
def test_a_write_the_service_refused_is_not_noted(status: int) -> None:
    ledger = Ledger()

    with attempt(ledger, "PATCH", f"/api/tasks/{TASK}", {"status": "done"}, 1) as write:
        answered(write, status)

    assert len(ledger) == 0


@pytest.mark.parametrize("op", ["create", "update", "delete"])
def test_a_write_the_api_refused_as_overloaded_is_not_noted(op: str) -> None:
    # refused by admission control before the app saw it: a definite "not applied", like a 4xx
    ledger = Ledger()
    method, path, payload = {
        "create": ("POST", "/api/tasks", {"title": "ephemeral r s"}),
        "update": ("PATCH", f"/api/tasks/{TASK}", {"status": "done"}),
        "delete": ("DELETE", f"/api/tasks/{TASK}", None),
    }[op]

    with attempt(ledger, method, path, payload, 1) as write:
        answered(write, 503, {"error": {"code": "overloaded", "message": "…"}})
    with attempt(ledger, method, path, payload, 1) as write:  # a 503 of another cause
        answered(write, 503, {"error": {"code": "database_unavailable"}})
    with attempt(ledger, method, path, payload, 1) as write:  # unreadable: may have landed
        write_ = write
        assert write_ is not None
        write_.answer(503, lambda: json.loads("<html>"))

    assert [record.status for record in read_back(ledger)] == [503, 503]


def test_a_create_answered_5xx_is_noted_with_its_title_and_no_id() -> None:
    ledger = Ledger()

    with attempt(ledger, "POST", "/api/tasks", {"title": "ephemeral x y"}, 3) as write:
        answered(write, 503, {"error": {"code": "database_unavailable"}})

    (record,) = read_back(ledger)
    assert (record.status, record.task, record.data) == (503, None, "ephemeral x y")
    assert not record.acknowledged


def test_a_request_stopped_before_its_answer_is_noted_without_one() -> None:
    ledger = Ledger()

    with (
        pytest.raises(KeyboardInterrupt),
        attempt(ledger, "DELETE", f"/api/tasks/{TASK}", None, 2),
    ):
        raise KeyboardInterrupt  # as gevent's GreenletExit stops a user mid-request

    (record,) = read_back(ledger)
    assert (record.op, record.status, record.task) == ("delete", 0, TASK)
    assert record.settled_by == float("inf")


def test_reads_and_logins_are_not_writes() -> None:
    assert write_of("GET", f"/api/tasks/{TASK}", None, 1) is None
    assert write_of("POST", "/api/auth/login", {"email": "x"}, 1) is None
    assert write_of("GET", "/api/tasks?limit=10", None, 1) is None
    assert write_of("PATCH", "/api/tasks/not-an-id", {"status": "done"}, 1) is None


def test_without_a_ledger_nothing_is_noted_and_the_request_still_runs() -> None:
    with attempt(None, "POST", "/api/tasks", {"title": "t"}, 1) as write:
        assert write is None


def test_a_batch_that_could_not_be_sent_gives_its_ledger_records_back() -> None:
    recorder = Recorder(worker=1)
    with attempt(recorder.ledger, "DELETE", f"/api/tasks/{TASK}", None, 1) as write:
        answered(write, 204)

    unsent = recorder.batch()
    recorder.requeue(unsent)
    again = recorder.batch()

    assert unsent["ledger"] == again["ledger"]
    assert again["ledger_total"] == 1


def test_two_workers_ledgers_land_in_a_file_each_and_merge_in_the_order_answers_came(
    tmp_path: Path,
) -> None:
    one, two = Recorder(worker=0), Recorder(worker=1)
    for recorder, at, task in ((one, 10.0, TASK), (two, 11.0, TASK), (one, 12.0, OTHER)):
        with attempt(recorder.ledger, "PATCH", f"/api/tasks/{task}", {"status": "todo"}, 0) as w:
            answered(w, 200, at=at)
    with attempt(two.ledger, "DELETE", f"/api/tasks/{OTHER}", None, 0) as write:
        answered(write, 204, at=13.0)
    collector = Collector(tmp_path)

    collector.add_batch(one.batch(final=True))
    collector.add_batch(two.batch())
    assert not collector.complete()
    collector.add_batch(two.batch(final=True))
    assert collector.complete()
    collector.close()

    records = read_ledger(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("ledger-*")) == ["ledger-0.jsonl", "ledger-1.jsonl"]
    assert [r.answered for r in records] == [10.0, 11.0, 12.0, 13.0]
    assert [r.op for r in records] == ["update", "update", "update", "delete"]
    workers = json.loads((tmp_path / "samples.json").read_text())["workers"]
    assert [(w["ledger"], w["ledger_complete"]) for w in workers] == [(2, True), (2, True)]


def test_a_worker_whose_final_batch_is_missing_leaves_its_ledger_incomplete(
    tmp_path: Path,
) -> None:
    worker = Recorder(worker=0)
    with attempt(worker.ledger, "DELETE", f"/api/tasks/{TASK}", None, 0) as write:
        answered(write, 204)
    worker.batch()  # never delivered
    collector = Collector(tmp_path)

    collector.add_batch(worker.batch(final=True))
    collector.close()

    assert not collector.complete({0})
    (meta,) = json.loads((tmp_path / "samples.json").read_text())["workers"]
    assert (meta["ledger"], meta["ledger_complete"]) == (0, False)


def read_back(ledger: Ledger) -> list[LedgerRecord]:
    return [decode(line) for line in ledger.drain().decode().splitlines()]
