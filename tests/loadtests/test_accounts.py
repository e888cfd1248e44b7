"""Each simulated user logs in as one seeded account of its own, the same one every time."""

from __future__ import annotations

import json

from ._snippets import run_snippet

EMAILS = """
import json
from types import SimpleNamespace
from _journeys import PrimoUser
from _runtime import RUN

RUN.seed_users = {accounts}
users = [SimpleNamespace(account=None) for _ in range({users})]
first = [PrimoUser._credentials(u)["email"] for u in users]
again = [PrimoUser._credentials(u)["email"] for u in users]
print(json.dumps([first, again]))
"""


def emails(accounts: int, users: int) -> tuple[list[str], list[str]]:
    first, again = json.loads(run_snippet(EMAILS.format(accounts=accounts, users=users)))
    return first, again


def test_users_of_one_process_get_distinct_accounts_and_keep_them() -> None:
    first, again = emails(accounts=50, users=50)

    assert len(set(first)) == 50  # no two simulated users share an account
    assert again == first  # a re-login is the same person


def test_more_users_than_accounts_take_them_in_turn() -> None:
    first, _ = emails(accounts=3, users=7)

    assert len(set(first)) == 3
    assert first[:3] == first[3:6]
