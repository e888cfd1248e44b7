"""Manage: create a task, move tasks between statuses, delete one's own task."""

from __future__ import annotations

from _journeys import PrimoUser
from locust import task


class ManageUser(PrimoUser):
    weight = 2

    @task(3)
    def create(self) -> None:
        self.create_task()

    @task(3)
    def move(self) -> None:
        self.update_status()

    @task(2)
    def delete_own(self) -> None:
        self.delete_task()

    @task(1)
    def check_one(self) -> None:
        self.open_task()
