"""End to end: ``capacity run smoke`` measures what each endpoint of its mix costs the API, and
``capacity report`` shows it under "Where the time goes"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.costs import route_key
from harness.cli import main
from harness.core.scenario import load_scenario

pytestmark = pytest.mark.slow


def test_a_smoke_run_writes_the_costs_of_every_endpoint_of_its_mix_and_the_report_shows_them(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"

    assert main(["run", "smoke", "--out", str(out)]) == 0
    assert main(["report", str(out)]) == 0

    phase = out / "r1-cache-on"
    manifest = json.loads((phase / "manifest.json").read_text())
    costs = json.loads((phase / "endpoint_costs.json").read_text())
    assert manifest["endpoint_costs"] == "endpoint_costs.json"
    assert (costs["complete"], costs["missing"], list(costs["replicas"])) == (True, [], ["api-1"])
    rows = {route_key(f"{r['method']} {r['route']}"): r for r in costs["total"]}
    mix = load_scenario("smoke").mix
    assert {route_key(name) for name in mix} <= set(rows)
    for name in mix:
        row = rows[route_key(name)]
        assert row["requests"] > 0, name
        assert row["app_cpu_s"] > 0, name
        assert row["redis_roundtrips"] >= row["requests"], name  # at least the rate limit
    detail = rows[("GET", "/api/tasks/{}")]
    assert detail["cache_hit"] + detail["cache_miss"] + detail["cache_bypass"] == detail["requests"]
    assert detail["db_roundtrips"] <= detail["cache_miss"] + detail["cache_bypass"]
    created = rows[("POST", "/api/tasks")]
    assert created["db_roundtrips"] >= created["requests"]

    report = (out / "report.md").read_text()
    assert "## Where the time goes" in report
    assert "| GET /api/tasks/{id} | GET /api/tasks/{task_id} |" in report
    assert "| unattributed (event loop, HTTP parsing, threads) |" in report
