"""The Docker engine as the harness reaches it: the ``docker`` client, run as a person would.

Shared by the compose backend (:mod:`harness.stack.compose`) and the offline image build
(:mod:`harness.stack.images`): one place that says an engine is missing, in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

from harness.errors import ComponentError


def engine_problem() -> str | None:
    """Why no Docker engine can be used here (one line), or None when one answers."""
    if shutil.which("docker") is None:
        return "the docker client is not on PATH"
    done = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        return "no Docker engine answers" + (f": {reason[-1]}" if reason else "")
    return None


def require_engine() -> None:
    problem = engine_problem()
    if problem:
        raise ComponentError("docker", problem)


def image_exists(image: str) -> bool:
    done = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
    return done.returncode == 0


def run(
    argv: list[str],
    component: str = "docker",
    check: bool = True,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    stdin: Any = None,
) -> subprocess.CompletedProcess[str]:
    """``argv``'s output; a failure (when ``check``) is a :class:`ComponentError` of
    ``component`` with the tail of what the command said."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=stdin,
            env={**os.environ, **(env or {})},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ComponentError(component, f"{' '.join(argv[:3])}: {exc}") from exc
    if check and done.returncode != 0:
        tail = (done.stderr or done.stdout).strip()
        shown = " ".join(argv[1:2] + argv[-3:]) if len(argv) > 4 else " ".join(argv)
        raise ComponentError(component, f"`{shown}` exited {done.returncode}", tail)
    return done
