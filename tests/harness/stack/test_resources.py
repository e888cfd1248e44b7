"""``ResourceSampler`` writes one row per component per tick, children included."""

from __future__ import annotations

import contextlib
import csv
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.stack.resources import HEADER, ResourceSampler, docker_row
from tests._wait import wait_until

BUSY = "while True: pass"
HOGS = ("busy", "parent", "idle")
IDLE = "import signal; signal.pause()"  # a process that uses no CPU until it is killed
# A parent that does nothing itself while its child burns a core (like an nginx master).
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY!r}])"


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
        proc.kill()
        proc.wait()


def start(spawned: list[subprocess.Popen[bytes]], code: str) -> int:
    proc = subprocess.Popen([sys.executable, "-c", code])
    spawned.append(proc)
    return proc.pid


def rows(path: Path) -> list[dict[str, str]]:
    with path.open() as fh:
        return list(csv.DictReader(fh))


def test_rows_hold_cpu_and_memory_of_each_component_and_their_children(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    busy = start(spawn, BUSY)
    idle = start(spawn, IDLE)
    parent = start(spawn, PARENT)
    assert wait_until(lambda: bool(psutil.Process(parent).children()), timeout=10)
    csv_path = tmp_path / "resources.csv"

    with ResourceSampler(csv_path, {"busy": busy, "idle": idle}, interval=0.25) as sampler:
        sampler.add("parent", parent)
        assert wait_until(lambda: sum(r["component"] == "parent" for r in rows(csv_path)) >= 4)

    table = rows(csv_path)
    assert csv_path.read_text().splitlines()[0] == ",".join(HEADER)
    # Where the CPU went, not how fast: summed over the ticks, the spinning process and the
    # parent whose child spins each used more than the sleeping one (no percentage is asserted;
    # a shared machine decides those).
    used = {c: sum(float(r["cpu_percent"]) for r in table if r["component"] == c) for c in HOGS}
    assert used["busy"] > used["idle"]
    assert used["parent"] > used["idle"]  # its busy child's CPU is counted as its own
    assert {int(r["pid"]) for r in table if r["component"] == "busy"} == {busy}
    assert all(int(r["rss_bytes"]) > 1_000_000 for r in table)
    assert {int(r["host_cores"]) for r in table} == {psutil.cpu_count(logical=True)}
    assert sorted(float(r["ts"]) for r in table) == [float(r["ts"]) for r in table]


def test_a_component_that_dies_has_no_more_rows(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    doomed = start(spawn, IDLE)
    steady = start(spawn, IDLE)
    csv_path = tmp_path / "resources.csv"

    def count(name: str) -> int:
        return sum(r["component"] == name for r in rows(csv_path))

    with ResourceSampler(csv_path, {"doomed": doomed, "steady": steady}, interval=0.1):
        assert wait_until(lambda: count("doomed") >= 2)
        spawn[0].kill()
        spawn[0].wait()
        doomed_rows, steady_rows = count("doomed"), count("steady")
        assert wait_until(lambda: count("steady") >= steady_rows + 3)

    assert count("doomed") - doomed_rows <= 1  # at most the tick already being written


def test_docker_stats_become_the_same_row_shape() -> None:
    last: dict[str, tuple[int, int]] = {}
    attrs = {"State": {"Pid": 4242}}

    def stats(total: int, system: int) -> dict[str, object]:
        return {
            "cpu_stats": {
                "cpu_usage": {"total_usage": total},
                "system_cpu_usage": system,
                "online_cpus": 2,
            },
            "memory_stats": {"usage": 300_000_000, "stats": {"inactive_file": 100_000_000}},
        }

    first = docker_row(1.0, "api-1", attrs, stats(1_000, 10_000), last, 2)
    second = docker_row(2.0, "api-1", attrs, stats(3_000, 14_000), last, 2)

    assert first is None  # the baseline
    # 2,000 of 4,000 host CPU-ns on 2 CPUs: one full core
    assert second == (2.0, "api-1", 4242, 100.0, 200_000_000, 2)


class FakeContainer:
    """Docker's answer for a container that burns half a core of a 2-CPU host."""

    def __init__(self) -> None:
        self.attrs = {"State": {"Pid": 4242}}
        self.calls = 0

    def stats(self, *, stream: bool, one_shot: bool) -> dict[str, object]:
        assert (stream, one_shot) == (False, True)
        self.calls += 1
        return {
            "cpu_stats": {
                "cpu_usage": {"total_usage": self.calls * 1_000},
                "system_cpu_usage": self.calls * 4_000,
                "online_cpus": 2,
            },
            "memory_stats": {"usage": 50_000_000, "stats": {"inactive_file": 0}},
        }


class FakeDocker:
    def __init__(self) -> None:
        self.container = FakeContainer()
        self.containers = self

    def get(self, ident: str) -> FakeContainer:
        assert ident == "primo-capacity-api-1"
        return self.container


def test_containers_and_local_processes_share_one_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "resources.csv"
    sampler = ResourceSampler(
        csv_path,
        {},
        interval=0.1,
        containers={"api-1": "primo-capacity-api-1"},
        docker_client=FakeDocker(),
    )

    with sampler:
        sampler.add("generator", os.getpid())
        assert wait_until(
            lambda: {r["component"] for r in rows(csv_path)} >= {"api-1", "generator"}
        )
        assert wait_until(lambda: sum(r["component"] == "api-1" for r in rows(csv_path)) >= 2)

    api = [r for r in rows(csv_path) if r["component"] == "api-1"]
    assert {(r["pid"], r["cpu_percent"], r["rss_bytes"]) for r in api} == {
        ("4242", "50.0", "50000000")
    }


def test_latest_holds_the_cpu_of_each_component_at_the_last_tick(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    busy = start(spawn, BUSY)
    doomed = start(spawn, IDLE)

    with ResourceSampler(tmp_path / "resources.csv", {"busy": busy, "doomed": doomed}, 0.2) as s:
        before = s.latest()
        assert wait_until(lambda: set(s.latest()) == {"busy", "doomed"})
        assert wait_until(lambda: s.latest()["busy"] > 20)
        spawn[1].kill()
        spawn[1].wait()
        assert wait_until(lambda: set(s.latest()) == {"busy"})

    assert before == {}
