"""A run whose failures are mostly 429: the verdict names the rate limiter and how to lift it."""

from __future__ import annotations

import json

import numpy as np

from harness.core.checks import (
    format_table,
    mostly_rate_limited,
    raising_the_rate_limit,
)
from harness.core.slo import evaluate

from ._synthetic import records, samples, scenario


def _verdict(*parts: tuple[int, float]) -> tuple[str, dict[str, int]]:
    """(verdict table, measured statuses) of 1000 steady requests per (status of the failures,
    share that failed)."""
    arrays = []
    for status, share in parts:
        ok = np.random.default_rng(status).permutation(np.arange(1000) >= 1000 * share)
        arrays.append(
            records(
                np.linspace(5.0, 19.99, 1000),
                [20.0] * 1000,
                ok=ok.astype(int).tolist(),
                status=status,
            )
        )
    verdict = evaluate(samples(*arrays), scenario({"error_rate": 0.01}), 30.0)
    return format_table(verdict), verdict.measured["statuses"]


def test_the_verdict_counts_failures_by_status_in_the_steady_windows() -> None:
    warmup = records([1.0] * 50, [20.0] * 50, ok=[0] * 50, status=503)  # before 5 s: left out
    steady = records(np.linspace(5.0, 19.99, 100), [20.0] * 100, ok=[0] * 30 + [1] * 70, status=429)
    timeouts = records([10.0] * 5, [10_000.0] * 5, ok=[0] * 5, status=0)

    verdict = evaluate(samples(warmup, steady, timeouts), scenario({"error_rate": 0.01}), 30.0)

    assert verdict.measured["statuses"] == {"429": 30, "0": 5}
    assert list(verdict.measured["statuses"]) == ["429", "0"]  # most common first
    assert json.loads(json.dumps(verdict.to_dict()))["measured"]["statuses"] == {"429": 30, "0": 5}


def test_the_table_names_the_rate_limiter_when_the_failures_are_mostly_429() -> None:
    table, statuses = _verdict((429, 0.95))

    lines = table.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("rate limited:"))
    assert statuses == {"429": 950}
    assert lines[at] == (
        "rate limited: 950 of 950 failures were 429 Too Many Requests: "
        "the service's rate limiter, not its capacity, refused these requests."
    )
    assert lines[at + 1] == raising_the_rate_limit()
    assert lines[at + 2].startswith("VERDICT: FAIL")


def test_the_hint_says_which_settings_raise_the_limit_and_how_to_apply_them() -> None:
    how = raising_the_rate_limit("smoke")

    assert "RATE_LIMIT_MAX (requests per user)" in how
    assert "RATE_LIMIT_AUTH_MAX (logins and registrations per client IP)" in how
    assert "each per RATE_LIMIT_WINDOW minutes, in the scenario's [env]" in how
    assert "`capacity up --scenario smoke` apply to the API replicas" in how
    assert "`capacity up --env RATE_LIMIT_MAX=100000000 --env RATE_LIMIT_AUTH_MAX=100000000`" in how
    assert raising_the_rate_limit().count("`capacity up --scenario NAME`") == 1


def test_the_table_says_nothing_of_the_limiter_when_the_failures_are_server_errors() -> None:
    table, statuses = _verdict((500, 0.95))

    assert statuses == {"500": 950}
    assert "rate limit" not in table


def test_a_minority_of_429s_among_other_failures_is_not_called_rate_limiting() -> None:
    table, statuses = _verdict((429, 0.3), (503, 0.3))

    assert statuses == {"429": 300, "503": 300}
    assert "rate limit" not in table


def test_mostly_means_more_than_eight_in_ten_failures() -> None:
    assert mostly_rate_limited({"429": 81, "500": 19})
    assert not mostly_rate_limited({"429": 80, "500": 20})
    assert not mostly_rate_limited({})
