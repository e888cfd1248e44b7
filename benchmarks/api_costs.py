"""What one request costs the API process, in CPU milliseconds.

    .venv/bin/python benchmarks/api_costs.py [--requests 2000] [--logins 20]

Starts SecantusDB, Redis and one uvicorn (uvloop, httptools; the stack's command line), then
for each measured request kind reads the uvicorn process's CPU time (user + system, all its
threads, via psutil) before and after N sequential keep-alive requests and divides. The
client's own CPU is not counted. Numbers depend on the machine; the point is the ratio.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from harness.stack.local import api_argv
from harness.stack.processes import ManagedProcess, free_port, start_redis, start_secantusd

SECRET = "benchmark-secret-" + "b" * 40
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway user of a throwaway database


def start_api(work: Path, **env: str) -> tuple[ManagedProcess, str]:
    port = free_port()
    argv = api_argv(port=port)
    environment = {
        "PATH": "/usr/bin:/bin",
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT_MAX": "100000000",
        "RATE_LIMIT_AUTH_MAX": "100000000",
        **env,
    }
    proc = ManagedProcess(f"api-{port}", argv, work / f"api-{port}.log", env=environment).start()
    url = f"http://127.0.0.1:{port}"
    proc.wait_ready(lambda: httpx.get(url + "/health").status_code == 200, timeout=60)
    return proc, url


def cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def measure(pid: int, n: int, one: Callable[[], None]) -> tuple[float, float]:
    """(CPU ms per request in the API process, wall ms per request)."""
    before, started = cpu_seconds(pid), time.perf_counter()
    for _ in range(n):
        one()
    wall = time.perf_counter() - started
    return (cpu_seconds(pid) - before) * 1000 / n, wall * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--logins", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="api-costs-") as tmp:
        work = Path(tmp)
        db, mongodb_uri = start_secantusd(work / "db")
        redis, redis_url = start_redis(work / "redis")
        procs = [db, redis]
        try:
            api, url = start_api(
                work, MONGODB_URI=mongodb_uri, REDIS_URL=redis_url, BCRYPT_ROUNDS="12"
            )
            procs.append(api)
            assert api.pid is not None
            client = httpx.Client(base_url=url, timeout=30)
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            client.post(
                "/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Bench"}
            )

            def login() -> None:
                response = client.post(
                    "/api/auth/login", json={"email": email, "password": PASSWORD}
                )
                assert response.status_code == 200, response.text

            login_cpu, login_wall = measure(api.pid, args.logins, login)
            token = client.post(
                "/api/auth/login", json={"email": email, "password": PASSWORD}
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            for i in range(20):
                client.post(
                    "/api/tasks", json={"title": f"task {i}", "tags": ["bench"]}, headers=headers
                )

            def cached_list() -> None:
                response = client.get("/api/tasks", headers=headers)
                assert response.headers["x-cache"] == "HIT", response.headers

            def liveness() -> None:
                assert client.get("/health").status_code == 200

            for _ in range(200):
                liveness()
            health_cpu, health_wall = measure(api.pid, args.requests, liveness)

            client.get("/api/tasks", headers=headers)  # the MISS that fills the cache
            for _ in range(200):  # warm-up
                cached_list()
            cached_cpu, cached_wall = measure(api.pid, args.requests, cached_list)

            uncached, uncached_url = start_api(
                work,
                MONGODB_URI=mongodb_uri,
                REDIS_URL="",
                CACHE_ENABLED="false",
                BCRYPT_ROUNDS="12",
            )
            procs.append(uncached)
            assert uncached.pid is not None
            bypass_client = httpx.Client(base_url=uncached_url, timeout=30)

            def uncached_list() -> None:
                response = bypass_client.get("/api/tasks", headers=headers)
                assert response.headers["x-cache"] == "BYPASS", response.headers

            for _ in range(50):
                uncached_list()
            n_uncached = max(100, args.requests // 4)
            uncached_cpu, uncached_wall = measure(uncached.pid, n_uncached, uncached_list)

            print(
                f"login (BCRYPT_ROUNDS=12), n={args.logins}: "
                f"{login_cpu:.1f} ms CPU, {login_wall:.1f} ms wall per request"
            )
            print(
                f"GET /health (the app's floor: middleware, no I/O), n={args.requests}: "
                f"{health_cpu:.3f} ms CPU, {health_wall:.3f} ms wall per request"
            )
            print(
                f"GET /api/tasks cached (HIT, 20 items), n={args.requests}: "
                f"{cached_cpu:.3f} ms CPU, {cached_wall:.3f} ms wall per request"
            )
            print(
                f"GET /api/tasks uncached (BYPASS, 20 items), n={n_uncached}: "
                f"{uncached_cpu:.3f} ms CPU in the API process (the database's own CPU "
                f"not counted), {uncached_wall:.3f} ms wall per request"
            )
        finally:
            for proc in reversed(procs):
                proc.stop()


if __name__ == "__main__":
    main()
