"""The report's warnings name the rate limiter when it, not the service, refused the requests."""

from __future__ import annotations

from pathlib import Path

from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.core.checks import raising_the_rate_limit
from tests.harness._synthetic import PhaseSpec, make_run

LIMITER = "the service's rate limiter, not its capacity, refused these requests"


def _cause(run: Path) -> str:
    summary = summarise_phase(load_run(run)[0])
    return next(w for w in summary.warnings if w.startswith("errors are dominated by one cause"))


def test_failures_that_are_mostly_429_are_put_down_to_the_rate_limiter(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(error_rate=0.9, error_status=429)], scenario="smokey")

    cause = _cause(run)

    assert "% status 429" in cause
    assert f" — {LIMITER}. {raising_the_rate_limit('smokey')}" in cause
    assert cause.endswith(
        "which `capacity run` and `capacity up --scenario smokey` apply to the API replicas, or "
        "start the stack with `capacity up --env RATE_LIMIT_MAX=100000000 --env "
        "RATE_LIMIT_AUTH_MAX=100000000`."
    )


def test_without_the_scenario_the_hint_says_name(tmp_path: Path) -> None:
    spec = PhaseSpec(error_rate=0.9, error_status=429)
    run = make_run(tmp_path, [spec], with_scenario=False)

    assert "`capacity up --scenario NAME`" in _cause(run)


def test_failures_dominated_by_another_status_say_nothing_of_the_limiter(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(error_rate=0.05, error_status=503)])

    cause = _cause(run)

    assert "status 503" in cause
    assert "rate limit" not in cause.lower()
