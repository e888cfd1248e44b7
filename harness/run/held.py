"""What a phase holds open, every few seconds, to ``held.csv``: each process's file descriptors
(its sockets, mostly) and the TCP connections established to each component's listening port.

For a closed-model run with thousands of users (scenarios/concurrent-10k.toml) the question is
not the request rate but whether every user keeps its connection, and how close each process
comes to its ``ulimit -n`` (docs/concurrency.md). Descriptors are counted by listing
``/proc/PID/fd`` (the process and its children, as the resource sampler sums them); connections
by one read of ``/proc/net/tcp`` and ``tcp6`` per tick, not per process (psutil's system-wide
``net_connections`` maps every socket to its pid, which costs far more at 20,000 sockets).
"""

from __future__ import annotations

import contextlib
import csv
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Self

import psutil

HELD = "held.csv"
HEADER = ("ts", "component", "open_fds", "established")
INTERVAL_S = 2.0
_ESTABLISHED = "01"  # the st column of /proc/net/tcp


def established_by_port(
    tables: tuple[str, ...] = ("/proc/net/tcp", "/proc/net/tcp6"),
) -> Counter[int]:
    """Established TCP connections per local port (the accepting side's port)."""
    counts: Counter[int] = Counter()
    for table in tables:
        with contextlib.suppress(OSError), open(table) as fh:
            next(fh, None)  # the header
            for line in fh:
                fields = line.split(maxsplit=4)
                if len(fields) > 3 and fields[3] == _ESTABLISHED:
                    counts[int(fields[1].rsplit(":", 1)[1], 16)] += 1
    return counts


def open_fds(pid: int) -> int | None:
    """Descriptors of a process and its children; None when it is gone."""
    try:
        proc = psutil.Process(pid)
        total = proc.num_fds()
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.num_fds()
    except psutil.Error:
        return None
    return total


class HeldSampler:
    """``held.csv`` on a thread: ``processes()`` names what to count (asked each tick, so a
    generator worker that appears later is counted), ``ports`` each component's listening port."""

    def __init__(
        self,
        csv_path: Path,
        processes: Callable[[], Mapping[str, int]],
        ports: Mapping[str, int],
        interval: float = INTERVAL_S,
    ) -> None:
        self.csv_path = csv_path
        self.processes = processes
        self.ports = dict(ports)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="held-sampler", daemon=True)

    def __enter__(self) -> Self:
        self.csv_path.parent.mkdir(parents=True, exist_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 10)

    def rows(self, ts: float) -> list[tuple[float, str, int | str, int | str]]:
        connections = established_by_port() if self.ports else Counter()
        out: list[tuple[float, str, int | str, int | str]] = []
        processes = dict(self.processes())
        for name in sorted(set(processes) | set(self.ports)):
            fds = open_fds(processes[name]) if name in processes else None
            port = self.ports.get(name)
            held = connections.get(port, 0) if port else ""
            out.append((ts, name, "" if fds is None else fds, held))
        return out

    def _run(self) -> None:
        with self.csv_path.open("w", newline="") as fh:  # the file lives as long as the thread
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            fh.flush()
            while not self._stop.wait(self.interval):
                writer.writerows(self.rows(round(time.time(), 3)))
                fh.flush()
