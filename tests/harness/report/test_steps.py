"""Phase over phase in the report: the sentence per step, the table, and the Answer's words for
a named phase."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from harness.analysis.steps import Change, LeftOut, PhaseStep, Setup
from harness.cli import main
from harness.report.steps import setup_text, step_sentence, step_table, times
from tests.harness._synthetic import PhaseSpec, make_run


def step(**fields: Any) -> PhaseStep:
    values: dict[str, Any] = {
        "run": "run",
        "before": "phase-1",
        "after": "phase-2",
        "changes": (Change("indexes", True), Change("cache", True), Change("compression", True)),
        "ok_rps": (190.0, 456.0),
        "p95_ms": (180.0, 183.6),
        "cpu_ms_per_ok_request": (2.5, 1.4),
        "throughput_x": 2.4,
        "p95_x": 1.02,
        "cpu_x": 0.56,
        "throughput": "up",
        "p95": "same",
        "left_out": (),
    }
    return PhaseStep(**(values | fields))


def test_a_step_that_bought_throughput_at_the_same_p95_says_so() -> None:
    assert step_sentence(step()) == (
        "phase-2 (indexes, Redis cache, gzip) bought ×2.4 throughput at the same p95 "
        "(p95 ×1.02); service CPU per successful request ×0.56."
    )


def test_a_step_that_moved_the_p95_gives_its_ratio() -> None:
    sentence = step_sentence(
        step(
            before="phase-2",
            after="phase-3",
            changes=(Change("balancer", "nginx"), Change("replicas", 2)),
            throughput_x=1.3,
            p95_x=0.4,
            p95="down",
        )
    )

    assert sentence == (
        "phase-3 (nginx, 2 replicas) bought ×1.3 throughput at a p95 ×0.40; service CPU per "
        "successful request ×0.56."
    )


def test_a_step_that_lost_or_kept_throughput_says_so() -> None:
    lost = step_sentence(step(throughput_x=0.8, throughput="down", p95_x=1.5, p95="up"))
    kept = step_sentence(step(throughput_x=1.01, throughput="same"))

    assert lost.startswith("phase-2 (indexes, Redis cache, gzip) lost throughput (×0.80) at a p95")
    assert kept.startswith("phase-2 (indexes, Redis cache, gzip) kept the throughput of phase-1")


def test_a_step_with_a_phase_that_is_not_a_capacity_is_flagged() -> None:
    flagged = step(left_out=(LeftOut("phase-1", ("unstable",)),))

    assert step_sentence(flagged).endswith(
        "Not a capacity, left out of the answer: phase-1 (unstable)."
    )
    assert step_table([flagged]).rows[0][-1] == "not a capacity: left out (phase-1 (unstable))"


def test_a_step_without_successful_requests_before_cannot_be_compared() -> None:
    sentence = step_sentence(
        step(throughput_x=math.nan, throughput="unknown", p95_x=math.nan, p95="unknown",
             cpu_x=math.nan)
    )  # fmt: skip

    assert sentence == (
        "phase-2 (indexes, Redis cache, gzip) cannot be compared with phase-1: one of them has "
        "no successful requests."
    )


def test_the_step_table_shows_before_after_and_the_ratios() -> None:
    table = step_table([step()])

    assert table.headers[:4] == ["step", "what changed", "ok req/s", "throughput ×"]
    assert table.rows == [
        ["phase-1 → phase-2", "indexes, Redis cache, gzip", "190.0 → 456.0", "×2.4",
         "180.0 → 183.6", "×1.02", "2.50 → 1.40", "×0.56", ""],
    ]  # fmt: skip


@pytest.mark.parametrize(("x", "text"), [(2.44, "×2.4"), (1.02, "×1.02"), (0.4, "×0.40"),
                                         (12.3, "×12"), (math.nan, "×?")])  # fmt: skip
def test_ratios_are_short(x: float, text: str) -> None:
    assert times(x) == text


def test_a_named_phase_is_described_by_all_it_runs_with() -> None:
    one = Setup(1, False, False, False, "shared-socket", (), True, "")
    three = Setup(2, True, True, True, "nginx", (), True, "")

    assert setup_text(one) == "1 replica, no cache, no secondary indexes and no gzip"
    assert setup_text(three) == "2 replicas behind nginx, the Redis cache, the indexes and gzip"


# --- the report of a run of named phases --------------------------------------------------------
def _named(name: str, rate: float, **kw: Any) -> PhaseSpec:
    return PhaseSpec(
        name=name, rates=(rate,), users=(40,), stage_s=30.0, warmup_s=5.0, latency_ms=(30.0,),
        balancer="shared-socket", lb="shared-socket", named=True, **kw,
    )  # fmt: skip


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("steps")
    phases = [
        _named("phase-1", 100.0, cache=False, settings={"indexes": False, "compression": False}),
        _named("phase-2", 250.0, settings={"indexes": True, "compression": True}),
    ]
    run = make_run(root, phases, scenario="steps")
    assert main(["report", str(run), "--out", str(root / "out")]) == 0
    return (root / "out" / "report.md").read_text()


def test_the_report_of_named_phases_has_a_phase_over_phase_section(report: str) -> None:
    section = report.split("## Phase over phase\n", 1)[1].split("\n## ", 1)[0]

    assert "phase-2 (indexes, Redis cache, gzip) bought ×2.5 throughput at the same p95" in section
    assert "| phase-1 → phase-2 | indexes, Redis cache, gzip |" in section


def test_the_answer_names_the_best_named_phase_and_what_it_runs_with(report: str) -> None:
    answer = report.split("## Answer\n\n", 1)[1].splitlines()[0]

    assert answer.startswith(
        "With phase-2 (1 replica, the Redis cache, the indexes and gzip), the service held 250 "
    )


def test_a_balancer_asked_for_is_not_reported_as_a_fallback(report: str) -> None:
    assert "fell back to a shared listening socket" not in report


def test_a_sweep_has_no_phase_over_phase_section(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(name="r1-cache-off", cache=False), PhaseSpec()])

    assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    assert "## Phase over phase" not in (tmp_path / "out" / "report.md").read_text()
