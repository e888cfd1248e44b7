from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.analysis.load import PhaseData, load_run
from harness.analysis.summary import PhaseSummary, summarise_phase
from harness.errors import BadInputError
from harness.gate.baseline import (
    BASELINE_SCHEMA,
    REGRESSION_METRICS,
    Baseline,
    PhaseBaseline,
    baseline_from,
    load_baseline,
    save_baseline,
)
from tests.harness._synthetic import PhaseSpec, make_run

REPO = Path(__file__).resolve().parents[3]


def _measured(run: Path) -> tuple[list[PhaseData], list[PhaseSummary]]:
    phases = load_run(run)
    return phases, [summarise_phase(p) for p in phases]


def test_a_saved_baseline_loads_back_with_its_metrics_and_blocks(
    tmp_path: Path, saved_baseline: Callable[[Path, Path], Path]
) -> None:
    run = make_run(
        tmp_path,
        [PhaseSpec(name="r1-cache-off", cache=False), PhaseSpec(name="r1-cache-on", seed=5)],
    )

    path = saved_baseline(run, tmp_path / "baselines" / "synthetic.json")
    baseline = load_baseline(path)

    raw = json.loads(path.read_text())
    assert raw["schema"] == BASELINE_SCHEMA
    assert baseline.scenario == "synthetic"
    assert set(baseline.phases) == {"r1-cache-off", "r1-cache-on"}
    phase = baseline.phases["r1-cache-on"]
    assert phase.metrics["achieved_rps"] == pytest.approx(100.0, rel=0.02)
    assert len(phase.blocks["p95_ms"]) == 5  # 25 s of steady window in 5 s blocks
    assert phase.blocks == {
        k: pytest.approx(v) for k, v in raw["phases"]["r1-cache-on"]["blocks"].items()
    }


def test_the_committed_smoke_baseline_still_loads() -> None:
    baseline = load_baseline(REPO / "reports" / "baselines" / "smoke.json")

    assert baseline.scenario == "smoke"
    assert baseline.phases
    for phase in baseline.phases.values():
        assert set(phase.metrics) == set(REGRESSION_METRICS)
        assert set(phase.blocks) == set(REGRESSION_METRICS)


def test_a_baseline_of_two_runs_pools_their_blocks_and_takes_the_median_metric(
    tmp_path: Path,
) -> None:
    first = _measured(make_run(tmp_path, [PhaseSpec(latency_ms=(20.0,), seed=1)], name="a"))
    second = _measured(make_run(tmp_path, [PhaseSpec(latency_ms=(30.0,), seed=2)], name="b"))

    baseline = baseline_from([first[0], second[0]], [first[1], second[1]])

    phase = baseline.phases["r1-cache-on"]
    assert baseline.source == ["a", "b"]
    assert len(phase.blocks["p95_ms"]) == 10  # five 5 s blocks from each run
    p95s = [first[1][0].p95_ms, second[1][0].p95_ms]
    assert phase.metrics["p95_ms"] == pytest.approx(sum(p95s) / 2)  # the median of two


def test_runs_of_different_scenarios_make_no_baseline(tmp_path: Path) -> None:
    one = _measured(make_run(tmp_path, [PhaseSpec()], name="a"))
    other = _measured(make_run(tmp_path, [PhaseSpec()], name="b", scenario="other"))

    with pytest.raises(BadInputError, match="different scenarios"):
        baseline_from([one[0], other[0]], [one[1], other[1]])


def test_an_unmeasured_value_is_stored_as_null_and_loads_back_as_nan(tmp_path: Path) -> None:
    phase = PhaseBaseline(metrics={"p95_ms": math.nan}, blocks={"p95_ms": [1.0, math.nan]})
    path = tmp_path / "baseline.json"

    save_baseline(Baseline("synthetic", {"r1-cache-on": phase}), path)
    loaded = load_baseline(path).phases["r1-cache-on"]

    raw = json.loads(path.read_text())["phases"]["r1-cache-on"]
    assert raw == {"metrics": {"p95_ms": None}, "blocks": {"p95_ms": [1.0, None]}, "topology": {}}
    assert math.isnan(loaded.metrics["p95_ms"])
    assert loaded.blocks["p95_ms"][0] == 1.0
    assert math.isnan(loaded.blocks["p95_ms"][1])


def test_a_baseline_with_a_metric_that_is_not_a_number_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    phases = {"r1-cache-on": {"metrics": {"p95_ms": "fast"}, "blocks": {}}}
    path.write_text(json.dumps({"schema": BASELINE_SCHEMA, "scenario": "s", "phases": phases}))

    with pytest.raises(BadInputError, match="not a baseline file"):
        load_baseline(path)


def test_a_file_of_another_schema_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{"schema": "primo-capacity/summary/v1"}')

    with pytest.raises(BadInputError, match="expected 'primo-capacity/baseline/v1'"):
        load_baseline(path)
