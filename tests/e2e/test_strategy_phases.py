"""End to end: a two-phase version of strategy-phases through ``capacity run`` and ``capacity
report``: each phase in its own directory, with its own settings, and the report's phase over
phase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main

pytestmark = pytest.mark.slow

TWO_PHASES = """
name = "tiny-phases"
description = "Strategy phases 1 and 2, tiny: the end-to-end test of named phases."
[data]
users = 20
tasks_per_user = 5
bcrypt_rounds = 4
[load]
model = "closed"
warmup = "5s"
think_time = "0.02s"
  [[load.stages]]
  duration = "25s"
  users = 5
  spawn_rate = 5
[mix]
"GET /api/tasks" = 40
"GET /api/tasks?q={q}" = 10
"GET /api/tasks/{id}" = 20
"POST /api/tasks" = 10
"PATCH /api/tasks/{id}" = 10
"GET /api/tasks/stats" = 10
[slo]
p95_ms = 5000
error_rate = 0.05
[env]
LOG_LEVEL = "WARNING"

[[phases]]
name = "phase-1"
description = "One instance: no cache, no indexes, no compression, no balancer."
replicas = 1
cache = false
indexes = false
compression = false
lb = "shared-socket"

[[phases]]
name = "phase-2"
description = "Plus the indexes, the Redis cache and gzip, behind nginx."
replicas = 1
cache = true
indexes = true
compression = true
lb = "nginx"
"""

SECONDARY = {"tasks.user_1_status_1", "tasks.user_1_createdAt_-1", "tasks.user_1_priority_1"}


def test_named_phases_run_in_order_with_their_settings_and_the_report_compares_them(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "tiny-phases.toml"
    scenario.write_text(TWO_PHASES)
    out = tmp_path / "run"

    assert main(["run", str(scenario), "--out", str(out)]) == 0

    run = json.loads((out / "run.json").read_text())
    assert run["phases"] == run["completed_phases"] == ["phase-1", "phase-2"]
    first, second = (json.loads((out / p / "manifest.json").read_text()) for p in run["phases"])
    assert (first["plan"], first["phase"]) == ("phases", "phase-1")
    assert first["topology"] | {"env": None} == {
        "replicas": 1, "cache": False, "lb": "shared-socket", "backend": "local",
        "balancer": "shared-socket", "indexes": False, "compression": False, "env": None,
        "cpus_per_replica": None, "images": {},  # no CPU cap; a local stack runs no images
    }  # fmt: skip
    assert first["topology"]["env"]["COMPRESSION"] == "false"
    assert not SECONDARY & set(first["data"]["indexes"])  # a fresh database without them
    assert "users.email_1" in first["data"]["indexes"]
    assert second["topology"]["balancer"] == "nginx"
    assert (second["topology"]["indexes"], second["topology"]["compression"]) == (True, True)
    assert set(second["data"]["indexes"]) >= SECONDARY
    assert "redis" in second["components"]
    assert "redis" not in first["components"]

    assert main(["report", str(out)]) == 0
    report = (out / "report.md").read_text()
    section = report.split("## Phase over phase\n", 1)[1].split("\n## ", 1)[0]
    assert "| phase-1 → phase-2 | indexes, Redis cache, gzip, nginx |" in section
    assert "phase-2 (indexes, Redis cache, gzip, nginx) " in section
    summary = json.loads((out / "summary.json").read_text())
    (step,) = summary["phase_over_phase"]
    assert (step["before"], step["after"]) == ("phase-1", "phase-2")
    assert step["throughput_x"] > 0
