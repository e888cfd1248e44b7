"""A scenario's named phases (``[[phases]]``): the strategy's cumulative steps, run in order.

Each phase is a topology (replicas, balancer) plus the API settings the strategy turns on step by
step: the Redis cache, the secondary indexes, gzip, and any other setting in its ``env``. Without
``[[phases]]`` a scenario sweeps ``[stack]`` replicas × cache as before.

Precedence, from weakest to strongest, of what every API replica of a phase runs with:
``LOAD_ENV``, the scenario's ``[env]``, the phase's ``env``, then the phase's own fields
(``indexes`` → ``MONGODB_INDEXES``, ``compression`` → ``COMPRESSION``; ``cache`` decides whether
the stack runs Redis). Setting one of those through an ``env`` as well is refused, so nothing is
decided in two places. ``[stack].lb`` is the balancer of a phase that names none;
``[stack].replicas`` and ``[stack].cache`` plan a sweep and are refused next to ``[[phases]]``.

This module runs inside Locust (gevent): it imports neither locust nor pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.core.topology import Balancer

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
INDEXES_SETTING = "MONGODB_INDEXES"
COMPRESSION_SETTING = "COMPRESSION"
CACHE_SETTING = "CACHE_ENABLED"
# The API settings a phase sets with a field of its own, by that field.
PHASE_SETTINGS = {
    "indexes": INDEXES_SETTING,
    "compression": COMPRESSION_SETTING,
    "cache": CACHE_SETTING,
}
# What pydantic reads as a boolean from the environment (reference_api/settings.py).
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def env_as_strings(env: Any) -> Any:
    """``[env]`` values as the strings the environment carries (``true``/``false`` for booleans)."""
    if not isinstance(env, dict):
        return env
    return {
        key: (str(value).lower() if isinstance(value, bool) else str(value))
        if isinstance(value, str | int | float | bool)
        else value
        for key, value in env.items()
    }


def setting_flag(env: Mapping[str, str], key: str, default: bool = True) -> bool:
    """A boolean API setting as the API will read it from ``env`` (``default`` when unset)."""
    value = next((v for k, v in env.items() if k.upper() == key), None)
    if value is None:
        return default
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


class NamedPhase(BaseModel):
    """One step of the strategy: ``[[phases]]`` in a scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    replicas: int = Field(default=1, ge=1, le=64)
    cache: bool = True
    indexes: bool = True  # the strategy's secondary indexes (MONGODB_INDEXES)
    compression: bool = True  # the API's gzip middleware (COMPRESSION)
    lb: Balancer | None = None  # None: the scenario's [stack].lb
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("env", mode="before")
    @classmethod
    def _env_as_strings(cls, env: Any) -> Any:
        return env_as_strings(env)

    def settings(self) -> dict[str, str]:
        """The API settings this phase's fields decide."""
        return {
            INDEXES_SETTING: "true" if self.indexes else "false",
            COMPRESSION_SETTING: "true" if self.compression else "false",
        }


def check_phases(
    phases: Sequence[NamedPhase], stack_fields: set[str], env: Mapping[str, str]
) -> None:
    """Names are unique, and each setting is decided in one place (see the module's docstring)."""
    _check_flags(env)
    if not phases:
        return
    for name in ("replicas", "cache"):
        if name in stack_fields:
            raise ValueError(
                f"stack.{name}: not used when the scenario has [[phases]] (each phase sets "
                f"its own {name}); remove it"
            )
    owners = {setting: field for field, setting in PHASE_SETTINGS.items()}
    for key in env:
        if key.upper() in owners:
            raise ValueError(
                f"env.{key}: each phase sets it (phases[i].{owners[key.upper()]}); remove it"
            )
    seen: set[str] = set()
    for i, phase in enumerate(phases):
        if phase.name in seen:
            raise ValueError(f"phases[{i}].name: {phase.name!r} names an earlier phase too")
        seen.add(phase.name)
        _check_phase_env(i, phase, owners)


def _check_flags(env: Mapping[str, str]) -> None:
    """What the API would refuse as a boolean setting, refused here."""
    for key, value in env.items():
        if key.upper() in (INDEXES_SETTING, COMPRESSION_SETTING):
            try:
                setting_flag({key: value}, key.upper())
            except ValueError as exc:
                raise ValueError(f"env.{key}: {exc}") from exc


def _check_phase_env(i: int, phase: NamedPhase, owners: Mapping[str, str]) -> None:
    for key in phase.env:
        if key.upper() in owners:
            raise ValueError(
                f"phases[{i}].env.{key}: set it with phases[{i}].{owners[key.upper()]}"
            )
