"""Run loadtests code in a child process: importing locust monkey-patches the process for good."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

LOADTESTS = Path(__file__).resolve().parents[2] / "loadtests"


def run_snippet(code: str) -> str:
    """Run ``code`` with loadtests/ on the path, as Locust has it; its stdout, or the test fails."""
    prelude = f"import sys; sys.path.insert(0, {str(LOADTESTS)!r})\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
