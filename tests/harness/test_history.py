"""``capacity history add`` and ``capacity trend``: a history of runs with one step in p95 puts
the change point at the run of the step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.history.changes import change_points
from harness.history.store import load_history
from tests.harness._synthetic import PhaseSpec, make_run


def test_a_step_in_a_noisy_history_is_the_change_point() -> None:
    values = [20.1, 19.8, 20.3, 19.9, 24.2, 24.0, 24.5]

    (point,) = change_points(values)

    assert point.index == 4
    assert point.change_pct == pytest.approx(21.0, abs=1.0)


def test_a_flat_history_has_no_change_point() -> None:
    assert change_points([20.1, 19.8, 20.3, 19.9, 20.2, 20.0]) == []


def test_history_add_and_trend_find_the_run_that_slowed_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.jsonl"
    medians = [20.0, 20.0, 20.0, 26.0, 26.0]  # runs 4 and 5 are 30 % slower
    for i, median in enumerate(medians, start=1):
        run = make_run(tmp_path, [PhaseSpec(latency_ms=(median,), seed=i)], name=f"run{i}")
        assert main(["report", str(run)]) == 0
        assert main(["history", "add", str(run), "--history", str(history)]) == 0
    assert main(["history", "add", str(run), "--history", str(history)]) == 0  # idempotent
    capsys.readouterr()
    png = tmp_path / "trend.png"

    code = main(["trend", "--history", str(history), "--metric", "p95_ms", "--markdown",
                 "--png", str(png)])  # fmt: skip

    out = capsys.readouterr().out
    assert code == 0
    assert len(load_history(history)) == 5
    row = next(line for line in out.splitlines() if "| p95_ms |" in line)
    assert "| run 4 (run4) |" in row
    assert png.read_bytes().startswith(b"\x89PNG")

    # The report of the last run, given the history, shows the same change point and its plot.
    assert main(["report", str(run), "--history", str(history)]) == 0
    report = (run / "report.md").read_text()
    trend = report[report.index("## Trend over runs") :]
    row = next(line for line in trend.splitlines() if "| p95_ms |" in line)
    assert "| run 4 (run4) |" in row
    assert (run / "trend.png").read_bytes().startswith(b"\x89PNG")


def test_history_add_without_a_summary_is_one_line_of_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])

    code = main(["history", "add", str(run), "--history", str(tmp_path / "h.jsonl")])

    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "summary.json: missing (write it with: capacity report" in err


def test_a_corrupt_history_is_bad_input_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text("{not json\n")

    assert main(["trend", "--history", str(history)]) == 2
    assert f"{history}:1: not a history record" in capsys.readouterr().err


def test_two_runs_in_the_same_directory_are_two_records(tmp_path: Path) -> None:
    # CI writes every run to reports/ci: the run's start, not its directory, tells them apart.
    history = tmp_path / "history.jsonl"
    for seed in (1, 2):
        run = make_run(tmp_path / str(seed), [PhaseSpec(seed=seed)], name="ci")
        manifest = run / "r1-cache-on" / "manifest.json"
        data = json.loads(manifest.read_text())
        data["started"] = f"2027-01-15T08:0{seed}:00Z"
        manifest.write_text(json.dumps(data))
        assert main(["report", str(run)]) == 0
        assert main(["history", "add", str(run), "--history", str(history)]) == 0
        assert main(["history", "add", str(run), "--history", str(history)]) == 0  # idempotent

    assert [r.started for r in load_history(history)] == [
        "2027-01-15T08:01:00Z",
        "2027-01-15T08:02:00Z",
    ]
