"""Start-up: production refuses a missing or weak JWT_SECRET with one clear line."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable

import pytest

from harness.stack.processes import free_port
from tests._wait import wait_until

from ._support import ApiFactory, api_env, uvicorn_argv


def run_until_exit(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        uvicorn_argv(free_port()), env=env, capture_output=True, text=True, timeout=20, check=False
    )


@pytest.mark.parametrize("secret", [None, "", "s" * 31])
def test_production_without_a_strong_jwt_secret_exits_with_one_line(
    fresh_mongodb_uri: Callable[[], str], secret: str | None
) -> None:
    env = api_env(APP_ENV="production", MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="")
    env.pop("JWT_SECRET")
    if secret is not None:
        env["JWT_SECRET"] = secret
    done = run_until_exit(env)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "JWT_SECRET" in lines[0]
    assert "32 bytes" in lines[0]
    if secret:
        assert secret not in done.stderr


def test_an_invalid_setting_is_named_in_one_line(fresh_mongodb_uri: Callable[[], str]) -> None:
    done = run_until_exit(api_env(MONGODB_URI=fresh_mongodb_uri(), JWT_EXPIRE="forever"))
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "JWT_EXPIRE" in lines[0]


def test_production_with_a_strong_secret_starts(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> None:
    api = api_factory(
        APP_ENV="production", MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="", JWT_SECRET="p" * 32
    )
    assert api.client.get("/health").status_code == 200
    assert api.client.get("/docs").status_code == 404  # no interactive docs in production


def test_development_without_a_secret_starts_with_a_warning(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> None:
    api = api_factory(
        APP_ENV="development", MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="", JWT_SECRET=""
    )
    _, headers = api.register()
    assert api.client.get("/api/auth/me", headers=headers).status_code == 200
    assert wait_until(lambda: "random secret for this process" in api.log())


def test_an_injected_delay_is_refused_in_production(fresh_mongodb_uri: Callable[[], str]) -> None:
    env = api_env(
        APP_ENV="production",
        MONGODB_URI=fresh_mongodb_uri(),
        REDIS_URL="",
        JWT_SECRET="p" * 32,
        INJECT_DELAY_MS="4",
    )
    done = run_until_exit(env)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "INJECT_DELAY_MS" in lines[0]


def test_an_injected_delay_holds_every_request_back(
    api_factory: ApiFactory, fresh_mongodb_uri: Callable[[], str]
) -> None:
    # The regression gate's planted fault: each answer comes no sooner than the delay (a lower
    # bound, which the event loop's timer guarantees; not a speed measurement).
    api = api_factory(MONGODB_URI=fresh_mongodb_uri(), REDIS_URL="", INJECT_DELAY_MS="300")
    started = time.perf_counter()
    assert api.client.get("/health").status_code == 200
    assert time.perf_counter() - started >= 0.3
