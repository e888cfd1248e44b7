"""Dashboard: the statistics view (counts by status and priority, overdue) and the profile."""

from __future__ import annotations

from _journeys import PrimoUser
from locust import task


class DashboardUser(PrimoUser):
    weight = 2

    @task(4)
    def counts(self) -> None:
        self.stats()

    @task(1)
    def profile(self) -> None:
        self.me()
