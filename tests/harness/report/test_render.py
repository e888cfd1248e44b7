from __future__ import annotations

from harness.report.render import markdown_table


def test_a_markdown_table_escapes_the_pipes_inside_its_cells() -> None:
    text = markdown_table(["a", "b"], [["x|y", "z"]])

    assert text.splitlines() == ["| a | b |", "| --- | --- |", "| x\\|y | z |"]
