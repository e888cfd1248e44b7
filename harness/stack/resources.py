"""CPU and memory of every component, once a second, to ``resources.csv`` (docs/architecture.md).

``cpu_percent`` is psutil's: 100 = one full core, summed over the process and its children (nginx
workers). ``rss_bytes`` is summed the same way, so pages shared between a master and its workers
count more than once: it is an upper bound. A component that is not running (killed in a fault
test) has no row for that second.

Containers (the compose backend) are read through the Docker SDK into the same rows; a sampler can
hold both, so a local load generator is sampled next to a compose stack.
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Protocol, Self

import psutil

HEADER = ("ts", "component", "pid", "cpu_percent", "rss_bytes", "host_cores")
Row = tuple[float, str, int, float, int, int]  # one line of resources.csv, as HEADER says
Source = Callable[[float], list[Row]]  # more rows for a tick's time, e.g. from a /metrics scrape


class ResourceSampler:
    """Samples processes (with their children) by pid and containers by id, on a thread."""

    def __init__(
        self,
        csv_path: Path,
        pids: Mapping[str, int],
        interval: float = 1.0,
        containers: Mapping[str, str] | None = None,
        docker_client: _DockerClient | None = None,
    ) -> None:
        self.csv_path = Path(csv_path)
        self.interval = interval
        self.host_cores = psutil.cpu_count(logical=True) or 1
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._procs: dict[str, psutil.Process] = {}
        self._children: dict[str, dict[int, psutil.Process]] = {}
        self._containers: dict[str, str] = {}
        self._docker = docker_client
        self._sources: list[Source] = []
        self._pool: ThreadPoolExecutor | None = None  # reads the containers' stats side by side
        self._last: dict[str, tuple[int, int]] = {}
        self._latest: dict[str, float] = {}  # the last tick's CPU, for the live watch
        self._latest_lock = threading.Lock()  # not _lock: a slow tick must not block a reader
        for name, pid in pids.items():
            self.add(name, pid)
        for name, container in (containers or {}).items():
            self.add_container(name, container)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def add(self, name: str, pid: int) -> None:
        """Sample one more process, e.g. the load generator as ``generator``."""
        with self._lock:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # the first call only sets the baseline
            except psutil.Error:
                return
            self._procs[name] = proc
            self._children[name] = {}

    def add_container(self, name: str, container: str) -> None:
        """Sample one more container (name or id) through the Docker SDK."""
        with self._lock:
            if self._docker is None:
                import docker

                self._docker = docker.from_env()
            self._containers[name] = container

    def processes(self) -> dict[str, int]:
        """``{component: pid}`` of every process sampled now."""
        with self._lock:
            return {name: proc.pid for name, proc in self._procs.items()}

    def add_source(self, source: Source) -> None:
        """Rows from elsewhere each tick (an external target's ``/metrics``); asked outside the
        lock, since it may wait on the network."""
        self._sources.append(source)

    def start(self) -> Self:
        if self._thread is not None:
            return self
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.csv_path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(HEADER)
        self._thread = threading.Thread(target=self._run, name="resource-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 10)
            self._thread = None
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    def _run(self) -> None:
        started = time.monotonic()
        ticks = 0
        while True:
            ticks += 1
            # A fixed schedule: a slow tick does not push every later one back.
            if self._stop.wait(max(0.0, started + ticks * self.interval - time.monotonic())):
                return
            ts = round(time.time(), 3)
            rows = [row for source in list(self._sources) for row in source(ts)]
            with self._lock:
                rows = self._sample_processes(ts) + self._sample_containers(ts) + rows
                if self._writer is not None and self._file is not None:
                    self._writer.writerows(rows)
                    self._file.flush()
            latest = {row[1]: row[3] for row in rows}
            with self._latest_lock:
                self._latest = latest

    def latest(self) -> dict[str, float]:
        """``{component: cpu_percent}`` of the last tick (a component not running has none)."""
        with self._latest_lock:
            return dict(self._latest)

    def _sample_processes(self, ts: float) -> list[Row]:
        rows: list[Row] = []
        for name, proc in list(self._procs.items()):
            try:
                cpu = proc.cpu_percent(None)
                rss = proc.memory_info().rss
                kids = {c.pid: c for c in proc.children(recursive=True)}
            except psutil.Error:
                continue
            known = self._children[name]
            for pid, child in kids.items():
                with contextlib.suppress(psutil.Error):
                    if pid in known:
                        cpu += known[pid].cpu_percent(None)
                    else:  # a new child counts from the next second on
                        child.cpu_percent(None)
                        known[pid] = child
                    rss += child.memory_info().rss
            for gone in set(known) - set(kids):
                del known[gone]
            rows.append((ts, name, proc.pid, round(cpu, 1), rss, self.host_cores))
        return rows

    def _sample_containers(self, ts: float) -> list[Row]:
        """Every container's stats at once: one at a time, a busy engine (each call can take
        a second under load) made a 5-container stack's rows several seconds apart."""
        if self._docker is None or not self._containers:
            return []
        docker_client = self._docker

        def read(ident: str) -> tuple[Any, Any] | None:
            try:
                container = docker_client.containers.get(ident)
                return container.attrs, container.stats(stream=False, one_shot=True)
            except Exception:  # gone, or the engine hiccupped: no row this second
                return None

        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="docker-stats")
        names = list(self._containers)
        answers = list(self._pool.map(read, [self._containers[n] for n in names]))
        rows: list[Row] = []
        for name, answer in zip(names, answers, strict=True):
            if answer is None:
                continue
            row = docker_row(ts, name, answer[0], answer[1], self._last, self.host_cores)
            if row is not None:
                rows.append(row)
        return rows


class _DockerClient(Protocol):
    @property
    def containers(self) -> Any: ...


def docker_row(
    ts: float,
    name: str,
    attrs: Mapping[str, Any],
    stats: Mapping[str, Any],
    last: dict[str, tuple[int, int]],
    host_cores: int,
) -> Row | None:
    """One CSV row from a container's ``stats``, or None for its first (baseline) sample.

    ``pid`` is the container's main process as the host sees it. CPU is the change of the
    container's CPU time over the change of the host's, times its CPUs, between two samples of
    this sampler (``one_shot`` stats answer at once; Docker's own pre-sample costs a second).
    """
    cpu = stats.get("cpu_stats", {})
    total = int(cpu.get("cpu_usage", {}).get("total_usage", 0))
    system = int(cpu.get("system_cpu_usage", 0))
    cores = int(cpu.get("online_cpus") or host_cores)
    previous = last.get(name)
    last[name] = (total, system)
    if previous is None or system <= previous[1]:
        return None
    percent = (total - previous[0]) / (system - previous[1]) * cores * 100.0
    memory = stats.get("memory_stats", {})
    # Like `docker stats`: page cache that could be dropped is not the container's working set.
    inactive = int(memory.get("stats", {}).get("inactive_file", 0))
    rss = max(0, int(memory.get("usage", 0)) - inactive)
    pid = int(attrs.get("State", {}).get("Pid", 0))
    return (ts, name, pid, round(max(percent, 0.0), 1), rss, host_cores)
