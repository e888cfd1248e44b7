"""``capacity compare``: N runs side by side, each change against the first with a bootstrap
interval; a change is marked only when its interval excludes zero."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.analysis.load import load_run
from harness.cli import main
from harness.core.samples import percentile
from tests.harness._synthetic import PhaseSpec, make_run


def _spec(latency_ms: float, seed: int, **kw: object) -> PhaseSpec:
    return PhaseSpec(stage_s=60.0, latency_ms=(latency_ms,), seed=seed, **kw)  # type: ignore[arg-type]


def test_three_runs_each_against_the_first_with_intervals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_run(tmp_path, [_spec(20.0, 1)], name="a")
    b = make_run(tmp_path, [_spec(20.0, 2)], name="b")  # the same service: A/A
    c = make_run(tmp_path, [_spec(30.0, 3)], name="c")  # 50 % slower
    out_md, out_json = tmp_path / "cmp.md", tmp_path / "cmp.json"

    code = main(["compare", str(a), str(b), str(c), "--markdown", str(out_md), "--json",
                 str(out_json)])  # fmt: skip

    assert code == 0
    text = capsys.readouterr().out
    assert text == out_md.read_text()
    assert "## Capacity compare: a vs b vs c" in text
    assert "| metric | 1 | 2 | Δ 2 vs 1 | 3 | Δ 3 vs 1 |" in text
    p95 = next(line for line in text.splitlines() if line.startswith("| p95 ms |"))
    cells = [cell.strip() for cell in p95.strip("|").split("|")]
    # b's p95 change holds zero: unmarked; c's is +50 % and marked worse
    assert "worse" not in cells[3]
    assert "better" not in cells[3]
    assert cells[5].endswith("**worse**")
    data = json.loads(out_json.read_text())
    delta_c = data["phases"][0]["deltas"][1]["p95_ms"]
    assert 35 < delta_c["change_pct"] < 65
    assert delta_c["low_pct"] > 0
    assert delta_c["better"] is False
    errors = next(line for line in text.splitlines() if line.startswith("| errors % |"))
    assert errors.count("none in either") == 2  # no failures in any run: nothing to estimate
    delta_b = data["phases"][0]["deltas"][0]["p95_ms"]
    assert delta_b["low_pct"] < 0 < delta_b["high_pct"]
    assert delta_b["better"] is None


def test_the_figures_are_the_exact_percentiles_of_the_steady_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_run(tmp_path, [_spec(20.0, 1)], name="a")
    b = make_run(tmp_path, [_spec(25.0, 2)], name="b")
    main(["compare", str(a), str(b), "--json", str(tmp_path / "c.json")])
    capsys.readouterr()
    values = json.loads((tmp_path / "c.json").read_text())["phases"][0]["values"]
    for run, got in zip((a, b), values, strict=True):
        phase = load_run(run)[0]
        steady = phase.steady()
        ok = steady["ok"].to_numpy()
        assert got["p95_ms"] == percentile(steady["co_latency_ms"].to_numpy()[ok], 95)
        assert got["p99_ms"] == percentile(steady["co_latency_ms"].to_numpy()[ok], 99)
    ratio = values[1]["p95_ms"] / values[0]["p95_ms"]
    assert np.isclose(ratio, 1.25, rtol=0.1)


def test_a_phase_missing_from_a_run_and_another_topology_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_run(tmp_path, [_spec(20.0, 1), _spec(20.0, 2, name="r2-cache-on", replicas=2)],
                 name="a")  # fmt: skip
    b = make_run(tmp_path, [_spec(20.0, 3, cache=False, name="r1-cache-on")], name="b")

    assert main(["compare", str(a), str(b)]) == 0

    text = capsys.readouterr().out
    assert "*b ran " in text
    assert "cache=False" in text
    r2 = text[text.index("### r2-cache-on") :]
    assert "*not in run 2*" in r2


def test_one_run_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_run(tmp_path, [_spec(20.0, 1)], name="a")
    assert main(["compare", str(a)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "at least two run directories" in err[0]
