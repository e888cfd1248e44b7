"""An unexpected exception answers 500 in the common error shape, without a stack trace.

In-process (httpx's ASGI transport): no real route can be made to fail on purpose, so this test
adds one. Everything else in this folder talks to a real uvicorn over HTTP.
"""

from __future__ import annotations

import asyncio

import httpx

from reference_api.main import create_app
from reference_api.settings import Settings

from ._support import JWT_SECRET


def test_an_unhandled_exception_answers_500_without_a_stack_trace() -> None:
    app = create_app(Settings(app_env="test", jwt_secret=JWT_SECRET, log_level="critical"))

    async def boom() -> None:
        raise RuntimeError("secret internals: /etc/passwd")

    app.add_api_route("/boom", boom)

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # no lifespan: this route needs no services
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.get("/boom", headers={"X-Request-ID": "boom-1"})

    response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "Internal server error",
            "request_id": "boom-1",
        }
    }
    assert "secret internals" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
