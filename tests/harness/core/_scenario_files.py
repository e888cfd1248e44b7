"""Scenario files written for a test, and the one line a bad one is refused with."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.core.scenario import load_scenario
from harness.errors import BadInputError


def write(tmp_path: Path, text: str, name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_line(path: Path) -> str:
    with pytest.raises(BadInputError) as excinfo:
        load_scenario(path)
    message = str(excinfo.value)
    assert "\n" not in message
    return message
