from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from harness.cli import main
from tests.harness._synthetic import PhaseSpec, make_run


def _noisy(latency_ms: float, seed: int) -> PhaseSpec:
    """Per 5 s block the latency moves by ~40 % (log-normal): a noisy service."""
    return PhaseSpec(stage_s=60.0, block_noise=0.4, latency_ms=(latency_ms,), seed=seed)


def test_a_run_inside_its_slo_and_equal_to_its_baseline_passes(
    tmp_path: Path, saved_baseline: Callable[[Path, Path], Path]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    baseline = saved_baseline(run, tmp_path / "baseline.json")

    assert main(["gate", str(run), "--baseline", str(baseline)]) == 0


def test_a_run_outside_its_slo_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(latency_ms=(300.0,))])

    code = main(["gate", str(run)])

    assert code == 1
    assert "| r1-cache-on | slo: p95_ms | <= 200 |" in capsys.readouterr().out


def test_a_generator_bound_run_is_invalid_with_exit_3(
    tmp_path: Path, generator_bound_cpu: dict[str, float]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(cpu=generator_bound_cpu)])

    assert main(["gate", str(run)]) == 3


def test_a_run_that_could_not_offer_its_rate_is_invalid_with_exit_3(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(achieved_share=0.7)])

    assert main(["gate", str(run)]) == 3


def test_an_incomplete_phase_is_invalid_with_exit_3(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(status="interrupted")])

    assert main(["gate", str(run)]) == 3


def test_a_regression_beyond_noise_fails_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved_baseline: Callable[[Path, Path], Path]
) -> None:
    before = make_run(tmp_path, [PhaseSpec(latency_ms=(20.0,), seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(30.0,), seed=2)], name="after")
    baseline = saved_baseline(before, tmp_path / "baseline.json")
    markdown = tmp_path / "gate.md"

    code = main(["gate", str(after), "--baseline", str(baseline), "--markdown", str(markdown)])

    assert code == 1
    table = markdown.read_text()
    row = next(line for line in table.splitlines() if "| p95 latency (ms) |" in line)
    assert "| yes | FAIL |" in row
    assert "outside the noise" in row
    assert capsys.readouterr().out.count("| p95 latency (ms) |") == 1


def test_a_difference_beyond_the_allowance_but_inside_the_noise_is_inconclusive_with_exit_4(
    tmp_path: Path, saved_baseline: Callable[[Path, Path], Path]
) -> None:
    # per-block latency varies by ~40 %: a 44 % higher p95 is still inside that noise
    before = make_run(tmp_path, [_noisy(20.0, seed=1)], name="before")
    after = make_run(tmp_path, [_noisy(23.0, seed=2)], name="after")
    baseline = saved_baseline(before, tmp_path / "baseline.json")
    markdown = tmp_path / "gate.md"

    code = main(["gate", str(after), "--baseline", str(baseline), "--markdown", str(markdown)])

    assert code == 4
    row = next(line for line in markdown.read_text().splitlines() if "| p95 latency (ms) |" in line)
    assert "| no | INCONCLUSIVE |" in row
    assert "inside the noise" in row
    assert "more run(s) of this length on each side" in row


def test_a_regression_below_the_allowed_percentage_passes(
    tmp_path: Path, saved_baseline: Callable[[Path, Path], Path]
) -> None:
    before = make_run(tmp_path, [PhaseSpec(latency_ms=(20.0,), seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(30.0,), seed=2)], name="after")
    baseline = saved_baseline(before, tmp_path / "baseline.json")

    code = main(["gate", str(after), "--baseline", str(baseline), "--max-regression", "80"])

    assert code == 0


def test_junit_has_one_case_per_check_and_failures_for_failed_checks(
    tmp_path: Path, saved_baseline: Callable[[Path, Path], Path]
) -> None:
    before = make_run(tmp_path, [PhaseSpec(seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(300.0,), seed=2)], name="after")
    baseline = saved_baseline(before, tmp_path / "baseline.json")
    junit = tmp_path / "junit.xml"

    assert main(["gate", str(after), "--baseline", str(baseline), "--junit", str(junit)]) == 1

    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "0")) == len(cases) > 4
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert {"p95_ms", "p95 latency (ms)"} <= failed
    assert int(suite.get("failures", "0")) == len(failed)


def test_junit_marks_an_invalid_run_as_errors(
    tmp_path: Path, generator_bound_cpu: dict[str, float]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(cpu=generator_bound_cpu)])
    junit = tmp_path / "junit.xml"

    assert main(["gate", str(run), "--junit", str(junit)]) == 3

    suite = ET.parse(junit).getroot().find("testsuite")  # noqa: S314 - our own output
    assert suite is not None
    assert int(suite.get("errors", "0")) >= 1


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_a_baseline_of_another_scenario_is_inconclusive_with_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved_baseline: Callable[[Path, Path], Path]
) -> None:
    other = make_run(tmp_path, [PhaseSpec()], name="other", scenario="other-scenario")
    run = make_run(tmp_path, [PhaseSpec()], name="run")
    baseline = saved_baseline(other, tmp_path / "other.json")

    code = main(["gate", str(run), "--baseline", str(baseline)])

    assert code == 4
    out, err = capsys.readouterr()
    assert "## Capacity gate: INCONCLUSIVE" in out
    assert "the baseline is of scenario 'other-scenario', this run of 'synthetic'" in err
    assert len(err.strip().splitlines()) == 1


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


def test_with_too_few_blocks_for_noise_a_large_change_is_inconclusive(
    tmp_path: Path, saved_baseline: Callable[[Path, Path], Path]
) -> None:
    # a 10 s steady window holds two 5 s blocks: the noise cannot be estimated
    before = make_run(tmp_path, [PhaseSpec(stage_s=15.0, seed=1)], name="before")
    after = make_run(tmp_path, [PhaseSpec(stage_s=15.0, latency_ms=(30.0,), seed=2)], name="after")
    baseline = saved_baseline(before, tmp_path / "baseline.json")
    markdown = tmp_path / "gate.md"

    code = main(["gate", str(after), "--baseline", str(baseline), "--markdown", str(markdown)])

    assert code == 4
    row = next(line for line in markdown.read_text().splitlines() if "| p95 latency (ms) |" in line)
    assert "the noise is unknown" in row
    assert "| INCONCLUSIVE |" in row
