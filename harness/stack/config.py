"""What a stack is asked to be (:class:`StackConfig`) and what one of its parts is doing now."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core.topology import BACKENDS, BALANCERS, Backend, Balancer
from harness.errors import BadInputError

DEFAULT_APP = "reference_api.main:create_app"


@dataclass(frozen=True)
class StackConfig:
    """The topology and settings of one stack (docs/architecture.md).

    ``env`` reaches every API replica (rate limits, cache TTL, ...) and wins over the stack's own
    settings. ``jwt_secret`` is generated per stack unless given; it is never printed.
    """

    replicas: int = 1
    cache: bool = True
    lb: Balancer = "auto"
    mongodb_uri: str | None = None
    redis_url: str | None = None
    port: int | None = None
    backend: Backend = "local"
    work_dir: Path = field(default_factory=lambda: Path(".capacity") / "work")
    env: dict[str, str] = field(default_factory=dict)
    # nginx's per-client-IP request limit; local load tests come from one address, so it is high.
    lb_rate_limit: int = 100_000
    app: str = DEFAULT_APP
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)
    compose_project: str = "primo-capacity"
    # Cores each API replica may use (compose `cpus:`, a cgroup's cpu.max locally); None: no cap.
    cpus_per_replica: float | None = None
    # compose only: the official images, the offline stand-ins (`capacity images build`), or
    # the stand-ins when an official image is missing and they are there.
    images: str = "auto"

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise BadInputError(f"replicas: must be at least 1, got {self.replicas}")
        if self.lb not in BALANCERS:
            raise BadInputError(f"lb: must be auto, nginx or shared-socket, got {self.lb!r}")
        if self.backend not in BACKENDS:
            raise BadInputError(f"backend: must be local or compose, got {self.backend!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise BadInputError(f"port: must be 1..65535, got {self.port}")
        if self.cpus_per_replica is not None and not 0 < self.cpus_per_replica <= 64:
            raise BadInputError(
                f"cpus_per_replica: must be above 0 and at most 64, got {self.cpus_per_replica}"
            )
        if self.images not in ("auto", "official", "offline"):
            raise BadInputError(f"images: must be auto, official or offline, got {self.images!r}")
        if self.lb_rate_limit < 1:
            raise BadInputError(f"lb_rate_limit: must be at least 1, got {self.lb_rate_limit}")

    def to_json(self) -> dict[str, Any]:
        """Everything but the secret, for a state file or a manifest."""
        data = asdict(self)
        data["work_dir"] = str(self.work_dir)
        del data["jwt_secret"]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], **overrides: Any) -> StackConfig:
        fields = {k: v for k, v in data.items() if k != "jwt_secret"}
        fields["work_dir"] = Path(fields.get("work_dir", ".capacity/work"))
        fields.update(overrides)
        return cls(**fields)


@dataclass(frozen=True)
class ComponentStatus:
    """One running part of a stack: ``db``, ``redis``, ``api-N`` or ``nginx``."""

    name: str
    pid: int | None
    port: int | None
    log: Path | None
    healthy: bool
    container: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["log"] = str(self.log) if self.log else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ComponentStatus:
        log = data.get("log")
        return cls(
            name=data["name"],
            pid=data.get("pid"),
            port=data.get("port"),
            log=Path(log) if log else None,
            healthy=bool(data.get("healthy")),
            container=data.get("container"),
        )
