"""One phase's Locust: its command line, the process, its progress on screen, its exit code.

Locust runs as a subprocess: it monkey-patches the standard library with gevent, and the stack
code must never share a process with it. While it runs, its worker processes (``--processes K``)
join the resource sampler as ``generator-N``, and the last row of its stats history feeds a live
bar (a plain line every 10 s when the console is not a terminal).
"""

from __future__ import annotations

import contextlib
import csv
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from harness.errors import BadInputError, HarnessError
from harness.stack.processes import ManagedProcess, log_tail
from harness.stack.resources import ResourceSampler

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
DEADLINE_GRACE_S = 120.0  # past the scenario's duration, a phase's Locust is stuck
PLAIN_LINE_EVERY_S = 10.0
EXIT_BAD_INPUT = 2  # Locust refused the scenario or its options (loadtests/_options.py)


@dataclass(frozen=True)
class LocustJob:
    """One phase's Locust run: what to load, where, and where its files go."""

    name: str  # the phase, for the progress line
    scenario_path: Path
    directory: Path
    url: str
    processes: int
    seed_users: int
    duration_s: float

    @property
    def log_path(self) -> Path:
        return self.directory / "logs" / "locust.log"

    @property
    def history_csv(self) -> Path:
        return self.directory / "locust_stats_history.csv"


def locust_argv(job: LocustJob) -> list[str]:
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOADTESTS), "--headless",
        "--scenario", str(job.scenario_path), "-H", job.url,
    ]  # fmt: skip
    if job.processes > 1:
        argv += ["--processes", str(job.processes)]
    return [
        *argv,
        "--csv", str(job.directory / "locust"), "--csv-full-history",
        "--html", str(job.directory / "locust.html"),
        "--json-file", str(job.directory / "locust"),
        "--samples-dir", str(job.directory / "samples"),
        "--verdict-file", str(job.directory / "verdict.json"),
        "--seed-users", str(job.seed_users),
        "--only-summary",
        "--stop-timeout", "10",
    ]  # fmt: skip


def run_locust(job: LocustJob, sampler: ResourceSampler, console: Console) -> int:
    """Run Locust to its end and return its exit code (0 PASS, 1 FAIL, 3 INVALID).

    Raises :class:`BadInputError` when Locust refuses the run (exit code 2), and
    :class:`HarnessError` when it runs past its deadline. On Ctrl-C, Locust is asked to stop
    and write its results before the interrupt goes on.
    """
    locust = ManagedProcess("locust", locust_argv(job), log_path=job.log_path, cwd=LOADTESTS.parent)
    popen = locust.start().popen
    assert popen is not None  # start() either started it or raised
    sampler.add("generator", popen.pid)
    workers = WorkerTracker(popen.pid, sampler.add)
    with phase_progress(console, job.name, job.duration_s) as progress:
        try:
            _watch(locust, popen, job, workers, progress)
        except KeyboardInterrupt:
            console.print(f"{job.name}: interrupted — stopping Locust, keeping results")
            _stop_gently(locust, popen)
            raise
        progress.finish(read_live_stats(job.history_csv))
    if popen.returncode == EXIT_BAD_INPUT:
        raise BadInputError(
            f"locust refused the run ({job.scenario_path}): "
            + " | ".join(log_tail(job.log_path, 3).splitlines())
        )
    return int(popen.returncode)


def _watch(
    locust: ManagedProcess,
    popen: subprocess.Popen[bytes],
    job: LocustJob,
    workers: WorkerTracker,
    progress: PhaseProgress,
) -> None:
    deadline = time.monotonic() + job.duration_s + DEADLINE_GRACE_S
    while locust.running():
        if time.monotonic() > deadline:
            locust.stop(timeout=20)
            raise HarnessError(
                f"locust: phase {job.name} ran past its deadline "
                f"({job.duration_s:.0f} s + {DEADLINE_GRACE_S:.0f} s); log: {job.log_path}"
            )
        workers.track()
        progress.update(read_live_stats(job.history_csv))
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(1.0)


def _stop_gently(locust: ManagedProcess, popen: subprocess.Popen[bytes]) -> None:
    # SIGTERM lets Locust stop its users, judge what it recorded and write its files.
    popen.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(30)
    locust.stop()


@dataclass
class WorkerTracker:
    """``--processes K`` forks workers: sample each as ``generator-N`` once it appears."""

    pid: int
    sample: Callable[[str, int], None]  # ResourceSampler.add
    known: set[int] = field(default_factory=set)

    def track(self) -> None:
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.pid).children():
                if child.pid not in self.known:
                    self.known.add(child.pid)
                    self.sample(f"generator-{len(self.known)}", child.pid)


# --- progress ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LiveStats:
    rate: float = 0.0
    p95: float | None = None
    requests: int = 0
    failures: int = 0


def read_live_stats(history_csv: Path) -> LiveStats | None:
    """The last 'Aggregated' row of Locust's stats history (for the progress bar only)."""
    try:
        with history_csv.open(newline="") as fh:
            rows = [row for row in csv.DictReader(fh) if row.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return None
    if not rows:
        return None
    last = rows[-1]

    def number(key: str) -> float:
        try:
            return float(last.get(key) or 0)
        except ValueError:
            return 0.0

    p95 = last.get("95%")
    return LiveStats(
        rate=number("Requests/s"),
        p95=float(p95) if p95 not in (None, "", "N/A") else None,
        requests=int(number("Total Request Count")),
        failures=int(number("Total Failure Count")),
    )


def describe(live: LiveStats | None) -> str:
    if live is None:
        return "waiting for the first stats …"
    p95 = f"{live.p95:.0f} ms" if live.p95 is not None else "-"
    errors = (100.0 * live.failures / live.requests) if live.requests else 0.0
    return f"{live.rate:7.1f} req/s  p95 {p95:>7}  errors {errors:5.2f} %"


@dataclass
class PhaseProgress:
    """A live bar on a terminal; in a CI log, where no bar is drawn, a plain line every 10 s."""

    progress: Progress
    console: Console
    name: str
    total: float
    task: TaskID = field(init=False)
    started: float = field(init=False, default_factory=time.monotonic)
    next_line: float = PLAIN_LINE_EVERY_S

    def __post_init__(self) -> None:
        self.task = self.progress.add_task(self.name, total=self.total, stats="starting …")

    def update(self, live: LiveStats | None) -> None:
        elapsed = time.monotonic() - self.started
        self.progress.update(self.task, completed=min(self.total, elapsed), stats=describe(live))
        if not self.console.is_terminal and elapsed >= self.next_line:
            self.console.print(f"{self.name}: {elapsed:4.0f}/{self.total:.0f} s  {describe(live)}")
            self.next_line += PLAIN_LINE_EVERY_S

    def finish(self, live: LiveStats | None) -> None:
        self.progress.update(self.task, completed=self.total, stats=describe(live))


@contextlib.contextmanager
def phase_progress(console: Console, name: str, total: float) -> Iterator[PhaseProgress]:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=False,
    )
    with progress:
        yield PhaseProgress(progress, console, name, total)
