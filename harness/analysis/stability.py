"""Was the phase stable? Collapses and stalls (``harness.core.stability``), and who caused them.

A phase is *unstable* when, inside its steady windows, throughput collapsed or stalled, a
component died, or the service never settled. Each instability is said in one sentence with its
time and, where the resource samples show one, the component: "db went idle at 15 s while 38
requests waited; throughput fell from 560 to 5 req/s". An unstable phase's numbers are not a
capacity: the analysis leaves it out of the USL fit, the knee and the replica sizing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from harness.analysis.cpu import SERVICE_GROUPS
from harness.analysis.windows import Window, started_in
from harness.core import stability

if TYPE_CHECKING:
    from harness.analysis.load import PhaseData

IDLE_SHARE = 0.25  # a component below a quarter of its own earlier CPU went idle
BUSY_ENOUGH = 10.0  # % of a core: a component this idle before cannot "go idle"
DIED_AFTER_S = 3.0  # no resource sample for this long before the phase ended: it died
NOT_STEADY_SHARE = 0.25  # throughput moved this much between the window's halves

InstabilityKind = Literal["collapse", "stall", "died", "not_steady", "no_steady_state"]


@dataclass(frozen=True)
class Instability:
    kind: InstabilityKind
    start_s: float | None  # from the run start
    component: str | None  # the component that went idle or died, when one did
    message: str


def instabilities(phase: PhaseData) -> list[Instability]:
    """Everything that makes the phase unstable, in time order."""
    found = _episodes(phase) + _deaths(phase)
    if not found:  # a collapse or a stall already says the phase never settled
        found += _not_steady(phase) + _no_steady_state(phase)
    return sorted(found, key=lambda i: (math.inf if i.start_s is None else i.start_s, i.kind))


def _fault_spans(phase: PhaseData) -> list[tuple[float, float]]:
    """A fault drill's stretches judged by its ``[slo.faults]`` instead (the scenario's)."""
    return [] if phase.scenario is None else phase.scenario.fault_spans(phase.replicas)


def _judged(phase: PhaseData) -> list[Window]:
    """The windows the stability checks judge: as declared, before MSER-5 moved a start (a cut
    for a late transient never hides a stall from them)."""
    return phase.declared_windows or phase.windows


def _episodes(phase: PhaseData) -> list[Instability]:
    if phase.samples is None or not phase.windows:
        return []
    windows = stability.without([(w.start_s, w.end_s) for w in _judged(phase)], _fault_spans(phase))
    found = []
    # phase.samples holds times from the run start already (harness.analysis.load)
    for episode in _merged(stability.episodes(phase.samples.records, windows, 0.0)):
        fault = faulted_component(phase.manifest.get("faults"), episode.start_s, episode.end_s)
        idle = (
            fault[0]
            if fault
            else idle_component(phase.resources, episode.start_s, episode.end_s, windows)
        )
        who = f"{idle} went idle at" if idle else "at"
        cause = f" (the scenario {fault[1]} it at {fault[2]:.0f} s)" if fault else ""
        found.append(
            Instability(
                episode.kind,
                episode.start_s,
                idle,
                f"{who} {episode.start_s:.0f} s{cause} while {episode.waiting} requests waited, "
                f"{'no request was answered for' if episode.kind == 'stall' else 'for'} "
                f"{episode.duration_s:.0f} s; {_throughput(episode)}",
            )
        )
    return found


def _throughput(episode: stability.Episode) -> str:
    if episode.before_rps >= 1.0:
        return (
            f"throughput fell from {episode.before_rps:.0f} to {episode.during_rps:.0f} "
            "successful req/s"
        )
    # a phase that never worked: "fell from 0 to 0" would say nothing
    return f"it had not held even 1 successful req/s before ({episode.before_rps:.1f})"


def _merged(episodes: list[stability.Episode]) -> list[stability.Episode]:
    """A stall also shows as a collapse of its bins: one event, told as the stall."""
    out: list[stability.Episode] = []
    for episode in sorted(episodes, key=lambda e: (e.start_s, e.kind != "stall")):
        if out and episode.start_s <= out[-1].end_s:
            last = out[-1]
            if episode.kind == "stall" and last.kind == "collapse":
                out[-1] = episode
            continue
        out.append(episode)
    return out


FAULT_VERBS = {"stop": "stopped", "kill": "killed", "restart": "restarted", "start": "started"}
FAULT_LEAD_S = 5.0  # an episode starts at a bin edge: up to one bin before its fault began


def faulted_component(
    faults: object, start_s: float, end_s: float
) -> tuple[str, str, float] | None:
    """``(component, verb, at_s)`` of the scenario's fault that was acting when the episode began
    (from the manifest's ``faults``, seconds from the load start like the episode), if any.

    A scripted fault is the certain cause: a stopped database and the API waiting on it both go
    idle, and the resource samples alone cannot tell which went first."""
    if not isinstance(faults, list):
        return None
    for fault in faults:
        if not isinstance(fault, dict) or fault.get("error") or fault.get("started_s") is None:
            continue
        began = float(fault["started_s"])
        ended = fault.get("ended_s")
        if began <= min(start_s + FAULT_LEAD_S, end_s) and (
            ended is None or float(ended) >= start_s
        ):
            verb = FAULT_VERBS.get(str(fault.get("action")), "faulted")
            return str(fault.get("component")), verb, began
    return None


def idle_component(
    resources: pd.DataFrame, start_s: float, end_s: float, windows: list[tuple[float, float]]
) -> str | None:
    """The busiest service component (before ``start_s``, in the steady windows) whose CPU fell
    below a quarter of that from ``start_s`` to ``end_s``; None when none did."""
    if resources.empty:
        return None
    service = resources[resources["group"].isin(SERVICE_GROUPS)]
    first = min((a for a, _ in windows), default=0.0)
    before = service[(service["t"] >= first) & (service["t"] < start_s)]
    during = service[(service["t"] >= start_s) & (service["t"] < end_s)]
    if before.empty or during.empty:
        return None
    earlier = before.groupby("component")["cpu_percent"].median()
    now = during.groupby("component")["cpu_percent"].mean()
    idle = {
        str(name): float(level)
        for name, level in earlier.items()
        if level >= BUSY_ENOUGH and float(now.get(name, 0.0)) < IDLE_SHARE * level
    }
    return max(idle, key=lambda name: idle[name]) if idle else None


def _deaths(phase: PhaseData) -> list[Instability]:
    """Components whose resource samples stop inside the steady windows, before the phase's
    last sample."""
    res = phase.resources
    if res.empty or not phase.windows:
        return []
    # Only inside the steady windows: the generator's workers end with the load, a few seconds
    # before its master (and the resource samples) stop.
    end = min(float(res["t"].max()), max(w.end_s for w in _judged(phase))) - DIED_AFTER_S
    first = min(w.start_s for w in _judged(phase))
    last_seen = res.groupby("component")["t"].max()
    return [
        Instability("died", float(seen), str(name), f"{name} died at {float(seen):.0f} s")
        for name, seen in last_seen.items()
        if first <= float(seen) < end and not _killed(phase, str(name), float(seen))
    ]


def _killed(phase: PhaseData, component: str, seen_s: float) -> bool:
    """A fault drill killed ``component`` (last seen at ``seen_s``) on purpose."""
    if phase.scenario is None or phase.scenario.slo.faults is None:
        return False
    faults = phase.manifest.get("faults")
    return isinstance(faults, list) and any(
        isinstance(f, dict)
        and f.get("action") == "kill"
        and f.get("component") == component
        and f.get("started_s") is not None
        and abs(float(f["started_s"]) - seen_s) <= DIED_AFTER_S
        for f in faults
    )


def _not_steady(phase: PhaseData) -> list[Instability]:
    """The longest window's second half ran at a very different rate from its first."""
    if not phase.windows:
        return [Instability("not_steady", None, None, "the run never reached a steady window")]
    w = max(phase.windows, key=lambda w: w.duration_s)
    mid = (w.start_s + w.end_s) / 2
    first = started_in(phase.requests, [Window(w.start_s, mid)])
    second = started_in(phase.requests, [Window(mid, w.end_s)])
    r1, r2 = int(first["ok"].sum()), int(second["ok"].sum())
    if r1 < 50 or abs(r2 - r1) / r1 <= NOT_STEADY_SHARE:
        return []
    change = 100.0 * (r2 - r1) / r1
    return [
        Instability(
            "not_steady",
            float(mid),
            None,
            f"never reached a steady state: successful throughput moved {change:+.0f} % from "
            f"the first to the second half of the steady window ({r1 / (mid - w.start_s):.0f} "
            f"→ {r2 / (w.end_s - mid):.0f} req/s)",
        )
    ]


def _no_steady_state(phase: PhaseData) -> list[Instability]:
    """MSER-5's failure condition (``harness.analysis.steady``) in a window."""
    return [
        Instability("no_steady_state", state.declared_start_s, None, state.describe())
        for state in phase.steady_states
        if state.judged and not state.steady
    ]


@dataclass(frozen=True)
class Memory:
    component: str
    start_bytes: float  # median RSS of the first twentieth of the steady windows
    end_bytes: float  # ... and of the last twentieth

    @property
    def growth_bytes(self) -> float:
        return self.end_bytes - self.start_bytes


def memory(resources: pd.DataFrame, windows: list[Window]) -> list[Memory]:
    """Per component, RSS at the start and at the end of the steady windows (each the median
    of a twentieth of the samples, so one odd second does not decide)."""
    if resources.empty or not windows:
        return []
    first, last = min(w.start_s for w in windows), max(w.end_s for w in windows)
    inside = resources[(resources["t"] >= first) & (resources["t"] <= last)]
    out = []
    for name, part in inside.groupby("component", sort=True):
        rss = part.sort_values("t")["rss_bytes"].to_numpy(dtype=np.float64)
        edge = max(1, rss.size // 20)
        out.append(Memory(str(name), float(np.median(rss[:edge])), float(np.median(rss[-edge:]))))
    return out
