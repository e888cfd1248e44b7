from __future__ import annotations

import pytest
from _schedule import OpenSchedule

from harness.core.scenario import parse_scenario


def test_slots_follow_the_rate_exactly() -> None:
    schedule = OpenSchedule(lambda t: 100.0, 1.0, start=50.0)

    slots = [schedule.next_slot() for _ in range(101)]

    assert slots[:3] == pytest.approx([50.005, 50.015, 50.025])
    assert slots[99] == pytest.approx(50.995)
    assert slots[100] is None


@pytest.mark.parametrize(("rate", "seconds"), [(1000.0, 10.0), (100.0, 1.0), (3.0, 7.0)])
def test_no_slot_at_or_past_the_end(rate: float, seconds: float) -> None:
    schedule = OpenSchedule(lambda t: rate if t < seconds else 0.0, seconds, start=0.0)

    slots = list(iter(schedule.next_slot, None))

    assert len(slots) == round(rate * seconds)  # 10,000 at 1000 req/s for 10 s, not 10,001
    assert max(slots) < seconds
    assert schedule.next_slot() is None


def test_each_process_takes_its_share_of_the_rate() -> None:
    schedule = OpenSchedule(lambda t: 1000.0, 2.0, start=0.0, share=0.5)

    count = sum(1 for _ in iter(schedule.next_slot, None))

    assert count == 1000


def test_processes_interleave_the_global_slots_exactly_once() -> None:
    per_process = [
        list(iter(OpenSchedule(lambda t: 100.0, 2.0, start=0.0, index=i, count=3).next_slot, None))
        for i in range(3)
    ]
    alone = list(iter(OpenSchedule(lambda t: 100.0, 2.0, start=0.0).next_slot, None))

    assert [len(slots) for slots in per_process] == [67, 67, 66]
    assert sorted(s for slots in per_process for s in slots) == pytest.approx(alone)
    assert per_process[1][0] == pytest.approx(0.015)  # staggered, not a burst of three
    assert OpenSchedule(lambda t: 100.0, 2.0, 0.0, index=1, count=3).rate(0.0) == pytest.approx(
        100 / 3
    )


def test_a_bad_process_index_is_refused() -> None:
    with pytest.raises(ValueError, match="index"):
        OpenSchedule(lambda t: 1.0, 1.0, 0.0, index=2, count=2)


def test_slots_follow_stages_and_ramps() -> None:
    load = parse_scenario(
        {
            "name": "steps",
            "load": {
                "model": "open",
                "stages": [
                    {"duration": "2s", "rate": 100, "ramp": "1s"},
                    {"duration": "1s", "rate": 300},
                ],
            },
            "mix": {"GET /health": 1},
        }
    ).load
    schedule = OpenSchedule(load.rate_at, load.duration_s, start=0.0)

    slots = list(iter(schedule.next_slot, None))

    first_second = sum(1 for s in slots if s < 1.0)
    second = sum(1 for s in slots if 1.0 <= s < 2.0)
    third = sum(1 for s in slots if s >= 2.0)
    assert 40 <= first_second <= 60  # the ramp averages 50 req/s
    assert second == pytest.approx(100, abs=1)
    assert third == pytest.approx(300, abs=1)
    assert max(slots) < 3.0
