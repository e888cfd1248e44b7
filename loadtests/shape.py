"""The one load shape (imported by nothing): the scenario's stages, or -u/-r/-t without one.

Closed model: each stage's users and spawn rate. Open model: the whole user pool at once (the
arrival schedule, not the user count, sets the rate). ``use_common_options`` lets plain
``locust -f loadtests -u 10 -r 2 -t 1m`` (and the web UI's fields) work when no scenario is given.
"""

from __future__ import annotations

from _runtime import RUN
from locust import LoadTestShape


class ScenarioShape(LoadTestShape):
    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        run_time: float = self.get_run_time()  # type: ignore[no-untyped-call]  # untyped in Locust
        scenario = RUN.scenario
        if scenario is None:
            options = self.runner.environment.parsed_options if self.runner else None
            if options is not None and options.run_time and run_time >= options.run_time:
                return None
            users = getattr(options, "num_users", None) or 1
            spawn_rate = getattr(options, "spawn_rate", None) or 1
            return int(users), float(spawn_rate)
        load = scenario.load
        if run_time >= load.duration_s:
            return None
        if load.model == "open":
            pool = load.pool_size()
            return pool, float(max(pool, 1))
        return load.users_at(run_time)
