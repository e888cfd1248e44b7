from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.cli import main
from harness.core import slo
from harness.core.samples import read_samples
from harness.core.scenario import load_scenario
from harness.gate.checks import (
    BASELINE_SCHEMA,
    EXIT_CODES,
    bootstrap_change,
    load_baseline,
    slo_checks,
)
from tests.harness._synthetic import PhaseSpec, make_run


def _noisy(latency_ms: float, seed: int) -> PhaseSpec:
    """Per 5 s block the latency moves by ~40 % (log-normal): a noisy service."""
    return PhaseSpec(stage_s=60.0, block_noise=0.4, latency_ms=(latency_ms,), seed=seed)


def _baseline(run: Path, out: Path) -> Path:
    assert main(["baseline", "save", str(run), "--out", str(out)]) == 0
    return out


def test_a_run_inside_its_slo_and_equal_to_its_baseline_passes(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    baseline = _baseline(run, tmp_path / "baseline.json")

    assert main(["gate", str(run), "--baseline", str(baseline)]) == 0


def test_a_run_outside_its_slo_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(latency_ms=(300.0,))])

    code = main(["gate", str(run)])

    assert code == 1
    assert "| r1-cache-on | slo: p95_ms | <= 200 |" in capsys.readouterr().out


def test_a_generator_bound_run_is_invalid_with_exit_3(tmp_path: Path) -> None:
    cpu = {"db": 20.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 95.0}
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])

    assert main(["gate", str(run)]) == 3


def test_a_run_that_could_not_offer_its_rate_is_invalid_with_exit_3(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(achieved_share=0.7)])

    assert main(["gate", str(run)]) == 3


def test_an_incomplete_phase_is_invalid_with_exit_3(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(status="interrupted")])

    assert main(["gate", str(run)]) == 3


def test_a_regression_beyond_noise_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = make_run(tmp_path, [PhaseSpec(latency_ms=(20.0,), seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(30.0,), seed=2)], name="after")
    baseline = _baseline(before, tmp_path / "baseline.json")
    markdown = tmp_path / "gate.md"

    code = main(["gate", str(after), "--baseline", str(baseline), "--markdown", str(markdown)])

    assert code == 1
    table = markdown.read_text()
    row = next(line for line in table.splitlines() if "| p95 latency (ms) |" in line)
    assert "| yes | FAIL |" in row
    assert "outside run-to-run noise" in row
    assert capsys.readouterr().out.count("| p95 latency (ms) |") == 1


def test_a_difference_inside_the_noise_passes_as_not_significant(tmp_path: Path) -> None:
    # per-block latency varies by ~40 %: a 44 % higher p95 is still inside that noise
    before = make_run(tmp_path, [_noisy(20.0, seed=1)], name="before")
    after = make_run(tmp_path, [_noisy(23.0, seed=2)], name="after")
    baseline = _baseline(before, tmp_path / "baseline.json")
    markdown = tmp_path / "gate.md"

    code = main(["gate", str(after), "--baseline", str(baseline), "--markdown", str(markdown)])

    assert code == 0
    row = next(line for line in markdown.read_text().splitlines() if "| p95 latency (ms) |" in line)
    assert "| no | PASS |" in row
    assert "not significant" in row


def test_a_regression_below_the_allowed_percentage_passes(tmp_path: Path) -> None:
    before = make_run(tmp_path, [PhaseSpec(latency_ms=(20.0,), seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(30.0,), seed=2)], name="after")
    baseline = _baseline(before, tmp_path / "baseline.json")

    code = main(["gate", str(after), "--baseline", str(baseline), "--max-regression", "80"])

    assert code == 0


def test_a_saved_baseline_loads_back_with_its_metrics_and_blocks(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        [PhaseSpec(name="r1-cache-off", cache=False), PhaseSpec(name="r1-cache-on", seed=5)],
    )

    path = _baseline(run, tmp_path / "baselines" / "synthetic.json")
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


def test_junit_has_one_case_per_check_and_failures_for_failed_checks(tmp_path: Path) -> None:
    before = make_run(tmp_path, [PhaseSpec(seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(300.0,), seed=2)], name="after")
    baseline = _baseline(before, tmp_path / "baseline.json")
    junit = tmp_path / "junit.xml"

    assert main(["gate", str(after), "--baseline", str(baseline), "--junit", str(junit)]) == 1

    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) > 4
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert {"p95_ms", "p95 latency (ms)"} <= failed
    assert int(suite.get("failures", "0")) == len(failed)


def test_junit_marks_an_invalid_run_as_errors(tmp_path: Path) -> None:
    cpu = {"db": 20.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 95.0}
    run = make_run(tmp_path, [PhaseSpec(cpu=cpu)])
    junit = tmp_path / "junit.xml"

    assert main(["gate", str(run), "--junit", str(junit)]) == 3

    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    assert int(suite.get("errors", "0")) >= 1


def test_the_bootstrap_interval_of_identical_blocks_straddles_zero() -> None:
    blocks = [20.0, 22.0, 19.0, 21.0, 20.5, 19.5]

    low, high = bootstrap_change(blocks, blocks)

    assert low < 0.0 < high


def test_the_bootstrap_needs_three_blocks_on_each_side() -> None:
    low, high = bootstrap_change([1.0, 2.0], [1.0, 2.0, 3.0])

    assert math.isnan(low)  # noise unknown
    assert math.isnan(high)


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_a_baseline_of_another_scenario_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = make_run(tmp_path, [PhaseSpec()], name="other", scenario="other-scenario")
    run = make_run(tmp_path, [PhaseSpec()], name="run")
    baseline = _baseline(other, tmp_path / "other.json")

    _one_line_error(capsys, ["gate", str(run), "--baseline", str(baseline)], str(baseline))


def test_a_missing_baseline_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    missing = tmp_path / "baselines" / "smoke.json"

    _one_line_error(capsys, ["gate", str(run), "--baseline", str(missing)], str(missing))


def test_a_corrupt_baseline_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    corrupt = tmp_path / "baseline.json"
    corrupt.write_text('{"schema": "primo-capacity/baseline/v1", "phases": [1, 2]}')

    _one_line_error(capsys, ["gate", str(run), "--baseline", str(corrupt)], str(corrupt))


def test_an_empty_run_directory_is_bad_input_for_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()

    _one_line_error(capsys, ["gate", str(tmp_path / "empty")], str(tmp_path / "empty"))


def test_a_run_without_samples_is_bad_input_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    meta = run / "r1-cache-on" / "samples" / "samples.json"
    meta.unlink()

    _one_line_error(capsys, ["gate", str(run)], str(meta))


def test_a_corrupt_locust_csv_is_bad_input_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    stats = run / "r1-cache-on" / "locust_stats.csv"
    stats.write_text('Type,Nam\n\x00\x01,"\n')

    _one_line_error(capsys, ["gate", str(run)], str(stats))


def test_a_negative_max_regression_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])

    _one_line_error(capsys, ["gate", str(run), "--max-regression", "-5"], "--max-regression")


def test_a_failed_phase_without_samples_makes_the_gate_invalid(tmp_path: Path) -> None:
    run = make_run(
        tmp_path, [PhaseSpec(), PhaseSpec(name="r2-cache-on", replicas=2, status="failed")]
    )
    shutil.rmtree(run / "r2-cache-on" / "samples")
    (run / "r2-cache-on" / "resources.csv").unlink()

    assert main(["gate", str(run)]) == 3


def test_with_too_few_blocks_for_noise_the_threshold_alone_decides(tmp_path: Path) -> None:
    # a 10 s steady window holds two 5 s blocks: the noise cannot be estimated
    before = make_run(tmp_path, [PhaseSpec(stage_s=15.0, seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(stage_s=15.0, latency_ms=(30.0,), seed=2)], name="after")
    baseline = _baseline(before, tmp_path / "baseline.json")
    markdown = tmp_path / "gate.md"

    code = main(["gate", str(after), "--baseline", str(baseline), "--markdown", str(markdown)])

    assert code == 1
    row = next(line for line in markdown.read_text().splitlines() if "| p95 latency (ms) |" in line)
    assert "noise unknown" in row
    assert "| FAIL |" in row


def test_the_gate_and_the_report_judge_the_same_backlogged_samples(tmp_path: Path) -> None:
    # an open-model backlog: intended during the warm-up, sent in the steady window
    run = make_run(tmp_path, [PhaseSpec(rates=(100.0,), stall_s=3.0)])
    summary = summarise_phase(load_run(run)[0])
    verdict = slo.evaluate(
        read_samples(run / "r1-cache-on" / "samples"), load_scenario(str(run / "synthetic.toml"))
    )

    p95 = next(c for c in slo_checks(summary) if c.name == "p95_ms")

    assert p95.current == summary.p95_ms == verdict.measured["aggregate"]["p95_ms"]
    assert p95.verdict == ("FAIL" if summary.p95_ms > 200.0 else "PASS")
    assert main(["gate", str(run)]) == verdict.exit_code


def test_rate_checks_are_lower_bounds_and_exit_codes_are_the_verdicts(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(achieved_share=0.7)])
    summary = summarise_phase(load_run(run)[0])

    checks = slo_checks(summary)

    rate = next(c for c in checks if c.name.startswith("achieved_rate@"))
    assert rate.threshold.startswith(">= ")
    assert rate.verdict == "INVALID"
    assert EXIT_CODES == {"PASS": 0, "FAIL": 1, "INVALID": 3}
