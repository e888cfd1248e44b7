"""The edge of the app, as one pure ASGI middleware (cheaper than a stack of them): request id,
admission control (reference_api/admission.py), body size limit, security headers,
``X-Replica``, ``Connection: close`` while draining and the count of requests in flight
(reference_api/drain.py), metrics per route template (with what the request cost:
reference_api/costs.py), one JSON log line per request, and a last-resort 500 in the common
error shape (never a stack trace)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reference_api.admission import Admission
from reference_api.costs import CURRENT, RequestCosts, on_cpu
from reference_api.drain import Drain
from reference_api.errors import BodyTooLarge, error_body
from reference_api.metrics import Metrics

log = structlog.get_logger("reference_api.access")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

# The route label of the requests admission control refused (never routed; one label for all)
REFUSED_ROUTE = "refused: overloaded"
_CLOSE = (b"connection", b"close")  # uvicorn closes the connection after such an answer
_SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"x-permitted-cross-domain-policies", b"none"),
    (b"cache-control", b"no-store"),
]


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


_NEVER_REFUSED = frozenset({"/health", "/health/ready", "/metrics"})


def _never_refused(scope: Scope) -> bool:
    """Probes and the scrape (a balancer must still see an overloaded replica alive and ready),
    and CORS preflights (a refused one reads as a CORS error in the browser, not a 503)."""
    return scope["path"] in _NEVER_REFUSED or scope["method"] == "OPTIONS"


def _route_template(scope: Scope) -> str:
    if scope["state"].get("refused"):
        return REFUSED_ROUTE
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


def _delayed(app: ASGIApp, delay_s: float) -> ASGIApp:
    """INJECT_DELAY_MS, a test fault (refused in production): every request waits on the event
    loop's timer, off the CPU, before it is served."""

    async def delayed(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(delay_s)
        await app(scope, receive, send)

    return delayed


def _admitting(app: ASGIApp, admission: Admission, refuse: Callable[[Send, str], Any]) -> ASGIApp:
    """Admission control in front of the app: a refused request is answered by ``refuse`` at
    once (before any token, Redis or database work); an admitted one is counted until done."""

    async def admitting(scope: Scope, receive: Receive, send: Send) -> None:
        if _never_refused(scope):
            await app(scope, receive, send)
        elif admission.admit():
            try:
                await app(scope, receive, send)
            finally:
                admission.done()
        else:
            scope["state"]["refused"] = True
            await refuse(send, scope["state"]["request_id"])

    return admitting


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: Metrics,
        replica: str,
        max_body: int,
        drain: Drain,
        admission: Admission | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.inner = app  # lifespan and websocket scopes go straight to it
        app = _delayed(app, delay_s) if delay_s else app
        if admission is not None and admission.enabled:  # ADMISSION_MAX_LATENCY_MS=0: off
            app = _admitting(app, admission, self._overloaded)
        self.app = app
        self.metrics = metrics
        self.replica = replica.encode("latin-1", "replace")
        self.max_body = max_body
        self.drain = drain
        # What every answer gets, made once; each request adds its id.
        self._headers = [*_SECURITY_HEADERS, (b"x-replica", self.replica)]
        self._headers_but_cache_control = [h for h in self._headers if h[0] != b"cache-control"]

    def _edge_headers(
        self, message: Message, request_id_header: tuple[bytes, bytes]
    ) -> list[tuple[bytes, bytes]]:
        """The app's headers, then the edge's (a ``Cache-Control`` of the app's wins)."""
        headers = list(message.get("headers", ()))
        has_cache_control = any(k.lower() == b"cache-control" for k, _ in headers)
        headers += self._headers_but_cache_control if has_cache_control else self._headers
        headers.append(request_id_header)
        if self.drain.draining:  # nginx must not reuse a connection about to close
            headers.append(_CLOSE)
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = (
            incoming.decode("ascii")
            if incoming is not None and _SANE_REQUEST_ID.match(incoming.decode("latin-1"))
            else uuid.uuid4().hex
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        # This request's task has a context of its own: what is bound here (and by the auth
        # dependencies: user, client) goes on every line logged while it is served.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        request_id_header = (b"x-request-id", request_id.encode("ascii"))
        status = 500
        response_started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = self._edge_headers(message, request_id_header)
            await send(message)

        received = 0

        async def receive_wrapper() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        costs = RequestCosts()
        token = CURRENT.set(costs)
        self.drain.in_flight += 1
        try:
            length = _header(scope, b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body):
                await self._error(send_wrapper, 413 if length.isdigit() else 400, request_id)
            else:
                await on_cpu(self.app(scope, receive_wrapper, send_wrapper), costs)
        except Exception:
            log.exception("unhandled error")
            if not response_started:
                await self._error(send_wrapper, 500, request_id)
        finally:
            self.drain.in_flight -= 1
            CURRENT.reset(token)
            self._record(scope, status, started, costs)

    async def _overloaded(self, send: Send, request_id: str) -> None:
        await self._error(send, 503, request_id)

    async def _error(self, send: Send, status: int, request_id: str) -> None:
        code, message = {
            400: ("bad_request", "Malformed Content-Length"),
            413: ("payload_too_large", f"Request body larger than {self.max_body} bytes"),
            500: ("internal_error", "Internal server error"),
            503: ("overloaded", "This replica is overloaded; try again shortly"),
        }[status]
        body = json.dumps(error_body(status, code, message, request_id)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 503:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, status: int, started: float, costs: RequestCosts) -> None:
        elapsed = time.perf_counter() - started
        route = _route_template(scope)
        method = scope["method"]
        self.metrics.route(method, route).record(status, elapsed, costs)
        if not log.isEnabledFor(logging.INFO):  # LOG_LEVEL=warning: no line, so no fields either
            return
        log.info(
            "request",
            method=method,
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 3),
        )
