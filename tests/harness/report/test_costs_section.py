"""The report's "Where the time goes": one cost table per phase that measured its costs."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.capacity import analyse
from harness.analysis.costs import cost_table
from harness.analysis.load import load_run
from harness.report.render import write_report
from harness.report.tables import UNATTRIBUTED, cost_table_view
from tests.harness._synthetic import PhaseSpec, costs_document, make_run, route_cost

ROUTES = [
    route_cost("GET", "/api/tasks", 1500, cpu_ms=3.0, db=1.0, redis=3.0, hit=300, miss=1200),
    route_cost("GET", "/api/tasks/{task_id}", 500, cpu_ms=2.0, db=0.1, redis=2.1, hit=450, miss=50),
    route_cost("POST", "/api/tasks", 500, cpu_ms=4.0, db=1.0, redis=2.0),
    route_cost("GET", "/metrics", 2, cpu_ms=1.0),
]


def test_the_cost_table_shows_each_route_then_the_whole_and_the_unattributed_rest(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [PhaseSpec(endpoint_costs=costs_document(ROUTES))])
    costs = cost_table(load_run(run)[0])
    assert costs is not None

    table = cost_table_view(costs)

    rows = {row[0]: row for row in table.rows}
    assert rows["GET /api/tasks"][1:] == [
        "GET /api/tasks", "1500", "3.000", "1.00", "3.00", "20 %", "45 %",
    ]  # fmt: skip
    assert rows["GET /api/tasks/{id}"][3:7] == ["2.000", "0.10", "2.10", "90 %"]
    assert rows["POST /api/tasks"][6] == "—"  # no cache look-ups
    assert rows["(not in the mix)"][1] == "GET /metrics"
    assert rows["every request together"][2:4] == ["2502", "2.998"]
    # 10 CPU s of api-1 in the window, 7.502 s of them in the requests' tasks
    assert rows[UNATTRIBUTED][3:] == ["0.998", "—", "—", "—", "25 %"]
    assert rows["API processes in all"][3] == "3.997"
    assert table.caption == (
        "20270115T080000Z_synthetic/r1-cache-on: where the time goes "
        "(1 replica(s), 25 s of steady window)"
    )


def test_a_route_whose_look_ups_all_bypassed_the_cache_says_so(tmp_path: Path) -> None:
    uncached = [route_cost("GET", "/api/tasks/stats", 100, cpu_ms=3.0, db=2.0, bypass=100)]
    run = make_run(tmp_path, [PhaseSpec(cache=False, endpoint_costs=costs_document(uncached))])
    costs = cost_table(load_run(run)[0])
    assert costs is not None

    (row, *_) = cost_table_view(costs).rows

    assert row[1] == "GET /api/tasks/stats"
    assert row[6] == "bypassed"


def test_the_report_has_the_section_only_when_a_phase_measured_its_costs(tmp_path: Path) -> None:
    with_costs = make_run(
        tmp_path / "a", [PhaseSpec(endpoint_costs=costs_document(ROUTES))], name="with"
    )
    without = make_run(tmp_path / "b", [PhaseSpec()], name="without")

    write_report(analyse([with_costs]), tmp_path / "out-a")
    write_report(analyse([without]), tmp_path / "out-b")

    shown = (tmp_path / "out-a" / "report.md").read_text()
    assert "## Where the time goes" in shown
    assert "| GET /api/tasks/{id} | GET /api/tasks/{task_id} | 500 | 2.000 |" in shown
    assert "Where the time goes" in (tmp_path / "out-a" / "report.html").read_text()
    assert "Where the time goes" not in (tmp_path / "out-b" / "report.md").read_text()


def test_a_route_several_endpoint_names_share_is_one_row_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [PhaseSpec(endpoint_costs=costs_document(ROUTES))])
    analysis = analyse([run])
    names = ("GET /api/tasks", "GET /api/tasks?cursor={cursor}", "GET /api/tasks?q={q}")
    requests = analysis.phases[0].requests
    # the mix sent all three (the loaded column is a categorical of the names it holds)
    requests["endpoint"] = requests["endpoint"].cat.add_categories(
        [n for n in names if n not in requests["endpoint"].cat.categories]
    )
    requests.loc[:2, "endpoint"] = list(names)

    write_report(analysis, tmp_path / "out")

    report = (tmp_path / "out" / "report.md").read_text()
    assert f"| {' + '.join(names)} | GET /api/tasks |" in report
    assert "GET /api/tasks serves GET /api/tasks, GET /api/tasks?cursor={cursor}, " in report
    assert "their costs are one row, not split" in report


def test_costs_of_some_replicas_only_are_named_in_the_section(tmp_path: Path) -> None:
    doc = costs_document(
        ROUTES, replicas=["api-1"], complete=False, missing=["api-2: did not answer at 30 s"]
    )
    cpu = {"db": 30.0, "api-1": 40.0, "api-2": 20.0, "generator": 30.0}
    run = make_run(tmp_path, [PhaseSpec(replicas=2, cpu=cpu, endpoint_costs=doc)])

    write_report(analyse([run]), tmp_path / "out")

    report = (tmp_path / "out" / "report.md").read_text()
    assert "the costs cover api-1 only (api-2: did not answer at 30 s)" in report
