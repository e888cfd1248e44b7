"""Admission control (reference_api/admission.py): the Little's-law rule on a fake clock, then a
real API whose database is frozen refusing the request past the floor at once, in the common
error shape, while its probes and metrics still answer, and admitting again once it drains."""

from __future__ import annotations

import os
import signal

import pytest

from harness.stack.processes import ManagedProcess
from reference_api.admission import Admission
from tests._wait import wait_until

from ._support import ApiFactory, counters, getter


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_below_the_floor_everything_is_admitted_even_with_nothing_completed() -> None:
    admission = Admission(0.5, min_in_flight=4, clock=Clock())
    assert [admission.admit() for _ in range(4)] == [True] * 4
    assert admission.admit() is False  # 4 in flight, none ever completed: they may never clear
    assert admission.in_flight == 4


def test_admits_up_to_rate_times_latency_and_refuses_past_it() -> None:
    clock = Clock()
    admission = Admission(0.5, min_in_flight=1, clock=clock)
    for _ in range(100):  # 100 completions within one second: 100 req/s
        assert admission.admit()
        admission.done()
    clock.now += 1.0  # the next second: the previous one's 100 count in full at its start
    assert admission.completion_rate() == pytest.approx(100.0)
    admitted = 0
    while admission.admit():
        admitted += 1
    assert admitted == 50  # 50 in flight at 100 req/s clear in 0.5 s; the 51st would wait longer
    assert admission.in_flight == 50
    admission.done()  # one finished: its completion counts, and the rate lets one more in
    assert admission.admit()


def test_the_rate_slides_and_an_idle_gap_forgets_it() -> None:
    clock = Clock(2000.0)
    admission = Admission(1.0, min_in_flight=1, clock=clock)
    for _ in range(10):
        admission.admit()
        admission.done()
    clock.now += 1.5  # half-way through the next second: half the previous second still counts
    assert admission.completion_rate() == pytest.approx(5.0)
    clock.now += 1.0  # two seconds on: nothing completed in the last second
    assert admission.completion_rate() == 0.0


def test_off_admits_everything() -> None:
    admission = Admission(0.0, min_in_flight=1, clock=Clock())
    assert all(admission.admit() for _ in range(1000))
    assert admission.in_flight == 1000


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="min_in_flight"):
        Admission(0.5, min_in_flight=0)


FLOOR = 3


def test_a_frozen_database_makes_the_api_refuse_at_once_and_admit_again_once_it_drains(
    own_database: tuple[ManagedProcess, str], api_factory: ApiFactory
) -> None:
    db, uri = own_database
    api = api_factory(
        MONGODB_URI=uri,
        REDIS_URL="",
        CACHE_ENABLED="false",
        MONGODB_TIMEOUT_MS="20000",  # the held requests outwait the test
        ADMISSION_MAX_LATENCY_MS="500",
        ADMISSION_MIN_IN_FLIGHT=str(FLOOR),
    )
    headers = api.auth()
    assert db.popen is not None
    answers: list[int | str] = []

    os.killpg(db.popen.pid, signal.SIGSTOP)
    workers = [getter(f"{api.base_url}/api/tasks", headers, answers) for _ in range(FLOOR)]
    try:
        for worker in workers:
            worker.start()
        wait_until(  # the held requests, and the scrape asking
            lambda: counters(api.client).get(("http_requests_in_flight", ()), 0) >= FLOOR + 1,
            timeout=10,
        )
        refused = api.client.get("/api/tasks", headers=headers)
        live = api.client.get("/health")
        preflight = api.client.options("/api/tasks")
        scraped = counters(api.client)
    finally:
        os.killpg(db.popen.pid, signal.SIGCONT)
        for worker in workers:
            worker.join(timeout=30)

    assert refused.status_code == 503
    error = refused.json()["error"]
    assert error["code"] == "overloaded"
    assert error["request_id"] == refused.headers["x-request-id"]
    assert refused.headers["retry-after"] == "1"
    assert live.status_code == 200  # probes are never refused
    assert preflight.status_code != 503  # nor CORS preflights (no CORS here: a plain 405)
    labels = (("method", "GET"), ("route", "refused: overloaded"), ("status", "503"))
    assert scraped[("http_requests_total", labels)] == 1
    assert answers == [200] * FLOOR  # the admitted ones finished once the database came back
    after = api.client.get("/api/tasks", headers=headers)
    assert after.status_code == 200  # drained below the floor: admitted again
