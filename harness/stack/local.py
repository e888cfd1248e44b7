"""The embedded stack: SecantusDB, redis-server, N uvicorn replicas and a balancer, all local.

Every component is a :class:`~harness.stack.processes.ManagedProcess` started from the calling
thread, so it dies with that thread's process (PDEATHSIG) even when the harness is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

from harness.errors import ComponentError
from harness.stack import balancer
from harness.stack.cgroups import CpuLimiter, cpu_limiter
from harness.stack.config import ComponentStatus, StackConfig
from harness.stack.health import http_ok, mongo_ok, port_is_free, redis_ok
from harness.stack.nginx import prepare_local_dirs, render_local
from harness.stack.processes import (
    ManagedProcess,
    find_nginx,
    free_port,
    start_redis,
    start_secantusd,
    stop_group,
)
from harness.stack.resources import ResourceSampler

HOST = "127.0.0.1"
STARTUP_TIMEOUT = 60.0  # a replica imports FastAPI, pydantic and pymongo on a busy 2-core machine
STARTED_LINE = b"Application startup complete"


def redact(uri: str) -> str:
    """``uri`` without its password, for messages and tables."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# uvicorn's httptools protocol, sending each answer's header and body in one write: a replica
# killed mid-answer then never leaves nginx a header it cannot retry (reference_api/wire.py).
HTTP_PROTOCOL = "reference_api.wire:CoalescingHttpProtocol"


def api_argv(
    app: str = "reference_api.main:create_app", *, port: int | None = None, fd: int | None = None
) -> list[str]:
    """The one command line of an API replica: on ``127.0.0.1:port``, or on an inherited ``fd``.

    Keep-alive (75 s) outlives nginx's upstream keepalive_timeout (60 s), so nginx never reuses a
    connection the replica is closing; the app logs each request itself.
    """
    where = ["--fd", str(fd)] if fd is not None else ["--host", HOST, "--port", str(port)]
    return [
        sys.executable, "-m", "uvicorn", "--factory", app, *where,
        "--loop", "uvloop", "--http", HTTP_PROTOCOL, "--timeout-keep-alive", "75",
        "--timeout-graceful-shutdown", "10", "--no-access-log", "--no-server-header",
    ]  # fmt: skip


# The embedded database runs one command at a time (its launcher serialises them; it is one
# Python process anyway): past ~4 connections in all, more only add waiting threads to it
# (BENCHMARKS.md, "The embedded database"). A real MongoDB keeps the production pool of 50.
EMBEDDED_DB_CONNECTIONS = 4


def embedded_pool_size(replicas: int) -> int:
    """Each replica's MongoDB pool when the stack runs its own database: the connection budget
    split across the replicas, at least 2 each."""
    return max(2, -(-EMBEDDED_DB_CONNECTIONS // replicas))


class LocalStack:
    """db + redis + ``api-1..N`` + balancer on this machine; a context manager.

    ``with LocalStack(StackConfig(replicas=3)) as stack: httpx.get(stack.url + "/health")``
    """

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.work_dir = config.work_dir.resolve()
        self.balancer = self._choose_balancer()
        self.url = ""
        self.mongodb_uri = config.mongodb_uri or ""
        self.redis_url: str | None = config.redis_url if config.cache else None
        self._procs: dict[str, ManagedProcess] = {}
        self._ready: dict[str, Callable[[ManagedProcess], Callable[[], bool]]] = {}
        self._ports: dict[str, int] = {}
        self._shared: socket.socket | None = None
        self._offsets: dict[str, int] = {}  # log size at each start: where "started" is looked for
        self._paused: set[str] = set()
        self._out: set[str] = set()  # replicas nginx sends nothing (drained for a restart)
        self._cpu: CpuLimiter | None = None  # config.cpus_per_replica: a cgroup per replica

    # -- the whole stack ------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    def up(self) -> LocalStack:
        """Start and health-check every component; on any failure stop what started and raise."""
        (self.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        if self.config.cpus_per_replica:
            self._cpu = cpu_limiter(self.config.cpus_per_replica)
        try:
            port = self._claim_port()
            self.url = f"http://{HOST}:{port}"
            if self.config.mongodb_uri is None:
                self._start_db()
            self._check_db()
            if self.config.cache and self.config.redis_url is None:
                self._start_redis()
            elif self.redis_url is not None and not redis_ok(self.redis_url, timeout=3.0):
                raise ComponentError("redis", f"no PING answer at {redact(self.redis_url)}")
            self._start_replicas(port)
            if self.balancer == "nginx":
                self._start_nginx(port)
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Stop everything, balancer first and database last; safe to call twice."""
        for name in sorted(self._paused):  # a stopped process would not hear SIGTERM
            self.resume(name)
        order = sorted(self._procs, key=_stop_rank)
        for name in order:  # signal every replica at once, then wait for each
            popen = self._procs[name].popen
            if name.startswith("api-") and popen is not None and popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGTERM)
        for name in order:
            self._procs[name].stop()
        if self._shared is not None:
            self._shared.close()
            self._shared = None
        if self._cpu is not None:
            self._cpu.close()

    # -- what runs ------------------------------------------------------------------------------

    def components(self) -> list[ComponentStatus]:
        """Every component with a fresh health check."""
        out = []
        for name in sorted(self._procs, key=_start_rank):
            proc = self._procs[name]
            healthy = proc.running() and self._safe(self._ready[name](proc))
            out.append(
                ComponentStatus(name, proc.pid, self._ports.get(name), proc.log_path, healthy)
            )
        return out

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self._procs.items() if p.pid is not None and p.running()}

    def resource_sampler(self, csv_path: Path, interval: float = 1.0) -> ResourceSampler:
        return ResourceSampler(csv_path, self.pids(), interval)

    # -- fault hooks ----------------------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL one component (``api-2``, ``redis``, ``db``, ``nginx``): no clean-up."""
        self._proc(name).kill()

    def start(self, name: str) -> None:
        """Start a stopped component again on the same port with the same data, and wait for it;
        a replica out of nginx's rotation goes back in once it is ready."""
        proc = self._proc(name)
        if not proc.running():
            self._launch(proc)
        if name in self._out:
            self._out.discard(name)
            self._reload_nginx()

    def restart(self, name: str) -> None:
        """Stop gracefully, then :meth:`start`.

        A replica behind nginx, with another one in rotation to take its requests, is drained
        first: taken out of the upstream by a reload, which returns once the requests in flight
        to it are done (harness/stack/balancer.py); then stopped (SIGTERM: the app's own
        graceful shutdown), started, and put back once its /health/ready answers 200.
        """
        proc = self._proc(name)
        if self._can_drain(name):
            self._out.add(name)
            self._reload_nginx()
        proc.stop()
        self.start(name)

    def pause(self, name: str) -> None:
        """SIGSTOP one component's process group: a stall, not a crash; :meth:`resume` ends it."""
        proc = self._proc(name)
        if proc.popen is None or not proc.running():
            raise ComponentError(name, "not running, so it cannot be stopped")
        stop_group(proc.popen.pid)
        self._paused.add(name)

    def resume(self, name: str) -> None:
        """SIGCONT what :meth:`pause` stopped; a component that is gone is left alone."""
        popen = self._proc(name).popen
        self._paused.discard(name)
        if popen is not None and popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGCONT)

    # -- starting -------------------------------------------------------------------------------

    def _choose_balancer(self) -> str:
        wanted = self.config.lb
        if wanted == "shared-socket" or (wanted == "auto" and find_nginx() is None):
            return "shared-socket"
        if find_nginx() is None:
            raise ComponentError(
                "nginx", "not found on PATH (install nginx, or use --lb shared-socket)"
            )
        return "nginx"

    def _claim_port(self) -> int:
        port = self.config.port or free_port(HOST)
        name = "nginx" if self.balancer == "nginx" else "api"
        if not port_is_free(port, HOST):
            raise ComponentError(name, f"port {port} on {HOST} is already in use")
        if self.balancer == "shared-socket":
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError as exc:
                sock.close()
                raise ComponentError(name, f"cannot listen on {HOST}:{port}: {exc}") from exc
            sock.listen(2048)
            self._shared = sock
        return port

    def _add(
        self,
        proc: ManagedProcess,
        ready: Callable[[ManagedProcess], Callable[[], bool]],
        port: int | None,
    ) -> ManagedProcess:
        self._procs[proc.name] = proc
        self._ready[proc.name] = ready
        if port is not None:
            self._ports[proc.name] = port
        return proc

    def _launch(self, proc: ManagedProcess, wait: bool = True) -> Callable[[], None]:
        """Start ``proc``; return (or run, when ``wait``) the wait for its health check."""
        offset = proc.log_path.stat().st_size if proc.log_path.exists() else 0
        self._offsets[proc.name] = offset
        proc.start()
        if self._cpu is not None and proc.name.startswith("api-") and proc.pid is not None:
            self._cpu.add(proc.name, proc.pid)

        def wait_ready() -> None:
            proc.wait_ready(self._ready[proc.name](proc), timeout=STARTUP_TIMEOUT)

        if wait:
            wait_ready()
        return wait_ready

    def _start_db(self) -> None:
        proc, uri = start_secantusd(self.work_dir, host=HOST, timeout=STARTUP_TIMEOUT)
        self.mongodb_uri = uri
        self._add(proc, lambda _p: lambda: mongo_ok(uri), urlsplit(uri).port)
        proc.wait_ready(lambda: mongo_ok(uri), timeout=STARTUP_TIMEOUT)  # open is not serving

    def _check_db(self) -> None:
        if "db" in self._procs:
            return
        if not mongo_ok(self.mongodb_uri, timeout=5.0):
            raise ComponentError("db", f"no answer to ping at {redact(self.mongodb_uri)} in 5 s")

    def _start_redis(self) -> None:
        proc, url = start_redis(self.work_dir, host=HOST, timeout=STARTUP_TIMEOUT)
        self.redis_url = url
        self._add(proc, lambda _p: lambda: redis_ok(url), urlsplit(url).port)

    def _api_env(self, replica: int, port: int | None) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            APP_ENV="development",
            MONGODB_URI=self.mongodb_uri,
            REDIS_URL=self.redis_url or "",
            CACHE_ENABLED="true" if self.redis_url else "false",
            JWT_SECRET=self.config.jwt_secret,
            REPLICA_ID=f"api-{replica}",
            LOG_FILE_PATH="",
        )
        if port is not None:
            env["PORT"] = str(port)
        if "db" in self._procs and "MONGODB_POOL_SIZE" not in env:
            env["MONGODB_POOL_SIZE"] = str(embedded_pool_size(self.config.replicas))
        env.update(self.config.env)
        return env

    def _start_replicas(self, lb_port: int) -> None:
        waits = []
        for replica in range(1, self.config.replicas + 1):
            name = f"api-{replica}"
            port: int | None
            if self._shared is not None:
                port = None
                argv = api_argv(self.config.app, fd=self._shared.fileno())
                pass_fds: tuple[int, ...] = (self._shared.fileno(),)
            else:
                port = free_port(HOST)
                argv = api_argv(self.config.app, port=port)
                pass_fds = ()
            proc = ManagedProcess(
                name,
                argv,
                log_path=self.work_dir / "logs" / f"{name}.log",
                env=self._api_env(replica, port),
                cwd=Path.cwd(),
                pass_fds=pass_fds,
            )
            self._add(proc, self._replica_ready(port), port)
            waits.append(self._launch(proc, wait=False))
        for wait in waits:  # the replicas start side by side
            wait()

    def _replica_ready(self, port: int | None) -> Callable[[ManagedProcess], Callable[[], bool]]:
        if port is not None:
            return lambda _p: lambda: http_ok(f"http://{HOST}:{port}/health/ready")

        # One socket for all: a request cannot pick its replica, so each one's own log says when
        # it is serving, and a request through the socket says the whole is.
        def ready(proc: ManagedProcess) -> Callable[[], bool]:
            offset = self._offsets.get(proc.name, 0)
            return lambda: (
                _log_has(proc.log_path, offset, STARTED_LINE)
                and http_ok(f"{self.url}/health/ready")
            )

        return ready

    def _write_nginx_conf(self, port: int) -> Path:
        conf = self.work_dir / "nginx.conf"
        names = [f"api-{i}" for i in range(1, self.config.replicas + 1)]
        ports = [self._ports[n] for n in names]
        down = {self._ports[n] for n in self._out}
        conf.write_text(
            render_local(self.work_dir, port, ports, self.config.lb_rate_limit, down=down)
        )
        return conf

    def _start_nginx(self, port: int) -> None:
        binary = find_nginx()
        assert binary is not None  # _choose_balancer saw it
        prepare_local_dirs(self.work_dir)
        conf = self._write_nginx_conf(port)
        proc = ManagedProcess(
            "nginx",
            [str(binary), "-p", str(self.work_dir), "-c", str(conf), "-g", "daemon off;"],
            log_path=self.work_dir / "logs" / "nginx.log",
            cwd=self.work_dir,
            stop_signal=signal.SIGQUIT,  # graceful: finish the requests in flight
        )
        url = self.url
        self._add(proc, lambda _p: lambda: http_ok(f"{url}/health"), port)
        self._launch(proc)

    def _can_drain(self, name: str) -> bool:
        """nginx runs and, without ``name``, still has a replica in rotation to send to."""
        nginx = self._procs.get("nginx")
        if nginx is None or not nginx.running() or not name.startswith("api-"):
            return False
        others = [
            n
            for n, p in self._procs.items()
            if n.startswith("api-") and n != name and n not in self._out and p.running()
        ]
        return bool(others)

    def _reload_nginx(self) -> None:
        """Rewrite nginx.conf with the replicas out of rotation marked down, reload, and wait
        until the old workers' requests are done."""
        nginx = self._procs.get("nginx")
        if nginx is None or nginx.popen is None or not nginx.running():
            return
        self._write_nginx_conf(self._ports["nginx"])
        balancer.reload(nginx.popen.pid, nginx.log_path)

    # -- helpers --------------------------------------------------------------------------------

    def _proc(self, name: str) -> ManagedProcess:
        try:
            return self._procs[name]
        except KeyError:
            known = ", ".join(sorted(self._procs, key=_start_rank)) or "none"
            raise ComponentError(name, f"no such component (running: {known})") from None

    @staticmethod
    def _safe(check: Callable[[], bool]) -> bool:
        try:
            return check()
        except Exception:
            return False


def _log_has(path: Path, offset: int, needle: bytes) -> bool:
    with contextlib.suppress(OSError), path.open("rb") as fh:
        fh.seek(offset)
        return needle in fh.read()
    return False


_RANK = {"db": 0, "redis": 1, "nginx": 3}


def _start_rank(name: str) -> tuple[int, int]:
    if name.startswith("api-"):
        return (2, int(name.removeprefix("api-")))
    return (_RANK.get(name, 4), 0)


def _stop_rank(name: str) -> tuple[int, int]:
    rank, sub = _start_rank(name)
    return (-rank, sub)
