"""End to end: ``capacity run`` against a service it did not start (``--target``), and with
its Locust workers started elsewhere (``--expect-workers``), on loopback."""

from __future__ import annotations

import csv
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from harness.analysis.cpu import generator_cpu
from harness.analysis.load import load_run
from harness.cli import main
from harness.core.samples import read_samples
from harness.run.seed import seed
from harness.stack import LocalStack, StackConfig

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
USERS = 12
ENV = {"RATE_LIMIT_MAX": "100000000", "RATE_LIMIT_AUTH_MAX": "100000000", "LOG_LEVEL": "WARNING"}

TINY = """
name = "tiny-elsewhere"
[data]
users = {users}
tasks_per_user = 3
bcrypt_rounds = 4
[load]
model = "closed"
warmup = "2s"
think_time = "0.05s"
  [[load.stages]]
  duration = "8s"
  users = 4
  spawn_rate = 4
[mix]
"GET /api/tasks" = 40
"GET /api/tasks/{{id}}" = 30
"POST /api/tasks" = 10
"GET /api/tasks/stats" = 20
[slo]
p95_ms = 5000
error_rate = 0.05
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = StackConfig(replicas=1, work_dir=tmp_path_factory.mktemp("stack"), env=dict(ENV))
    with LocalStack(config) as running:
        seed(running.mongodb_uri, USERS, 3, bcrypt_rounds=4)
        yield running


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-elsewhere.toml"
    path.write_text(TINY.format(users=USERS))
    return path


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def locust_count(directory: Path) -> int:
    with (directory / "locust_stats.csv").open() as fh:
        (row,) = [r for r in csv.DictReader(fh) if r["Name"] == "Aggregated"]
    return int(row["Request Count"])


def test_a_run_against_a_running_target_reports_and_names_what_it_could_not_see(
    stack: LocalStack, scenario: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"

    code = main(["run", str(scenario), "--target", stack.url, "--out", str(out)])

    assert code == 0
    manifest = json.loads((out / "target" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["target"]["url"] == stack.url
    assert manifest["data"]["seeded"] == "reused"
    assert any("database, Redis and balancer" in line for line in manifest["target"]["unknown"])
    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "## Target and unknown figures" in report
    assert "UNKNOWN: database, Redis and balancer CPU and memory" in report
    assert main(["gate", str(out)]) in (0, 1)  # a verdict, not bad input or invalid


def test_a_target_whose_users_are_missing_is_refused_before_anything_is_written(
    stack: LocalStack, tmp_path: Path
) -> None:
    bigger = tmp_path / "bigger.toml"
    bigger.write_text(TINY.format(users=USERS + 1000))
    out = tmp_path / "run"

    with pytest.raises(SystemExit) as exited:
        sys.exit(main(["run", str(bigger), "--target", stack.url, "--out", str(out)]))

    assert exited.value.code == 2
    assert not out.exists()


def test_two_workers_elsewhere_merge_exactly_and_each_one_s_cpu_is_judged(
    stack: LocalStack, scenario: Path, tmp_path: Path
) -> None:
    host = "127.0.0.2"  # the master listens on another loopback address, as on another host
    port = free_port(host)
    worker = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests"), "--worker",
        "--master-host", host, "--master-port", str(port),
    ]  # fmt: skip
    workers = [
        subprocess.Popen(worker, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(2)
    ]  # they connect once the master listens (ZeroMQ reconnects)
    out = tmp_path / "run"
    try:
        code = main(
            [
                "run", str(scenario), "--target", stack.url, "--expect-workers", "2",
                "--master-bind", f"{host}:{port}", "--workers-wait", "60", "--out", str(out),
            ]
        )  # fmt: skip
        for process in workers:
            process.wait(timeout=60)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert code == 0
    directory = out / "target"
    samples = read_samples(directory / "samples")
    assert len(samples.meta["workers"]) == 2
    assert all(w["complete"] for w in samples.meta["workers"])
    assert samples.meta["records"] == locust_count(directory)  # merged exactly
    (phase,) = load_run(out)
    judged = generator_cpu(phase)
    assert {w["name"] for w in samples.meta["workers"]} <= set(judged)
    assert "generator-master" in judged


def test_a_local_stack_on_an_external_mongodb_and_redis_gives_each_phase_a_fresh_database(
    mongodb_uri: str, redis_url: str, scenario: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"

    code = main(
        [
            "run", str(scenario), "--replicas", "1,2", "--mongodb-uri", mongodb_uri,
            "--redis-url", redis_url, "--out", str(out),
        ]
    )  # fmt: skip

    assert code == 0
    names = []
    for phase in ("r1-cache-on", "r2-cache-on"):
        manifest = json.loads((out / phase / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert "db" not in manifest["components"]  # the stack started no database of its own
        assert "redis" not in manifest["components"]
        assert manifest["services"]["redis"] == redis_url
        names.append(manifest["services"]["mongodb"].split("/")[3].split("?")[0])
    assert names[0] != names[1]
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    try:
        for name in names:  # each phase seeded its own, and no phase wrote into the other's
            assert client[name]["users"].count_documents({}) == USERS
    finally:
        client.close()


def test_seeding_a_target_through_its_api_registers_only_the_missing_users(
    stack: LocalStack, tmp_path: Path
) -> None:
    more = tmp_path / "more.toml"
    more.write_text(TINY.format(users=USERS + 2))  # two more than the database seeding wrote
    out = tmp_path / "run"

    code = main(["run", str(more), "--target", stack.url, "--seed", "--out", str(out)])

    assert code == 0
    manifest = json.loads((out / "target" / "manifest.json").read_text())
    assert manifest["data"]["seeded"] == "api"
    client: MongoClient[dict[str, Any]] = MongoClient(stack.mongodb_uri)
    try:
        users = client.get_default_database()["users"]
        assert users.count_documents({"email": {"$regex": "^load-"}}) == USERS + 2
        newest = users.find_one({"email": f"load-{USERS + 1:06d}@primo.test"})
        assert newest is not None
        tasks = client.get_default_database()["tasks"]
        assert tasks.count_documents({"user": newest["_id"]}) >= 3  # its seeded tasks, kept
    finally:
        client.close()
