"""Run a command line with its stdout a pipe nobody reads any more (not a test module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def python_env(*, buffered: bool = True) -> dict[str, str]:
    """This environment, with the repository importable; ``buffered``: stdout into a pipe is
    block-buffered, as a user's shell has it (PYTHONUNBUFFERED unset)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if buffered:
        env.pop("PYTHONUNBUFFERED", None)
    else:
        env["PYTHONUNBUFFERED"] = "1"
    return env


def into_closed_pipe(
    *argv: str, cwd: Path = ROOT, buffered: bool = True
) -> subprocess.CompletedProcess[str]:
    """``python ARGV... | true``, made deterministic: the reader has gone before the command
    writes its first byte, so every write into stdout fails with EPIPE (at the final flush when
    ``buffered``, at the first ``print`` otherwise)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, *argv],
            cwd=cwd,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            env=python_env(buffered=buffered),
        )
    finally:
        os.close(write_end)
