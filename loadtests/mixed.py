"""The scenario-driven user: ``--scenario NAME`` runs only this user.

Its steps are weighted by the scenario's ``[mix]`` (one step = one request to that endpoint).
In the closed model it thinks ``load.think_time`` (uniform ±50 %) between steps; in the open
model it claims the next slot of this process's arrival schedule, waits for it and carries the
intended start into the request (coordinated-omission correction). Every step sends exactly one
request (see ``_journeys``), so the achieved rate is the scheduled rate and every request of the
run's steps carries its slot's intended start.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import ClassVar

import gevent
from _journeys import STEPS, PrimoUser
from _runtime import RUN, on_mix
from locust import task


class ScenarioUser(PrimoUser):
    scenario_driven = True
    steps: ClassVar[list[Callable[[PrimoUser], None]]] = list(STEPS.values())
    weights: ClassVar[list[float]] = [1.0] * len(STEPS)

    def wait_time(self) -> float:
        think = RUN.think_time_s
        if RUN.open_model or not think:
            return 0.0
        return random.uniform(0.5 * think, 1.5 * think)

    @task
    def step(self) -> None:
        if RUN.open_model:
            schedule = RUN.schedule
            if schedule is None:  # a worker that does not know its share of the rate yet
                gevent.sleep(0.05)
                return
            slot = schedule.next_slot()
            if slot is None:  # the schedule is over; the shape ends the run within a second
                gevent.sleep(1.0)
                return
            gevent.sleep(max(0.0, slot - time.time()))
            self.intended = slot
        random.choices(self.steps, self.weights)[0](self)


@on_mix
def _follow_mix(mix: dict[str, float]) -> None:
    chosen = [(STEPS[name], weight) for name, weight in mix.items() if weight > 0]
    ScenarioUser.steps = [step for step, _ in chosen]
    ScenarioUser.weights = [weight for _, weight in chosen]
