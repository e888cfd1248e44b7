"""Fixtures shared by every test folder: real backing servers, started once per session.

Set ``MONGODB_URI`` / ``REDIS_URL`` to use servers you already run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness.stack.processes import find_redis_server, find_secantusd, start_redis, start_secantusd


def with_database(uri: str, name: str) -> str:
    """The same MongoDB URI, pointing at database ``name``."""
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def mongodb_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB-wire server for the whole session (SecantusDB unless MONGODB_URI is set)."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    if find_secantusd() is None:
        pytest.skip("secantusd-py is not installed and MONGODB_URI is not set")
    proc, uri = start_secantusd(tmp_path_factory.mktemp("mongodb"))
    try:
        yield uri
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def fresh_mongodb_uri(mongodb_uri: str) -> Callable[[], str]:
    """Call it for a URI naming a database no other test uses."""
    return lambda: with_database(mongodb_uri, f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis for the whole session (a private redis-server unless REDIS_URL is set)."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    if find_redis_server() is None:
        pytest.skip("redis-server is not installed and REDIS_URL is not set")
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        proc.stop()


@pytest.fixture
def work_dir(tmp_path: Path) -> Path:
    return tmp_path
