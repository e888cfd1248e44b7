"""Where the API's time goes: endpoint_costs.json per request, matched to the load generator's
endpoint names, and the API CPU no request accounts for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.costs import COSTS_FILE, cost_table, route_key
from harness.analysis.load import load_run
from harness.errors import BadInputError
from tests.harness._synthetic import PhaseSpec, costs_document, make_run, route_cost

# Over the steady window (5-30 s) the synthetic api-1 runs at 40 % of a core: 10 CPU seconds.
ROUTES = [
    route_cost("GET", "/api/tasks", 1500, cpu_ms=3.0, db=1.0, redis=3.0, miss=1500),
    route_cost("GET", "/api/tasks/{task_id}", 500, cpu_ms=2.0, db=0.1, redis=2.1, hit=450, miss=50),
    route_cost("POST", "/api/tasks", 500, cpu_ms=4.0, db=1.0, redis=2.0),
]


def phase_with() -> PhaseSpec:
    return PhaseSpec(endpoint_costs=costs_document(ROUTES))


def test_each_route_gets_its_cpu_and_round_trips_per_request_and_its_hit_ratio(
    tmp_path: Path,
) -> None:
    phase = load_run(make_run(tmp_path, [phase_with()]))[0]

    table = cost_table(phase)

    assert table is not None
    by_route = {(e.method, e.route): e for e in table.rows}
    detail = by_route[("GET", "/api/tasks/{task_id}")]
    assert detail.requests == 500
    assert detail.cpu_ms_per_request == pytest.approx(2.0)
    assert detail.db_per_request == pytest.approx(0.1)
    assert detail.redis_per_request == pytest.approx(2.1)
    assert detail.cache_hit_ratio == pytest.approx(0.9)
    assert by_route[("POST", "/api/tasks")].cache_hit_ratio is None  # no look-ups: no cache
    assert (table.rows[0].method, table.rows[0].route) == ("GET", "/api/tasks")  # most CPU first


def test_what_the_requests_do_not_account_for_is_the_api_processes_rest_per_request(
    tmp_path: Path,
) -> None:
    phase = load_run(make_run(tmp_path, [phase_with()]))[0]

    table = cost_table(phase)

    assert table is not None
    assert table.total.requests == 2500
    assert table.total.cpu_s == pytest.approx(7.5)
    assert table.api_cpu_s == pytest.approx(10.0)
    assert table.unattributed_cpu_s == pytest.approx(2.5)
    assert table.share(table.total.cpu_s) == pytest.approx(0.75)


def test_the_load_generators_names_meet_the_apis_route_templates(tmp_path: Path) -> None:
    phase = load_run(make_run(tmp_path, [phase_with()]))[0]

    table = cost_table(phase)

    assert table is not None
    names = {f"{e.method} {e.route}": e.names for e in table.rows}
    assert names["GET /api/tasks/{task_id}"] == ("GET /api/tasks/{id}",)
    assert names["GET /api/tasks"] == ("GET /api/tasks",)
    assert names["POST /api/tasks"] == ("POST /api/tasks",)
    first, cursor, search = (
        route_key(n)
        for n in ("GET /api/tasks", "GET /api/tasks?cursor={cursor}", "GET /api/tasks?q={q}")
    )
    assert first == cursor == search == ("GET", "/api/tasks")
    assert route_key("GET /api/tasks/{id}") == route_key("GET /api/tasks/{task_id}")


def test_routes_hit_only_outside_the_windows_have_no_row(tmp_path: Path) -> None:
    idle = route_cost("POST", "/api/auth/login", 0, cpu_ms=0.0)
    spec = PhaseSpec(endpoint_costs=costs_document([*ROUTES, idle]))
    phase = load_run(make_run(tmp_path, [spec]))[0]

    table = cost_table(phase)

    assert table is not None
    assert "/api/auth/login" not in {e.route for e in table.rows}


def test_a_phase_without_endpoint_costs_has_no_cost_table(tmp_path: Path) -> None:
    phase = load_run(make_run(tmp_path, [PhaseSpec()]))[0]

    assert cost_table(phase) is None


def test_costs_of_only_some_replicas_leave_the_unattributed_cpu_unknown_unless_named(
    tmp_path: Path,
) -> None:
    cpu = {"db": 30.0, "api-1": 40.0, "api-2": 20.0, "generator": 30.0}
    named = PhaseSpec(
        name="named",
        cpu=cpu,
        endpoint_costs=costs_document(ROUTES, replicas=["api-1"], complete=False),
    )
    unnamed = PhaseSpec(
        name="unnamed",
        cpu=cpu,
        endpoint_costs=costs_document(ROUTES, replicas=["3f2a9c"], complete=False),
    )
    compose = PhaseSpec(
        name="compose",
        cpu=cpu,
        endpoint_costs=costs_document(ROUTES, replicas=["3f2a9c", "77b0e1"], complete=True),
    )
    phases = load_run(make_run(tmp_path, [named, unnamed, compose]))

    tables = [cost_table(p) for p in phases]

    assert [t.api_cpu_s if t else "none" for t in tables] == [
        pytest.approx(10.0),  # api-1's own samples
        None,  # which process is 3f2a9c? unknown
        pytest.approx(15.0),  # every replica is covered: every API process counts
    ]


def test_a_malformed_costs_file_is_bad_input_naming_it(tmp_path: Path) -> None:
    run = make_run(tmp_path, [phase_with()])
    path = run / "r1-cache-on" / COSTS_FILE
    path.write_text(json.dumps({"schema": 1, "total": []}))
    phase = load_run(run)[0]

    with pytest.raises(BadInputError, match=COSTS_FILE):
        cost_table(phase)
