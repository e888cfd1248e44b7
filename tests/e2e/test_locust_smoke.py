"""End to end: a real local stack, seeded, loaded by ``locust -f loadtests --scenario``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.core.ledger import ledger_files, read_ledger
from harness.core.samples import read_samples
from harness.core.workload import LOAD_USER_PASSWORD, load_user_email
from harness.run.seed import seed
from harness.stack import LocalStack, StackConfig
from tests._wait import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SEED_USERS = 30
TASKS_PER_USER = 10
ENV = {"RATE_LIMIT_MAX": "100000000", "RATE_LIMIT_AUTH_MAX": "100000000", "LOG_LEVEL": "WARNING"}

TINY = """
name = "tiny"
[data]
users = {users}
tasks_per_user = {tasks}
[load]
model = "closed"
warmup = "2s"
think_time = "0.05s"
  [[load.stages]]
  duration = "10s"
  users = 4
  spawn_rate = 4
[mix]
"GET /api/tasks" = 30
"GET /api/tasks?cursor={{cursor}}" = 10
"GET /api/tasks?q={{q}}" = 5
"GET /api/tasks/{{id}}" = 20
"POST /api/tasks" = 8
"PATCH /api/tasks/{{id}}" = 10
"DELETE /api/tasks/{{id}}" = 4
"GET /api/tasks/stats" = 10
"GET /api/auth/me" = 3
[slo]
p95_ms = {p95}
error_rate = 0.02
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(
        replicas=1, cache=True, work_dir=tmp_path_factory.mktemp("stack"), env=dict(ENV)
    )
    with LocalStack(config) as running:
        seed(running.mongodb_uri, SEED_USERS, TASKS_PER_USER, bcrypt_rounds=4)
        yield running


def scenario_file(tmp_path: Path, p95_ms: float) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY.format(users=SEED_USERS, tasks=TASKS_PER_USER, p95=p95_ms))
    return path


def run_locust(
    stack: LocalStack, scenario: Path, out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    argv = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests"), "--headless",
        "--scenario", str(scenario), "-H", stack.url, "--only-summary",
        "--samples-dir", str(out / "samples"), "--verdict-file", str(out / "verdict.json"),
        "--json-file", str(out / "locust"), *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=90, cwd=ROOT, check=False)


def post_json(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(  # noqa: S310 - loopback http
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def test_a_seeded_user_logs_in_with_the_load_password_and_sees_its_tasks(
    stack: LocalStack,
) -> None:
    token = post_json(
        f"{stack.url}/api/auth/login",
        {"email": load_user_email(SEED_USERS - 1), "password": LOAD_USER_PASSWORD},
    )["access_token"]
    request = urllib.request.Request(  # noqa: S310 - loopback http
        f"{stack.url}/api/tasks/stats", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        stats = json.loads(response.read())

    assert stats["total"] == TASKS_PER_USER


def test_a_distributed_smoke_run_passes_and_records_every_request(
    stack: LocalStack, tmp_path: Path
) -> None:
    result = run_locust(stack, scenario_file(tmp_path, 5000), tmp_path, "--processes", "2")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "VERDICT: PASS" in result.stdout
    locust_stats = json.loads((tmp_path / "locust.json").read_text())
    locust_total = sum(entry["num_requests"] for entry in locust_stats)
    samples = read_samples(tmp_path / "samples")
    assert len(samples) == locust_total > 100
    assert set(np.unique(samples.records["worker"]).tolist()) == {0, 1}
    assert all(worker["complete"] for worker in samples.meta["workers"])
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["status"] == "PASS"
    # the write ledger came through the master too, a file per worker
    ledger = read_ledger(tmp_path / "samples")
    assert [p.name for p in ledger_files(tmp_path / "samples")] == [
        "ledger-0.jsonl", "ledger-1.jsonl",
    ]  # fmt: skip
    assert {r.op for r in ledger if r.acknowledged} == {"create", "update", "delete"}
    assert all(worker["ledger_complete"] for worker in samples.meta["workers"])
    assert sum(worker["ledger"] for worker in samples.meta["workers"]) == len(ledger)


def test_the_printed_p95_is_numpys_p95_of_the_steady_successful_samples(
    stack: LocalStack, tmp_path: Path
) -> None:
    result = run_locust(stack, scenario_file(tmp_path, 5000), tmp_path)

    assert result.returncode == 0, result.stderr[-2000:]
    samples = read_samples(tmp_path / "samples")
    t = samples.records["ts"] - samples.meta["run_start"]
    steady = samples.records[(t >= 2.0) & (t < 10.0) & (samples.records["ok"] == 1)]
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    p95 = next(c["value"] for c in verdict["checks"] if c["metric"] == "p95_ms")
    assert p95 == np.percentile(steady["co_latency_ms"], 95)
    assert f"{p95:.6g}" in result.stdout


OPEN = """
name = "tiny-open"
[data]
users = {users}
[load]
model = "open"
warmup = "3s"
max_users = 20
  [[load.stages]]
  duration = "10s"
  rate = 60
[mix]
"GET /health" = 1
"GET /api/tasks/{{id}}" = 1
"DELETE /api/tasks/{{id}}" = 1
[slo]
p95_ms = 5000
"""
OPEN_RATE, OPEN_SECONDS, OPEN_WARMUP = 60, 10, 3.0
ON_START = {"POST /api/auth/login", "GET /api/tasks"}  # each user's login and first page


def check_open_run(out: Path, workers: int) -> None:
    """The whole scenario rate once — not once per worker — and one request per slot."""
    verdict = json.loads((out / "verdict.json").read_text())
    (window,) = verdict["measured"]["windows"]
    assert (window["window"], window["target"]) == ([OPEN_WARMUP, OPEN_SECONDS], OPEN_RATE)
    samples = read_samples(out / "samples")
    records = samples.records
    assert set(np.unique(records["worker"]).tolist()) == set(range(workers))
    # every slot of the schedule handed out exactly once across the workers
    slots = [worker["slots"] for worker in samples.meta["workers"]]
    assert sum(slots) == OPEN_RATE * OPEN_SECONDS
    assert max(slots) - min(slots) <= 1
    # each slot sent one request, which carries the slot's intended start; the only requests
    # without one are the users' on_start (outside the schedule, in the warm-up)
    scheduled = records["intended"] != records["ts"]
    assert sum(slots) - 2 <= int(scheduled.sum()) <= sum(slots)
    # ... at its own place in the schedule: intended starts 1/rate apart, none twice (how fast
    # they were sent is the machine's business, not this test's)
    slot = (records["intended"][scheduled] - records["intended"][scheduled].min()) * OPEN_RATE
    assert np.allclose(slot, np.round(slot), atol=1e-3)
    assert len(np.unique(np.round(slot))) == int(scheduled.sum())
    assert np.round(slot).max() < OPEN_RATE * OPEN_SECONDS
    names = {samples.endpoints[i] for i in np.unique(records["endpoint"][~scheduled])}
    assert names <= ON_START
    assert np.all(records["ts"][~scheduled] - samples.meta["run_start"] < OPEN_WARMUP)
    assert np.all(records["co_latency_ms"] >= records["latency_ms"] - 1e-6)


def test_an_open_model_run_achieves_its_rate_from_two_processes(
    stack: LocalStack, tmp_path: Path
) -> None:
    scenario = tmp_path / "open.toml"
    scenario.write_text(OPEN.format(users=SEED_USERS))

    result = run_locust(stack, scenario, tmp_path, "--processes", "2")

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    check_open_run(tmp_path, workers=2)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_remote_workers_share_the_rate_whatever_expect_workers_says(
    stack: LocalStack, tmp_path: Path
) -> None:
    # Two workers connect, the master expects one: each worker must still send half the rate
    # (a share of 1/expect-workers would send it twice).
    scenario = tmp_path / "open.toml"
    scenario.write_text(OPEN.format(users=SEED_USERS))
    port = str(free_port())
    locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests")]
    worker = [*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", port]
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    workers = []
    for log in logs:
        with log.open("w") as sink:  # the worker keeps its own copy of the descriptor
            workers.append(
                subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=sink)
            )
    try:
        # Both are up and waiting before the master starts: each has loaded the journeys and
        # logged its start, and its next step is to ask the master for work (ZeroMQ holds that
        # message until the master binds the port).
        wait_until(lambda: all("Starting Locust" in log.read_text() for log in logs))
        result = run_locust(
            stack, scenario, tmp_path, "--master", "--expect-workers", "1",
            "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
        )  # fmt: skip
        for process in workers:
            process.wait(timeout=30)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    # both joined the master, though it expected one
    assert "2 workers connected" in result.stderr, result.stderr[-2000:]
    check_open_run(tmp_path, workers=2)


def test_plain_locust_runs_every_journey_without_a_failure(stack: LocalStack) -> None:
    argv = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests"), "--headless",
        "-u", "6", "-r", "6", "-t", "6s", "-H", stack.url, "--seed-users", str(SEED_USERS),
        "--only-summary",
    ]  # fmt: skip

    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)

    # Locust exits 1 on any failure, and a body that does not match is a failure
    assert result.returncode == 0, result.stdout[-3000:]
    assert "VERDICT" not in result.stdout
    for user in ("BrowseUser", "ManageUser", "SearchUser", "DashboardUser", "LoginUser"):
        assert f'"{user}": 1' in result.stderr or f'"{user}": 2' in result.stderr


def test_an_impossible_slo_exits_1(stack: LocalStack, tmp_path: Path) -> None:
    result = run_locust(stack, scenario_file(tmp_path, 0.001), tmp_path)

    assert result.returncode == 1, result.stderr[-2000:]
    assert "VERDICT: FAIL" in result.stdout
    assert json.loads((tmp_path / "verdict.json").read_text())["status"] == "FAIL"
