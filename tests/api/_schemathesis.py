"""Schemathesis with every check, and what it found, each finding matched against a list of the
ones that cannot be fixed (each with its reason): a finding not on the list fails the test.

The CLI runs in a subprocess, so that its warnings and caches stay out of this process and this
checkout; its NDJSON event stream says, per failed check, which request got which answer.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 20261129


@dataclass(frozen=True)
class Finding:
    """One failed check on one request."""

    check: str
    code: str  # schemathesis's, e.g. ST204
    method: str
    operation: str  # as documented, e.g. "GET /api/tasks/{task_id}"
    status: int
    error_code: str  # the answer's error.code, "" when it is not the API's JSON error
    message: str  # schemathesis's first line

    def __str__(self) -> str:
        return (
            f"{self.code} {self.check}: {self.method} {self.operation.split(' ', 1)[-1]} -> "
            f"{self.status} {self.error_code or '(not the error shape)'}: {self.message}"
        )


@dataclass(frozen=True)
class Accepted:
    """A finding that cannot be fixed, and why; ``None`` fields match anything."""

    check: str
    reason: str
    method: str | None = None
    operation: str | None = None
    status: int | None = None
    error_code: str | None = None
    message: str | None = None  # the start of schemathesis's message

    def matches(self, finding: Finding) -> bool:
        return (
            finding.check == self.check
            and self.method in (None, finding.method)
            and self.operation in (None, finding.operation)
            and self.status in (None, finding.status)
            and self.error_code in (None, finding.error_code)
            and (self.message is None or finding.message.startswith(self.message))
        )


# A pagination cursor is opaque: the API issues it (next_cursor) and no schema can tell a forged
# one from a real one, so schemathesis's "valid" cursor (say 000…0) gets the declared 400.
FORGED_CURSOR = Accepted(
    check="positive_data_acceptance",
    method="GET",
    operation="GET /api/tasks",
    status=400,
    error_code="invalid_cursor",
    reason="a forged cursor is schema-valid (cursors are opaque) and refused with the declared 400",
)


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    findings: list[Finding]
    events: list[dict[str, Any]]

    def kinds(self, name: str) -> list[dict[str, Any]]:
        return [event[name] for event in self.events if name in event]

    @property
    def tested_cases(self) -> int:
        return sum(len(s["recorder"]["checks"]) for s in self.kinds("ScenarioFinished"))

    def summary(self) -> str:
        """The CLI's closing summary (from its SUMMARY banner)."""
        start = self.output.rfind("SUMMARY")
        return self.output[self.output.rfind("\n", 0, start) + 1 :] if start >= 0 else ""


def run(
    base_url: str,
    authorization: str,
    work_dir: Path,
    *,
    max_examples: int = 10,
    timeout: float = 240,
) -> Run:
    """``st run --checks all`` with the coverage, fuzzing and stateful phases."""
    events = work_dir / "events.ndjson"
    st = Path(sys.executable).with_name("st")
    done = subprocess.run(
        [
            str(st),
            "run",
            f"{base_url}/openapi.json",
            "--header",
            f"Authorization: {authorization}",
            "--checks",
            "all",
            "--max-examples",
            str(max_examples),
            "--seed",
            str(SEED),
            # One worker: with two threads, hypothesis's ast.parse calls race in CPython 3.11's
            # AST recursion tracking (gh-106905): "SystemError: AST constructor recursion depth
            # mismatch" crashed the run now and then, in the tool, not in the API.
            "--workers",
            "1",
            "--phases",
            "coverage,fuzzing,stateful",
            "--request-timeout",
            "10",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(events),
            "--no-color",
        ],
        cwd=work_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = events.read_text().splitlines() if events.exists() else []
    parsed = [json.loads(line) for line in lines if line.strip()]
    return Run(done.returncode, done.stdout + done.stderr, list(_findings(parsed)), parsed)


def _findings(events: Iterable[dict[str, Any]]) -> Iterator[Finding]:
    for event in events:
        scenario = event.get("ScenarioFinished")
        if scenario is None:
            continue
        recorder = scenario["recorder"]
        for case_id, checks in recorder["checks"].items():
            for check in checks:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                case = recorder["cases"][case_id]["value"]
                response = (recorder["interactions"].get(case_id) or {}).get("response") or {}
                yield Finding(
                    check=check["name"],
                    code=str(failure.get("code", "")),
                    method=str(case["method"]),
                    operation=str(failure.get("operation", recorder["label"])),
                    status=int(response.get("status_code", 0)),
                    error_code=_error_code(response),
                    message=str(failure.get("message", "")).split("\n", 1)[0],
                )


def _error_code(response: dict[str, Any]) -> str:
    content = response.get("content") or {}
    raw = content.get("$base64") if isinstance(content, dict) else None
    try:
        body = json.loads(base64.b64decode(raw)) if raw else None
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def unexplained(findings: Iterable[Finding], accepted: Sequence[Accepted]) -> list[str]:
    """Each finding no entry of ``accepted`` matches, once."""
    return sorted({str(f) for f in findings if not any(a.matches(f) for a in accepted)})
