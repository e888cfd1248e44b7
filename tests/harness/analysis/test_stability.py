from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.capacity import analyse
from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.cli import main
from tests.harness._synthetic import PhaseSpec, make_run

# 60 s at 200 req/s; steady window 5-60 s; each replica count keeps up with what is offered
STEADY = {"rates": (200.0,), "stage_s": 60.0, "latency_ms": (20.0,)}


def _phase(n: int, **kw: object) -> PhaseSpec:
    cpu = {"db": 60.0, "redis": 5.0, "nginx": 5.0, "generator": 30.0}
    cpu.update({f"api-{i + 1}": 40.0 / n for i in range(n)})
    return PhaseSpec(name=f"r{n}-cache-on", replicas=n, cpu=cpu, seed=n, **STEADY, **kw)  # type: ignore[arg-type]


def test_a_steady_phase_is_stable(tmp_path: Path) -> None:
    summary = summarise_phase(load_run(make_run(tmp_path, [_phase(1)]))[0])

    assert summary.stable
    assert summary.instabilities == []


def test_a_stopped_database_is_named_with_the_time_it_went_idle(tmp_path: Path) -> None:
    run = make_run(tmp_path, [_phase(1, outage=(25.0, 15.0))])

    summary = summarise_phase(load_run(run)[0])

    assert not summary.stable
    (event,) = summary.instabilities
    assert event.kind == "stall"
    assert event.component == "db"
    assert event.start_s is not None
    assert 24.0 <= event.start_s <= 26.0
    assert event.message.startswith("db went idle at 25 s while ")
    assert "throughput fell from 200 to 0" in event.message
    assert summary.slo_status == "FAIL"


def _busy_api_goes_idle() -> PhaseSpec:
    """Every service component idles from 25 s for 15 s; the API was the busiest before."""
    cpu = {"db": 60.0, "redis": 5.0, "nginx": 5.0, "generator": 30.0, "api-1": 90.0}
    outage = (25.0, 15.0)
    return PhaseSpec(name="r1-cache-on", replicas=1, cpu=cpu, outage=outage, **STEADY)  # type: ignore[arg-type]


def _with_fault(run: Path, fault: dict[str, object]) -> Path:
    (manifest_path,) = run.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["faults"] = [fault]
    manifest_path.write_text(json.dumps(manifest))
    return run


# A stopped database leaves the API idle too, and the API was the busier one before: the
# resource samples alone blame it. The manifest's faults say what the scenario did, when a fault
# was acting as the episode began; one already over is not its cause.
@pytest.mark.parametrize(
    ("started_s", "ended_s", "named", "message"),
    [
        (25.1, 40.0, "db", "db went idle at 25 s (the scenario stopped it at 25 s) while "),
        (8.0, 13.0, "api-1", "api-1 went idle at 25 s while "),
    ],
)
def test_a_scenarios_fault_names_the_component_when_it_was_acting(
    tmp_path: Path, started_s: float, ended_s: float, named: str, message: str
) -> None:
    stop_db = {"action": "stop", "component": "db", "at_s": started_s, "duration_s": 15.0}
    stop_db |= {"started_s": started_s, "ended_s": ended_s}
    run = _with_fault(make_run(tmp_path, [_busy_api_goes_idle()]), stop_db)

    (event,) = summarise_phase(load_run(run)[0]).instabilities

    assert event.component == named
    assert event.message.startswith(message)


def test_a_component_that_dies_is_unstable(tmp_path: Path) -> None:
    api_2_dies = _phase(2, outage=(30.0, 1.0), outage_component="api-2", died="api-2")
    run = make_run(tmp_path, [api_2_dies])

    summary = summarise_phase(load_run(run)[0])

    assert any(i.kind == "died" and i.component == "api-2" for i in summary.instabilities)
    assert any(i.message == "api-2 died at 30 s" for i in summary.instabilities)


def test_an_unstable_phase_stays_out_of_the_fit_and_the_sizing(tmp_path: Path) -> None:
    phases = [_phase(1), _phase(2, outage=(25.0, 15.0)), _phase(3), _phase(4)]
    run = make_run(tmp_path, phases)

    analysis = analyse([run], target_rate=300.0)

    (plan,) = analysis.plans
    assert plan.fit is not None
    assert {n for n, _ in plan.fit.points} == {1, 3, 4}
    assert plan.excluded[0].startswith(f"{run.name}/r2-cache-on (UNSTABLE: db went idle at 25 s")
    assert analysis.warnings[0].startswith(f"{run.name}/r2-cache-on: UNSTABLE — db went idle")


def test_the_gate_fails_an_unstable_run_and_says_why(tmp_path: Path, capsys: object) -> None:
    run = make_run(tmp_path, [_phase(1, outage=(25.0, 15.0))])

    code = main(["gate", str(run)])

    out = capsys.readouterr()  # type: ignore[attr-defined]
    assert code == 1
    assert "stability" in out.out
    assert "db went idle at 25 s" in out.out + out.err


def test_memory_is_read_at_the_start_and_the_end_of_the_steady_window(tmp_path: Path) -> None:
    summary = summarise_phase(load_run(make_run(tmp_path, [_phase(1)]))[0])

    by_component = {m.component: m for m in summary.memory}
    assert set(by_component) == {"db", "redis", "nginx", "generator", "api-1"}
    assert by_component["db"].start_bytes == 50 << 20  # the synthetic run's flat 50 MB
    assert by_component["db"].growth_bytes == 0


def test_a_process_that_ends_with_the_load_after_the_steady_window_did_not_die(
    tmp_path: Path,
) -> None:
    run = make_run(tmp_path, [_phase(1)])
    (resources,) = run.glob("*/resources.csv")
    header, *rows = resources.read_text().splitlines()
    last = max(float(r.split(",")[0]) for r in rows)
    # Locust's workers stop with the load; its master goes on for a few seconds (the report)
    kept = [r for r in rows if r.split(",")[1] != "generator" or float(r.split(",")[0]) < last]
    db = next(r for r in reversed(rows) if r.split(",")[1] == "db").split(",")
    later = [",".join([f"{last + i:.3f}", *db[1:]]) for i in range(1, 7)]
    resources.write_text("\n".join([header, *kept, *later]) + "\n")

    summary = summarise_phase(load_run(run)[0])

    assert summary.instabilities == []
