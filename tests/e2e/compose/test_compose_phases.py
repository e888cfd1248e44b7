"""Phases on a real Docker engine: a new stack per replica count, and nothing left after each.

Its own module: the 3-replica stack of test_compose_real.py is down before these start (the
compose network has a fixed subnet, so two stacks of this compose file cannot run at once).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness.stack.compose import ComposeStack
from harness.stack.config import StackConfig

pytestmark = pytest.mark.slow


def test_replica_count_changes_between_phases_and_down_leaves_nothing(
    offline_images: None,
    tmp_path: Path,
    make_config: Callable[..., StackConfig],
    project_leftovers: Callable[[str], list[str]],
) -> None:
    for replicas in (1, 2):
        stack = ComposeStack(make_config(tmp_path / f"r{replicas}", replicas))
        project = stack.config.compose_project
        try:
            stack.up()
            api = [c for c in stack.components() if c.name.startswith("api-")]
            assert len(api) == replicas
            assert all(c.healthy for c in api)
            assert httpx.get(f"{stack.url}/health", timeout=10).status_code == 200
        finally:
            stack.down()
        assert project_leftovers(project) == []
