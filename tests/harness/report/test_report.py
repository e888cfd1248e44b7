from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.analysis import usl as usl_module
from harness.analysis.capacity import analyse
from harness.analysis.pricing import load_price_table
from harness.analysis.usl import usl
from harness.cli import main
from harness.report.render import write_report
from harness.report.summary_json import SUMMARY_SCHEMA
from tests.harness._synthetic import PhaseSpec, make_run

LAM, SIGMA, KAPPA = 100.0, 0.05, 0.01
OFFERED = 600.0
API_MS_PER_REQUEST = 5.6


def _scaling_phase(n: int, generator_cpu: float = 30.0) -> PhaseSpec:
    """A phase whose service could only carry X(n) of the offered 600 req/s, at 5.6 ms of API CPU
    each. The service is the limit (its latency breaks the 200 ms p95 SLO), so the phase is a
    valid FAIL, not INVALID; ``generator_cpu`` above 80 % makes it generator-bound instead."""
    x = float(usl(n, LAM, SIGMA, KAPPA))
    api = API_MS_PER_REQUEST * x / 10.0  # % of a core: ms/request x req/s / 1000 x 100
    cpu = {"db": 20.0, "redis": 5.0, "nginx": 5.0, "generator": generator_cpu}
    cpu.update({f"api-{i + 1}": api / n for i in range(n)})
    return PhaseSpec(
        name=f"r{n}-cache-on",
        replicas=n,
        rates=(OFFERED,),
        achieved_share=x / OFFERED,
        latency_ms=(300.0,),
        cpu=cpu,
        seed=n,
    )


@pytest.fixture(scope="module")
def scaling_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("scaling"), [_scaling_phase(n) for n in (1, 2, 4, 8)])


@pytest.fixture(scope="module")
def stepped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # p95 is about 1.39 x the median: 28, 56, 167 ms inside a 200 ms SLO, 556 ms outside it
    spec = PhaseSpec(
        rates=(50.0, 100.0, 150.0, 200.0),
        latency_ms=(20.0, 40.0, 120.0, 400.0),
        ramp_s=3.0,
        stage_s=20.0,
    )
    return make_run(
        tmp_path_factory.mktemp("stepped"),
        [spec],
        name="20270115T090000Z_stress",
        scenario="stress-synthetic",
    )


@pytest.fixture(scope="module")
def rendered(
    scaling_run: Path, stepped_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("report")
    assert (
        main(
            [
                "report",
                str(scaling_run),
                str(stepped_run),
                "--out",
                str(out),
                "--target-rate",
                "300",
            ]
        )
        == 0
    )
    return out


def test_the_report_writes_markdown_html_summary_and_plots(rendered: Path) -> None:
    names = {p.name for p in rendered.iterdir()}

    assert {
        "report.md",
        "report.html",
        "summary.json",
        "throughput_vs_replicas.png",
        "latency_vs_load.png",
    } <= names
    assert any(n.startswith("timeline-") for n in names)
    assert any(n.startswith("cpu-") for n in names)
    assert not any(n.startswith(".") for n in names), "no temporary files are left behind"


def test_summary_json_carries_its_schema_and_every_phase(rendered: Path) -> None:
    summary = json.loads((rendered / "summary.json").read_text())

    assert summary["schema"] == SUMMARY_SCHEMA
    phases = {(p["run"], p["phase"]) for p in summary["phases"]}
    assert len(phases) == 5
    for phase in summary["phases"]:
        assert {
            "achieved_rps",
            "p50_ms",
            "p95_ms",
            "p99_ms",
            "error_pct",
            "cpu",
            "cpu_ms_per_request",
            "slo_status",
            "valid",
            "endpoints",
        } <= set(phase)


def test_report_html_is_self_contained_with_tables_and_inline_plots(rendered: Path) -> None:
    html = (rendered / "report.html").read_text()

    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)
    assert "http://" not in html
    assert "https://" not in html
    assert '<img src="data:image/png;base64,' in html
    assert "<table>" in html
    assert "Phase comparison" in html
    assert "r8-cache-on" in html


def test_the_usl_fit_recovers_the_scaling_of_the_phases(rendered: Path) -> None:
    summary = json.loads((rendered / "summary.json").read_text())

    fit = next(u for u in summary["usl"] if u["group"] == "20270115T080000Z_synthetic cache on")
    assert fit["determined"] is True
    assert fit["lambda"] == pytest.approx(LAM, rel=0.05)
    assert fit["sigma"] == pytest.approx(SIGMA, abs=0.02)
    assert fit["kappa"] == pytest.approx(KAPPA, abs=0.003)


def test_replicas_needed_come_from_the_usl_and_from_the_70_percent_cpu_target(
    rendered: Path,
) -> None:
    summary = json.loads((rendered / "summary.json").read_text())

    plan = next(
        r
        for r in summary["capacity"]["replicas"]
        if r["group"] == "20270115T080000Z_synthetic cache on"
    )
    # X(3) = 259 < 300 <= X(4) = 315
    assert plan["replicas_usl"] == 4
    assert plan["api_cpu_ms_per_request"] == pytest.approx(API_MS_PER_REQUEST, rel=0.02)
    # 300 req/s x 5.6 ms = 1.68 cores; at 70 % of one core each: 2.4 -> 3 replicas
    assert plan["replicas_cpu70"] == 3


def test_a_target_above_the_usl_peak_is_reported_as_not_reachable(scaling_run: Path) -> None:
    analysis = analyse([scaling_run], target_rate=1000.0)

    plan = analysis.plans[0]
    assert plan.replicas_usl is None
    assert plan.usl_note.startswith("not reachable")


def test_the_knee_is_the_highest_step_inside_the_slo(rendered: Path) -> None:
    summary = json.loads((rendered / "summary.json").read_text())

    knee = next(k for k in summary["capacity"]["knees"] if k["run"] == "20270115T090000Z_stress")
    assert knee["knee_offered_rps"] == 150.0
    assert knee["broke_at_rps"] == 200.0
    assert "p95" in knee["broke_because"]


def test_the_markdown_report_answers_the_question_and_names_the_knee(rendered: Path) -> None:
    text = (rendered / "report.md").read_text()

    assert "## Answer" in text
    assert "knee at 150 req/s" in text
    assert "| run | phase | replicas |" in text


def test_two_runs_of_one_scenario_are_compared_phase_by_phase(tmp_path: Path) -> None:
    before = make_run(tmp_path, [PhaseSpec(latency_ms=(20.0,))], name="before")
    after = make_run(tmp_path, [PhaseSpec(latency_ms=(30.0,), seed=3)], name="after")

    analysis = analyse([before, after])

    p50 = next(c for c in analysis.comparisons if c.metric == "p50_ms")
    assert (p50.before_run, p50.after_run) == ("before", "after")
    assert p50.change_pct == pytest.approx(50.0, abs=3.0)
    assert p50.direction == "worse"


def test_a_price_table_gives_a_monthly_cost(tmp_path: Path, scaling_run: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('replica_hour = 0.05\nfixed_monthly = 100\ncurrency = "EUR"\n')

    analysis = analyse([scaling_run], target_rate=300.0, price=load_price_table(prices))

    # 3 replicas at the 70 % CPU target: 730 h x 3 x 0.05 + 100
    assert analysis.plans[0].monthly_cost_cpu70 == pytest.approx(730 * 3 * 0.05 + 100)


@pytest.mark.parametrize(
    ("name", "content", "two_replicas_a_month"),
    [
        ("prices.json", '{"replica_hour": 0.1}', 730 * 2 * 0.1),
        ("prices.csv", "key,value\nvcpu_hour,0.04\n", 730 * 2 * 1.0 * 0.04),
    ],
)
def test_price_tables_are_read_from_json_and_csv(
    tmp_path: Path, name: str, content: str, two_replicas_a_month: float
) -> None:
    path = tmp_path / name
    path.write_text(content)

    table = load_price_table(path)

    assert table.monthly(2, 1.0) == pytest.approx(two_replicas_a_month)


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle in err


def test_a_missing_run_directory_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _one_line_error(capsys, ["report", str(tmp_path / "nope")], str(tmp_path / "nope"))


def test_an_empty_run_directory_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()

    _one_line_error(capsys, ["report", str(tmp_path / "empty")], "no phases")


def test_a_corrupt_resources_csv_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    path = run / "r1-cache-on" / "resources.csv"
    path.write_text('ts,component\n1,db,extra,"unterminated\n')

    _one_line_error(capsys, ["report", str(run)], str(path))


def test_a_missing_resources_csv_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    path = run / "r1-cache-on" / "resources.csv"
    path.unlink()

    _one_line_error(capsys, ["report", str(run)], str(path))


def test_a_corrupt_manifest_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    path = run / "r1-cache-on" / "manifest.json"
    path.write_text("{not json")

    _one_line_error(capsys, ["report", str(run)], str(path))


def test_a_bad_price_table_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = make_run(tmp_path, [PhaseSpec()])
    prices = tmp_path / "prices.toml"
    prices.write_text("replica_hours = 1\n")

    _one_line_error(capsys, ["report", str(run), "--price-table", str(prices)], str(prices))


def test_the_knee_of_a_closed_model_run_is_named_by_its_users_and_achieved_rate(
    tmp_path: Path,
) -> None:
    spec = PhaseSpec(
        users=(10, 20, 40, 80),
        rates=(100.0, 190.0, 250.0, 260.0),
        latency_ms=(20.0, 40.0, 120.0, 400.0),
        stage_s=20.0,
    )
    run = make_run(tmp_path, [spec], scenario="stress-closed")

    analysis = analyse([run])

    (knee,) = analysis.knees
    assert knee.rates_are == "achieved"
    assert knee.knee_users == 40
    assert knee.knee_offered_rps == pytest.approx(250.0, rel=0.02)
    assert knee.broke_at_users == 80


def test_invalid_phases_are_left_out_of_the_usl_fit_and_the_report_says_so(
    tmp_path: Path,
) -> None:
    phases = [_scaling_phase(n) for n in (1, 2, 4)] + [_scaling_phase(8, generator_cpu=95.0)]
    run = make_run(tmp_path, phases)

    analysis = analyse([run], target_rate=300.0)

    by_phase = {s.phase: s for s in analysis.summaries}
    assert not by_phase["r8-cache-on"].valid
    assert all(by_phase[f"r{n}-cache-on"].valid for n in (1, 2, 4))
    (plan,) = analysis.plans
    assert [n for n, _ in analysis.groups[plan.group]] == [1, 2, 4]
    assert plan.fit is not None
    assert {n for n, _ in plan.fit.points} == {1, 2, 4}
    assert len(plan.excluded) == 1
    assert plan.excluded[0].startswith(f"{run.name}/r8-cache-on")
    assert "INVALID" in plan.excluded[0]
    assert "generator" in plan.excluded[0]
    assert "left out of the fit" in plan.usl_note
    out = tmp_path / "out"
    write_report(analysis, out)
    text = (out / "report.md").read_text()
    assert f"left out of the fit: {run.name}/r8-cache-on (INVALID)" in text
    usl_doc = json.loads((out / "summary.json").read_text())["usl"][0]
    assert usl_doc["excluded"] == plan.excluded
    assert [pt[0] for pt in usl_doc["points"]] == [1, 2, 4]


def test_usl_points_are_successful_requests_per_second(tmp_path: Path) -> None:
    phases = [
        PhaseSpec(name=f"r{n}-cache-on", replicas=n, rates=(100.0,), error_rate=0.2, seed=n)
        for n in (1, 2)
    ]
    run = make_run(tmp_path, phases)

    analysis = analyse([run], target_rate=300.0)

    (points,) = analysis.groups.values()
    for (n, x), s in zip(points, analysis.summaries, strict=True):
        assert s.valid, s.invalid_reasons
        assert (n, x) == (s.replicas, s.ok_rps)
        assert x == pytest.approx(0.8 * s.achieved_rps, rel=0.05)


def test_phases_where_most_requests_failed_do_not_size_the_cpu_rule(tmp_path: Path) -> None:
    phases = [
        PhaseSpec(name=f"r{n}-cache-on", replicas=n, rates=(100.0,), error_rate=0.9, seed=n)
        for n in (1, 2)
    ]
    run = make_run(tmp_path, phases)

    analysis = analyse([run], target_rate=300.0)

    (plan,) = analysis.plans
    assert plan.replicas_cpu70 is None


@pytest.mark.parametrize("error", [RuntimeError("Optimal parameters not found"), ValueError("x")])
def test_a_failed_usl_fit_is_reported_not_raised(
    tmp_path: Path,
    scaling_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(usl_module, "curve_fit", fail)

    analysis = analyse([scaling_run], target_rate=300.0)
    write_report(analysis, tmp_path)

    (plan,) = analysis.plans
    assert plan.fit is not None
    assert not plan.fit.converged
    assert plan.replicas_usl is None
    assert "the USL fit failed" in plan.usl_note
    assert plan.replicas_cpu70 == 3  # the CPU sizing does not need the fit
    assert "replicas unknown (the USL fit failed)" in (tmp_path / "report.md").read_text()
