"""held.csv: descriptors per process and connections per listening port, read from /proc."""

from __future__ import annotations

import csv
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.run.held import HeldSampler, established_by_port, open_fds


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, list[socket.socket]]]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    clients = []
    accepted = []
    for _ in range(3):
        client = socket.create_connection(server.getsockname())
        clients.append(client)
        accepted.append(server.accept()[0])
    yield server, clients
    for sock in [*clients, *accepted, server]:
        sock.close()


def test_connections_are_counted_on_the_accepting_port(
    listener: tuple[socket.socket, list[socket.socket]],
) -> None:
    server, _ = listener

    counts = established_by_port()

    assert counts[server.getsockname()[1]] == 3


def test_a_process_descriptors_include_its_sockets(
    listener: tuple[socket.socket, list[socket.socket]],
) -> None:
    fds = open_fds(os.getpid())

    assert fds is not None
    assert fds >= 7  # the listener, three clients, three accepted


def test_a_tick_names_each_process_and_each_listening_component(
    listener: tuple[socket.socket, list[socket.socket]], tmp_path: Path
) -> None:
    server, _ = listener
    sampler = HeldSampler(
        tmp_path / "held.csv",
        lambda: {"generator": os.getpid()},
        {"nginx": server.getsockname()[1]},
    )

    rows = sampler.rows(1.0)

    by_name = {name: (fds, held) for _, name, fds, held in rows}
    assert by_name["nginx"] == ("", 3)  # not a process here: connections only
    fds, held = by_name["generator"]
    assert isinstance(fds, int)
    assert held == ""


def test_the_file_has_a_header_even_when_stopped_at_once(tmp_path: Path) -> None:
    path = tmp_path / "held.csv"

    with HeldSampler(path, dict, {}, interval=60.0):
        pass

    with path.open() as fh:
        assert next(csv.reader(fh)) == ["ts", "component", "open_fds", "established"]
