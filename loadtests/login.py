"""Login: the cost of authentication (bcrypt on the server) on its own.

A user of its own: every task is a fresh login of its seeded account. It has a low weight in
plain runs because one login costs as much CPU as hundreds of list requests.
"""

from __future__ import annotations

from _journeys import PrimoUser
from locust import between, task


class LoginUser(PrimoUser):
    weight = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        """No up-front login: logging in is the journey."""

    @task
    def log_in(self) -> None:
        self.login_again()
