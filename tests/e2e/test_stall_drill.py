"""The stall drill, short: the db is frozen for 12 s in the middle of a 45-s phase.

``capacity run`` must say so while it happens, the report must mark the phase unstable and name
the db at the right time, and the gate must fail it and say why. One phase at one replica, on
loopback; about 75 s in all.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.core.scenario import SCENARIO_DIR

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAULT_AT_S = 20.0
FAULT_FOR_S = 12.0
RUN_TIMEOUT_S = 150.0

# The shipped drill, cut down: replicas 1 only, 45 s, the fault at 20 s for 12 s in every phase.
SHORTER = [
    ('name = "stall-drill"', 'name = "stall-drill-short"'),
    ("replicas = [1, 2, 3]", "replicas = [1]"),
    ('warmup = "10s"', 'warmup = "8s"'),
    ('duration = "60s"', 'duration = "45s"'),
    ('duration = "60s"', 'duration = "45s"'),  # the stage
    ('at = "25s"', f'at = "{FAULT_AT_S:g}s"'),
    ('duration = "15s"', f'duration = "{FAULT_FOR_S:g}s"'),
    ("replicas = [2]\n", ""),
]


def short_drill(tmp_path: Path) -> Path:
    text = (SCENARIO_DIR / "stall-drill.toml").read_text()
    for old, new in SHORTER:
        assert old in text, f"the shipped drill changed: {old!r} is gone"
        text = text.replace(old, new, 1)
    path = tmp_path / "stall-drill-short.toml"
    path.write_text(text)
    return path


def run_and_timestamp_lines(argv: list[str]) -> tuple[int, list[tuple[float, str]]]:
    """Run ``argv``; return its exit code and each output line with when it came (s from start)."""
    began = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.monotonic() - began, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.wait(timeout=RUN_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    return proc.returncode, lines


def first(lines: list[tuple[float, str]], pattern: str) -> tuple[float, re.Match[str]]:
    for when, line in lines:
        if match := re.search(pattern, line):
            return when, match
    raise AssertionError(f"no line matches {pattern!r} in:\n" + "\n".join(t for _, t in lines))


def test_a_frozen_db_is_said_live_reported_unstable_and_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "harness.cli", "run", str(short_drill(tmp_path))]

    code, lines = run_and_timestamp_lines([*argv, "--out", str(out)])

    assert code == 0, "\n".join(t for _, t in lines)
    said_at, unstable = first(lines, r"r1-cache-on: UNSTABLE at (\d+) s — .*\bdb at \d+ % CPU")
    ended_at, _ = first(lines, r"^r1-cache-on: (PASS|FAIL|INVALID)\b")
    first(lines, r"r1-cache-on: recovered at \d+ s")
    assert abs(float(unstable.group(1)) - FAULT_AT_S) <= 3
    assert ended_at - said_at >= 5, "the UNSTABLE line came only as the phase ended"
    (recorded,) = json.loads((out / "r1-cache-on" / "manifest.json").read_text())["faults"]
    assert recorded["action"] == "stop"
    assert recorded["component"] == "db"
    assert recorded["started_s"] == pytest.approx(FAULT_AT_S, abs=1)
    assert recorded["ended_s"] == pytest.approx(FAULT_AT_S + FAULT_FOR_S, abs=1)
    # a frozen database loses no acknowledged write; the writes it held past their client's
    # timeout are ambiguous at most
    audit = json.loads((out / "r1-cache-on" / "audit.json").read_text())
    assert audit["audited"], audit
    assert audit["totals"]["lost"] == 0, audit["findings"]
    assert audit["totals"]["resurrected"] == audit["totals"]["phantom"] == 0, audit["findings"]

    assert main(["report", str(out)]) == 0
    (phase,) = json.loads((out / "summary.json").read_text())["phases"]
    on_db = [i for i in phase["instabilities"] if i["component"] == "db"]
    assert on_db, phase["instabilities"]
    assert abs(on_db[0]["start_s"] - FAULT_AT_S) <= 3

    capsys.readouterr()
    assert main(["gate", str(out)]) == 1
    gate = capsys.readouterr()
    assert "db went idle" in gate.out + gate.err
