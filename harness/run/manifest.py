"""What a run records about itself: ``run.json`` for the run, ``manifest.json`` for each phase.

The layout of both files is the contract the report and the gate read (docs/architecture.md):
:meth:`RunRecord.to_dict` and :meth:`Manifest.to_dict` write exactly those keys, in that order.
A phase's manifest is written when the phase starts, again once the stack is up, and a last time
when it ends; a field that is not known yet is left out (or ``null``, as the contract says).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import re
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psutil

from harness._files import utc_now, write_json
from harness.core.layout import MANIFEST
from harness.core.topology import Backend, Balancer
from harness.run.audit import AuditOutcome
from harness.run.faults import FaultRecord

REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_SCHEMA = 1
_VERSIONED = ("fastapi", "uvicorn", "pymongo", "redis", "locust", "numpy", "pandas", "secantusdb")

PhaseOutcome = Literal["complete", "interrupted", "failed"]
RunStatus = Literal["running", "complete", "interrupted", "failed"]


@dataclass(frozen=True)
class Topology:
    replicas: int
    cache: bool
    lb: Balancer
    backend: Backend
    balancer: str | None = None  # what ``lb`` resolved to, once the stack is up
    indexes: bool = True  # the strategy's secondary indexes (MONGODB_INDEXES)
    compression: bool = True  # the API's gzip (COMPRESSION)
    env: dict[str, str] = field(default_factory=dict)  # the API's settings, secrets redacted
    cpus_per_replica: float | None = None  # each replica's CPU cap (compose cpus:, a cgroup)
    images: dict[str, str] = field(default_factory=dict)  # compose: component -> image@id


@dataclass(frozen=True)
class LoadInfo:
    model: Literal["closed", "open"]
    processes: int  # Locust generator processes


@dataclass(frozen=True)
class Host:
    cores: int | None
    memory_bytes: int
    platform: str
    machine: str


@dataclass(frozen=True)
class SeedInfo:
    users: int
    tasks_per_user: int
    seed_seconds: float
    indexes: list[str] | None = None  # "collection.index" once seeded: what the phase ran with
    seeded: Literal["database", "api", "reused"] = "database"  # how (an external target: not db)


@dataclass(frozen=True)
class Services:
    """A local stack's database and Redis when they are not its own (``--mongodb-uri``,
    ``--redis-url``). Each phase gets a database of its own name on that MongoDB, so no phase
    inherits another's data; the manifest records them with any password redacted."""

    mongodb_uri: str | None = None
    redis_url: str | None = None

    @property
    def external(self) -> bool:
        return bool(self.mongodb_uri or self.redis_url)

    def phase_mongodb_uri(self, run: str, phase: str) -> str | None:
        if not self.mongodb_uri:
            return None
        return with_database(self.mongodb_uri, database_name(run, phase))

    def for_phase(self, run: str, phase: str) -> Services:
        return Services(self.phase_mongodb_uri(run, phase), self.redis_url)

    def to_dict(self) -> dict[str, str]:
        return {
            "mongodb": _without_password(self.mongodb_uri) if self.mongodb_uri else "embedded",
            "redis": _without_password(self.redis_url) if self.redis_url else "embedded",
        }


_DB_NAME = re.compile(r"[^A-Za-z0-9_-]")
DB_NAME_MAX = 63  # MongoDB's limit is 64 bytes


def database_name(run: str, phase: str) -> str:
    """``primo_<run>_<phase>`` in the characters MongoDB allows, within its length limit."""
    name = _DB_NAME.sub("_", f"primo_{run}_{phase}")
    return name[:DB_NAME_MAX]


def with_database(uri: str, database: str) -> str:
    """``uri`` with its database path replaced (its options kept). With credentials and no
    ``authSource``, the path was also the database they authenticate against (``admin`` when
    none): it is kept as ``authSource``, so the new path does not break the login."""
    parts = urlsplit(uri)
    query = parts.query
    options = {k.lower() for k, _ in parse_qsl(query)}
    if "@" in parts.netloc and "authsource" not in options:
        source = parts.path.lstrip("/") or "admin"
        query = "&".join(q for q in (query, f"authSource={source}") if q)
    return urlunsplit(parts._replace(path=f"/{database}", query=query))


@dataclass
class Manifest:
    """``<phase>/manifest.json``: the phase's topology, load, provenance and outcome."""

    scenario: str
    scenario_file: str
    phase: str
    topology: Topology
    target_rate: float | None
    load: LoadInfo
    git_commit: str | None
    host: Host
    versions: dict[str, str]
    started: str = field(default_factory=utc_now)
    finished: str | None = None
    status: RunStatus = "running"
    components: list[str] | None = None  # known once the stack is up
    data: SeedInfo | None = None  # known once the database is seeded
    locust_exit_code: int | None = None  # written once the phase has finished
    error: str = ""
    faults: list[FaultRecord] | None = None  # the scenario's [[faults]] here, as they happened
    endpoint_costs: str | None = None  # its file name, once the API's costs were written
    audit: AuditOutcome | None = None  # the write audit's counts (or why none), once it ran
    plan: Literal["phases"] | None = None  # "phases": one of the scenario's [[phases]]
    description: str = ""  # a named phase's
    services: Services | None = None  # a local stack's external MongoDB/Redis, if any
    target: dict[str, Any] | None = None  # --target: the service, how it was reached, unknowns

    def finish(self, status: PhaseOutcome, locust_exit_code: int | None, error: str) -> None:
        self.finished = utc_now()
        self.status = status
        self.locust_exit_code = locust_exit_code
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": RUN_SCHEMA,
            "scenario": self.scenario,
            "scenario_file": self.scenario_file,
            "phase": self.phase,
            "topology": asdict(self.topology),
            "target_rate": self.target_rate,
            "load": asdict(self.load),
            "git_commit": self.git_commit,
            "host": asdict(self.host),
            "versions": dict(self.versions),
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
        }
        if self.components is not None:
            out["components"] = list(self.components)
        if self.data is not None:
            out["data"] = asdict(self.data)
        if self.finished is not None:
            out["locust_exit_code"] = self.locust_exit_code
        if self.error:
            out["error"] = self.error
        if self.faults is not None:
            out["faults"] = [fault.to_dict() for fault in self.faults]
        if self.endpoint_costs is not None:
            out["endpoint_costs"] = self.endpoint_costs
        if self.audit is not None:
            out["audit"] = self.audit.to_dict()
        return out | self._where()

    def _where(self) -> dict[str, Any]:
        """The keys that say how the phase was planned and what it ran against, when set."""
        out: dict[str, Any] = {}
        if self.plan is not None:
            out["plan"] = self.plan
        if self.description:
            out["description"] = self.description
        if self.services is not None:
            out["services"] = self.services.to_dict()
        if self.target is not None:
            out["target"] = dict(self.target)
        return out

    def write(self, directory: Path) -> None:
        write_json(directory / MANIFEST, self.to_dict())


@dataclass
class RunRecord:
    """``run.json``: the phases a run planned, the command that started it, and its outcome."""

    scenario: str
    phases: list[str]
    argv: list[str]
    started: str = field(default_factory=utc_now)
    finished: str | None = None
    status: RunStatus = "running"
    completed_phases: list[str] = field(default_factory=list)  # written once the run has ended

    def finish(self, completed_phases: list[str]) -> None:
        self.finished = utc_now()
        self.completed_phases = list(completed_phases)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schema": RUN_SCHEMA,
            "scenario": self.scenario,
            "phases": list(self.phases),
            "started": self.started,
            "finished": self.finished,
            "argv": list(self.argv),
            "status": self.status,
        }
        if self.finished is not None:
            out["completed_phases"] = list(self.completed_phases)
        return out

    def write(self, directory: Path) -> None:
        write_json(directory / "run.json", self.to_dict())


# --- provenance: where the numbers were measured ----------------------------------------------
_SECRET_KEY = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|(^|_)KEY($|_)", re.I)
REDACTED = "<redacted>"


def redacted(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the values of secret-looking keys, and passwords in URLs, replaced."""
    out = {}
    for key, value in env.items():
        if _SECRET_KEY.search(key):
            out[key] = REDACTED
            continue
        out[key] = _without_password(value)
    return out


def _without_password(value: str) -> str:
    try:
        parts = urlsplit(value)
        if not parts.password:
            return value
    except ValueError:  # not a URL at all
        return value
    return urlunsplit(parts._replace(netloc=f"{REDACTED}@{parts.netloc.rsplit('@', 1)[-1]}"))


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def package_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def host_info() -> Host:
    return Host(
        cores=os.cpu_count(),
        memory_bytes=psutil.virtual_memory().total,
        platform=platform.platform(),
        machine=platform.machine(),
    )
