"""No silent pass: a baseline that cannot be compared with the run makes the gate INCONCLUSIVE
(exit 4), naming the comparison that could not be made and why."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness._synthetic import PhaseSpec, make_run

Save = Callable[[Path, Path], Path]


def test_a_cache_off_run_against_a_cache_on_baseline_is_inconclusive_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved_baseline: Save
) -> None:
    before = make_run(tmp_path, [PhaseSpec(seed=1)], name="cache-on")
    after = make_run(tmp_path, [PhaseSpec(name="r1-cache-off", cache=False, seed=2)], name="off")
    baseline = saved_baseline(before, tmp_path / "baseline.json")

    code = main(["gate", str(after), "--baseline", str(baseline)])

    out, err = capsys.readouterr()
    assert code == 4
    assert "## Capacity gate: INCONCLUSIVE" in out
    assert (
        "- **r1-cache-off** (phase, INCONCLUSIVE): the baseline has no phase 'r1-cache-off' "
        "(it has: r1-cache-on)" in out
    )
    assert "- **r1-cache-on** (phase, INCONCLUSIVE): in the baseline but not in this run" in out
    assert err.startswith("capacity gate: INCONCLUSIVE — ")


def test_the_same_phase_name_on_another_topology_is_not_compared(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved_baseline: Save
) -> None:
    before = make_run(tmp_path, [PhaseSpec(seed=1)], name="one")
    after = make_run(tmp_path, [PhaseSpec(replicas=2, seed=2)], name="two")
    baseline = saved_baseline(before, tmp_path / "baseline.json")

    code = main(["gate", str(after), "--baseline", str(baseline), "--json", str(tmp_path / "g")])

    checks = json.loads((tmp_path / "g").read_text())["checks"]
    assert code == 4
    assert [c for c in checks if c["kind"] == "regression"] == []
    (apart,) = [c for c in checks if c["kind"] == "comparability"]
    assert apart["message"] == (
        "another topology than the baseline's: replicas: 1 in the baseline, 2 here"
    )


def test_a_baseline_saved_before_topologies_were_recorded_is_compared_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], saved_baseline: Save
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    baseline = saved_baseline(run, tmp_path / "baseline.json")
    data = json.loads(baseline.read_text())
    del data["phases"]["r1-cache-on"]["topology"]
    baseline.write_text(json.dumps(data))

    code = main(["gate", str(run), "--baseline", str(baseline)])

    assert code == 0
    assert "| r1-cache-on | p95 latency (ms) |" in capsys.readouterr().out


def test_a_baseline_of_runs_on_different_topologies_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = make_run(tmp_path, [PhaseSpec()], name="one")
    two = make_run(tmp_path, [PhaseSpec(replicas=2)], name="two")

    code = main(["baseline", "save", str(one), str(two), "--out", str(tmp_path / "b.json")])

    err = capsys.readouterr().err
    assert code == 2
    assert "phase 'r1-cache-on' ran on different topologies" in err
    assert len(err.strip().splitlines()) == 1
