from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.analysis.integrity import read_integrity
from harness.analysis.load import load_run
from harness.analysis.summary import summarise_phase
from harness.cli import main
from harness.errors import BadInputError
from tests.harness._synthetic import PhaseSpec, audit_document, make_run

LOST_UPDATE = ("lost", "update", "status: the database holds 'todo', the update sent 'done'")
AMBIGUOUS = ("ambiguous", "create", "'ephemeral a b' of account 3, made by no acknowledged create")


def test_a_phase_without_an_audit_has_no_integrity(tmp_path: Path) -> None:
    assert read_integrity(tmp_path) is None


def test_the_audit_becomes_counts_per_kind_and_per_write(tmp_path: Path) -> None:
    doc = audit_document(uncertain=(2, 1, 0), findings=[AMBIGUOUS, LOST_UPDATE, LOST_UPDATE])
    (tmp_path / "audit.json").write_text(json.dumps(doc))

    integrity = read_integrity(tmp_path)

    assert integrity is not None
    assert integrity.audited
    assert integrity.lost == 2
    assert integrity.totals == {"lost": 2, "resurrected": 0, "phantom": 0, "ambiguous": 1}
    assert integrity.counts["lost"] == {"create": 0, "update": 2, "delete": 0}
    assert integrity.acknowledged == {"create": 120, "update": 80, "delete": 40}
    assert integrity.uncertain == {"create": 2, "update": 1, "delete": 0}
    assert integrity.examples[0].startswith("lost update ")  # the lost first


def test_an_audit_that_was_not_possible_keeps_its_reason(tmp_path: Path) -> None:
    doc = audit_document(reason="the database could not be read (connection refused)")
    (tmp_path / "audit.json").write_text(json.dumps(doc))

    integrity = read_integrity(tmp_path)

    assert integrity is not None
    assert not integrity.audited
    assert integrity.reason == "the database could not be read (connection refused)"


@pytest.mark.parametrize("text", ['{"audited": true}', "[1, 2]", '{"audited": true, "counts'])
def test_a_corrupt_audit_file_is_bad_input_naming_it(tmp_path: Path, text: str) -> None:
    (tmp_path / "audit.json").write_text(text)

    with pytest.raises(BadInputError, match=rf"^{tmp_path / 'audit.json'}: "):
        read_integrity(tmp_path)


def test_a_phase_summary_carries_its_integrity_into_summary_json(tmp_path: Path) -> None:
    audited = PhaseSpec(name="r1-cache-on", audit=audit_document(findings=[LOST_UPDATE]))
    run = make_run(tmp_path, [audited, PhaseSpec(name="r2-cache-on", replicas=2)])

    first, second = (summarise_phase(p) for p in load_run(run))

    assert first.integrity is not None
    assert first.to_dict()["integrity"]["totals"]["lost"] == 1
    assert second.integrity is None
    assert second.to_dict()["integrity"] is None


def test_the_report_refuses_a_corrupt_audit_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec(audit={"audited": True, "ledger": {}})])

    code = main(["report", str(run), "--out", str(tmp_path / "report")])

    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "audit.json: not an audit file" in err
    assert "Traceback" not in err
