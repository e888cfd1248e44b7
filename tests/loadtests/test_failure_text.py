"""A failure's name in Locust's statistics carries no per-answer id: Locust keeps one entry per
distinct message for the whole run (a 10-minute run at 27 % errors grew the master by 5 MB/min)."""

from __future__ import annotations

import json

from ._snippets import run_snippet

NAMES = """
import json
from _journeys import failure_text

bodies = json.loads({bodies!r})
print(json.dumps([failure_text(b) for b in bodies]))
"""


def names(*bodies: str | None) -> list[str]:
    found: list[str] = json.loads(run_snippet(NAMES.format(bodies=json.dumps(bodies))))
    return found


def test_the_api_s_error_is_named_by_code_and_message_without_its_request_id() -> None:
    first = '{"error":{"code":"unavailable","message":"Database busy","request_id":"a1"}}'
    second = '{"error":{"code":"unavailable","message":"Database busy","request_id":"b2"}}'

    # one statistics entry for both, not one per request id
    assert names(first, second) == ["unavailable: Database busy"] * 2


def test_a_body_that_is_not_the_api_s_error_is_kept_short() -> None:
    html = "<html>" + "x" * 500
    assert names(html, None, '{"detail": "other"}') == [html[:160], "", '{"detail": "other"}']
