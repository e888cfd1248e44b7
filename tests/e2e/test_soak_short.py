"""The soak, short: the embedded stack at saturation holds steady.

The demo's 40 busy users on 2 replicas with the cache, 55 s of steady load (the shipped
``soak-saturation`` scenario, cut down). Without the database launcher's fix, SecantusDB stalled
under this load 15-25 s into a phase (BENCHMARKS.md, "The embedded database"); this test fails if
that comes back: the phase must be stable (no collapse, no stall, nothing died) and valid.
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
    assert phase["instabilities"] == []
    assert phase["valid"] is True
    assert "UNSTABLE" not in run.stdout + run.stderr
    stability = {c["metric"]: c for c in phase["slo_checks"] if c["name"] == "stability"}
    assert stability["longest_stall_s"]["passed"]
    assert stability["throughput_floor"]["passed"]
    assert phase["ok_rps"] > 100  # the demo's load, not a trickle
