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
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from harness.core.phases import NamedPhase, check_phases, env_as_strings
from harness.core.topology import Balancer
from harness.core.workload import ENDPOINTS
from harness.errors import BadInputError

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "scenarios"

# Load measures capacity, not the limiter: the per-user and per-client-IP limits are lifted unless
# the scenario sets its own in [env] (Scenario.api_env).
LOAD_ENV = {"RATE_LIMIT_MAX": "100000000", "RATE_LIMIT_AUTH_MAX": "100000000"}

# --- durations -----------------------------------------------------------------------------------
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``"30s"``, ``"2m"``, ``"1h"``, ``"500ms"``, ``"1m30s"`` or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '30s' or a number of seconds")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError("a duration is a string like '30s' or a number of seconds")
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)", value)
    if parts and re.fullmatch(r"(\s*\d+(?:\.\d+)?\s*(ms|s|m|h)\s*)+", value):
        return sum(float(num) * _UNIT_S[unit] for num, unit in parts)
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration (use e.g. '30s', '2m', '1h')")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


Duration = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _check_endpoint(name: str) -> str:
    if name not in ENDPOINTS:
        raise ValueError("unknown endpoint")
    return name


# --- sections ----------------------------------------------------------------------------------
class Stack(_Model):
    replicas: list[Annotated[int, Field(ge=1, le=64)]] = Field(default=[1], min_length=1)
    cache: list[bool] = Field(default=[True], min_length=1)
    lb: Balancer = "auto"


class Data(_Model):
    users: int = Field(default=100, ge=1, le=1_000_000)
    tasks_per_user: int = Field(default=20, ge=0, le=10_000)
    # cost of the one precomputed hash: the mix keeps it low so it does not measure bcrypt
    # (each simulated user logs in once); the login scenario uses the production 12
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)


class Stage(_Model):
    duration_s: PositiveDuration = Field(alias="duration")
    users: int | None = Field(default=None, ge=0)
    spawn_rate: float | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, gt=0)
    ramp_s: Duration = Field(default=0.0, alias="ramp")  # open model: linear change of rate


class Load(_Model):
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


class Thresholds(_Model):
    p50_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    min_rate: float | None = Field(default=None, gt=0)


class Slo(Thresholds):
    endpoints: dict[Annotated[str, BeforeValidator(_check_endpoint)], Thresholds] = Field(
        default_factory=dict
    )


FaultAction = Literal["stop", "kill", "restart"]
_COMPONENT = re.compile(r"^(db|redis|nginx|api-[1-9][0-9]*)$")


def _check_component(name: Any) -> Any:
    if isinstance(name, str) and not _COMPONENT.match(name):
        raise ValueError(f"{name!r} is not a component (db, redis, api-N, nginx)")
    return name


class Fault(_Model):
    """One fault injected into the stack, ``at_s`` after the load starts.

    ``stop`` freezes the component (SIGSTOP, ``docker pause``) for ``duration_s``: a stall, not a
    crash. ``kill`` leaves it dead for the rest of the phase; ``restart`` stops it gracefully and
    starts it again. ``replicas`` limits the fault to phases with those replica counts.
    """

    at_s: Duration = Field(alias="at")
    action: FaultAction
    component: Annotated[str, BeforeValidator(_check_component)]
    duration_s: PositiveDuration | None = Field(default=None, alias="duration")
    replicas: list[Annotated[int, Field(ge=1, le=64)]] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _duration_only_for_stop(self) -> Fault:
        if self.action == "stop" and self.duration_s is None:
            raise ValueError("duration: required when action = 'stop'")
        if self.action != "stop" and self.duration_s is not None:
            raise ValueError(f"duration: only for action = 'stop' (not {self.action!r})")
        return self

    @property
    def end_s(self) -> float:
        return self.at_s + (self.duration_s or 0.0)

    def applies_to(self, replicas: int) -> bool:
        return self.replicas is None or replicas in self.replicas


def _check_faults(faults: list[Fault], load: Load, replica_counts: list[int]) -> None:
    """Every fault happens inside the load, on a component its phases have."""
    for i, fault in enumerate(faults):
        if fault.at_s >= load.duration_s:
            raise ValueError(
                f"faults[{i}].at: {fault.at_s:g} s is not before the end of the load "
                f"({load.duration_s:g} s)"
            )
        if fault.end_s > load.duration_s:
            raise ValueError(
                f"faults[{i}].duration: ends at {fault.end_s:g} s, after the load "
                f"({load.duration_s:g} s)"
            )
        if fault.component.startswith("api-"):
            replica = int(fault.component.removeprefix("api-"))
            fewest = min(fault.replicas or replica_counts)
            if replica > fewest:
                raise ValueError(
                    f"faults[{i}].component: {fault.component} does not exist at {fewest} "
                    "replica(s); limit the fault with replicas = [...]"
                )


Weight = Annotated[float, Field(ge=0)]


class Scenario(_Model):
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
        _check_faults(self.faults, self.load, self.replica_counts())
        return self

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
