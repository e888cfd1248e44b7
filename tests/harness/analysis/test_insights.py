"""Each insight fires on a planted fault, at the planted time, and none on a clean run."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.insights import Insight, stall_onset
from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.core.samples import SampleArray, SampleWriter, read_samples
from tests.harness._synthetic import RUN_START, PhaseSpec, costs_document, make_run, route_cost

STEADY = {"rates": (100.0,), "stage_s": 60.0}


def _insights(
    tmp_path: Path, spec: PhaseSpec, edit: Callable[[Path], None] | None = None
) -> list[Insight]:
    run = make_run(tmp_path, [spec])
    if edit is not None:
        edit(run / spec.name)
    return summarise_phase(load_run(run)[0]).insights


def _rewrite(phase: Path, change: Callable[[SampleArray, np.ndarray], None]) -> None:
    """Change the phase's samples in place (``t``: seconds from the run start)."""
    records = read_samples(phase / "samples").records.copy()
    change(records, records["ts"] - RUN_START)
    for old in (phase / "samples").glob("samples-*.bin"):
        old.unlink()
    writer = SampleWriter(phase / "samples")
    writer.write(records)
    writer.close()


def _rules(found: list[Insight]) -> set[str]:
    return {i.rule for i in found}


def test_a_clean_run_has_no_insight(tmp_path: Path) -> None:
    assert _insights(tmp_path, PhaseSpec(**STEADY)) == []  # type: ignore[arg-type]


def test_a_stopped_database_is_a_stall_at_the_time_it_stopped(tmp_path: Path) -> None:
    cpu = {"db": 60.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 30.0}

    found = _insights(tmp_path, PhaseSpec(**STEADY, cpu=cpu, outage=(25.0, 15.0)))  # type: ignore[arg-type]

    (stall,) = [i for i in found if i.rule == "stall"]
    assert stall.start_s is not None
    assert abs(stall.start_s - 25.0) <= 2.0
    assert stall.component == "db"


def test_a_stall_is_dated_from_the_fall_not_from_the_last_cached_answer() -> None:
    # Measured on stall-drill (db stopped at 25 s): completions per second 316 at 24 s, then 60,
    # 0, 91 (with 365 failures), 70, 42, 27, 17, 21 ... under 10 % of the median from 33 s.
    done = np.array([300, 316, 60, 0, 91, 70, 42, 27, 17, 21, 7, 11, 14, 10, 3], dtype=float)
    failed = np.array([0, 0, 0, 0, 365, 543, 401, 414, 395, 470, 253, 335, 727, 623, 520.0])
    started = failed + done
    median = 153.0
    falling = (done < 0.5 * median) | (failed > 0.5 * np.maximum(started, 1.0))

    assert stall_onset(falling, 10) == 2  # the bin of 25 s, not 33 s
    assert stall_onset(np.zeros(5, dtype=bool), 3) == 3  # nothing before it fell: unchanged


def test_errors_that_begin_mid_run_are_an_error_onset(tmp_path: Path) -> None:
    def fail_from_30_s(records: SampleArray, t: np.ndarray) -> None:
        late = (t >= 30.0) & (np.arange(t.size) % 4 == 0)  # 25 % from 30 s
        records["ok"][late], records["status"][late] = 0, 500

    found = _insights(tmp_path, PhaseSpec(**STEADY), lambda p: _rewrite(p, fail_from_30_s))  # type: ignore[arg-type]

    (onset,) = [i for i in found if i.rule == "error-onset"]
    assert onset.start_s == 30.0


def test_a_script_fault_in_the_first_seconds_is_an_early_failure(tmp_path: Path) -> None:
    def not_found_early(records: SampleArray, t: np.ndarray) -> None:
        early = t < 8.0
        records["ok"][early], records["status"][early] = 0, 404

    found = _insights(tmp_path, PhaseSpec(**STEADY), lambda p: _rewrite(p, not_found_early))  # type: ignore[arg-type]

    (early,) = [i for i in found if i.rule == "early-failure"]
    assert "status 404" in early.evidence


def test_too_few_samples(tmp_path: Path) -> None:
    found = _insights(tmp_path, PhaseSpec(rates=(10.0,), stage_s=30.0))

    assert "too-few-samples" in _rules(found)


@pytest.mark.parametrize(
    ("busy", "rule", "component"),
    [
        ({"generator": 95.0}, "generator-saturation", "generator"),
        ({"db": 95.0, "api-1": 20.0}, "database-bound", "db"),
    ],
)
def test_a_component_at_its_core_is_named(
    tmp_path: Path, busy: dict[str, float], rule: str, component: str
) -> None:
    cpu = {"db": 30.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 30.0} | busy

    found = _insights(tmp_path, PhaseSpec(**STEADY, cpu=cpu))  # type: ignore[arg-type]

    (hit,) = [i for i in found if i.rule == rule]
    assert hit.component == component
    assert "95 %" in hit.evidence


def test_mostly_429_is_rate_limited(tmp_path: Path) -> None:
    found = _insights(tmp_path, PhaseSpec(**STEADY, error_rate=0.05, error_status=429))  # type: ignore[arg-type]

    assert "rate-limited" in _rules(found)


def test_a_shared_socket_fallback_is_a_balancer_fallback(tmp_path: Path) -> None:
    found = _insights(tmp_path, PhaseSpec(**STEADY, balancer="shared-socket"))  # type: ignore[arg-type]

    assert "balancer-fallback" in _rules(found)


def test_nginx_marking_a_replica_down_is_a_balancer_fallback_at_that_time(tmp_path: Path) -> None:
    def upstream_down(phase: Path) -> None:
        at = time.strftime("%Y/%m/%d %H:%M:%S", time.localtime(RUN_START + 33.0))
        (phase / "stack" / "logs").mkdir(parents=True)
        (phase / "stack" / "logs" / "nginx.log").write_text(
            f"{at} [warn] 12#12: *9 upstream server temporarily disabled while connecting to "
            'upstream, client: 127.0.0.1, upstream: "http://127.0.0.1:41002/api/tasks"\n'
        )

    found = _insights(tmp_path, PhaseSpec(**STEADY), upstream_down)  # type: ignore[arg-type]

    (lb,) = [i for i in found if i.rule == "balancer-fallback"]
    assert lb.start_s == 33.0
    assert lb.component == "http://127.0.0.1:41002/api/tasks"


def test_a_stretch_of_cache_misses_is_a_cache_drop(tmp_path: Path) -> None:
    doc = costs_document([route_cost("GET", "/api/tasks", 3000, 1.0, hit=2700, miss=300)])
    doc["marks"] = [
        {
            "at_s": at,
            "ts": RUN_START + at,
            "replicas": {"api-1": {"hit": h, "miss": m, "bypass": 0}},
        }
        for at, h, m in ((20.0, 900, 100), (30.0, 910, 200))
    ]

    found = _insights(tmp_path, PhaseSpec(**STEADY, endpoint_costs=doc))  # type: ignore[arg-type]

    (drop,) = [i for i in found if i.rule == "cache-drop"]
    assert drop.start_s == 20.0
    assert "hit ratio 9 %" in drop.evidence


def test_in_flight_rising_while_completions_stay_flat_is_a_throughput_limit(tmp_path: Path) -> None:
    spec = PhaseSpec(rates=(100.0,) * 3, stage_s=30.0, latency_ms=(20.0, 300.0, 1500.0))

    found = _insights(tmp_path, spec)

    assert "throughput-limit" in _rules(found)


@pytest.mark.parametrize("rule", ["stall", "error-onset"])
def test_a_clean_runs_summary_json_lists_no_insight(tmp_path: Path, rule: str) -> None:
    from harness.analysis.capacity import analyse
    from harness.report.summary_json import summary_document

    doc = summary_document(analyse([make_run(tmp_path, [PhaseSpec(**STEADY)])]))  # type: ignore[arg-type]

    assert all(i["rule"] != rule for p in doc["phases"] for i in p["insights"])
    assert json.dumps(doc)


def test_a_replica_is_judged_busy_against_its_cpu_cap(tmp_path: Path) -> None:
    # Measured on `scaling` r3 (3 replicas capped at 0.4 core): db 71 % of its core, each replica
    # 31 % of a core, which is 78 % of its cap: the replicas are the busier, not the database.
    run = make_run(tmp_path, [PhaseSpec(**STEADY)])  # type: ignore[arg-type]
    summary = summarise_phase(load_run(run)[0])
    db_and_api = {**summary.cpu, "db": 71.0, "api": 3 * 31.0}
    uncapped = dataclasses.replace(summary, replicas=3, cpu=db_and_api)
    capped = dataclasses.replace(uncapped, cpus_per_replica=0.4)

    assert uncapped.database_bound
    assert not capped.database_bound
