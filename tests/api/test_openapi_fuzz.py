"""The OpenAPI document is complete and the API keeps its promises under property-based fuzzing.

Schemathesis (tests/api/_schemathesis.py) generates requests from ``/openapi.json`` with a valid
token and runs every check; what it finds must be on the short list of what cannot be fixed.
"""

from __future__ import annotations

from pathlib import Path

from . import _schemathesis as schemathesis
from ._support import Api


def test_every_operation_declares_its_responses_and_error_schema(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "ErrorResponse" in spec["components"]["schemas"]
    operations = [
        (path, method, op) for path, item in spec["paths"].items() for method, op in item.items()
    ]
    assert len(operations) == 12
    for path, method, op in operations:
        responses = op["responses"]
        assert any(code.startswith("2") for code in responses), (method, path)
        if path.startswith("/api/tasks") or path == "/api/auth/me":
            for code in ("401", "429", "503"):
                ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse"), (method, path, code)
        if method in ("post", "patch"):
            assert {"413", "422"} <= set(responses), (method, path)
    # a forged or malformed pagination cursor is refused, and the document says so
    invalid_cursor = spec["paths"]["/api/tasks"]["get"]["responses"]["400"]
    assert "invalid_cursor" in invalid_cursor["description"]
    assert invalid_cursor["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorResponse"
    )


def test_schemathesis_with_every_check_finds_nothing_but_the_forged_cursor(
    api: Api, tmp_path: Path
) -> None:
    headers = api.auth()

    done = schemathesis.run(api.base_url, headers["Authorization"], tmp_path)

    assert done.kinds("EngineFinished"), done.output[-6000:]  # it ran to the end
    assert done.tested_cases >= 100, done.output[-6000:]
    assert not done.kinds("NonFatalError"), done.output[-6000:]
    assert schemathesis.unexplained(done.findings, [schemathesis.FORGED_CURSOR]) == []
    assert done.returncode == (1 if done.findings else 0), done.output[-6000:]
    assert api.client.get("/health").status_code == 200
    assert "Traceback" not in api.log()
