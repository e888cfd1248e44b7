"""The one nginx template behind both the local balancer and ``compose/nginx.conf``.

``compose/nginx.conf`` is this template rendered with :func:`render_compose` and committed; a test
keeps the two identical (regenerate with ``python -m harness.stack.nginx > compose/nginx.conf``).
The two variants differ only where the places differ: where files live, which servers the upstream
lists (loopback ports, or the ``api`` service re-resolved through Docker's DNS so that
``--scale api=N`` is followed), and how hard the per-client-IP rate limit bites.
"""

from __future__ import annotations

import getpass
import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import jinja2

# Departures from the strategy's block, on purpose:
# - `limit_req_zone` is only valid in the http context (the strategy has it inside `server`);
# - `Connection ""` instead of `Connection 'upgrade'`: upstream keepalive needs it, and the API
#   has no WebSocket routes;
# - connect timeout 5 s rather than 60 s: a replica that does not accept within 5 s is down, and
#   the request should move on to the next one;
# - upstream keepalive_timeout 60 s, below uvicorn's --timeout-keep-alive 75, so nginx never
#   reuses a connection the replica is about to close;
# - no `http_503` in proxy_next_upstream: measured under overload (target-1k on SecantusDB), the
#   API's 503s (database unavailable) disabled every replica for fail_timeout and turned an
#   overloaded database into 99 % 502s from nginx.
# Held connections (scenarios/concurrent-10k.toml, docs/concurrency.md): 16,384 connections per
# worker (clients and upstreams count alike; 10,000 idle users plus the upstreams outgrew 2 x
# 4,096), files per worker at 20,000 (the hard `ulimit -n` here: nginx cannot raise it), and
# clients kept alive 120 s, past a closed-model user's longest think (70 s +- 50 %), so a user
# holds one connection instead of reconnecting after every pause.
# Restarts: a replica that stops while in rotation fails its connects (retried on another replica,
# but each counts towards max_fails: two replicas restarted within fail_timeout of each other
# leave "no live upstreams", all 502), and closes kept-alive connections nginx may be writing a
# POST or PATCH onto (never resent: 502). So the local stack drains a replica first: rendered
# `down` and reloaded (harness/stack/balancer.py).
TEMPLATE = """\
# Rendered by harness/stack/nginx.py ({{ variant }} variant). Do not edit by hand.
{% if user %}user {{ user }};
{% endif %}worker_processes auto;
worker_rlimit_nofile 20000;
{% if prefix %}pid {{ prefix }}/nginx.pid;
error_log {{ prefix }}/logs/nginx.log warn;
{% else %}error_log /var/log/nginx/error.log warn;
{% endif %}

events {
    worker_connections 16384;
}

http {
    # The API writes one JSON line per request itself.
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 10000;
    # The API's own limit (reference_api/settings.py): the same answer wherever a body hits it.
    client_max_body_size {{ max_body_bytes }};
{% if prefix %}
    client_body_temp_path {{ prefix }}/nginx-temp/body;
    proxy_temp_path {{ prefix }}/nginx-temp/proxy;
    fastcgi_temp_path {{ prefix }}/nginx-temp/fastcgi;
    uwsgi_temp_path {{ prefix }}/nginx-temp/uwsgi;
    scgi_temp_path {{ prefix }}/nginx-temp/scgi;
{% endif %}
{% if resolver %}
    # Docker's embedded DNS; `resolve` below re-reads the replicas of `api` every 10 s.
    resolver {{ resolver }} valid=10s ipv6=off;
{% endif %}
    limit_req_zone $binary_remote_addr zone=api_limit:10m rate={{ rate_limit }}r/s;
    limit_req_status 429;

    # One request id from the client to the replica and back, in nginx's own errors too: the
    # client's X-Request-ID when the API would keep it (reference_api/middleware.py's pattern,
    # which also keeps it safe inside a JSON string), nginx's otherwise (32 hex digits, as the
    # API makes its own).
    map $http_x_request_id $api_request_id {
        default $request_id;
        "~^[A-Za-z0-9._:-]{1,128}$" $http_x_request_id;
    }

    upstream api_servers {
        zone api_servers 256k;
        least_conn;
{% for server in servers %}
        server {{ server }} max_fails=3 fail_timeout=30s;
{% endfor %}
        keepalive 64;
        keepalive_timeout 60s;
        keepalive_requests 10000;
    }

    server {
        listen {{ listen }};
        server_name _;

        # Every error nginx answers itself is the API's JSON error, with the request id. The
        # API's own errors pass through untouched (proxy_intercept_errors is off). Internal
        # locations by URI, not named ones: a request line nginx refuses (400, 414) has no URI,
        # and nginx cannot redirect such a request to a named location.
{% for e in errors %}
        error_page {{ e.status }} ={{ e.sent }} {{ error_prefix }}{{ e.status }};
{% endfor %}

        location / {
            limit_req zone=api_limit burst={{ burst }} nodelay;

            proxy_pass http://api_servers;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Request-ID $api_request_id;

            # Retry on another replica when one is gone; nginx never retries a non-idempotent
            # request (POST, PATCH) that it already sent, unless told to. Not on the API's own
            # 503: it means a dependency every replica shares is down or overloaded, and counting
            # it towards max_fails takes healthy replicas out ("no live upstreams": all 502).
            proxy_next_upstream error timeout http_502;
            proxy_next_upstream_tries 3;
            proxy_next_upstream_timeout 10s;

            proxy_connect_timeout 5s;
            proxy_send_timeout 60s;
            proxy_read_timeout 60s;
        }
{% for e in errors %}

        location = {{ error_prefix }}{{ e.status }} {
            internal;
            default_type application/json;
            add_header X-Request-ID $api_request_id always;
            add_header X-Content-Type-Options nosniff always;
            add_header Cache-Control no-store always;
{% for name, value in e.headers %}
            add_header {{ name }} "{{ value }}" always;
{% endfor %}
            return {{ e.sent }} '{{ e.body }}';
        }
{% endfor %}
    }
}
"""

COMPOSE_RATE_LIMIT = 10  # the strategy's production limit: 10 r/s per client IP, burst 20
COMPOSE_BURST = 20
API_CONTAINER_PORT = 8000
MAX_BODY_BYTES = 64 * 1024  # the API's default max_body_bytes; a test keeps them equal


@dataclass(frozen=True)
class NginxError:
    """An answer nginx makes itself, in the API's error shape: ``status`` is nginx's name for
    it, ``sent`` the status the client gets (494 is nginx's own, sent as 400)."""

    status: int
    code: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()
    sent_as: int | None = None

    @property
    def sent(self) -> int:
        return self.sent_as or self.status

    @property
    def body(self) -> str:
        """The JSON body, with the request id left for nginx to fill in (a test keeps it free of
        quotes and backslashes, which nginx's quoted string would take as its own)."""
        error = {"code": self.code, "message": self.message, "request_id": "$api_request_id"}
        return json.dumps({"error": error}, separators=(",", ":"))


ERROR_PREFIX = "/_balancer/error/"  # internal: asked for from outside, it is nginx's JSON 404
# The codes are the API's where it has one (reference_api/errors.py).
ERRORS = (
    NginxError(400, "bad_request", "The request is malformed"),
    NginxError(404, "not_found", "No such resource"),
    NginxError(405, "method_not_allowed", "Method not allowed"),
    NginxError(408, "request_timeout", "The request was not received in time"),
    NginxError(413, "payload_too_large", f"Request body larger than {MAX_BODY_BYTES} bytes"),
    NginxError(414, "uri_too_long", "The request URI is too long"),
    NginxError(429, "rate_limited", "Too many requests", headers=(("Retry-After", "1"),)),
    NginxError(494, "bad_request", "Request header or cookie too large", sent_as=400),
    NginxError(500, "internal_error", "Internal server error"),
    NginxError(502, "bad_gateway", "No API replica could answer; try again shortly"),
    NginxError(
        503,
        "unavailable",
        "The service is unavailable; try again shortly",
        headers=(("Retry-After", "1"),),
    ),
    NginxError(504, "gateway_timeout", "The API did not answer in time"),
)

# nginx configuration, not HTML: nothing to escape.
_env = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # noqa: S701
)


def _render(**context: object) -> str:
    return _env.from_string(TEMPLATE).render(
        errors=ERRORS, error_prefix=ERROR_PREFIX, max_body_bytes=MAX_BODY_BYTES, **context
    )


def render_local(
    work_dir: Path,
    port: int,
    api_ports: Sequence[int],
    rate_limit: int = 100_000,
    down: Collection[int] = (),
) -> str:
    """nginx.conf for a local stack: everything under ``work_dir``, replicas on loopback ports;
    those on a port in ``down`` are kept in the upstream but sent nothing (a drain)."""
    return _render(
        variant="local",
        user=getpass.getuser() if os.geteuid() == 0 else None,
        prefix=str(work_dir.resolve()),
        resolver=None,
        rate_limit=rate_limit,
        burst=max(20, rate_limit * 2),
        servers=[f"127.0.0.1:{p}" + (" down" if p in down else "") for p in api_ports],
        listen=f"127.0.0.1:{port}",
    )


def render_compose(rate_limit: int = COMPOSE_RATE_LIMIT, burst: int = COMPOSE_BURST) -> str:
    """nginx.conf for the compose stack (the official image's paths and user)."""
    return _render(
        variant="compose",
        user=None,
        prefix=None,
        resolver="127.0.0.11",
        rate_limit=rate_limit,
        burst=burst,
        servers=[f"api:{API_CONTAINER_PORT} resolve"],
        listen="80",
    )


def prepare_local_dirs(work_dir: Path) -> None:
    """The directories the local variant points at."""
    for sub in ("logs", "nginx-temp"):
        (work_dir / sub).mkdir(parents=True, exist_ok=True)


if __name__ == "__main__":  # pragma: no cover
    print(render_compose(), end="")
