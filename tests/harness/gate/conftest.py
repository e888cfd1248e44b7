"""Fixtures for the gate tests: synthetic run directories come from ``tests.harness._synthetic``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.cli import main


@pytest.fixture
def saved_baseline() -> Callable[[Path, Path], Path]:
    """Call it with a run directory and a file: ``capacity baseline save`` writes the file."""

    def save(run: Path, out: Path) -> Path:
        assert main(["baseline", "save", str(run), "--out", str(out)]) == 0
        return out

    return save


@pytest.fixture
def generator_bound_cpu() -> dict[str, float]:
    """CPU per component with the generator at 95 % of a core: harness.core.slo says INVALID."""
    return {"db": 20.0, "redis": 5.0, "api-1": 40.0, "nginx": 5.0, "generator": 95.0}
