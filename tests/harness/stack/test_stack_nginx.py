"""The one nginx template: both variants pass ``nginx -t`` and carry the strategy's settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.stack.nginx import (
    ERRORS,
    MAX_BODY_BYTES,
    prepare_local_dirs,
    render_compose,
    render_local,
)
from harness.stack.processes import find_nginx
from reference_api.settings import Settings

from .conftest import needs_nginx

COMPOSE_CONF = Path(__file__).resolve().parents[3] / "compose" / "nginx.conf"


def nginx_test(prefix: Path, conf: Path) -> subprocess.CompletedProcess[str]:
    nginx = find_nginx()
    assert nginx is not None
    return subprocess.run(
        [str(nginx), "-t", "-p", str(prefix), "-c", str(conf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_compose_nginx_conf_is_the_rendered_template() -> None:
    assert COMPOSE_CONF.read_text() == render_compose(), (
        "regenerate: python -m harness.stack.nginx > compose/nginx.conf"
    )


@pytest.mark.parametrize("conf", [render_compose(), render_local(Path("/w"), 8080, [9001])])
def test_both_variants_carry_the_balancing_and_retry_settings(conf: str) -> None:
    for directive in (
        "least_conn;",
        "max_fails=3 fail_timeout=30s",
        "keepalive 64;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_next_upstream error timeout http_502;",
        "proxy_next_upstream_tries 3;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "limit_req_status 429;",
        "proxy_read_timeout 60s;",
        "proxy_set_header X-Request-ID $api_request_id;",
    ):
        assert directive in conf
    assert "non_idempotent" not in conf  # POST/PATCH are never sent twice


@pytest.mark.parametrize("conf", [render_compose(), render_local(Path("/w"), 8080, [9001])])
def test_every_error_nginx_makes_itself_is_answered_in_the_apis_json_shape(conf: str) -> None:
    statuses = {e.status for e in ERRORS}

    assert {400, 405, 408, 413, 414, 429, 494, 500, 502, 503, 504} <= statuses
    for error in ERRORS:
        assert f"error_page {error.status} ={error.sent} /_balancer/error/{error.status};" in conf
        location = conf.split(f"location = /_balancer/error/{error.status} {{", 1)[1]
        location = location.split("}\n", 1)[0]
        assert "internal;" in location
        assert "default_type application/json;" in location
        assert "add_header X-Request-ID $api_request_id always;" in location
        assert "'" not in error.body
        assert "\\" not in error.body
        assert f"return {error.sent} '{error.body}';" in location
        assert json.loads(error.body)["error"] == {
            "code": error.code,
            "message": error.message,
            "request_id": "$api_request_id",
        }
    assert "proxy_intercept_errors on" not in conf  # the API's own errors pass through


def test_the_body_limit_at_the_balancer_is_the_apis() -> None:
    assert Settings.model_fields["max_body_bytes"].default == MAX_BODY_BYTES
    assert f"client_max_body_size {MAX_BODY_BYTES};" in render_compose()


def test_compose_variant_follows_scaled_replicas_and_limits_the_rate() -> None:
    conf = render_compose()

    assert "resolver 127.0.0.11 valid=10s" in conf
    assert "server api:8000 resolve" in conf
    assert "rate=10r/s" in conf  # the strategy's production limit
    assert "burst=20 nodelay" in conf


def test_local_variant_lists_every_replica_and_does_not_throttle(tmp_path: Path) -> None:
    conf = render_local(tmp_path, 8080, [9001, 9002, 9003])

    assert conf.count("server 127.0.0.1:900") == 3
    assert "listen 127.0.0.1:8080;" in conf
    assert "rate=100000r/s" in conf
    assert f"pid {tmp_path.resolve()}/nginx.pid;" in conf


def test_local_variant_keeps_a_drained_replica_listed_but_down(tmp_path: Path) -> None:
    conf = render_local(tmp_path, 8080, [9001, 9002], down={9002})

    assert "server 127.0.0.1:9001 max_fails" in conf
    assert "server 127.0.0.1:9002 down max_fails" in conf


@needs_nginx
@pytest.mark.parametrize("down", [set(), {9002}], ids=["all-up", "one-down"])
def test_rendered_local_config_passes_nginx_t(tmp_path: Path, down: set[int]) -> None:
    prepare_local_dirs(tmp_path)
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_local(tmp_path, 8080, [9001, 9002], down=down))

    checked = nginx_test(tmp_path, conf)

    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


@needs_nginx
def test_compose_config_passes_nginx_t_with_the_api_pointed_at_loopback(tmp_path: Path) -> None:
    """Docker's DNS is not here, and nginx resolves upstream names during ``-t``: so the copy
    points the upstream at 127.0.0.1. ``resolve`` is dropped too: it needs nginx 1.27.3+ (the
    compose image is 1.28; Debian ships 1.22). Everything else is tested as committed.
    """
    text = COMPOSE_CONF.read_text()
    assert text.count("server api:8000 resolve") == 1
    conf = tmp_path / "nginx.conf"
    conf.write_text(text.replace("server api:8000 resolve", "server 127.0.0.1:8000"))
    prepare_local_dirs(tmp_path)

    checked = nginx_test(tmp_path, conf)

    assert checked.returncode == 0, checked.stderr
