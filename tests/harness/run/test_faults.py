"""Faults happen on schedule from the load start, and a stopped component is always resumed."""

from __future__ import annotations

import io
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rich.console import Console

from harness.core.faults import Fault
from harness.errors import ComponentError, HarnessError
from harness.run import locust
from harness.run.faults import FaultSchedule
from harness.run.locust import LiveLoop, LocustJob, run_locust
from harness.stack.resources import ResourceSampler


@dataclass
class FakeStack:
    """Records the fault hooks called on it; ``broken`` names the ones that fail."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def _call(self, action: str, name: str) -> None:
        self.calls.append((action, name))
        if action in self.broken:
            raise ComponentError(name, f"{action} failed")

    def kill(self, name: str) -> None:
        self._call("kill", name)

    def start(self, name: str) -> None:
        self._call("start", name)

    def restart(self, name: str) -> None:
        self._call("restart", name)

    def pause(self, name: str) -> None:
        self._call("pause", name)

    def resume(self, name: str) -> None:
        self._call("resume", name)


def fault(action: str, component: str, at: float, duration: float | None = None) -> Fault:
    raw = {"at": at, "action": action, "component": component}
    return Fault.model_validate(raw if duration is None else {**raw, "duration": duration})


def schedule(stack: FakeStack, *faults: Fault) -> tuple[FaultSchedule, list[str]]:
    said: list[str] = []
    replicas = ["api-1", "api-2", "api-3"]
    rng = random.Random(7)
    return FaultSchedule(list(faults), stack, said.append, "r2-cache-on", replicas, rng), said


def test_a_stop_pauses_at_its_time_and_resumes_after_its_duration() -> None:
    stack = FakeStack()
    faults, said = schedule(stack, fault("stop", "db", 25, 15))

    for t in (0.0, 24.9, 25.05, 30.0, 39.9):
        faults.poll(t)
    paused = list(stack.calls)
    faults.poll(40.02)

    assert paused == [("pause", "db")]
    assert stack.calls == [("pause", "db"), ("resume", "db")]
    assert faults.records[0].to_dict() == {
        "action": "stop",
        "component": "db",
        "at_s": 25.0,
        "duration_s": 15.0,
        "target": "db",
        "started_s": 25.05,
        "ended_s": 40.02,
    }
    assert said == [
        "r2-cache-on: fault: stop db at 25 s for 15 s",
        "r2-cache-on: fault: db resumed at 40 s",
    ]


def test_kill_and_restart_act_once_each() -> None:
    stack = FakeStack()
    faults, _ = schedule(stack, fault("kill", "api-2", 10), fault("restart", "redis", 20))

    for t in range(31):
        faults.poll(float(t))

    assert stack.calls == [("kill", "api-2"), ("restart", "redis")]
    kill, restart = faults.records
    assert kill.ended_s is None  # it stays dead
    assert restart.ended_s is not None


def test_a_kill_with_a_duration_starts_the_component_again_after_it() -> None:
    stack = FakeStack()
    faults, said = schedule(stack, fault("kill", "api-2", 60, 30))

    for t in (59.0, 60.0, 89.9, 90.0, 100.0):
        faults.poll(t)

    assert stack.calls == [("kill", "api-2"), ("start", "api-2")]
    assert faults.records[0].started_s == 60.0
    assert faults.records[0].ended_s is not None
    assert faults.records[0].ended_s >= 90.0
    assert said[-1].startswith("r2-cache-on: fault: api-2 started again at 90 s")


def test_each_fault_s_edges_are_told_as_they_happen() -> None:
    edges: list[float] = []
    faults, _ = schedule(FakeStack(), fault("stop", "redis", 50, 30))
    faults.on_edge = edges.append

    for t in (49.0, 50.2, 79.0, 80.1):
        faults.poll(t)

    assert edges == [50.2, 80.1]


def test_a_component_started_again_is_told_so_its_new_process_is_sampled() -> None:
    started: list[str] = []
    faults, _ = schedule(FakeStack(), fault("kill", "api-2", 10, 20), fault("restart", "api-3", 40))
    faults.on_started = started.append

    for t in range(45):
        faults.poll(float(t))

    assert started == ["api-2", "api-3"]


def test_a_start_brings_back_what_an_earlier_kill_left_dead() -> None:
    stack = FakeStack()
    faults, _ = schedule(stack, fault("kill", "redis", 10), fault("start", "redis", 20))

    for t in range(25):
        faults.poll(float(t))

    assert stack.calls == [("kill", "redis"), ("start", "redis")]
    assert faults.records[1].ended_s is not None


def test_api_any_hits_one_replica_drawn_when_due_and_records_which() -> None:
    stack = FakeStack()
    faults, said = schedule(stack, fault("kill", "api-any", 5))

    faults.poll(5.0)

    record = faults.records[0]
    assert record.target == "api-any"
    assert record.component in {"api-1", "api-2", "api-3"}
    assert stack.calls == [("kill", record.component)]
    assert said == [f"r2-cache-on: fault: kill {record.component} at 5 s"]


def test_api_any_on_a_stack_without_replicas_is_recorded_as_failed() -> None:
    faults = FaultSchedule([fault("kill", "api-any", 5)], FakeStack(), lambda _line: None)

    faults.poll(6.0)

    assert faults.records[0].error == "api-any: this stack has no replica"
    assert faults.next_due_s(6.0) is None


@pytest.mark.parametrize("error", [HarnessError("the phase failed"), KeyboardInterrupt()])
def test_a_stopped_component_is_resumed_when_the_phase_ends_early(error: BaseException) -> None:
    stack = FakeStack()
    faults, _ = schedule(stack, fault("stop", "db", 5, 30))

    def phase() -> None:
        with faults:
            faults.poll(6.0)
            raise error

    with pytest.raises(type(error)):
        phase()

    assert stack.calls == [("pause", "db"), ("resume", "db")]
    assert faults.records[0].ended_s == 6.0


def test_a_fault_that_fails_is_said_and_recorded_and_the_phase_goes_on() -> None:
    stack = FakeStack(broken={"kill"})
    faults, said = schedule(stack, fault("kill", "nginx", 1), fault("stop", "db", 2, 1))

    for t in (1.0, 2.0, 3.0):
        faults.poll(t)

    assert stack.calls == [("kill", "nginx"), ("pause", "db"), ("resume", "db")]
    assert faults.records[0].error == "nginx: kill failed"
    assert faults.records[0].to_dict()["error"] == "nginx: kill failed"
    assert said[0] == "r2-cache-on: fault kill nginx at 1 s failed: nginx: kill failed"


def test_the_next_due_time_lets_the_loop_wake_for_it() -> None:
    faults, _ = schedule(FakeStack(), fault("stop", "db", 25, 15), fault("kill", "redis", 50))

    assert faults.next_due_s(20.0) == 5.0
    faults.poll(25.0)
    assert faults.next_due_s(30.0) == 10.0
    faults.poll(40.0)
    faults.poll(50.0)
    assert faults.next_due_s(51.0) is None


# --- the phase's loop: run_locust resumes whatever ended it ---------------------------------------
def phase_job(tmp_path: Path) -> LocustJob:
    return LocustJob(
        name="r2-cache-on",
        scenario_path=Path("stall-drill.toml"),
        directory=tmp_path,
        url="http://127.0.0.1:9",
        processes=1,
        seed_users=1,
        duration_s=60.0,
    )


@pytest.mark.parametrize("error", [HarnessError("locust: stuck"), KeyboardInterrupt()])
def test_run_locust_resumes_a_stopped_component_whatever_ends_the_phase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    # A stand-in for Locust that only waits to be killed; the loop fails once the db is stopped.
    stand_in = [sys.executable, "-c", "import signal; signal.pause()"]
    monkeypatch.setattr(locust, "locust_argv", lambda _job: stand_in)

    def watch_then_fail(*args: object) -> None:
        live = args[-1]
        assert isinstance(live, LiveLoop)
        live.faults.poll(26.0)
        raise error

    monkeypatch.setattr(locust, "_watch", watch_then_fail)
    stack = FakeStack()
    faults = FaultSchedule([fault("stop", "db", 25, 15)], stack, lambda _line: None)
    console = Console(file=io.StringIO())

    with pytest.raises(type(error)):
        run_locust(phase_job(tmp_path), ResourceSampler(tmp_path / "r.csv", {}), console, faults)

    assert stack.calls == [("pause", "db"), ("resume", "db")]
