"""Scenarios: one TOML file per load test, validated by one schema.

A scenario says which topologies to run (``[stack]``: a replicas × cache sweep, or named
``[[phases]]``, :mod:`harness.core.phases`), how much data to seed (``[data]``), the load model
and its stages (``[load]``), the request mix (``[mix]``), the service levels (``[slo]``), API
settings for the stack (``[env]``) and faults to inject (``[[faults]]``).
Durations are written ``"30s"``, ``"2m"``, ``"1h"`` (or a number of seconds). Every model
forbids unknown keys, so a typo fails before any load with one line naming the file and the field.

This module runs inside Locust (gevent): it imports neither locust nor pandas.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.core.faults import Fault, FaultSlo, check_faults
from harness.core.phases import NamedPhase, check_phases, env_as_strings
from harness.core.schema import Duration, Model, PositiveDuration
from harness.core.topology import Balancer
from harness.core.workload import ENDPOINTS
from harness.errors import BadInputError

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"

# Load measures capacity, not the limiter: the per-user and per-client-IP limits are lifted unless
# the scenario sets its own in [env] (Scenario.api_env).
LOAD_ENV = {"RATE_LIMIT_MAX": "100000000", "RATE_LIMIT_AUTH_MAX": "100000000"}


def _check_endpoint(name: str) -> str:
    if name not in ENDPOINTS:
        raise ValueError("unknown endpoint")
    return name


# --- sections ----------------------------------------------------------------------------------
class Stack(Model):
    replicas: list[Annotated[int, Field(ge=1, le=64)]] = Field(default=[1], min_length=1)
    cache: list[bool] = Field(default=[True], min_length=1)
    lb: Balancer = "auto"
    # Cores each API replica may use (compose `cpus:`, a cgroup's cpu.max locally): replicas
    # that share a small host's cores cannot show scaling; capped ones can. None: no cap.
    cpus_per_replica: float | None = Field(default=None, gt=0, le=64)


class Data(Model):
    users: int = Field(default=100, ge=1, le=1_000_000)
    tasks_per_user: int = Field(default=20, ge=0, le=10_000)
    # cost of the one precomputed hash: the mix keeps it low so it does not measure bcrypt
    # (each simulated user logs in once); the login scenario uses the production 12
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)


class Stage(Model):
    duration_s: PositiveDuration = Field(alias="duration")
    users: int | None = Field(default=None, ge=0)
    spawn_rate: float | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, gt=0)
    ramp_s: Duration = Field(default=0.0, alias="ramp")  # open model: linear change of rate


class Load(Model):
    model: Literal["closed", "open"] = "closed"
    warmup_s: Duration = Field(default=0.0, alias="warmup")
    think_time_s: Duration = Field(default=0.0, alias="think_time")  # closed model, mean
    max_users: int | None = Field(default=None, ge=1)  # open model: size of the user pool
    expected_latency_s: PositiveDuration = Field(default=0.05, alias="expected_latency")
    total_s: PositiveDuration | None = Field(default=None, alias="duration")
    stages: list[Stage] = Field(min_length=1)

    @model_validator(mode="after")
    def _stages_add_up(self) -> Load:
        previous_users = 0
        for i, stage in enumerate(self.stages):
            if self.model == "closed":
                previous_users = _closed_stage(f"stages[{i}]", stage, previous_users)
            else:
                _open_stage(f"stages[{i}]", stage)
        total = sum(stage.duration_s for stage in self.stages)
        if self.total_s is not None and abs(self.total_s - total) > 1e-6:
            raise ValueError(f"duration: {self.total_s:g} s, but the stages add up to {total:g} s")
        if self.warmup_s >= total:
            raise ValueError(f"warmup: {self.warmup_s:g} s leaves no steady time of {total:g} s")
        return self

    @property
    def duration_s(self) -> float:
        """Total run time: the stages one after another (warm-up is the start of the first)."""
        return float(sum(stage.duration_s for stage in self.stages))

    def stage_starts(self) -> list[float]:
        starts, t = [], 0.0
        for stage in self.stages:
            starts.append(t)
            t += stage.duration_s
        return starts

    def peak_rate(self) -> float:
        return max((stage.rate or 0.0) for stage in self.stages)

    def pool_size(self) -> int:
        """Open model: users = peak rate x expected latency x 2 headroom (at least 10)."""
        if self.max_users is not None:
            return self.max_users
        return max(10, math.ceil(self.peak_rate() * self.expected_latency_s * 2))

    def rate_at(self, t: float) -> float:
        """Open model: the target arrival rate (requests/s) ``t`` seconds into the run; 0 after."""
        previous = 0.0
        for start, stage in zip(self.stage_starts(), self.stages, strict=True):
            rate = stage.rate or 0.0
            if start <= t < start + stage.duration_s:
                into = t - start
                if stage.ramp_s and into < stage.ramp_s:
                    return previous + (rate - previous) * into / stage.ramp_s
                return rate
            previous = rate
        return 0.0

    def users_at(self, t: float) -> tuple[int, float] | None:
        """Closed model: (users, spawn_rate) of the stage at ``t``; None after the last one."""
        for start, stage in zip(self.stage_starts(), self.stages, strict=True):
            if start <= t < start + stage.duration_s:
                return int(stage.users or 0), float(stage.spawn_rate or 1.0)
        return None


def _closed_stage(where: str, stage: Stage, previous_users: int) -> int:
    """Check a closed-model stage; return its users (the next stage ramps from them)."""
    if stage.users is None:
        raise ValueError(f"{where}.users: required in the closed model")
    if stage.rate is not None:
        raise ValueError(f"{where}.rate: only for the open model (load.model = 'open')")
    if stage.ramp_s:
        raise ValueError(f"{where}.ramp: the closed model ramps with spawn_rate")
    if stage.users != previous_users and stage.spawn_rate is None:
        raise ValueError(f"{where}.spawn_rate: required when users change")
    ramp = abs(stage.users - previous_users) / (stage.spawn_rate or math.inf)
    if ramp >= stage.duration_s:
        raise ValueError(f"{where}.spawn_rate: the ramp takes {ramp:g} s, longer than the stage")
    return stage.users


def _open_stage(where: str, stage: Stage) -> None:
    if stage.rate is None:
        raise ValueError(f"{where}.rate: required in the open model")
    if stage.users is not None or stage.spawn_rate is not None:
        raise ValueError(f"{where}.users: the open model sets a rate, not users")
    if stage.ramp_s >= stage.duration_s:
        raise ValueError(f"{where}.ramp: not shorter than the stage")


class Thresholds(Model):
    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    min_rate: float | None = Field(default=None, gt=0)


class Slo(Thresholds):
    endpoints: dict[Annotated[str, BeforeValidator(_check_endpoint)], Thresholds] = Field(
        default_factory=dict
    )
    faults: FaultSlo | None = None


Weight = Annotated[float, Field(ge=0)]


class Scenario(Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    stack: Stack = Stack()
    data: Data = Data()
    load: Load
    mix: dict[Annotated[str, BeforeValidator(_check_endpoint)], Weight] = Field(min_length=1)
    slo: Slo = Slo()
    env: dict[str, str] = Field(default_factory=dict)
    faults: list[Fault] = Field(default_factory=list)
    phases: list[NamedPhase] = Field(default_factory=list)

    @field_validator("mix")
    @classmethod
    def _some_weight(cls, mix: dict[str, float]) -> dict[str, float]:
        if not any(weight > 0 for weight in mix.values()):
            raise ValueError("every weight is 0")
        return mix

    @field_validator("env", mode="before")
    @classmethod
    def _env_as_strings(cls, env: Any) -> Any:
        return env_as_strings(env)

    def api_env(self) -> dict[str, str]:
        """The API settings every replica runs this scenario's load with: ``LOAD_ENV``, then the
        scenario's ``[env]``. ``capacity run`` and ``capacity up --scenario`` both apply it."""
        return {**LOAD_ENV, **self.env}

    def phase_env(self, phase: NamedPhase) -> dict[str, str]:
        """A named phase's API settings: :meth:`api_env`, its ``env``, then its own fields."""
        return {**self.api_env(), **phase.env, **phase.settings()}

    def replica_counts(self) -> list[int]:
        """The replica counts the runner plans: of ``[[phases]]`` if any, else ``[stack]``'s."""
        return [p.replicas for p in self.phases] or list(self.stack.replicas)

    @model_validator(mode="after")
    def _phases_and_faults_fit(self) -> Scenario:
        check_phases(self.phases, self.stack.model_fields_set, self.env)
        check_faults(self.faults, self.load, self.replica_counts())
        return self

    def fault_spans(self, replicas: int | None = None) -> list[tuple[float, float]]:
        """A fault drill's stretches that the stability checks leave to ``[slo.faults]``: each
        fault of the phase (of every phase, when ``replicas`` is None) from its start to its
        scheduled end plus the allowed recovery."""
        if self.slo.faults is None:
            return []
        extra = self.slo.faults.excused_s
        faults = self.faults if replicas is None else self.faults_for(replicas)
        return [(f.at_s, f.end_s + extra) for f in faults]

    def faults_for(self, replicas: int) -> list[Fault]:
        """The faults of a phase with ``replicas`` replicas, in time order."""
        return sorted((f for f in self.faults if f.applies_to(replicas)), key=lambda f: f.at_s)

    @property
    def target_rate(self) -> float | None:
        """Open model: the peak arrival rate; closed model: ``slo.min_rate`` (may be None)."""
        if self.load.model == "open":
            return self.load.peak_rate()
        return self.slo.min_rate

    def steady_windows(self) -> list[tuple[float, float]]:
        """(start_s, end_s) per stage, relative to the run start, without warm-up and ramps."""
        windows: list[tuple[float, float]] = []
        previous_users = 0
        for start, stage in zip(self.load.stage_starts(), self.load.stages, strict=True):
            if self.load.model == "closed":
                users = int(stage.users or 0)
                ramp = abs(users - previous_users) / (stage.spawn_rate or math.inf)
                previous_users = users
                if users == 0:
                    continue
            else:
                ramp = stage.ramp_s
            begin = max(start + ramp, self.load.warmup_s)
            end = start + stage.duration_s
            if end > begin:
                windows.append((begin, end))
        return windows

    def window_targets(self) -> list[float | None]:
        """Open model: the arrival rate of each steady window; None in the closed model."""
        targets: list[float | None] = []
        for begin, _end in self.steady_windows():
            targets.append(self.load.rate_at(begin) if self.load.model == "open" else None)
        return targets


# --- loading -------------------------------------------------------------------------------------
def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """``smoke`` -> ``scenarios/smoke.toml``; anything with a slash or ``.toml`` is a path."""
    text = str(name_or_path)
    if "/" in text or text.endswith(".toml") or Path(text).is_file():
        return Path(text)
    return SCENARIO_DIR / f"{text}.toml"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = tuple(part for part in err["loc"] if part != "[key]")
    message = str(err["msg"]).removeprefix("Value error, ")
    # Model validators report "stages[1].users: ..." relative to their own model.
    match = re.match(r"^([A-Za-z_][\w.\[\]-]*): (.*)$", message)
    if match and err["type"] == "value_error":
        inner, message = match.groups()
        return f"{_field(loc)}.{inner}: {message}" if loc else f"{inner}: {message}"
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    where = _field(loc) or "(top level)"
    return f"{where}: {message}"


def _with_name(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    return raw if "name" in raw else {**raw, "name": path.stem}


def parse_scenario(raw: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed mapping; errors name ``source`` and the field."""
    try:
        return Scenario.model_validate(raw)
    except ValidationError as exc:
        raise BadInputError(f"{source}: {_first_error(exc)}") from exc


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and validate a scenario; raises :class:`BadInputError` with one line on any problem."""
    path = resolve_scenario_path(name_or_path)
    shown = _display(path)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise BadInputError(f"{shown}: no such scenario (shipped: {known})")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{shown}: cannot read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError(f"{shown}: not valid TOML ({exc})") from exc
    return parse_scenario(_with_name(raw, path), shown)


def shipped_scenarios() -> Iterator[Path]:
    yield from sorted(SCENARIO_DIR.glob("*.toml"))
