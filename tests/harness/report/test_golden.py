"""The report of a committed run directory stays byte-identical, timestamps aside.

A refactor must not change what a reviewer reads. When a change to the report is meant,
regenerate the expectation with ``python -m tests.harness.report.golden.make_golden`` and
review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness.report.golden.make_golden import EXPECTED, FILES, REPO, render

# "generated": "2026-12-02T02:40:00Z" in summary.json, "Generated 2026-...Z." in report.md
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _without_timestamps(text: str) -> str:
    return _TIMESTAMP.sub("<time>", text)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(REPO)
        render(out)
    return out


@pytest.mark.parametrize("name", FILES)
def test_the_report_of_the_golden_run_is_unchanged(rendered: Path, name: str) -> None:
    expected = _without_timestamps((EXPECTED / name).read_text())
    actual = _without_timestamps((rendered / name).read_text())

    assert actual == expected, (
        f"{name} changed; if meant, run python -m tests.harness.report.golden.make_golden"
    )
