"""What each fault did, and how soon the service recovered: synthetic runs with known answers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.load import load_run
from harness.analysis.recovery import FaultImpact, fault_checks
from harness.analysis.summary import summarise_phase
from harness.cli import main
from harness.core.faults import FaultSlo
from harness.core.samples import read_samples
from tests.harness._synthetic import RUN_START, PhaseSpec, make_run

# 60 s at 200 req/s, steady from 5 s; the db stops answering from 25 s for 10 s
OUTAGE = PhaseSpec(
    name="r2-cache-on",
    replicas=2,
    rates=(200.0,),
    stage_s=60.0,
    latency_ms=(20.0,),
    outage=(25.0, 10.0),
    cpu={"db": 60.0, "redis": 5.0, "api-1": 20.0, "api-2": 20.0, "nginx": 5.0, "generator": 30},
)
STOP_DB = {
    "action": "stop",
    "component": "db",
    "target": "db",
    "at_s": 25.0,
    "duration_s": 10.0,
    "started_s": 25.0,
    "ended_s": 35.0,
}
DRILL = """
  [slo.faults]
  recovery = "5s"
  answer_p99_ms = {answer}

[[faults]]
at = "25s"
action = "stop"
target = "db"
duration = "10s"
"""


def _drill(tmp_path: Path, answer_ms: float = 20_000, faults: list[object] | None = None) -> Path:
    run = make_run(tmp_path, [OUTAGE])
    scenario = run / "synthetic.toml"
    scenario.write_text(scenario.read_text() + DRILL.format(answer=answer_ms))
    (manifest_path,) = run.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["faults"] = [STOP_DB] if faults is None else faults
    manifest_path.write_text(json.dumps(manifest))
    return run


def _raw(run: Path) -> np.ndarray:
    """The phase's records as written, independent of the analysis's loader."""
    (phase,) = load_run(run)
    return read_samples(phase.path / "samples").records


def test_a_fault_drill_judges_the_outage_by_recovery_not_by_stability(tmp_path: Path) -> None:
    summary = summarise_phase(load_run(_drill(tmp_path))[0])

    assert summary.instabilities == []  # the stall is the scheduled fault's
    assert not summary.usable  # but a drill's throughput is never a capacity
    (impact,) = summary.faults
    assert impact.name == "stop db at 25 s"
    assert impact.recovery_s == 5.0  # the first 5-s bin after the db came back is back
    assert [c.metric for c in summary.fault_checks] == ["recovery_s", "answer_p99_ms"]
    assert all(c.passed for c in summary.fault_checks)
    stability = [c for c in summary.slo_checks if c.kind == "stability"]
    assert [c.metric for c in stability] == ["throughput_floor", "longest_stall_s"]
    assert all(c.passed for c in stability)  # the verdict leaves the outage to the drill too


def test_the_fault_window_counts_match_the_raw_samples(tmp_path: Path) -> None:
    run = _drill(tmp_path)
    raw = _raw(run)

    (impact,) = summarise_phase(load_run(run)[0]).faults

    t = raw["ts"] - RUN_START
    inside = raw[(t >= 25.0) & (t < 35.0)]
    assert impact.requests == inside.size
    assert impact.errors == int((inside["ok"] == 0).sum())
    assert impact.answer_p99_ms == pytest.approx(np.percentile(inside["latency_ms"], 99), rel=0.01)
    before = raw[(t >= 5.0) & (t < 25.0)]
    assert impact.before_rps == pytest.approx((before["ok"] == 1).sum() / 20.0)


def test_a_slow_answer_inside_the_fault_fails_the_drill_and_the_gate_names_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _drill(tmp_path, answer_ms=3000)  # requests caught by the outage waited up to 10 s

    code = main(["gate", str(run)])

    out = capsys.readouterr().out
    assert code == 1
    assert "stop db at 25 s: answer_p99_ms" in out
    assert "FAIL" in out


def test_without_the_drill_table_the_same_outage_is_an_instability(tmp_path: Path) -> None:
    run = make_run(tmp_path, [OUTAGE])
    (manifest_path,) = run.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["faults"] = [STOP_DB]
    manifest_path.write_text(json.dumps(manifest))

    summary = summarise_phase(load_run(run)[0])

    assert [i.kind for i in summary.instabilities] == ["stall"]
    assert summary.fault_checks == []
    assert summary.faults[0].recovery_s == 5.0  # measured all the same


def test_a_service_not_back_by_the_end_has_no_recovery_time(tmp_path: Path) -> None:
    never = {**STOP_DB, "ended_s": None}  # resumed never (a stop whose resume failed)

    summary = summarise_phase(load_run(_drill(tmp_path, faults=[never]))[0])

    (check,) = [c for c in summary.fault_checks if c.metric == "recovery_s"]
    assert summary.faults[0].recovery_s is None
    assert not check.passed


def test_a_fault_that_could_not_be_carried_out_fails_its_check(tmp_path: Path) -> None:
    failed = {**STOP_DB, "error": "db: not running, so it cannot be stopped", "ended_s": None}

    summary = summarise_phase(load_run(_drill(tmp_path, faults=[failed]))[0])

    (check,) = summary.fault_checks
    assert (check.metric, check.passed) == ("carried_out", False)
    assert "not running" in check.message


def test_the_cache_answers_during_and_after_a_redis_fault_come_from_the_marks(
    tmp_path: Path,
) -> None:
    run = _drill(tmp_path)
    (phase_dir,) = [p for p in run.iterdir() if p.is_dir()]
    counts = [(25.0, 100, 50, 0), (35.0, 100, 60, 400), (59.0, 900, 80, 400)]
    marks = [
        {"at_s": at, "ts": 0, "replicas": {"api-1": {"hit": h, "miss": m, "bypass": b}}}
        for at, h, m, b in counts
    ]
    (phase_dir / "endpoint_costs.json").write_text(json.dumps({"marks": marks}))

    (impact,) = summarise_phase(load_run(run)[0]).faults

    assert impact.cache_during == {"hit": 0, "miss": 10, "bypass": 400}
    assert impact.cache_after == {"hit": 800, "miss": 20, "bypass": 0}


def _impact(**kw: object) -> FaultImpact:
    base: dict[str, object] = {
        "action": "stop", "target": "redis", "component": "redis", "started_s": 50.0,
        "ended_s": 80.0, "window_start_s": 50.0, "window_end_s": 80.0, "requests": 2400,
        "errors": 0, "error_rate": 0.0, "server_errors": 0, "p95_ms": 30.0,
        "answer_p99_ms": 60.0, "before_rps": 80.0, "recovery_from_s": 80.0, "recovery_s": 5.0,
    }  # fmt: skip
    return FaultImpact(**{**base, **kw})  # type: ignore[arg-type]


def test_a_redis_drill_needs_bypasses_during_and_hits_after() -> None:
    slo = FaultSlo(error_rate=0.0, cache_back=True)
    good = _impact(
        cache_during={"hit": 0, "miss": 0, "bypass": 900},
        cache_after={"hit": 300, "miss": 40, "bypass": 0},
    )
    cold = _impact(
        cache_during={"hit": 0, "miss": 0, "bypass": 900},
        cache_after={"hit": 0, "miss": 40, "bypass": 700},
    )

    passed = {c.metric: c.passed for c in fault_checks([good], slo, server_errors=0)}
    failed = {c.metric: c.passed for c in fault_checks([cold], slo, server_errors=0)}

    assert passed == {"error_rate": True, "bypass_during": True, "hits_after": True}
    assert failed == {"error_rate": True, "bypass_during": True, "hits_after": False}


def test_server_errors_are_judged_over_the_whole_phase() -> None:
    slo = FaultSlo(server_errors=0)

    (check,) = fault_checks([_impact()], slo, server_errors=3)

    assert (check.fault, check.metric, check.value, check.passed) == (
        "every fault",
        "server_errors",
        3.0,
        False,
    )


def test_a_killed_replica_is_not_called_dead_in_a_drill(tmp_path: Path) -> None:
    spec = replace(OUTAGE, outage=(30.0, 1.0), outage_component="api-2", died="api-2")
    run = make_run(tmp_path, [spec])
    scenario = run / "synthetic.toml"
    kill = '\n  [slo.faults]\n  recovery = "5s"\n\n[[faults]]\nat = "30s"\naction = "kill"\n'
    scenario.write_text(scenario.read_text() + kill + 'target = "api-2"\nreplicas = [2]\n')
    (manifest_path,) = run.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["faults"] = [
        {"action": "kill", "component": "api-2", "target": "api-2", "at_s": 30.0,
         "duration_s": None, "started_s": 30.0, "ended_s": None}
    ]  # fmt: skip
    manifest_path.write_text(json.dumps(manifest))

    summary = summarise_phase(load_run(run)[0])

    assert summary.instabilities == []
    (impact,) = summary.faults
    assert impact.recovery_from_s == 30.0  # from the kill itself
    assert impact.recovery_s is not None
