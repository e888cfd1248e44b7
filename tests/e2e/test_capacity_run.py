"""End to end: ``capacity run`` at 1 and 2 replicas, then ``capacity report`` and ``gate``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.cli import main
from tests._wait import HANG_S, wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

TINY = """
name = "tiny-run"
description = "A tiny closed-model run for the end-to-end test of capacity run."
[stack]
replicas = [1, 2]
cache = [true]
[data]
users = 20
tasks_per_user = 5
bcrypt_rounds = 4
[load]
model = "closed"
warmup = "3s"
think_time = "0.05s"
  [[load.stages]]
  duration = "{duration}"
  users = 4
  spawn_rate = 4
[mix]
"GET /api/tasks" = 40
"GET /api/tasks/{{id}}" = 20
"POST /api/tasks" = 10
"PATCH /api/tasks/{{id}}" = 10
"DELETE /api/tasks/{{id}}" = 5
"GET /api/tasks/stats" = 15
[slo]
p95_ms = 5000
error_rate = 0.05
[env]
LOG_LEVEL = "WARNING"
"""


def scenario_file(tmp_path: Path, duration: str = "12s") -> Path:
    path = tmp_path / "tiny-run.toml"
    path.write_text(TINY.format(duration=duration))
    return path


def test_a_run_at_one_and_two_replicas_yields_a_report_and_a_gate_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"

    code = main(["run", str(scenario_file(tmp_path)), "--out", str(out)])

    assert code == 0
    assert capsys.readouterr().out.strip().endswith(str(out))
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete"
    assert run["completed_phases"] == ["r1-cache-on", "r2-cache-on"]
    statuses = []
    for phase in run["completed_phases"]:
        directory = out / phase
        manifest = json.loads((directory / "manifest.json").read_text())
        assert manifest["status"] == "complete"
        assert manifest["topology"]["replicas"] == int(phase[1])
        assert manifest["host"]["cores"] == os.cpu_count()
        assert manifest["topology"]["balancer"] in {"nginx", "shared-socket"}
        for name in ("locust_stats.csv", "locust.html", "resources.csv", "verdict.json"):
            assert (directory / name).is_file(), name
        assert list((directory / "samples").glob("samples-*.bin"))
        components = (directory / "resources.csv").read_text()
        assert "generator" in components
        assert "api-1" in components
        statuses.append(json.loads((directory / "verdict.json").read_text())["status"])
        audit = json.loads((directory / "audit.json").read_text())  # the write ledger held
        assert audit["audited"], audit
        assert audit["totals"]["lost"] == 0, audit["findings"]
        assert min(audit["acknowledged"].values()) > 0, audit["acknowledged"]
        assert manifest["audit"]["lost"] == 0

    assert main(["report", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema"] == "primo-capacity/summary/v1"
    assert [p["phase"] for p in summary["phases"]] == ["r1-cache-on", "r2-cache-on"]
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert (out / "report.md").is_file()

    # 4 users thinking 50 ms against a 5 s p95 and 5 % errors: both phases are within the SLO,
    # and a generator this small is never the limit
    assert statuses == ["PASS", "PASS"]
    assert main(["gate", str(out), "--junit", str(tmp_path / "junit.xml")]) == 0
    junit = (tmp_path / "junit.xml").read_text()
    assert "<testcase" in junit
    assert "<failure" not in junit
    assert "<error" not in junit


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_phase_and_keeps_what_finished(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario_file(tmp_path, "60s")),
            "--out",
            str(out),
            "--replicas",
            "1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (`make test &`) hands its
        # children SIGINT ignored, and Python then never raises KeyboardInterrupt
        preexec_fn=_interruptible,
    )
    try:
        history = out / "r1-cache-on" / "locust_stats_history.csv"

        def locust_writes_stats() -> bool:
            assert proc.poll() is None, proc.communicate()
            return history.is_file() and history.stat().st_size > 200

        wait_until(locust_writes_stats, timeout=HANG_S * 2)  # a stack starts first
        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        # Locust and the stack run in their own sessions: collect them through the stack state.
        children += [p.pid for p in psutil.process_iter() if _belongs_to(p, tmp_path)]

        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 130
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    manifest = json.loads((out / "r1-cache-on" / "manifest.json").read_text())
    assert manifest["status"] == "interrupted"
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert (out / "r1-cache-on" / "locust_stats.csv").is_file()
    wait_until(lambda: not [pid for pid in children if psutil.pid_exists(pid) and _alive(pid)])


def _belongs_to(proc: psutil.Process, root: Path) -> bool:
    try:
        return any(str(root) in part for part in proc.cmdline())
    except psutil.Error:
        return False


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
