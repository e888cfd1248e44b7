"""An external target: the probe that refuses a wrong one, and resource rows from /metrics."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest

from harness.errors import BadInputError
from harness.run.scrape import Answer
from harness.run.target import (
    Client,
    ExternalTarget,
    MetricsSource,
    Tls,
    probe_target,
    process_figures,
    replica_component,
)

Routes = dict[str, Callable[[], tuple[int, str, bytes]]]  # path -> (status, type, body)


@pytest.fixture
def serve() -> Iterator[Callable[[Routes], str]]:
    """A real HTTP server on a free loopback port answering the given routes."""
    servers: list[ThreadingHTTPServer] = []

    def start(routes: Routes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, kind, body = routes.get(self.path, lambda: (404, "text/plain", b"no"))()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("X-Replica", "api-2")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None: ...

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def healthy() -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps({"status": "ok"}).encode()


def process_metrics() -> tuple[int, str, bytes]:
    return 200, "text/plain", generate_latest(REGISTRY)  # the process collector is in it


def test_a_target_that_answers_health_with_html_is_refused_in_one_line(
    serve: Callable[[Routes], str],
) -> None:
    url = serve({"/health": lambda: (200, "text/html", b"<html>welcome</html>")})

    with pytest.raises(BadInputError, match="not the Primo task API") as caught:
        probe_target(Client(url))

    assert "\n" not in str(caught.value)


def test_a_target_without_health_is_refused(serve: Callable[[Routes], str]) -> None:
    url = serve({})

    with pytest.raises(BadInputError, match=r"GET /health answered 404"):
        probe_target(Client(url))


def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    with pytest.raises(BadInputError, match="unreachable"):
        probe_target(Client(f"http://127.0.0.1:{port}"))


def test_a_url_that_is_not_http_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="expected http"):
        probe_target(Client("ftp://127.0.0.1:21"))


def test_the_probe_sees_process_figures_in_metrics(serve: Callable[[Routes], str]) -> None:
    url = serve({"/health": healthy, "/metrics": process_metrics})

    probe = probe_target(Client(url))

    assert probe.metrics
    assert probe.process_series
    assert probe.replica == "api-2"


def test_without_process_figures_the_api_figures_are_named_unknown(
    serve: Callable[[Routes], str],
) -> None:
    url = serve({"/health": healthy, "/metrics": lambda: (200, "text/plain", b"up 1\n")})
    client = Client(url)

    target = ExternalTarget(client, probe_target(client))

    assert not target.probe.process_series
    assert any(
        line.startswith("API CPU and memory: its /metrics has no") for line in target.unknown()
    )
    assert any("database, Redis and balancer" in line for line in target.unknown())


def test_cpu_is_the_change_of_process_seconds_over_the_seconds_between_answers() -> None:
    answers = iter(
        [
            Answer("api-1", "process_cpu_seconds_total 10.0\nprocess_resident_memory_bytes 5e7\n"),
            Answer("api-1", "process_cpu_seconds_total 10.5\nprocess_resident_memory_bytes 6e7\n"),
        ]
    )
    source = MetricsSource(lambda: next(answers))

    first = source(100.0)
    second = source(102.0)

    assert first == []  # a baseline
    assert second == [(102.0, "api-1", 0, 25.0, 60_000_000, 0)]


def test_each_replica_behind_a_balancer_has_its_own_baseline() -> None:
    answers = iter(
        [
            Answer("a", "process_cpu_seconds_total 1\nprocess_resident_memory_bytes 1\n"),
            Answer("b", "process_cpu_seconds_total 50\nprocess_resident_memory_bytes 1\n"),
            Answer("a", "process_cpu_seconds_total 2\nprocess_resident_memory_bytes 1\n"),
        ]
    )
    source = MetricsSource(lambda: next(answers))

    rows = [row for ts in (1.0, 2.0, 3.0) for row in source(ts)]

    assert rows == [(3.0, "api-a", 0, 50.0, 1, 0)]


def test_a_replica_name_is_an_api_component() -> None:
    assert replica_component("") == "api"
    assert replica_component("api-3") == "api-3"
    assert replica_component("host 7/x") == "api-host_7_x"


def test_process_figures_need_both_series() -> None:
    assert process_figures("process_cpu_seconds_total 3\n") is None
    assert process_figures("process_cpu_seconds_total 3\nprocess_resident_memory_bytes 9\n") == (
        3.0,
        9.0,
    )


def test_tls_refuses_both_insecure_and_a_ca_file() -> None:
    with pytest.raises(BadInputError, match="pick one"):
        Tls(insecure=True, ca_file=Path(__file__))


def test_a_missing_ca_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="no such file"):
        Tls(ca_file=tmp_path / "nope.pem")
