"""The report's "Data integrity": a table per audited phase, and why a phase was not audited."""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.capacity import analyse
from harness.report.images import build_images
from harness.report.render import write_report
from harness.report.sections import Section, build_sections
from tests.harness._synthetic import PhaseSpec, audit_document, make_run

LOST = ("lost", "update", "status: the database holds 'todo', the update sent 'done'")
PHANTOM = ("phantom", "create", "'ephemeral x' of account 2, made by no acknowledged create")


def _section(tmp_path: Path, *specs: PhaseSpec) -> Section | None:
    a = analyse([make_run(tmp_path, list(specs))])
    return next((s for s in build_sections(a, build_images(a)) if s.id == "integrity"), None)


def test_each_audited_phase_gets_a_table_of_writes_and_what_was_found(tmp_path: Path) -> None:
    audit = audit_document(uncertain=(3, 0, 1), findings=[LOST, PHANTOM, LOST])
    section = _section(
        tmp_path,
        PhaseSpec(name="r1-cache-on", audit=audit),
        PhaseSpec(name="r2-cache-on", replicas=2, audit=audit_document()),
    )

    assert section is not None
    first, second = section.tables
    assert first.caption.endswith("/r1-cache-on")
    assert first.headers == [
        "write", "acknowledged", "no definite answer", "lost", "resurrected", "phantom",
        "ambiguous",
    ]  # fmt: skip
    assert first.rows == [
        ["creates (POST)", "120", "3", "0", "0", "1", "0"],
        ["updates (PATCH)", "80", "0", "2", "0", "0", "0"],
        ["deletes (DELETE)", "40", "1", "0", "0", "0", "0"],
        ["all", "240", "4", "2", "0", "1", "0"],
    ]
    assert second.rows[-1] == ["all", "240", "0", "0", "0", "0", "0"]
    assert any("lost update" in n and "holds 'todo'" in n for n in section.notes)


def test_a_phase_that_could_not_be_audited_says_why_instead_of_a_table(tmp_path: Path) -> None:
    section = _section(
        tmp_path, PhaseSpec(audit=audit_document(reason="the database could not be read (x)"))
    )

    assert section is not None
    assert section.tables == []
    reason = "r1-cache-on: not audited: the database could not be read (x)."
    assert any(n.endswith(reason) for n in section.notes)


def test_without_any_audit_the_report_has_no_integrity_section(tmp_path: Path) -> None:
    assert _section(tmp_path, PhaseSpec()) is None


def test_summary_json_and_report_md_carry_the_counts(tmp_path: Path) -> None:
    run = make_run(tmp_path, [PhaseSpec(audit=audit_document(findings=[LOST]))])

    files = write_report(analyse([run]), tmp_path / "out")

    summary = json.loads(files["summary.json"].read_text())
    assert summary["phases"][0]["integrity"]["totals"] == {
        "lost": 1, "resurrected": 0, "phantom": 0, "ambiguous": 0,
    }  # fmt: skip
    assert "## Data integrity" in files["report.md"].read_text()
