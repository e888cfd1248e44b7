from __future__ import annotations

import pytest
from _schedule import OpenSchedule

from harness.scenario import parse_scenario


def test_slots_follow_the_rate_exactly() -> None:
    schedule = OpenSchedule(lambda t: 100.0, 1.0, start=50.0)

    slots = [schedule.next_slot() for _ in range(101)]

    assert slots[:3] == pytest.approx([50.01, 50.02, 50.03])
    assert slots[99] == pytest.approx(51.0)
    assert slots[100] is None


def test_each_process_takes_its_share_of_the_rate() -> None:
    schedule = OpenSchedule(lambda t: 1000.0, 2.0, start=0.0, share=0.5)

    count = sum(1 for _ in iter(schedule.next_slot, None))

    assert count == 1000


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
