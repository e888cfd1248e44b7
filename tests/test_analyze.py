"""``python analyze.py``: a closed pipe ends it quietly, and its report names the rate limiter."""

from __future__ import annotations

from pathlib import Path

import analyze
from harness.core.checks import RATE_LIMITER
from tests.harness._pipes import into_closed_pipe
from tests.harness._synthetic import PhaseSpec, make_run


def test_analyze_into_a_closed_pipe_exits_141_without_a_word(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec()])

    analysed = into_closed_pipe("analyze.py", str(run), "--out", str(tmp_path / "report"))

    assert analysed.returncode == 141
    assert analysed.stderr == ""
    assert (
        tmp_path / "report" / "report.md"
    ).is_file()  # the work was done; only the path was lost


def test_a_run_refused_by_the_rate_limiter_says_so_in_its_report(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(error_rate=0.9, error_status=429)], scenario="smoke")

    code = analyze.main([str(run), "--out", str(tmp_path / "report")])

    report = (tmp_path / "report" / "report.md").read_text()
    warning = next(line for line in report.splitlines() if RATE_LIMITER in line)
    assert code == 0
    assert "status 429" in warning
    assert "`capacity up --scenario smoke`" in warning
