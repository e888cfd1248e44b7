"""Search: look tasks up by a word of their title or description."""

from __future__ import annotations

from _journeys import PrimoUser
from locust import task


class SearchUser(PrimoUser):
    weight = 1

    @task(3)
    def find(self) -> None:
        self.search()

    @task(1)
    def open_one(self) -> None:
        self.open_task()
