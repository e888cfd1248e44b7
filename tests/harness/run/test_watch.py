"""The live stability watch: one line when throughput falls under half its median, one when back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from harness.core.stability import COLLAPSE_SHARE
from harness.run.watch import StabilityWatch

CPU = {"db": 90.0, "redis": 5.0, "api-1": 80.0, "nginx": 10.0, "generator": 30.0}
STALLED = {"db": 3.0, "redis": 0.4, "api-1": 2.0, "nginx": 0.0, "generator": 1.0}


class Readings:
    """Locust's stats rows, one a second: how many requests had succeeded so far."""

    def __init__(self, windows: list[tuple[float, float]] | None = None) -> None:
        self.watch = StabilityWatch("r1-cache-on", windows or [(10.0, 60.0)])
        self.t = 0.0
        self.done = 0
        self.watch.observe(self.t, self.done, CPU)  # the first row only starts the count

    def seconds(self, rates: Iterable[float], cpu: Mapping[str, float] = CPU) -> list[str]:
        """``rates[i]`` successes in each next second; the lines the watch said."""
        lines = []
        for rate in rates:
            lines += self.after(1.0, rate, cpu)
        return lines

    def after(self, span: float, rate: float, cpu: Mapping[str, float] = CPU) -> list[str]:
        self.t += span
        self.done += int(rate * span)
        line = self.watch.observe(self.t, self.done, cpu)
        return [line] if line else []


def test_a_steady_phase_says_nothing() -> None:
    r = Readings()

    assert r.seconds([540, 530, 550, 520, 545] * 11) == []


def test_five_seconds_under_half_the_median_say_unstable_once_with_the_cpu() -> None:
    r = Readings()
    r.seconds([540] * 25)  # seconds 0-25: 15 of them after the warm-up

    lines = r.seconds([4] * 10, cpu=STALLED)

    assert lines == [
        "r1-cache-on: UNSTABLE at 25 s — throughput fell from 540 to 4 req/s; "
        "db at 3 % CPU, redis at 0 %, api-1 at 2 %, nginx at 0 %"
    ]


def test_recovery_is_said_once_three_seconds_after_throughput_is_back() -> None:
    r = Readings()
    r.seconds([540] * 25)
    r.seconds([0] * 15, cpu=STALLED)

    lines = r.seconds([520] * 10)

    assert lines == ["r1-cache-on: recovered at 40 s (520 req/s)"]


def test_a_dip_shorter_than_five_seconds_is_not_a_collapse() -> None:
    r = Readings()
    r.seconds([540] * 25)

    assert r.seconds([100] * 4 + [540] * 10 + [100] * 4 + [540] * 10) == []


def test_the_share_is_the_one_the_after_the_fact_judgement_uses() -> None:
    r = Readings()
    r.seconds([500] * 25)

    at_the_share = r.seconds([500 * COLLAPSE_SHARE] * 10)
    under_it = r.seconds([500 * COLLAPSE_SHARE - 1] * 10)

    assert at_the_share == []
    assert len(under_it) == 1


def test_a_drop_during_the_warm_up_is_not_judged() -> None:
    r = Readings([(10.0, 60.0)])

    assert r.seconds([540] * 3 + [0] * 6 + [540] * 20) == []


def test_a_window_that_starts_without_throughput_has_no_median_to_fall_from() -> None:
    r = Readings([(10.0, 60.0)])

    assert r.seconds([540] * 10 + [0] * 30) == []


def test_each_steady_window_has_its_own_median() -> None:
    r = Readings([(10.0, 30.0), (35.0, 60.0)])
    r.seconds([540] * 30)

    lines = r.seconds([100] * 30)  # fewer users in the second stage: its own level

    assert lines == []


def test_a_component_without_a_reading_now_is_said_to_be_not_running() -> None:
    r = Readings()
    r.seconds([540] * 25)

    lines = r.seconds([0] * 6, cpu={"redis": 1.0, "api-1": 4.0, "nginx": 0.0})

    assert lines[0].endswith("; db not running, redis at 1 %, api-1 at 4 %, nginx at 0 %")


def test_a_second_collapse_is_said_again() -> None:
    r = Readings()
    r.seconds([540] * 20)
    first = r.seconds([0] * 6 + [540] * 6)

    second = r.seconds([0] * 6)

    assert [line.split(" — ")[0] for line in first + second] == [
        "r1-cache-on: UNSTABLE at 20 s",
        "r1-cache-on: recovered at 26 s (540 req/s)",
        "r1-cache-on: UNSTABLE at 32 s",
    ]


@pytest.mark.parametrize("gap", [2.0, 3.0])
def test_rows_further_apart_than_a_second_count_for_their_whole_span(gap: float) -> None:
    r = Readings()
    r.seconds([540] * 25)

    lines = r.after(gap, 0, STALLED) + r.after(gap, 0, STALLED) + r.after(gap, 0, STALLED)

    assert [line.split(" — ")[0] for line in lines] == ["r1-cache-on: UNSTABLE at 25 s"]
