from __future__ import annotations

import numpy as np

from harness.core.slo import evaluate
from harness.core.stability import (
    collapses,
    episodes,
    floor_share,
    longest_stall_s,
    stalls,
    without,
)

from ._synthetic import RUN_START, records, samples, scenario

WINDOW = [(5.0, 45.0)]


def _steady(rate: float = 100.0, seconds: float = 50.0, latency_ms: float = 20.0) -> np.ndarray:
    return records(np.arange(0.0, seconds, 1.0 / rate), [latency_ms] * int(seconds * rate))


def _with_stall(start: float, length: float, waiting: int = 30) -> np.ndarray:
    """Steady 100 req/s, except that nothing succeeds from ``start`` for ``length`` s: the
    requests sent then wait until the end of the stall (or time out at 10 s)."""
    base = _steady()
    t = base["ts"] - RUN_START
    stuck = (t >= start) & (t < start + length)
    finish = np.minimum(start + length, t[stuck] + 10.0)
    base["latency_ms"][stuck] = (finish - t[stuck]) * 1000.0
    base["ok"][stuck] = (finish - t[stuck] < 10.0).astype(np.uint8)
    base["status"][stuck] = np.where(base["ok"][stuck] == 1, 200, 0)  # 0: timed out, no answer
    keep = ~stuck | (np.cumsum(stuck) <= waiting * 10)  # a closed model: few requests wait
    return base[keep]


def test_a_steady_phase_has_no_episode_and_a_floor_near_one() -> None:
    data = _steady()

    assert episodes(data, WINDOW, RUN_START) == []
    assert floor_share(data, WINDOW, RUN_START) > 0.9
    assert longest_stall_s(data, WINDOW, RUN_START) == 0.0


def test_fifteen_seconds_with_no_success_is_a_stall_at_the_right_time() -> None:
    data = _with_stall(start=20.0, length=15.0)

    (stall,) = stalls(data, WINDOW, RUN_START)

    assert stall.kind == "stall"
    assert 19.0 <= stall.start_s <= 20.5
    assert stall.duration_s >= 14.0
    assert stall.waiting > 0
    assert stall.before_rps > 90


def test_a_stall_also_shows_as_a_collapse_of_its_bins() -> None:
    data = _with_stall(start=20.0, length=15.0)

    found = collapses(data, WINDOW, RUN_START)

    assert found
    assert found[0].start_s == 20.0
    assert found[0].during_rps < 10


def test_fast_refusals_are_failures_not_a_stall() -> None:
    # every request answered 429 at once: the service answers, it is not stalled
    data = _steady()
    data["ok"] = 0
    data["status"] = 429

    assert stalls(data, WINDOW, RUN_START) == []


def test_a_quiet_generator_is_not_a_stalled_service() -> None:
    # nothing was sent for 15 s: no request waited, so no stall (it is a collapse of the bins)
    data = _steady()
    t = data["ts"] - RUN_START
    quiet = data[(t < 20.0) | (t >= 35.0)]

    assert stalls(quiet, WINDOW, RUN_START) == []


def test_a_stall_fails_the_verdict_with_a_stability_check() -> None:
    data = _with_stall(start=7.0, length=11.0)  # the scenario's steady window is 5-20 s
    spec = scenario({"p95_ms": 100_000})

    verdict = evaluate(samples(data), spec, 10.0)

    failed = [c for c in verdict.checks if not c.passed]
    assert verdict.status == "FAIL"
    assert {c.metric for c in failed} >= {"longest_stall_s"}
    assert all(c.kind == "stability" for c in failed)


def test_fault_spans_are_cut_out_of_the_windows_the_stability_checks_judge() -> None:
    windows = [(5.0, 60.0), (70.0, 100.0)]

    assert without(windows, [(25.0, 40.0)]) == [(5.0, 25.0), (40.0, 60.0), (70.0, 100.0)]
    assert without(windows, [(0.0, 10.0), (55.0, 80.0)]) == [(10.0, 55.0), (80.0, 100.0)]
    assert without(windows, [(60.0, 70.0)]) == windows
    assert without(windows, []) == windows
