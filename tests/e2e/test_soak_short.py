"""The soak, short: the embedded stack at saturation holds steady.

The demo's 40 busy users on 2 replicas with the cache, 55 s of steady load (the shipped
``soak-saturation`` scenario, cut down). Without the database launcher's fix, SecantusDB stalled
under this load 15-25 s into a phase (BENCHMARKS.md, "The embedded database"); this test fails if
that comes back: the phase must be stable (no collapse, no stall, nothing died, no half of the
window far from the other) and valid.

One verdict is left out: MSER-5's "no steady state" (``no_steady_state``). On this 55-s window
(11 batches) it also fires on the embedded stack's slow drift, which is not a stall: in a clean-
clone CI run, 0 errors and every component's CPU flat, throughput went ~650 -> ~600 -> ~450
req/s over the minute and MSER cut at 50 s (565 -> 465), while the half-vs-half check saw -14 %;
the passing run before it drifted the same way (~650 -> ~480) just under MSER's 25 % floor. The
10-minute soak (``capacity run soak-saturation``, BENCHMARKS.md) is where that drift is judged:
it wanders (131-161 req/s per minute) and ends where it began.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.scenario import SCENARIO_DIR

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SHORTER = [
    ('name = "soak-saturation"', 'name = "soak-short"'),
    ('warmup = "30s"', 'warmup = "10s"'),
    ('duration = "10m30s"', 'duration = "65s"'),
    ('duration = "10m30s"', 'duration = "65s"'),  # the stage
    ("tasks_per_user = 50", "tasks_per_user = 20"),  # a quicker seed; the same load
]


def short_soak(tmp_path: Path) -> Path:
    text = (SCENARIO_DIR / "soak-saturation.toml").read_text()
    for old, new in SHORTER:
        assert old in text, f"the shipped soak changed: {old!r} is gone"
        text = text.replace(old, new, 1)
    path = tmp_path / "soak-short.toml"
    path.write_text(text)
    return path


def test_the_stack_holds_steady_at_saturation(tmp_path: Path) -> None:
    out = tmp_path / "run"

    run = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", str(short_soak(tmp_path)), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert main(["report", str(out)]) == 0

    (phase,) = json.loads((out / "summary.json").read_text())["phases"]
    kinds = [i["kind"] for i in phase["instabilities"]]
    assert [k for k in kinds if k != "no_steady_state"] == [], phase["instabilities"]
    assert phase["valid"] is True
    stability = {c["metric"]: c for c in phase["slo_checks"] if c["name"] == "stability"}
    assert stability["longest_stall_s"]["passed"]
    assert stability["throughput_floor"]["passed"]
    assert phase["ok_rps"] > 100  # the demo's load, not a trickle
