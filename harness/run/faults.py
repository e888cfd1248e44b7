"""A phase's ``[[faults]]``, carried out on schedule while Locust runs.

The runner's progress loop calls :meth:`FaultSchedule.poll` with the seconds since the load
started; whatever is due happens there, on the main thread (a component started again from another
thread would die with that thread: PR_SET_PDEATHSIG). ``stop`` pauses the component and resumes
it ``duration`` later; a ``kill`` with a duration starts it again then. :meth:`FaultSchedule.close`
resumes whatever is still paused, and the schedule is a context manager, so a phase that ends
early, fails or is interrupted never leaves a component frozen. A fault that cannot be carried out
is said and recorded, and the phase goes on. ``api-any`` becomes one replica, drawn when due.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from harness.core.faults import ANY_REPLICA, Fault, FaultAction
from harness.errors import HarnessError


class FaultControls(Protocol):
    """What a stack offers for faults (both backends have it)."""

    def kill(self, name: str) -> None: ...
    def start(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...


@dataclass
class FaultRecord:
    """One fault as it happened, for the manifest; times in seconds from the load start."""

    action: FaultAction
    component: str  # what it hit: the target, or the replica api-any drew
    at_s: float
    duration_s: float | None
    target: str = ""  # as the scenario wrote it (api-any)
    started_s: float | None = None  # None: the phase ended before it was due
    ended_s: float | None = None  # stop: resumed; kill: started again (never without a
    # duration); restart and start: healthy again
    error: str = ""

    @property
    def until_s(self) -> float | None:
        """When the schedule has more to do for it: a stop's resume, a kill's start."""
        if self.duration_s is None or self.action not in ("stop", "kill"):
            return None
        return self.at_s + self.duration_s

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if not self.error:
            del out["error"]
        return out


class FaultSchedule:
    """``with FaultSchedule(faults, stack, say) as schedule: ... schedule.poll(t) ...``"""

    def __init__(
        self,
        faults: Sequence[Fault],
        controls: FaultControls,
        say: Callable[[str], None],
        phase: str = "",
        replicas: Sequence[str] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.controls = controls
        self.say = say
        self.phase = phase
        self.replicas = list(replicas)  # what api-any draws from
        self.rng = rng or random.Random()  # noqa: S311 - picks a replica to fault, not a secret
        self.records = [
            FaultRecord(f.action, f.target, f.at_s, f.duration_s, target=f.target) for f in faults
        ]
        self._ending: list[FaultRecord] = []  # begun, with a resume or a start still to come
        self.on_edge: Callable[[float], None] | None = None  # told when a fault began or ended
        self.on_started: Callable[[str], None] | None = None  # told a component runs again
        self._t = 0.0  # the last time polled

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def poll(self, t: float) -> None:
        """Carry out what is due ``t`` s after the load start: ends first, then new faults."""
        self._t = t
        for record in [r for r in self._ending if t >= (r.until_s or 0.0)]:
            self._end(record, t)
        for record in self.records:
            if record.started_s is None and not record.error and t >= record.at_s:
                self._begin(record, t)

    def next_due_s(self, t: float) -> float | None:
        """Seconds from ``t`` until the next thing to do; None when nothing is left."""
        due = [r.until_s or 0.0 for r in self._ending]
        due += [r.at_s for r in self.records if r.started_s is None and not r.error]
        return max(0.0, min(due) - t) if due else None

    def close(self, t: float | None = None) -> None:
        """Resume every component still paused (the phase is over, whatever ended it). A killed
        one is left for the stack's teardown."""
        for record in [r for r in self._ending if r.action == "stop"]:
            self._end(record, self._t if t is None else t)

    def _begin(self, record: FaultRecord, t: float) -> None:
        record.started_s = round(t, 3)
        if record.target == ANY_REPLICA:
            if not self.replicas:
                record.error = "api-any: this stack has no replica"
                self.say(f"{self.phase}: fault {record.action} api-any at {t:.0f} s failed")
                return
            record.component = self.rng.choice(self.replicas)
        what = f"{record.action} {record.component}"
        try:
            if record.action == "stop":
                self.controls.pause(record.component)
            elif record.action == "kill":
                self.controls.kill(record.component)
            else:
                began = time.monotonic()
                act = self.controls.restart if record.action == "restart" else self.controls.start
                act(record.component)  # waits until it is healthy again
                record.ended_s = round(t + time.monotonic() - began, 3)
                self._started(record.component)
        except (HarnessError, OSError) as exc:
            record.error = str(exc)
            self.say(f"{self.phase}: fault {what} at {t:.0f} s failed: {exc}")
            return
        if record.until_s is not None:
            self._ending.append(record)
        self._edge(record.ended_s if record.ended_s is not None else t)
        lasting = f" for {record.duration_s:g} s" if record.duration_s else ""
        self.say(f"{self.phase}: fault: {what} at {t:.0f} s{lasting}")

    def _started(self, component: str) -> None:
        if self.on_started is not None:
            self.on_started(component)

    def _edge(self, t: float) -> None:
        if self.on_edge is not None:
            self.on_edge(t)

    def _end(self, record: FaultRecord, t: float) -> None:
        """A stop's resume, or a kill's start again (which waits until it is healthy)."""
        self._ending.remove(record)
        began = time.monotonic()
        try:
            if record.action == "stop":
                self.controls.resume(record.component)
            else:
                self.controls.start(record.component)
        except (HarnessError, OSError) as exc:
            record.error = str(exc)
            verb = "resume" if record.action == "stop" else "start"
            self.say(f"{self.phase}: fault: could not {verb} {record.component}: {exc}")
            return
        record.ended_s = round(t + time.monotonic() - began, 3)
        if record.action == "kill":
            self._started(record.component)
        self._edge(record.ended_s)
        verb = "resumed" if record.action == "stop" else "started again"
        self.say(f"{self.phase}: fault: {record.component} {verb} at {record.ended_s:.0f} s")
