from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.cli import main
from harness.core import slo
from harness.core.checks import EXIT_CODES
from harness.core.samples import read_samples
from harness.core.scenario import load_scenario
from harness.gate.baseline import Baseline, PhaseBaseline
from harness.gate.checks import GateCheck, evaluate_gate, integrity_checks, slo_checks
from harness.gate.regression import regression_check
from tests.harness._synthetic import PhaseSpec, audit_document, make_run

STEADY_BLOCKS = [20.0, 21.0, 19.0, 20.5, 19.5]


def _phase(p95_ms: float, blocks: list[float]) -> PhaseBaseline:
    return PhaseBaseline({"p95_ms": p95_ms}, {"p95_ms": blocks})


def _run_validity(checks: Sequence[GateCheck]) -> list[str]:
    return [c.message for c in checks if c.name == "run validity"]


# -- SLO and validity ---------------------------------------------------------------------------


def test_the_gate_and_the_report_judge_the_same_backlogged_samples(tmp_path: Path) -> None:
    # an open-model backlog: intended during the warm-up, sent in the steady window
    run = make_run(tmp_path, [PhaseSpec(rates=(100.0,), stall_s=3.0)])
    summary = summarise_phase(load_run(run)[0])
    verdict = slo.evaluate(
        read_samples(run / "r1-cache-on" / "samples"), load_scenario(str(run / "synthetic.toml"))
    )

    p95 = next(c for c in slo_checks(summary) if c.name == "p95_ms")

    assert p95.current == summary.p95_ms == verdict.measured["aggregate"]["p95_ms"]
    # 3 s of backlog, sent in the window's first half second, carry up to 3 s of stall each
    assert p95.current > 1000.0
    assert p95.verdict == "FAIL"
    assert verdict.status == "FAIL"
    assert main(["gate", str(run)]) == EXIT_CODES["FAIL"]


def test_rate_checks_are_lower_bounds_and_exit_codes_are_the_verdicts(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(achieved_share=0.7)])
    summary = summarise_phase(load_run(run)[0])

    checks = slo_checks(summary)

    rate = next(c for c in checks if c.name.startswith("achieved_rate@"))
    assert rate.threshold.startswith(">= ")
    assert rate.verdict == "INVALID"
    assert EXIT_CODES == {"PASS": 0, "FAIL": 1, "INVALID": 3}


def test_a_reason_the_slo_already_reported_is_not_repeated(
    tmp_path: Path, generator_bound_cpu: dict[str, float]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(cpu=generator_bound_cpu)])
    summary = summarise_phase(load_run(run)[0])

    checks = slo_checks(summary)

    assert next(c for c in checks if c.name == "cpu:generator").verdict == "INVALID"
    assert _run_validity(checks) == []


def test_an_incomplete_phase_is_reported_even_when_the_slo_found_it_invalid(
    tmp_path: Path, generator_bound_cpu: dict[str, float]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(status="interrupted", cpu=generator_bound_cpu)])
    summary = summarise_phase(load_run(run)[0])

    checks = slo_checks(summary)

    assert next(c for c in checks if c.name == "cpu:generator").verdict == "INVALID"
    assert _run_validity(checks) == ["the phase did not complete (status: interrupted)"]


def test_without_a_scenario_every_reason_the_phase_is_invalid_is_a_run_validity_check(
    tmp_path: Path, generator_bound_cpu: dict[str, float]
) -> None:
    spec = PhaseSpec(status="failed", cpu=generator_bound_cpu)
    run = make_run(tmp_path, [spec], with_scenario=False)
    summary = summarise_phase(load_run(run)[0])

    checks = slo_checks(summary)

    assert len(summary.invalid_reasons) == 2
    assert _run_validity(checks) == summary.invalid_reasons


def test_without_a_scenario_a_valid_phase_has_its_slo_skipped(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec()], with_scenario=False)
    summary = summarise_phase(load_run(run)[0])

    checks = slo_checks(summary)

    assert [(c.kind, c.name, c.verdict) for c in checks] == [("slo", "SLO", "SKIP")]
    assert checks[0].message == "no SLO verdict: the scenario could not be loaded"


# -- regression against a baseline -------------------------------------------------------------


def test_a_latency_worse_beyond_the_allowed_share_and_the_noise_fails() -> None:
    before = _phase(20.0, STEADY_BLOCKS)
    after = _phase(30.0, [v * 1.5 for v in STEADY_BLOCKS])

    check = regression_check("r1", "p95_ms", before, after, max_regression=10.0)

    assert (check.verdict, check.significant) == ("FAIL", True)
    assert check.change_pct == pytest.approx(50.0)
    assert check.message.startswith("worse by 50.0 % (+")
    assert check.message.endswith("× its noise), outside the noise")
    assert check.effect is not None
    assert check.effect > 3.0


def test_a_latency_worse_inside_the_noise_is_inconclusive_and_says_what_would_settle_it() -> None:
    before = _phase(20.0, [10.0, 30.0, 15.0, 25.0, 20.0])
    after = _phase(24.0, [12.0, 40.0, 14.0, 34.0, 20.0])

    check = regression_check("r1", "p95_ms", before, after, max_regression=10.0)

    assert (check.verdict, check.significant) == ("INCONCLUSIVE", False)
    assert "inside the noise" in check.message
    assert check.more_runs is not None
    assert check.more_runs >= 1
    assert check.more_s is not None
    assert check.more_s > 0


def test_a_lower_rate_is_worse_because_a_higher_rate_is_better() -> None:
    before = PhaseBaseline({"achieved_rps": 100.0}, {"achieved_rps": [100.0, 101.0, 99.0]})
    after = PhaseBaseline({"achieved_rps": 50.0}, {"achieved_rps": [50.0, 51.0, 49.0]})

    check = regression_check("r1", "achieved_rps", before, after, max_regression=10.0)

    assert check.name == "achieved rate (req/s)"
    assert check.verdict == "FAIL"


def test_with_too_few_blocks_a_change_beyond_the_allowance_is_inconclusive() -> None:
    check = regression_check(
        "r1", "p95_ms", _phase(20.0, [20.0, 20.0]), _phase(30.0, [30.0]), max_regression=10.0
    )

    assert (check.verdict, check.significant) == ("INCONCLUSIVE", None)
    assert check.message == (
        "worse by 50.0 % but the noise is unknown (blocks: 2 baseline, 1 current; need 3)"
    )
    assert check.more_s == 10.0  # two more 5 s blocks on the short side


def test_with_too_few_blocks_a_change_within_the_allowance_passes() -> None:
    check = regression_check(
        "r1", "p95_ms", _phase(20.0, [20.0, 20.0]), _phase(21.0, [21.0]), max_regression=10.0
    )

    assert (check.verdict, check.message) == (
        "PASS", "within the allowed regression (noise unknown)",
    )  # fmt: skip


def test_a_metric_without_a_value_is_skipped() -> None:
    empty = PhaseBaseline({}, {})

    check = regression_check("r1", "p95_ms", empty, empty, max_regression=10.0)

    assert (check.verdict, check.message) == ("SKIP", "no value to compare")
    assert check.current is None


def test_phases_in_only_the_run_or_only_the_baseline_make_the_gate_inconclusive(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    summaries = [summarise_phase(p) for p in load_run(run)]
    measured = {"r1-cache-on": PhaseBaseline({}, {})}
    baseline = Baseline("synthetic", {"r2-cache-on": PhaseBaseline({}, {})})

    result = evaluate_gate(summaries, measured, baseline, baseline_name="b.json")

    apart = [(c.phase, c.verdict, c.message) for c in result.checks if c.kind == "comparability"]
    assert apart == [
        ("r1-cache-on", "INCONCLUSIVE",
         "the baseline has no phase 'r1-cache-on' (it has: r2-cache-on)"),
        ("r2-cache-on", "INCONCLUSIVE", "in the baseline but not in this run"),
    ]  # fmt: skip
    assert result.status == "INCONCLUSIVE"
    assert result.to_dict()["baseline"] == "b.json"


# -- data integrity -----------------------------------------------------------------------------

LOST = ("lost", "create", "created (201 at +3.0 s), missing from the database")


def _integrity(tmp_path: Path, audit: dict[str, object] | None) -> list[GateCheck]:
    run = make_run(tmp_path, [PhaseSpec(audit=audit)])
    return integrity_checks(summarise_phase(load_run(run)[0]))


def test_a_lost_write_fails_the_gate_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    audit = audit_document(findings=[LOST, ("ambiguous", "update", "x")])
    run = make_run(tmp_path, [PhaseSpec(audit=audit)])

    code = main(["gate", str(run)])

    assert code == EXIT_CODES["FAIL"]
    out, err = capsys.readouterr()
    assert "| r1-cache-on | integrity: lost writes | == 0 | 1 | FAIL |" in out
    assert "lost writes: 1 lost (1 create); 0 resurrected, 0 phantom, 1 ambiguous" in err


def test_no_lost_write_passes_however_many_are_ambiguous_or_phantom(tmp_path: Path) -> None:
    audit = audit_document(findings=[("phantom", "create", "x"), ("ambiguous", "delete", "y")])

    (check,) = _integrity(tmp_path, audit)

    assert (check.kind, check.name, check.verdict, check.current) == (
        "integrity", "lost writes", "PASS", 0.0,
    )  # fmt: skip


def test_a_phase_whose_audit_was_not_possible_is_skipped_with_the_reason(tmp_path: Path) -> None:
    (check,) = _integrity(tmp_path, audit_document(reason="the database could not be read (x)"))

    assert check.verdict == "SKIP"
    assert check.message == "not audited: the database could not be read (x)"


def test_a_phase_without_an_audit_has_no_integrity_check(tmp_path: Path) -> None:
    assert _integrity(tmp_path, None) == []
