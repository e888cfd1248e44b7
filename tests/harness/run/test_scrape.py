"""Per-endpoint costs: the API's /metrics parsed, their change over the steady windows, and the
scrapes at the windows' edges (directly, or through a shared socket until every replica answered).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.run.scrape import (
    COSTS_FILE,
    Answer,
    CostScraper,
    RouteCounters,
    Targets,
    difference,
    parse_metrics,
)
from harness.stack.config import ComponentStatus

TASK = ("GET", "/api/tasks/{task_id}")
CREATE = ("POST", "/api/tasks")


def exposition(
    requests: int, cpu: float, db: int, redis: int, hits: int, misses: int, creates: int = 0
) -> str:
    """A /metrics text as the API writes it: GET one task (two statuses), and POST a task."""
    get = 'method="GET",route="/api/tasks/{task_id}"'
    post = 'method="POST",route="/api/tasks"'
    return f"""# HELP http_requests_total HTTP requests by route template and status
# TYPE http_requests_total counter
http_requests_total{{{get},status="200"}} {requests - 1}.0
http_requests_total{{{get},status="404"}} 1.0
http_requests_total{{{post},status="201"}} {creates}.0
# HELP app_cpu_seconds_total CPU of the requests' own tasks
# TYPE app_cpu_seconds_total counter
app_cpu_seconds_total{{{get}}} {cpu}
app_cpu_seconds_total{{{post}}} {creates * 0.002}
# HELP db_roundtrips_total MongoDB commands sent on behalf of requests
# TYPE db_roundtrips_total counter
db_roundtrips_total{{{get}}} {db}.0
db_roundtrips_total{{{post}}} {creates}.0
# HELP redis_roundtrips_total Redis commands sent on behalf of requests
# TYPE redis_roundtrips_total counter
redis_roundtrips_total{{{get}}} {redis}.0
redis_roundtrips_total{{{post}}} {2 * creates}.0
# HELP cache_lookups_total Cache look-ups of requests
# TYPE cache_lookups_total counter
cache_lookups_total{{{get},result="hit"}} {hits}.0
cache_lookups_total{{{get},result="miss"}} {misses}.0
# HELP cache_requests_total Cache look-ups by result
# TYPE cache_requests_total counter
cache_requests_total{{result="hit"}} {hits}.0
"""


def test_the_parser_sums_requests_over_status_and_keeps_cache_answers_per_route() -> None:
    counters = parse_metrics(exposition(10, 0.004, 3, 21, 7, 3, creates=2))

    assert counters[TASK] == RouteCounters(
        requests=10,
        app_cpu_s=0.004,
        db_roundtrips=3,
        redis_roundtrips=21,
        cache_hit=7,
        cache_miss=3,
    )
    assert counters[CREATE] == RouteCounters(
        requests=2, app_cpu_s=0.004, db_roundtrips=2, redis_roundtrips=4
    )
    assert set(counters) == {TASK, CREATE}  # cache_requests_total has no route: not a cost


def test_the_change_between_two_scrapes_is_per_route() -> None:
    before = parse_metrics(exposition(10, 0.004, 3, 21, 7, 3))
    after = parse_metrics(exposition(110, 0.054, 13, 231, 97, 13, creates=5))

    change = difference(before, after)

    assert change is not None
    assert change[TASK].requests == 100
    assert change[TASK].app_cpu_s == pytest.approx(0.05)
    assert (change[TASK].db_roundtrips, change[TASK].redis_roundtrips) == (10, 210)
    assert (change[TASK].cache_hit, change[TASK].cache_miss) == (90, 10)
    assert change[CREATE].requests == 5  # a route first seen later counts from zero


def test_counters_that_went_down_mean_the_replica_restarted_and_give_no_change() -> None:
    before = parse_metrics(exposition(110, 0.054, 13, 231, 97, 13))
    after = parse_metrics(exposition(5, 0.001, 1, 11, 4, 1))

    assert difference(before, after) is None


# --- the scrapes at the windows' edges ----------------------------------------------------------
class FakeReplicas:
    """Replicas whose counters grow by 100 GETs per second of the phase clock."""

    def __init__(self, names: list[str], restarts: str = "") -> None:
        self.names = names
        self.t = 0.0
        self.restarts = restarts  # this replica starts over at t = 20
        self.down: set[str] = set()
        self._turn: Iterator[str] = itertools.cycle(names)

    def text(self, name: str) -> str:
        n = int(self.t * 100) if not (name == self.restarts and self.t >= 20) else 3
        return exposition(n + 1, n * 0.0005, n // 10, 2 * n, n - n // 10, n // 10)

    def fetch(self, url: str) -> Answer | None:
        name = url.split("//")[1].split("/")[0] if "shared" not in url else next(self._turn)
        return None if name in self.down else Answer(name, self.text(name))


def direct(names: list[str]) -> Targets:
    return Targets({name: f"http://{name}/metrics" for name in names})


def task_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return next(row for row in rows if (row["method"], row["route"]) == TASK)


def run(scraper: CostScraper, fake: FakeReplicas, times: list[float]) -> None:
    for t in times:
        fake.t = t
        scraper.poll(t)


def test_scrapes_happen_at_each_window_edge_and_the_file_holds_the_change_over_the_windows(
    tmp_path: Path,
) -> None:
    fake = FakeReplicas(["api-1", "api-2"])
    scraper = CostScraper(direct(fake.names), [(10.0, 30.0)], fetch=fake.fetch)

    run(scraper, fake, [0.0, 5.0, 10.0, 20.0])
    assert scraper.next_due_s(20.0) == 10.0
    run(scraper, fake, [30.0])
    written = scraper.write(tmp_path)

    doc = json.loads((tmp_path / COSTS_FILE).read_text())
    assert written
    assert (doc["source"], doc["complete"], doc["missing"]) == ("direct", True, [])
    assert [(w["start_s"], w["end_s"]) for w in doc["windows"]] == [(10.0, 30.0)]
    per_replica = {r: {x["route"]: x for x in rows} for r, rows in doc["replicas"].items()}
    assert per_replica["api-1"]["/api/tasks/{task_id}"]["requests"] == 2000
    total = task_row(doc["total"])
    assert total["requests"] == 4000
    assert total["cache_hit"] == 3600
    assert total["app_cpu_s"] == pytest.approx(2.0)
    assert scraper.next_due_s(30.0) is None


def test_several_windows_add_up_and_a_shared_edge_is_scraped_once() -> None:
    fake = FakeReplicas(["api-1"])
    calls: list[str] = []

    def counting(url: str) -> Answer | None:
        calls.append(url)
        return fake.fetch(url)

    scraper = CostScraper(direct(fake.names), [(10, 20), (20, 30), (40, 50)], fetch=counting)
    run(scraper, fake, [10, 20, 30, 40, 50])
    doc = scraper.document()

    assert doc is not None
    assert len(calls) == 5
    assert task_row(doc["total"])["requests"] == 3000


def test_a_fault_s_edges_are_marked_with_each_replica_s_cache_answers_so_far() -> None:
    fake = FakeReplicas(["api-1", "api-2"])
    scraper = CostScraper(direct(fake.names), [(10.0, 50.0)], fetch=fake.fetch, marks=[25, 35])

    fake.down = set()
    run(scraper, fake, [10.0, 25.0])
    fake.down = {"api-2"}  # killed at 30 s
    run(scraper, fake, [35.0, 50.0])
    doc = scraper.document()

    assert doc is not None
    assert [m["at_s"] for m in doc["marks"]] == [25.0, 35.0]
    first, second = doc["marks"]
    assert set(first["replicas"]) == {"api-1", "api-2"}
    assert set(second["replicas"]) == {"api-1"}  # a replica that did not answer is left out
    assert second["replicas"]["api-1"] == {"hit": 3150, "miss": 350, "bypass": 0}


def test_nothing_is_written_when_the_load_ended_before_a_window_did(tmp_path: Path) -> None:
    fake = FakeReplicas(["api-1"])
    scraper = CostScraper(direct(fake.names), [(10.0, 30.0)], fetch=fake.fetch)

    run(scraper, fake, [10.0, 25.0])

    assert scraper.write(tmp_path) is False
    assert not (tmp_path / COSTS_FILE).exists()


def test_a_replica_that_restarted_or_did_not_answer_is_named_and_left_out_of_the_total() -> None:
    fake = FakeReplicas(["api-1", "api-2", "api-3"], restarts="api-2")
    said: list[str] = []
    scraper = CostScraper(direct(fake.names), [(10.0, 30.0)], said.append, "r3", fake.fetch)

    run(scraper, fake, [10.0])
    fake.down.add("api-3")
    run(scraper, fake, [30.0])
    doc = scraper.document()

    assert doc is not None
    assert doc["complete"] is False
    assert list(doc["replicas"]) == ["api-1"]
    assert task_row(doc["total"])["requests"] == 2000
    assert any(m.startswith("api-2: restarted") for m in doc["missing"])
    assert "api-3: did not answer /metrics at 30 s" in doc["missing"]
    assert said == ["r3: endpoint costs: 2 of 3 replica(s) answered /metrics at 30 s"]


def test_through_a_shared_socket_it_asks_until_every_replica_has_answered() -> None:
    fake = FakeReplicas(["api-1", "api-2"])
    targets = Targets({}, "http://shared/metrics", expected=2)
    scraper = CostScraper(targets, [(10.0, 30.0)], fetch=fake.fetch)

    run(scraper, fake, [10.0, 30.0])
    doc = scraper.document()

    assert doc is not None
    assert (doc["source"], doc["complete"]) == ("balancer", True)
    assert sorted(doc["replicas"]) == ["api-1", "api-2"]


def test_a_replica_the_shared_socket_never_reaches_makes_the_costs_incomplete() -> None:
    fake = FakeReplicas(["api-1"])
    scraper = CostScraper(
        Targets({}, "http://shared/metrics", expected=2), [(0, 1)], fetch=fake.fetch
    )

    run(scraper, fake, [0.0, 1.0])
    doc = scraper.document()

    assert doc is not None
    assert doc["complete"] is False
    assert doc["missing"] == ["1 replica(s) never answered through the balancer"]


def test_replicas_with_ports_are_scraped_directly_and_without_through_the_stack_url() -> None:
    def component(name: str, port: int | None) -> ComponentStatus:
        return ComponentStatus(name, 1, port, None, True)

    with_ports = [component("db", 27017), component("api-1", 8001), component("api-2", 8002)]
    shared = [component("db", 27017), component("api-1", None), component("api-2", None)]

    assert Targets.of("http://127.0.0.1:9000", with_ports) == Targets(
        {"api-1": "http://127.0.0.1:8001/metrics", "api-2": "http://127.0.0.1:8002/metrics"}
    )
    assert Targets.of("http://127.0.0.1:9000/", shared) == Targets(
        {}, "http://127.0.0.1:9000/metrics", expected=2
    )
