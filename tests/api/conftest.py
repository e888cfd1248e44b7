"""Fixtures that run the reference API as a real uvicorn process."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.stack.processes import ManagedProcess, start_secantusd

from ._support import Api, ApiFactory, api_env, start_api


def _factory(work_dir: Path, started: list[Api]) -> ApiFactory:
    def factory(**settings: str) -> Api:
        api = start_api(work_dir, api_env(**settings))
        started.append(api)
        return api

    return factory


@pytest.fixture(scope="module")
def api_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiFactory]:
    """``api_factory(MONGODB_URI=..., REDIS_URL=..., ...)`` starts an API for this module."""
    started: list[Api] = []
    yield _factory(tmp_path_factory.mktemp("api"), started)
    for api in started:
        api.close()


@pytest.fixture(scope="session")
def session_api_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiFactory]:
    started: list[Api] = []
    yield _factory(tmp_path_factory.mktemp("session-api"), started)
    for api in started:
        api.close()


@pytest.fixture(scope="session")
def api(
    session_api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str], redis_url: str
) -> Api:
    """An API with cache and (generous) rate limits, shared by the session's tests (each test
    works as users of its own)."""
    return session_api_factory(
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL=redis_url,
        ALLOWED_ORIGINS="https://app.example.com",
    )


@pytest.fixture(scope="session")
def uncached_api(session_api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]) -> Api:
    """An API without Redis (no cache, no Redis rate limiting)."""
    return session_api_factory(MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="", CACHE_ENABLED="false")


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[tuple[ManagedProcess, str]]:
    """A database of this test's own, to kill or freeze: its process and URI."""
    proc, uri = start_secantusd(tmp_path / "db")
    yield proc, uri
    if proc.popen is not None and proc.running():
        os.killpg(proc.popen.pid, signal.SIGCONT)  # a failed test may leave it frozen
    proc.stop()
