"""Phase over phase: each of a run's named phases (the strategy's cumulative steps) against the
one before it — what the step changed, and what it bought in throughput, p95 and CPU per
successful request.

Pure: loaded phases and their summaries in, frozen records out. Only a run planned from a
scenario's ``[[phases]]`` (``"plan": "phases"`` in its manifests) has steps; a replicas × cache
sweep has none. A phase that is unstable or INVALID is still compared, and the step says so: its
numbers are not a capacity.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

from harness.analysis.load import PhaseData
from harness.analysis.summary import PhaseSummary
from harness.core.phases import PHASE_SETTINGS

# A ratio within this much of 1 reads as "the same" (the table keeps the exact ratio): a p95 is
# noisier from run to run than a throughput.
SAME_THROUGHPUT = 0.05
SAME_P95 = 0.10

LEVER_SETTINGS = frozenset(PHASE_SETTINGS.values())
Lever = Literal["indexes", "cache", "compression", "balancer", "replicas", "env"]
# the strategy's order: phase 2's indexes, cache and compression, then phase 3's balancer, replicas
_LEVERS: tuple[Lever, ...] = ("indexes", "cache", "compression", "balancer", "replicas")
Movement = Literal["up", "same", "down", "unknown"]
Flaw = Literal["unstable", "INVALID"]


@dataclass(frozen=True)
class Setup:
    """What a phase ran with, from its manifest's topology."""

    replicas: int
    cache: bool
    indexes: bool
    compression: bool
    balancer: str  # what ran (nginx, shared-socket); the lb asked for when unknown
    env: tuple[tuple[str, str], ...]  # the API's settings (secret values redacted)
    named: bool  # one of the scenario's [[phases]]
    description: str


@dataclass(frozen=True)
class Change:
    """One lever a step moved, and its new value (``key``: which setting, for ``env``; its value
    None when the step no longer sets it)."""

    lever: Lever
    value: bool | int | str | None
    key: str = ""


@dataclass(frozen=True)
class LeftOut:
    """A phase of a step whose throughput is not a capacity, and why."""

    phase: str
    flaws: tuple[Flaw, ...]


@dataclass(frozen=True)
class PhaseStep:
    run: str
    before: str
    after: str
    changes: tuple[Change, ...]
    ok_rps: tuple[float, float]  # successful req/s, before and after
    p95_ms: tuple[float, float]
    # the service components' CPU per SUCCESSFUL request: a phase that refuses most of what it
    # is sent (admission control, 503s in microseconds) must not look cheap per request
    cpu_ms_per_ok_request: tuple[float, float]
    throughput_x: float  # after / before; NaN when not comparable
    p95_x: float
    cpu_x: float
    throughput: Movement
    p95: Movement
    left_out: tuple[LeftOut, ...]

    @property
    def comparable(self) -> bool:
        """Both phases measured a capacity (valid and stable)."""
        return not self.left_out


def is_named(phase: PhaseData) -> bool:
    return phase.manifest.get("plan") == "phases"


def setup_of(phase: PhaseData) -> Setup:
    topology = phase.topology
    env = topology.get("env")
    return Setup(
        replicas=phase.replicas,
        cache=phase.cache,
        # manifests from before these settings existed ran with both on
        indexes=bool(topology.get("indexes", True)),
        compression=bool(topology.get("compression", True)),
        balancer=str(topology.get("balancer") or topology.get("lb") or "?"),
        env=tuple(sorted((str(k), str(v)) for k, v in env.items()))
        if isinstance(env, dict)
        else (),
        named=is_named(phase),
        description=str(phase.manifest.get("description") or ""),
    )


def setups(phases: Sequence[PhaseData]) -> dict[str, Setup]:
    """Each phase's setup by ``run/phase`` (a summary's key)."""
    return {f"{p.run}/{p.name}": setup_of(p) for p in phases}


def changes(before: Setup, after: Setup) -> tuple[Change, ...]:
    """What ``after`` changed over ``before``, in the strategy's order."""
    found: list[Change] = []
    for lever in _LEVERS:
        value = getattr(after, lever)
        if value != getattr(before, lever):
            found.append(Change(lever, value))
    # the settings the levers above stand for are not said twice
    old, new = (
        {k: v for k, v in setup.env if k.upper() not in LEVER_SETTINGS} for setup in (before, after)
    )
    found += [Change("env", value, key) for key, value in new.items() if old.get(key) != value]
    found += [Change("env", None, key) for key in old if key not in new]
    return tuple(found)


def phase_steps(phases: Sequence[PhaseData], summaries: Sequence[PhaseSummary]) -> list[PhaseStep]:
    """Every named phase of each run against the one before it, in the order they ran."""
    by_key = {s.key: s for s in summaries}
    steps = []
    for run in dict.fromkeys(p.run for p in phases):
        named = [p for p in phases if p.run == run and is_named(p)]
        for before, after in pairwise(named):
            steps.append(
                step(
                    setup_of(before),
                    setup_of(after),
                    by_key[f"{run}/{before.name}"],
                    by_key[f"{run}/{after.name}"],
                )
            )
    return steps


def step(before: Setup, after: Setup, was: PhaseSummary, now: PhaseSummary) -> PhaseStep:
    throughput_x = ratio(now.ok_rps, was.ok_rps)
    p95_x = ratio(now.p95_ms, was.p95_ms)
    return PhaseStep(
        run=now.run,
        before=was.phase,
        after=now.phase,
        changes=changes(before, after),
        ok_rps=(was.ok_rps, now.ok_rps),
        p95_ms=(was.p95_ms, now.p95_ms),
        cpu_ms_per_ok_request=(ok_cost(was), ok_cost(now)),
        throughput_x=throughput_x,
        p95_x=p95_x,
        cpu_x=ratio(ok_cost(now), ok_cost(was)),
        throughput=movement(throughput_x, SAME_THROUGHPUT),
        p95=movement(p95_x, SAME_P95),
        left_out=tuple(x for s in (was, now) if (x := left_out(s)) is not None),
    )


def ok_cost(s: PhaseSummary) -> float:
    """The service components' CPU ms per successful request (db, redis, api, nginx)."""
    return 1000.0 * s.service_cores / s.ok_rps if s.ok_rps > 0 else math.nan


def ratio(after: float, before: float) -> float:
    if not (math.isfinite(after) and math.isfinite(before)) or before <= 0:
        return math.nan
    return after / before


def movement(x: float, same: float) -> Movement:
    if not math.isfinite(x):
        return "unknown"
    if abs(x - 1.0) <= same:
        return "same"
    return "up" if x > 1.0 else "down"


def left_out(s: PhaseSummary) -> LeftOut | None:
    flaws: list[Flaw] = []
    if not s.stable:
        flaws.append("unstable")
    if not s.valid:
        flaws.append("INVALID")
    return LeftOut(s.phase, tuple(flaws)) if flaws else None


def step_record(s: PhaseStep) -> dict[str, Any]:
    """A step for ``summary.json``."""
    return {
        "run": s.run,
        "before": s.before,
        "after": s.after,
        "changes": [{"lever": c.lever, "value": c.value, "key": c.key} for c in s.changes],
        "ok_rps": list(s.ok_rps),
        "p95_ms": list(s.p95_ms),
        "cpu_ms_per_ok_request": list(s.cpu_ms_per_ok_request),
        "throughput_x": s.throughput_x,
        "p95_x": s.p95_x,
        "cpu_x": s.cpu_x,
        "throughput": s.throughput,
        "p95": s.p95,
        "left_out": [{"phase": x.phase, "flaws": list(x.flaws)} for x in s.left_out],
    }
