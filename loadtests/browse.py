"""Browse: list and filter tasks, page with the cursor, open one."""

from __future__ import annotations

from _journeys import PrimoUser
from locust import task


class BrowseUser(PrimoUser):
    weight = 5

    @task(4)
    def first_page(self) -> None:
        self.list_tasks()

    @task(2)
    def following_page(self) -> None:
        self.next_page()

    @task(3)
    def open_one(self) -> None:
        self.open_task()
