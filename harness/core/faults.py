"""A scenario's faults (``[[faults]]``) and what they may do to the service (``[slo.faults]``).

This module runs inside Locust (gevent): it imports neither locust nor pandas.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AliasChoices, BeforeValidator, Field, model_validator

from harness.core.schema import Duration, Model, PositiveDuration

if TYPE_CHECKING:
    from harness.core.scenario import Load

FaultAction = Literal["stop", "kill", "restart", "start"]
ANY_REPLICA = "api-any"
_COMPONENT = re.compile(r"^(db|redis|nginx|api-any|api-[1-9][0-9]*)$")


def _check_target(name: Any) -> Any:
    if isinstance(name, str) and not _COMPONENT.match(name):
        raise ValueError(f"{name!r} is not a component (db, redis, nginx, api-N, api-any)")
    return name


class Fault(Model):
    """One fault injected into the stack, ``at_s`` after the load starts.

    ``stop`` freezes the target (SIGSTOP, ``docker pause``) for ``duration_s``: a stall, not a
    crash. ``kill`` is SIGKILL (``docker kill``): the target stays dead for the rest of the phase,
    or, with ``duration_s``, is started again that long after (``then = "start"``, the only
    follow-up there is). ``restart`` stops the target gracefully (a replica drains first) and
    starts it again; ``start`` starts a target a kill left dead. ``api-any`` is one replica,
    drawn when the fault is due. ``replicas`` limits the fault to phases with those replica
    counts. The scenario's ``[slo.faults]`` judges what the fault did to the service.
    """

    at_s: Duration = Field(alias="at")
    action: FaultAction
    target: Annotated[str, BeforeValidator(_check_target)] = Field(
        validation_alias=AliasChoices("target", "component")
    )
    duration_s: PositiveDuration | None = Field(default=None, alias="duration")
    then: Literal["start"] | None = None
    replicas: list[Annotated[int, Field(ge=1, le=64)]] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _duration_fits_action(self) -> Fault:
        if self.action == "stop" and self.duration_s is None:
            raise ValueError("duration: required when action = 'stop'")
        if self.action in ("restart", "start") and self.duration_s is not None:
            raise ValueError(f"duration: only for action = 'stop' or 'kill' (not {self.action!r})")
        if self.then is not None and (self.action != "kill" or self.duration_s is None):
            raise ValueError("then: only for action = 'kill' with a duration (start it again)")
        return self

    @property
    def end_s(self) -> float:
        return self.at_s + (self.duration_s or 0.0)

    def applies_to(self, replicas: int) -> bool:
        return self.replicas is None or replicas in self.replicas


def check_faults(faults: list[Fault], load: Load, replica_counts: list[int]) -> None:
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
        if fault.target.startswith("api-") and fault.target != ANY_REPLICA:
            replica = int(fault.target.removeprefix("api-"))
            fewest = min(fault.replicas or replica_counts)
            if replica > fewest:
                raise ValueError(
                    f"faults[{i}].target: {fault.target} does not exist at {fewest} "
                    "replica(s); limit the fault with replicas = [...]"
                )


class FaultSlo(Model):
    """What a fault may do to the service (``[slo.faults]``), judged per fault.

    A fault's *window* runs from its start to its end (a stop: resumed; a kill with a duration:
    started again; a restart: healthy again), at least one 5-s bin. Time to recover is counted
    from the kill itself (the other replicas must carry the load) or, for the other actions,
    from the window's end, to the end of the first 5-s bin back within 10 % of the throughput
    before the fault with its p95 inside ``slo.p95_ms``. A scenario with this table is a fault
    drill: the dip each fault causes, up to ``recovery_s`` after it, is judged here rather than
    failing the stability checks.
    """

    recovery_s: PositiveDuration | None = Field(default=None, alias="recovery")
    error_rate: float | None = Field(default=None, ge=0, le=1)  # inside each fault's window
    answer_p99_ms: float | None = Field(default=None, gt=0)  # every request, failures included
    server_errors: int | None = Field(default=None, ge=0)  # 5xx answers in the steady windows
    cache_back: bool = False  # a Redis fault: BYPASS answers during it, HITs again after

    @property
    def excused_s(self) -> float:
        """How long after a fault's window its dip is the fault's, not an instability."""
        return (self.recovery_s or 0.0) + 5.0
