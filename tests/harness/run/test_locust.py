"""The Locust command line, its live stats, and the workers it forks."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.run.locust import (
    LOADTESTS,
    HistoryTail,
    LiveStats,
    LoadClock,
    LocustJob,
    WorkerTracker,
    describe,
    locust_argv,
    read_live_stats,
)
from tests._wait import wait_until

HISTORY_HEADER = (
    "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
    "99.9%,99.99%,100%,Total Request Count,Total Failure Count\n"
)


def job(tmp_path: Path, processes: int = 1) -> LocustJob:
    return LocustJob(
        name="r1-cache-on",
        scenario_path=Path("/repo/scenarios/smoke.toml"),
        directory=tmp_path,
        url="http://127.0.0.1:8000",
        processes=processes,
        seed_users=50,
        duration_s=30.0,
    )


def test_one_process_runs_locust_without_the_processes_option(tmp_path: Path) -> None:
    argv = locust_argv(job(tmp_path))

    assert argv[:6] == [sys.executable, "-m", "locust", "-f", str(LOADTESTS), "--headless"]
    assert "--processes" not in argv
    assert argv[argv.index("--seed-users") + 1] == "50"
    assert argv[argv.index("--verdict-file") + 1] == str(tmp_path / "verdict.json")
    assert argv[-2:] == ["--stop-timeout", "10"]


def test_several_processes_follow_the_host(tmp_path: Path) -> None:
    argv = locust_argv(job(tmp_path, processes=3))

    host = argv.index("-H")
    assert argv[host : host + 4] == ["-H", "http://127.0.0.1:8000", "--processes", "3"]


def test_live_stats_come_from_the_last_aggregated_row(tmp_path: Path) -> None:
    history = tmp_path / "locust_stats_history.csv"
    history.write_text(
        HISTORY_HEADER
        + "1,10,,Aggregated,40.0,0,90,,,,,200,,,,,,400,2\n"
        + "2,10,GET,/api/tasks,30.0,0,80,,,,,N/A,,,,,,300,1\n"
        + "3,10,,Aggregated,47.5,0,95,,,,,250,,,,,,900,9\n"
    )

    live = read_live_stats(history)

    assert live == LiveStats(rate=47.5, p95=250.0, requests=900, failures=9, ts=3.0)
    assert describe(live) == "   47.5 req/s  p95  250 ms  errors  1.00 %"


def test_no_stats_yet_reads_as_none(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text(HISTORY_HEADER)

    assert read_live_stats(tmp_path / "missing.csv") is None
    assert read_live_stats(empty) is None
    assert describe(None) == "waiting for the first stats …"
    assert describe(LiveStats()) == "    0.0 req/s  p95       -  errors  0.00 %"


def test_the_history_tail_reads_each_whole_row_once(tmp_path: Path) -> None:
    history = tmp_path / "locust_stats_history.csv"
    history.write_text(HISTORY_HEADER + "1,10,,Aggregated,40.0,0,90,,,,,200,,,,,,400,2\n")
    tail = HistoryTail(history)
    first = tail.read()
    with history.open("a") as fh:  # Locust flushes mid-line at times
        fh.write("2,10,GET,/api/tasks,30.0,0,80,,,,,N/A,,,,,,300,1\n2,10,,Aggregated,41")

    half = tail.read()
    with history.open("a") as fh:
        fh.write(".0,0,90,,,,,210,,,,,,800,3\r\n")
    rest = tail.read()

    assert [(row.ts, row.requests) for row in first] == [(1.0, 400)]
    assert half == []
    assert [(row.ts, row.requests, row.failures) for row in rest] == [(2.0, 800, 3)]
    assert tail.read() == []


def test_the_load_clock_starts_when_the_first_samples_file_appears(tmp_path: Path) -> None:
    clock = LoadClock(tmp_path / "samples")
    before = clock.elapsed()
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "samples-0.bin").touch()
    appeared = time.time()

    elapsed = clock.elapsed()
    now = time.time()

    assert before is None
    assert clock.started is not None
    assert appeared <= clock.started <= now
    assert elapsed is not None
    assert 0 <= elapsed <= now - clock.started  # counted from the appearance, no time bound


def test_each_forked_worker_is_sampled_once_as_the_next_generator() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import signal, subprocess, sys; "
         "[subprocess.Popen([sys.executable, '-c', 'import signal; signal.pause()']) "
         "for _ in range(2)]; signal.pause()"],
    )  # fmt: skip
    sampled: dict[str, int] = {}
    try:
        wait_until(lambda: len(psutil.Process(parent.pid).children()) == 2)  # both forked
        tracker = WorkerTracker(parent.pid, sampled.__setitem__)

        tracker.track()
        tracker.track()

        assert sorted(sampled) == ["generator-1", "generator-2"]
        assert set(sampled.values()) == tracker.known
    finally:
        for child in psutil.Process(parent.pid).children():
            child.kill()
        parent.kill()
        parent.wait()


@pytest.mark.parametrize("processes", [0, 1])
def test_fewer_than_two_processes_mean_one(tmp_path: Path, processes: int) -> None:
    assert "--processes" not in locust_argv(job(tmp_path, processes))
