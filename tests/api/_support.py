"""Helpers to run the reference API as a real uvicorn process and talk to it over HTTP."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.stack.local import api_argv
from harness.stack.processes import ManagedProcess, free_port, log_tail

T = TypeVar("T")

JWT_SECRET = "test-secret-" + "s" * 40
PASSWORD = "correct horse battery"
_SETTING_NAMES = (
    "APP_ENV",
    "PORT",
    "MONGODB_URI",
    "MONGODB_POOL_SIZE",
    "MONGODB_TIMEOUT_MS",
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_TIMEOUT",
    "CACHE_ENABLED",
    "CACHE_TTL",
    "JWT_SECRET",
    "JWT_EXPIRE",
    "BCRYPT_ROUNDS",
    "ALLOWED_ORIGINS",
    "RATE_LIMIT_WINDOW",
    "RATE_LIMIT_MAX",
    "RATE_LIMIT_AUTH_MAX",
    "RATE_LIMIT_ENABLED",
    "LOG_LEVEL",
    "LOG_FILE_PATH",
    "REPLICA_ID",
    "FORWARDED_ALLOW_IPS",
    "REDIS_BREAKER_COOLDOWN",
    "REDIS_BREAKER_FAILURES",
    "MONGODB_BREAKER_COOLDOWN",
    "MONGODB_BREAKER_FAILURES",
    "DRAIN_SECONDS",
    "ADMISSION_MAX_LATENCY_MS",
    "ADMISSION_MIN_IN_FLIGHT",
)


def api_env(**settings: str) -> dict[str, str]:
    """The environment of an API process: this one's, minus any API setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k.upper() not in _SETTING_NAMES}
    env.update(
        APP_ENV="test",
        BCRYPT_ROUNDS="4",
        JWT_SECRET=JWT_SECRET,
        REPLICA_ID="test-1",
        RATE_LIMIT_MAX="1000000",
        RATE_LIMIT_AUTH_MAX="1000000",
        LOG_LEVEL="warning",
    )
    env.update(settings)
    return env


def uvicorn_argv(port: int) -> list[str]:
    return api_argv(port=port)


@dataclass
class Api:
    """One running API process and an HTTP client for it."""

    process: ManagedProcess
    base_url: str
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=10.0)

    def log(self) -> str:
        return log_tail(self.process.log_path, 200)

    def register(self, password: str = PASSWORD) -> tuple[str, dict[str, str]]:
        """A new user: their email and the Authorization header of a fresh login."""
        email = f"u{uuid.uuid4().hex[:10]}@example.com"
        created = self.client.post(
            "/api/auth/register", json={"email": email, "password": password, "name": "Test"}
        )
        assert created.status_code == 201, created.text
        login = self.client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return email, {"Authorization": f"Bearer {login.json()['access_token']}"}

    def auth(self) -> dict[str, str]:
        return self.register()[1]

    def close(self) -> None:
        self.client.close()
        self.process.stop()


def start_api(work_dir: Path, env: Mapping[str, str], timeout: float = 30.0) -> Api:
    port = free_port()
    proc = ManagedProcess(
        f"api-{port}", uvicorn_argv(port), log_path=work_dir / f"api-{port}.log", env=env
    ).start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        proc.wait_ready(
            lambda: httpx.get(base_url + "/health", timeout=1.0).status_code == 200,
            timeout=timeout,
        )
    except Exception:
        proc.stop()
        raise
    return Api(proc, base_url)


def getter(url: str, headers: Mapping[str, str], answers: list[int | str]) -> threading.Thread:
    """A thread (not started) that GETs ``url`` and appends its status, or its error, to
    ``answers``: a request to hold in flight while the test does something else."""

    def get() -> None:
        try:
            answer = httpx.get(url, headers=dict(headers), timeout=30)
        except httpx.HTTPError as exc:
            answers.append(repr(exc))
        else:
            answers.append(answer.status_code)

    return threading.Thread(target=get)


ApiFactory = Callable[..., Api]

# Every sample of a /metrics page: (name, sorted labels) -> value.
Counters = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def counters(client: httpx.Client) -> Counters:
    text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
