"""reference_api.wire: each answer leaves in one write, so a replica killed between an answer's
header and its body sends nothing (nginx can retry that) instead of a header (it cannot)."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from harness.stack.local import HTTP_PROTOCOL
from harness.stack.processes import ManagedProcess, free_port, port_is_open
from reference_api.wire import FLUSH_AT, CoalescingTransport
from tests._wait import HANG_S  # socket time-outs: only a hang reaches them
from tests.api._wire_app import BIG

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    """The wrapped transport, recording what reaches it (pure logic: no socket)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[bytes]]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", [data]))

    def writelines(self, chunks: list[bytes]) -> None:
        self.calls.append(("writelines", list(chunks)))

    def close(self) -> None:
        self.calls.append(("close", []))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"inner:{name}"


def turn() -> tuple[Recorder, CoalescingTransport, asyncio.AbstractEventLoop]:
    inner = Recorder()
    loop = asyncio.new_event_loop()
    return inner, CoalescingTransport(inner, loop), loop  # type: ignore[arg-type]


def end_turn(loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def test_the_writes_of_one_turn_leave_together_at_its_end() -> None:
    inner, transport, loop = turn()
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.write(b"body")
    assert inner.calls == []
    assert transport.get_write_buffer_size() == 23
    end_turn(loop)
    assert inner.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"body"])]
    assert transport.get_extra_info("peername") == "inner:peername"


def test_close_sends_what_waits_first_and_a_big_answer_is_not_held() -> None:
    inner, transport, loop = turn()
    transport.write(b"head")
    transport.write(b"x" * FLUSH_AT)
    assert inner.calls == [("writelines", [b"head", b"x" * FLUSH_AT])]
    transport.write(b"tail")
    transport.close()
    assert inner.calls[1:] == [("write", [b"tail"]), ("close", [])]
    end_turn(loop)
    assert len(inner.calls) == 3


def test_writes_to_a_transport_the_peer_closed_are_dropped() -> None:
    inner, transport, loop = turn()
    transport.write(b"late")
    inner.closing = True
    end_turn(loop)
    assert inner.calls == []


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    started: list[ManagedProcess] = []

    def start(protocol: str) -> str:
        port = free_port()
        argv = [
            sys.executable, "-m", "uvicorn", "tests.api._wire_app:app", "--host", "127.0.0.1",
            "--port", str(port), "--loop", "uvloop", "--http", protocol, "--lifespan", "off",
            "--no-access-log",
        ]  # fmt: skip
        proc = ManagedProcess(f"uvicorn-{len(started)}", argv, tmp_path / "uvicorn.log", cwd=ROOT)
        started.append(proc.start())
        proc.wait_ready(lambda: port_is_open("127.0.0.1", port))
        return f"127.0.0.1:{port}"

    yield start
    for proc in started:
        proc.stop()


def exchange(where: str, request: bytes) -> bytes:
    """Send ``request`` on a fresh connection; everything the server sends until it closes."""
    host, port = where.split(":")
    with socket.create_connection((host, int(port)), timeout=HANG_S) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


DIE = b"GET /die-mid-answer HTTP/1.1\r\nHost: t\r\n\r\n"


def test_a_replica_killed_between_header_and_body_has_sent_nothing(
    serve: Callable[[str], str],
) -> None:
    assert exchange(serve(HTTP_PROTOCOL), DIE) == b""


def test_control_plain_httptools_has_sent_the_header_nginx_cannot_take_back(
    serve: Callable[[str], str],
) -> None:
    assert exchange(serve("httptools"), DIE).startswith(b"HTTP/1.1 200 OK\r\n")


def test_answers_stay_whole_keep_alive_head_stream_big_and_100_continue(
    serve: Callable[[str], str],
) -> None:
    where = serve(HTTP_PROTOCOL)
    with httpx.Client(base_url=f"http://{where}", timeout=HANG_S) as client:
        assert [client.get("/health").text for _ in range(3)] == ['{"status":"ok"}'] * 3
        assert client.head("/health").headers["content-length"] == "15"
        assert client.get("/stream").text == "part0;part1;part2;"
        assert client.get("/big").content == BIG
        assert client.post("/echo", content=b"hello").text == "hello"
    host, port = where.split(":")
    with socket.create_connection((host, int(port)), timeout=HANG_S) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"
        )
        assert sock.recv(64) == b"HTTP/1.1 100 Continue\r\n\r\n"  # sent, not held for a body
        sock.sendall(b"hello")
        answer = b""
        while not answer.endswith(b"hello"):
            answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
