"""The compose backend on a real Docker engine (issue 12): offline images, 1..3 replicas."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import docker
import httpx
import pytest

from harness.stack.compose import ComposeStack
from harness.stack.resources import ResourceSampler

pytestmark = pytest.mark.slow


def test_three_replicas_are_up_and_healthy(stack3: ComposeStack) -> None:
    names = {c.name: c.healthy for c in stack3.components()}
    assert names == dict.fromkeys(["api-1", "api-2", "api-3", "db", "nginx", "redis"], True)
    assert httpx.get(f"{stack3.url}/health", timeout=10).status_code == 200
    assert all("primo-offline-" in image for image in stack3.images().values())


def test_nginx_spreads_requests_over_the_replicas(stack3: ComposeStack) -> None:
    with httpx.Client(base_url=stack3.url, timeout=10) as client:
        seen = {client.get("/health").headers.get("x-replica") for _ in range(60)}
    assert len(seen - {None}) == 3, seen


def test_cpu_limit_per_replica_is_in_the_container_and_its_stats(
    stack3: ComposeStack, tmp_path: Path
) -> None:
    client = docker.from_env()
    replicas = {n: c for n, c in stack3.containers().items() if n.startswith("api-")}
    for container in replicas.values():
        attrs = client.containers.get(container).attrs
        assert attrs["HostConfig"]["NanoCpus"] == 500_000_000
        stats = client.containers.get(container).stats(stream=False)
        assert "throttling_data" in stats["cpu_stats"]
    csv_path = tmp_path / "resources.csv"
    with ResourceSampler(csv_path, {}, interval=0.5, containers=replicas) as sampler:
        deadline = time.monotonic() + 30
        while not set(replicas) <= set(sampler.latest()) and time.monotonic() < deadline:
            time.sleep(0.2)  # polls the condition: a row for every replica
    lines = csv_path.read_text().splitlines()
    assert any(line.split(",")[1] == "api-1" for line in lines[1:])


def test_a_killed_replica_costs_no_get(stack3: ComposeStack) -> None:
    failures: list[str] = []
    done = threading.Event()
    count = 0

    def stream() -> None:
        nonlocal count
        with httpx.Client(base_url=stack3.url, timeout=30) as client:
            while not done.is_set():
                try:
                    answer = client.get("/health")
                    if answer.status_code != 200:
                        failures.append(str(answer.status_code))
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                count += 1

    worker = threading.Thread(target=stream)
    worker.start()
    try:
        while count < 50:
            done.wait(0.05)
        stack3.kill("api-2")
        after = count
        while count < after + 200:
            done.wait(0.05)
    finally:
        done.set()
        worker.join(timeout=60)
    stack3.start("api-2")
    assert failures == []
    assert {c.name: c.healthy for c in stack3.components()}["api-2"]
