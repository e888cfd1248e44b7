from __future__ import annotations

from pathlib import Path

from harness.analysis.capacity import analyse
from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.report.summary_json import summary_document
from tests.harness._synthetic import PhaseSpec, make_run

STEADY = {"rates": (100.0,), "stage_s": 60.0}


def test_a_clean_phase_met_its_slo_every_second(tmp_path: Path) -> None:
    c = summarise_phase(load_run(make_run(tmp_path, [PhaseSpec(**STEADY)]))[0]).compliance  # type: ignore[arg-type]

    assert c is not None
    assert c.bins == 55  # 5-60 s
    assert (c.p95_share, c.error_share, c.both_share) == (1.0, 1.0, 1.0)


def test_a_stall_costs_the_seconds_it_lasted_and_the_ones_waiting_on_it(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(**STEADY, outage=(25.0, 15.0))])  # type: ignore[arg-type]

    c = summarise_phase(load_run(run)[0]).compliance

    assert c is not None
    assert c.p95_share is not None
    assert c.both_share is not None
    # requests started in 25-40 s waited for the end of the outage: over 200 ms
    assert 25 / 55 <= c.p95_share <= 42 / 55
    assert c.both_share <= c.p95_share


def test_errors_over_the_limit_in_some_seconds_lower_the_error_share_only(tmp_path: Path) -> None:
    spec = PhaseSpec(**STEADY, error_rate=0.01)  # type: ignore[arg-type]
    run = make_run(tmp_path, [spec], slo={"p95_ms": 200, "error_rate": 0.02})

    c = summarise_phase(load_run(run)[0]).compliance

    assert c is not None
    assert c.error_share is not None
    assert c.p95_share == 1.0
    assert 0.3 < c.error_share < 1.0  # 1 % on average, over 2 % in some seconds of 100 requests


def test_compliance_is_in_summary_json_and_the_phase_table(tmp_path: Path) -> None:
    from harness.report.tables import phase_table

    analysis = analyse([make_run(tmp_path, [PhaseSpec(**STEADY)])])  # type: ignore[arg-type]

    (phase,) = summary_document(analysis)["phases"]
    assert phase["compliance"]["both_share"] == 1.0
    table = phase_table(analysis)
    column = table.headers.index("time in SLO (p95 / errors / both)")
    assert table.rows[0][column] == "100 % / 100 % / 100 %"
