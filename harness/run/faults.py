"""A phase's ``[[faults]]``, carried out on schedule while Locust runs.

The runner's progress loop calls :meth:`FaultSchedule.poll` with the seconds since the load
started; whatever is due happens there, on the main thread (a component started again from another
thread would die with that thread: PR_SET_PDEATHSIG). ``stop`` pauses the component and resumes
it ``duration`` later; :meth:`FaultSchedule.close` resumes whatever is still paused, and the
schedule is a context manager, so a phase that ends early, fails or is interrupted never leaves a
component frozen. A fault that cannot be carried out is said and recorded, and the phase goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from harness.core.scenario import Fault, FaultAction
from harness.errors import HarnessError


class FaultControls(Protocol):
    """What a stack offers for faults (both backends have it)."""

    def kill(self, name: str) -> None: ...
    def restart(self, name: str) -> None: ...
    def pause(self, name: str) -> None: ...
    def resume(self, name: str) -> None: ...


@dataclass
class FaultRecord:
    """One fault as it happened, for the manifest; times in seconds from the load start."""

    action: FaultAction
    component: str
    at_s: float
    duration_s: float | None
    started_s: float | None = None  # None: the phase ended before it was due
    ended_s: float | None = None  # stop: resumed; restart: healthy again; kill: never
    error: str = ""

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
    ) -> None:
        self.controls = controls
        self.say = say
        self.phase = phase
        self.records = [FaultRecord(f.action, f.component, f.at_s, f.duration_s) for f in faults]
        self._paused: list[FaultRecord] = []
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
        """Carry out what is due ``t`` s after the load start: resumes first, then new faults."""
        self._t = t
        for record in [r for r in self._paused if t >= r.at_s + (r.duration_s or 0.0)]:
            self._resume(record, t)
        for record in self.records:
            if record.started_s is None and not record.error and t >= record.at_s:
                self._begin(record, t)

    def next_due_s(self, t: float) -> float | None:
        """Seconds from ``t`` until the next thing to do; None when nothing is left."""
        due = [r.at_s + (r.duration_s or 0.0) for r in self._paused]
        due += [r.at_s for r in self.records if r.started_s is None and not r.error]
        return max(0.0, min(due) - t) if due else None

    def close(self, t: float | None = None) -> None:
        """Resume every component still paused (the phase is over, whatever ended it)."""
        for record in list(self._paused):
            self._resume(record, self._t if t is None else t)

    def _begin(self, record: FaultRecord, t: float) -> None:
        record.started_s = round(t, 3)
        what = f"{record.action} {record.component}"
        try:
            if record.action == "stop":
                self.controls.pause(record.component)
                self._paused.append(record)
            elif record.action == "kill":
                self.controls.kill(record.component)
            else:
                began = time.monotonic()
                self.controls.restart(record.component)  # waits until it is healthy again
                record.ended_s = round(t + time.monotonic() - began, 3)
        except (HarnessError, OSError) as exc:
            record.error = str(exc)
            self.say(f"{self.phase}: fault {what} at {t:.0f} s failed: {exc}")
            return
        lasting = f" for {record.duration_s:g} s" if record.duration_s else ""
        self.say(f"{self.phase}: fault: {what} at {t:.0f} s{lasting}")

    def _resume(self, record: FaultRecord, t: float) -> None:
        self._paused.remove(record)
        try:
            self.controls.resume(record.component)
        except (HarnessError, OSError) as exc:
            record.error = str(exc)
            self.say(f"{self.phase}: fault: could not resume {record.component}: {exc}")
            return
        record.ended_s = round(t, 3)
        self.say(f"{self.phase}: fault: {record.component} resumed at {t:.0f} s")
