"""One phase's Locust: its command line, the process, its progress on screen, its exit code.

Locust runs as a subprocess: it monkey-patches the standard library with gevent, and the stack
code must never share a process with it. While it runs, its worker processes (``--processes K``)
join the resource sampler as ``generator-N``, and the rows of its stats history feed a live bar
(a plain line every 10 s when the console is not a terminal) and the stability watch
(:mod:`harness.run.watch`), which says at once when the phase stops holding steady. The phase's
faults (:mod:`harness.run.faults`) and the scrapes of the API's per-endpoint costs at the edges
of the steady windows (:mod:`harness.run.scrape`) happen on schedule from the same loop, timed
from the load start: the moment Locust's test starts and its first samples file appears, the
``run_start`` the analysis measures from (the process starts a few seconds earlier, importing).
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

from harness.core.layout import VERDICT
from harness.core.scenario import SCENARIO_DIR
from harness.core.stability import without
from harness.errors import BadInputError, HarnessError
from harness.run.faults import FaultSchedule
from harness.run.scrape import CostScraper
from harness.run.watch import StabilityWatch
from harness.run.workers import Workers
from harness.stack.processes import ManagedProcess, log_tail
from harness.stack.resources import ResourceSampler

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"
DEADLINE_GRACE_S = 120.0  # past the scenario's duration, a phase's Locust is stuck
PLAIN_LINE_EVERY_S = 10.0
START_POLL_S = 0.1  # how often to look for the load start: faults are timed from it
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
    windows: tuple[tuple[float, float], ...] = ()  # steady windows: where the watch judges
    excused: tuple[tuple[float, float], ...] = ()  # a fault drill's faults: left to the drill
    workers: Workers | None = None  # --expect-workers: workers elsewhere, only the master here

    @property
    def log_path(self) -> Path:
        return self.directory / "logs" / "locust.log"

    @property
    def history_csv(self) -> Path:
        return self.directory / "locust_stats_history.csv"


def scenario_arg(job: LocustJob) -> str:
    """How Locust is told the scenario. Workers elsewhere receive it from the master and load it
    themselves: a shipped scenario goes by name (found in their own checkout's scenarios/), any
    other by its path (which must then exist there too)."""
    path = job.scenario_path.resolve()
    if job.workers is not None and path.parent == SCENARIO_DIR.resolve():
        return path.stem
    return str(job.scenario_path)


def locust_argv(job: LocustJob) -> list[str]:
    argv = [
        sys.executable, "-m", "locust", "-f", str(LOADTESTS), "--headless",
        "--scenario", scenario_arg(job), "-H", job.url,
    ]  # fmt: skip
    if job.workers is not None:
        argv += [
            "--master", "--expect-workers", str(job.workers.count),
            "--expect-workers-max-wait", f"{job.workers.wait_s:.0f}",
            "--master-bind-host", job.workers.host, "--master-bind-port", str(job.workers.port),
        ]  # fmt: skip
    elif job.processes > 1:
        argv += ["--processes", str(job.processes)]
    return [
        *argv,
        "--csv", str(job.directory / "locust"), "--csv-full-history",
        "--html", str(job.directory / "locust.html"),
        "--json-file", str(job.directory / "locust"),
        "--samples-dir", str(job.directory / "samples"),
        "--verdict-file", str(job.directory / VERDICT),
        "--seed-users", str(job.seed_users),
        "--only-summary",
        "--stop-timeout", "10",
    ]  # fmt: skip


def run_locust(
    job: LocustJob,
    sampler: ResourceSampler,
    console: Console,
    faults: FaultSchedule | None = None,
    costs: CostScraper | None = None,
) -> int:
    """Run Locust to its end and return its exit code (0 PASS, 1 FAIL, 3 INVALID).

    Raises :class:`BadInputError` when Locust refuses the run (exit code 2), and
    :class:`HarnessError` when it runs past its deadline. On Ctrl-C, Locust is asked to stop
    and write its results before the interrupt goes on. Whatever ends the phase, every component
    a fault paused is resumed first.
    """
    locust = ManagedProcess("locust", locust_argv(job), log_path=job.log_path, cwd=LOADTESTS.parent)
    popen = locust.start().popen
    assert popen is not None  # start() either started it or raised
    # With workers elsewhere, the master is one generator process among them (not their parent).
    sampler.add("generator-master" if job.workers else "generator", popen.pid)
    if job.workers is not None:
        say(console)(
            f"{job.name}: waiting up to {job.workers.wait_s:.0f} s for {job.workers.count} "
            f"worker(s); on each worker host run: {job.workers.command()}"
        )
    schedule = faults if faults is not None else FaultSchedule([], _NoControls(), say(console))
    with phase_progress(console, job.name, job.duration_s) as progress:
        live = LiveLoop(
            console,
            sampler,
            WorkerTracker(popen.pid, sampler.add),
            progress,
            schedule,
            StabilityWatch(job.name, without(job.windows, job.excused)),
            LoadClock(job.directory / "samples"),
            HistoryTail(job.history_csv),
            costs=costs,
        )
        try:
            try:
                _watch(locust, popen, job, live)
            finally:
                schedule.close(live.clock.elapsed())
        except KeyboardInterrupt:
            console.print(f"{job.name}: interrupted — stopping Locust, keeping results")
            _stop_gently(locust, popen)
            raise
        except Exception:
            locust.stop()  # the phase failed: no Locust is left behind to load the next one
            raise
        live.tick(rows_now=True)  # the rows Locust wrote as it finished
        progress.finish(live.stats)
    if popen.returncode == EXIT_BAD_INPUT:
        raise BadInputError(
            f"locust refused the run ({job.scenario_path}): "
            + " | ".join(log_tail(job.log_path, 3).splitlines())
        )
    return int(popen.returncode)


def _watch(
    locust: ManagedProcess, popen: subprocess.Popen[bytes], job: LocustJob, live: LiveLoop
) -> None:
    waiting = job.workers.wait_s if job.workers is not None else 0.0
    deadline = time.monotonic() + job.duration_s + DEADLINE_GRACE_S + waiting
    while locust.running():
        if time.monotonic() > deadline:
            locust.stop(timeout=20)
            raise HarnessError(
                f"locust: phase {job.name} ran past its deadline "
                f"({job.duration_s:.0f} s + {DEADLINE_GRACE_S:.0f} s); log: {job.log_path}"
            )
        live.tick()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(live.wait_s())


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


# --- while it runs -----------------------------------------------------------------------------
@dataclass
class LiveLoop:
    """One turn of the phase's loop: faults and cost scrapes that are due, then, once a second,
    Locust's new stats rows for the bar and the stability watch."""

    console: Console
    sampler: ResourceSampler
    workers: WorkerTracker
    progress: PhaseProgress
    faults: FaultSchedule
    watch: StabilityWatch
    clock: LoadClock
    tail: HistoryTail
    stats: LiveStats | None = None
    next_second: float = field(default_factory=time.monotonic)
    costs: CostScraper | None = None

    def tick(self, rows_now: bool = False) -> None:
        if (t := self.clock.elapsed()) is not None:
            self.faults.poll(t)
            if self.costs is not None:
                self.costs.poll(t)
        if time.monotonic() < self.next_second and not rows_now:
            return
        self.next_second = time.monotonic() + 1.0
        self.workers.track()
        for row in self.tail.read():
            self.stats = row
            if self.clock.started is None:
                continue
            line = self.watch.observe(
                row.ts - self.clock.started, row.requests - row.failures, self.sampler.latest()
            )
            if line:
                say(self.console)(line)
        self.progress.update(self.stats)

    def wait_s(self) -> float:
        """Until the next stats row is due, or sooner when a fault or the load start is."""
        waits = [self.next_second - time.monotonic()]
        t = self.clock.elapsed()
        if t is None:
            waits.append(START_POLL_S)
        else:
            waits += [d for d in (self.faults.next_due_s(t), self._costs_due(t)) if d is not None]
        return max(0.01, min(waits))

    def _costs_due(self, t: float) -> float | None:
        return self.costs.next_due_s(t) if self.costs is not None else None


@dataclass
class LoadClock:
    """Seconds since the load started: Locust's ``test_start`` opens the first samples file."""

    samples_dir: Path
    started: float | None = None  # unix time, like the stats history's timestamps

    def elapsed(self) -> float | None:
        if self.started is None and any(self.samples_dir.glob("samples-*.bin")):
            self.started = time.time()
        return None if self.started is None else time.time() - self.started


def say(console: Console) -> Callable[[str], None]:
    """Print one whole line above the bar (a terminal) or as it is (a CI log): never wrapped."""
    return lambda line: console.print(line, soft_wrap=True, highlight=False)


class _NoControls:
    """A phase without faults touches no component."""

    def kill(self, name: str) -> None: ...
    def start(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...


# --- Locust's stats history --------------------------------------------------------------------
@dataclass(frozen=True)
class LiveStats:
    rate: float = 0.0
    p95: float | None = None
    requests: int = 0
    failures: int = 0
    ts: float = 0.0  # unix s, whole seconds (Locust's)


@dataclass
class HistoryTail:
    """The 'Aggregated' rows Locust appended to its stats history since the last read.

    Locust flushes the file every few seconds, mid-line at times: only whole lines are read.
    """

    path: Path
    offset: int = 0
    header: list[str] | None = None

    def read(self) -> list[LiveStats]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return []
        whole = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(whole)
        lines = whole.decode("utf-8", "replace").splitlines()
        if self.header is None and lines:
            self.header = next(csv.reader(lines[:1]))
            lines = lines[1:]
        if self.header is None:
            return []
        rows = csv.DictReader(lines, fieldnames=self.header)
        return [_live_stats(row) for row in rows if row.get("Name") == "Aggregated"]


def read_live_stats(history_csv: Path) -> LiveStats | None:
    """The last 'Aggregated' row of Locust's stats history."""
    rows = HistoryTail(history_csv).read()
    return rows[-1] if rows else None


def _live_stats(row: dict[str, str]) -> LiveStats:
    def number(key: str) -> float:
        try:
            return float(row.get(key) or 0)
        except ValueError:
            return 0.0

    p95 = row.get("95%")
    return LiveStats(
        rate=number("Requests/s"),
        p95=float(p95) if p95 not in (None, "", "N/A") else None,
        requests=int(number("Total Request Count")),
        failures=int(number("Total Failure Count")),
        ts=number("Timestamp"),
    )


# --- progress ---------------------------------------------------------------------------------


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
