"""A simulated user keeps no cookie jar unless asked: the API sets no cookie."""

from __future__ import annotations

import json

import pytest

from ._snippets import run_snippet

JAR = """
import json
from locust.env import Environment
from _journeys import PrimoUser
from _runtime import RUN

class User(PrimoUser):
    host = "http://127.0.0.1:9"

RUN.cookie_jar = {keep}
print(json.dumps(User(Environment(user_classes=[User])).client.client.cookiejar is not None))
"""


@pytest.mark.parametrize(("keep", "has_jar"), [(False, False), (True, True)])
def test_the_cookie_jar_is_kept_only_with_the_option(keep: bool, has_jar: bool) -> None:
    assert json.loads(run_snippet(JAR.format(keep=keep))) is has_jar
