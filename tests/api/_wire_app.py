"""A bare ASGI app for tests/api/test_wire.py: answers whose writes the protocol must get right,
and one that kills its own process between an answer's header and its body."""

from __future__ import annotations

import os
import signal
from typing import Any

BIG = b"x" * 200_000


async def _answer(send: Any, body: bytes, *, status: int = 200) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    path = scope["path"]
    if path == "/die-mid-answer":
        headers = [(b"content-length", b"15")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        os.kill(os.getpid(), signal.SIGKILL)  # the replica dies here, its body unsent
    elif path == "/echo":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await _answer(send, body)
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/big":
        await _answer(send, BIG)
    else:
        await _answer(send, b'{"status":"ok"}')
