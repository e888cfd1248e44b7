"""``capacity report`` / ``analyze.py``: run directories → report.md/.html, summary.json, PNGs.

:func:`analyse` is pure (files in, an :class:`Analysis` out); :func:`write_report` renders it into
the output directory. Nothing is written anywhere else.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness._files import utc_now, write_atomic
from harness.analysis.capacity import (
    CPU_TARGET,
    DEFAULT_TARGET_RATE,
    Analysis,
    CapacityPlan,
    Knee,
    analyse,
)
from harness.analysis.pricing import PriceTable, load_price_table
from harness.analysis.series import cpu_series, request_series
from harness.analysis.summary import StageSummary
from harness.analysis.validity import slo_thresholds
from harness.core import slo
from harness.core.checks import jsonable
from harness.errors import BadInputError
from harness.report import plots

SUMMARY_SCHEMA = "primo-capacity/summary/v1"


# -- summary.json ------------------------------------------------------------------------------


def summary_document(a: Analysis) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": SUMMARY_SCHEMA,
        "generated": utc_now(),
        "target_rate": a.target_rate,
        "cpu_target": CPU_TARGET,
        "cores_per_replica": a.cores_per_replica,
        "runs": a.runs,
        "phases": [s.to_dict() for s in a.summaries],
        "usl": [
            {
                "group": p.group,
                "points": [list(pt) for pt in a.groups[p.group]],
                "throughput": "successful req/s (goodput) of the valid phases",
                "excluded": p.excluded,
                "converged": p.fit.converged if p.fit else None,
                "lambda": p.fit.lam if p.fit else None,
                "sigma": p.fit.sigma if p.fit else None,
                "kappa": p.fit.kappa if p.fit else None,
                "determined": p.fit.determined if p.fit else False,
                "peak_replicas": p.fit.peak_replicas if p.fit else None,
                "peak_rps": p.fit.peak_rps if p.fit else None,
                "note": p.usl_note,
            }
            for p in a.plans
        ],
        "capacity": {
            "knees": [asdict(k) for k in a.knees],
            "replicas": [
                {
                    "group": p.group,
                    "target_rate": a.target_rate,
                    "replicas_usl": p.replicas_usl,
                    "usl_note": p.usl_note,
                    "api_cpu_ms_per_request": p.api_cpu_ms_per_request,  # per successful one
                    "replicas_cpu70": p.replicas_cpu70,
                    "monthly_cost_usl": p.monthly_cost_usl,
                    "monthly_cost_cpu70": p.monthly_cost_cpu70,
                    "database_bound": p.database_bound,
                }
                for p in a.plans
            ],
            "price_table": vars(a.price) if a.price else None,
        },
        "comparisons": [asdict(c) for c in a.comparisons],
        "warnings": a.warnings,
    }
    # JSON has no NaN or infinity.
    safe: dict[str, Any] = jsonable(doc)
    return safe


# -- tables (shared by markdown and HTML) ------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Image:
    name: str
    alt: str
    data: bytes


@dataclass
class Section:
    id: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


def fmt(value: Any, digits: int = 0, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        if not math.isfinite(value):
            return "—"
        return f"{value:,.{digits}f}{suffix}"
    return str(value)


def phase_table(a: Analysis) -> Table:
    headers = [
        "run",
        "phase",
        "replicas",
        "cache",
        "balancer",
        "req/s (all)",
        "ok req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "error %",
        "CPU db",
        "CPU redis",
        "CPU api",
        "CPU nginx",
        "CPU generator",
        "req/s per core",
        "CPU ms/req",
        "SLO",
        "validity",
    ]
    rows = []
    for s in a.summaries:
        rows.append(
            [
                s.run,
                s.phase,
                str(s.replicas),
                "on" if s.cache else "off",
                s.balancer,
                fmt(s.achieved_rps, 1),
                fmt(s.ok_rps, 1),
                fmt(s.p50_ms, 1),
                fmt(s.p95_ms, 1),
                fmt(s.p99_ms, 1),
                fmt(s.error_pct, 2),
                *(fmt(s.cpu[g], 0, " %") for g in ("db", "redis", "api", "nginx", "generator")),
                fmt(s.rps_per_core, 0),
                fmt(s.cpu_ms_per_request, 2),
                s.slo_status,
                "valid" if s.valid else "INVALID",
            ]
        )
    return Table(headers, rows)


def endpoint_tables(a: Analysis) -> list[Table]:
    tables = []
    for s in a.summaries:
        rows = [
            [
                e.endpoint,
                str(e.count),
                fmt(e.error_pct, 2),
                fmt(e.p50_ms, 1),
                fmt(e.p95_ms, 1),
                fmt(e.p99_ms, 1),
                fmt(e.rps, 1),
            ]
            for e in s.endpoints
        ]
        tables.append(
            Table(
                ["endpoint", "count", "error %", "p50 ms", "p95 ms", "p99 ms", "req/s"],
                rows,
                caption=f"{s.run}/{s.phase}",
            )
        )
    return tables


def stage_tables(a: Analysis) -> list[Table]:
    tables = []
    for s in a.summaries:
        if len(s.stages) < 2:
            continue
        rows = [
            [
                str(st.index + 1),
                f"{st.start_s:.0f}-{st.end_s:.0f}",
                fmt(st.offered_rps, 0),
                fmt(st.users),
                fmt(st.achieved_rps, 1),
                fmt(st.ok_rps, 1),
                str(st.requests),
                fmt(st.p50_ms, 1),
                fmt(st.p95_ms, 1),
                fmt(st.p99_ms, 1),
                fmt(st.error_pct, 2),
            ]
            for st in s.stages
        ]
        tables.append(
            Table(
                [
                    "stage",
                    "window s",
                    "offered req/s",
                    "users",
                    "achieved req/s (all)",
                    "ok req/s",
                    "requests",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "error %",
                ],
                rows,
                caption=f"{s.run}/{s.phase} stages",
            )
        )
    return tables


def capacity_table(a: Analysis) -> Table:
    cost = a.price is not None
    headers = [
        "group",
        "USL lambda (ok req/s per replica)",
        "sigma (contention)",
        "kappa (coherency)",
        f"replicas for {a.target_rate:.0f} ok req/s (USL)",
        "API CPU ms per ok req",
        f"replicas at {CPU_TARGET:.0%} CPU",
    ]
    if cost:
        headers += ["monthly cost (USL)", f"monthly cost ({CPU_TARGET:.0%} CPU)"]
    rows = []
    for p in a.plans:
        row = [
            p.group,
            fmt(p.fit.lam if p.fit else None, 1),
            fmt(p.fit.sigma if p.fit else None, 4),
            fmt(p.fit.kappa if p.fit else None, 5),
            _usl_cell(p),
            fmt(p.api_cpu_ms_per_request, 2),
            fmt(p.replicas_cpu70),
        ]
        if cost and a.price:
            cur = a.price.currency
            row += [fmt(p.monthly_cost_usl, 0, f" {cur}"), fmt(p.monthly_cost_cpu70, 0, f" {cur}")]
        rows.append(row)
    return Table(headers, rows)


def _usl_cell(p: CapacityPlan) -> str:
    if p.replicas_usl:
        return str(p.replicas_usl)
    if p.fit is None:
        return "—"
    if not p.fit.converged:
        return "unknown (the fit failed)"
    if p.fit.replica_counts == 1:
        return "unknown (one replica count)"
    return "not reachable"


def comparison_table(a: Analysis) -> Table:
    rows = [
        [
            c.phase,
            c.label,
            f"{c.before_run} → {c.after_run}",
            fmt(c.before, 2),
            fmt(c.after, 2),
            fmt(c.change_pct, 1, " %"),
            c.direction,
        ]
        for c in a.comparisons
    ]
    return Table(["phase", "metric", "runs", "before", "after", "change", "direction"], rows)


def answer_lines(a: Analysis) -> list[str]:
    lines = []
    for s in a.summaries:
        lines.append(
            f"{s.run}/{s.phase} ({s.replicas} replica(s), cache {'on' if s.cache else 'off'}): "
            f"{fmt(s.achieved_rps, 0)} req/s at p95 {fmt(s.p95_ms, 1)} ms, errors "
            f"{fmt(s.error_pct, 2)} %, {fmt(s.cpu_ms_per_request, 2)} ms of service CPU per "
            f"request — SLO {s.slo_status}" + ("" if s.valid else " (run INVALID)")
        )
    for p in a.plans:
        single = p.fit is not None and p.fit.replica_counts == 1
        if p.replicas_usl:
            usl_text = f"{p.replicas_usl} replica(s) by the USL fit"
        elif p.fit and not p.fit.converged:
            usl_text = "replicas unknown (the USL fit failed)"
        elif single:
            usl_text = "replicas unknown (one replica count measured: scaling cannot be fitted)"
        elif p.fit:
            usl_text = "not reachable by the USL fit"
        else:
            usl_text = "no USL fit"
        if p.fit and p.replicas_usl and not p.fit.determined:
            usl_text += " (under-determined: two replica counts)"
        if p.database_bound:
            usl_text += "; the database is the limit, so replicas alone will not get there"
        cpu_text = (
            f"{p.replicas_cpu70} replica(s) to stay at {CPU_TARGET:.0%} CPU "
            f"({p.api_cpu_ms_per_request:.2f} ms of API CPU per successful request, "
            f"{a.cores_per_replica:g} core(s) per replica)"
            if p.replicas_cpu70
            else "CPU per request unknown"
        )
        line = f"{p.group}: for {a.target_rate:.0f} successful req/s, {usl_text}; {cpu_text}"
        if p.excluded:
            line += f" (left out of the fit as INVALID: {', '.join(_keys(p.excluded))})"
        if a.price and p.monthly_cost_cpu70 is not None:
            line += f"; about {p.monthly_cost_cpu70:,.0f} {a.price.currency}/month at that size"
        lines.append(line + ".")
    for k in a.knees:
        lines.append(_knee_text(k, short=True))
    return lines


# -- plots -------------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def latency_series(a: Analysis) -> dict[str, list[StageSummary]]:
    """A stepped phase is its own series; single-stage phases join one series per group."""
    series: dict[str, list[StageSummary]] = {}
    multi_run = len(a.runs) > 1
    for s in a.summaries:
        prefix = f"{s.run} " if multi_run else ""
        if len(s.stages) > 1:
            series[f"{prefix}{s.phase}"] = s.stages
        else:
            label = f"{prefix}cache {'on' if s.cache else 'off'} (one point per phase)"
            series.setdefault(label, []).extend(s.stages)
    return series


def build_images(a: Analysis) -> dict[str, list[Image]]:
    images: dict[str, list[Image]] = {"scaling": [], "latency": [], "timeline": [], "cpu": []}
    fits = {p.group: p.fit for p in a.plans}
    fig, ax = plots.new_figure()
    plots.throughput_vs_replicas(ax, a.groups, fits, a.target_rate)
    images["scaling"].append(
        Image(
            "throughput_vs_replicas.png",
            "Throughput vs replicas with the USL fit",
            plots.png_bytes(fig),
        )
    )
    p95_limits = [slo_thresholds(p.scenario).get("p95_ms") for p in a.phases]
    p95_slo = next((v for v in p95_limits if v), None)
    fig, ax = plots.new_figure()
    plots.latency_vs_load(ax, latency_series(a), p95_slo)
    images["latency"].append(
        Image("latency_vs_load.png", "Latency percentiles vs offered load", plots.png_bytes(fig))
    )
    for phase, s in zip(a.phases, a.summaries, strict=True):
        label = f"{s.run}/{s.phase}"
        slug = _slug(label if len(a.runs) > 1 else s.phase)
        duration = float(phase.requests["t"].max()) if len(phase.requests) else 0.0
        bin_s = 1.0 if duration < 120 else 5.0
        fig, ax = plots.new_figure(8, 3.5)
        plots.p95_and_errors_over_time(
            ax,
            request_series(phase, bin_s),
            phase.windows,
            f"{label}: p95 latency and errors over time ({bin_s:g} s bins)",
            slo_thresholds(phase.scenario).get("p95_ms"),
        )
        images["timeline"].append(
            Image(
                f"timeline-{slug}.png",
                f"{label}: p95 and errors over time",
                plots.png_bytes(fig),
            )
        )
        fig, ax = plots.new_figure(8, 3.5)
        plots.cpu_over_time(ax, cpu_series(phase), phase.windows, f"{label}: CPU per component")
        images["cpu"].append(
            Image(f"cpu-{slug}.png", f"{label}: CPU per component", plots.png_bytes(fig))
        )
    return images


# -- rendering ---------------------------------------------------------------------------------


def build_sections(a: Analysis, images: dict[str, list[Image]]) -> list[Section]:
    scaling_notes = [f"{p.group}: {p.usl_note}" for p in a.plans if p.usl_note]
    db_note = [
        f"{s.run}/{s.phase} is database-bound: the database used {s.cpu['db']:.0f} % of a core, "
        f"each API replica {s.cpu['api'] / max(s.replicas, 1):.0f} % on average."
        for s in a.summaries
        if s.database_bound
    ]
    sections = [
        Section(
            "phases",
            "Phase comparison",
            notes=[
                "Steady window only: the requests that started in it, exactly the ones the SLO "
                "verdict judges. req/s (all) counts successes and failures; ok req/s counts "
                "successes only (goodput); percentiles are exact over successful requests. CPU is "
                "the mean % of one core (api = all replicas); req/s per core and CPU ms/req use "
                "the service components (db, redis, api, nginx), not the generator, and all "
                "requests. A phase is INVALID when a generator process's CPU exceeds "
                f"{slo.CPU_LIMIT_PERCENT:.0f} %, it achieved under {slo.RATE_TOLERANCE:.0%} of "
                f"its target while the service kept its p95, or it has fewer than "
                f"{slo.MIN_SAMPLES} successful samples.",
                *db_note,
            ],
            tables=[phase_table(a)],
        ),
        Section("endpoints", "Per endpoint", tables=endpoint_tables(a)),
        Section(
            "capacity",
            f"Capacity for {a.target_rate:.0f} req/s",
            notes=[
                f"Capacity is sized on successful requests per second (goodput). Replicas from "
                f"the USL fit: the smallest N whose fitted goodput reaches the target; the fit "
                f"uses valid phases only (an INVALID phase's throughput is the load generator's "
                f"limit). Replicas at {CPU_TARGET:.0%} CPU: enough replicas that each one's API "
                f"CPU per successful request at the target rate stays at the strategy's "
                f"autoscaling target, with {a.cores_per_replica:g} core(s) per replica.",
                *scaling_notes,
            ],
            tables=[capacity_table(a)],
            images=images["scaling"],
        ),
        Section(
            "latency",
            "Latency vs offered load",
            tables=stage_tables(a),
            notes=[_knee_text(k) for k in a.knees],
            images=images["latency"],
        ),
        Section(
            "timeline",
            "p95 and errors over time",
            images=images["timeline"],
            notes=["The green band is the steady window the numbers above come from."],
        ),
        Section("cpu", "CPU per component", images=images["cpu"]),
    ]
    if a.comparisons:
        sections.insert(
            1,
            Section(
                "comparison",
                "Run comparison",
                notes=[f"Matching phases of {', '.join(a.runs[1:])} against {a.runs[0]}."],
                tables=[comparison_table(a)],
            ),
        )
    return sections


def _keys(excluded: Sequence[str]) -> list[str]:
    """``run/phase`` of each ``"run/phase (INVALID: why)"`` entry."""
    return [e.split(" (", 1)[0] for e in excluded]


def _step(k: Knee, *, broke: bool) -> str:
    """The knee's step, or (``broke``) the step that broke the SLO."""
    rate = k.broke_at_rps if broke else k.knee_offered_rps
    users = k.broke_at_users if broke else k.knee_users
    text = f"{rate:.0f} req/s {k.rates_are}"
    return text + (f" ({users} users)" if users else "")


def _knee_text(k: Knee, *, short: bool = False) -> str:
    where = k.key
    if k.knee_offered_rps is None:
        return f"{where}: even the lowest step was outside the SLO ({k.broke_because})."
    text = f"{where}: knee at {_step(k, broke=False)}, p95 {k.knee_p95_ms:.0f} ms"
    if not short:
        text += (
            f" (the highest step, in order, with p95 < {k.p95_limit_ms:g} ms, errors < "
            f"{100 * k.error_limit:g} %"
            + (
                f" and ≥ {slo.RATE_TOLERANCE:.0%} of the offered rate"
                if k.rates_are == "offered"
                else ""
            )
            + ")"
        )
    if k.broke_at_rps is not None:
        text += f"; the next step, {_step(k, broke=True)}, broke it: {k.broke_because}."
    else:
        text += "; no step broke the SLO."
    return text


def render_markdown(a: Analysis, sections: Sequence[Section]) -> str:
    out = [
        f"# Capacity report: {', '.join(a.runs)}",
        "",
        f"Generated {utc_now()}.",
        "",
        "## Answer",
        "",
    ]
    out += [f"- {line}" for line in answer_lines(a)]
    if a.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in a.warnings]
    for section in sections:
        out += ["", f"## {section.title}", ""]
        for note in section.notes:
            out += [note, ""]
        for table in section.tables:
            if table.caption:
                out += [f"### {table.caption}", ""]
            out += [markdown_table(table.headers, table.rows), ""]
        for image in section.images:
            out += [f"![{image.alt}]({image.name})", ""]
    return "\n".join(out).rstrip() + "\n"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(headers), line(["---"] * len(headers)), *(line(r) for r in rows)])


def render_html(a: Analysis, sections: Sequence[Section]) -> str:
    import jinja2

    from harness.report._template import TEMPLATE

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(TEMPLATE)
    view = [
        {
            "id": s.id,
            "title": s.title,
            "notes": s.notes,
            "tables": [vars(t) for t in s.tables],
            "images": [
                {"alt": i.alt, "data": base64.b64encode(i.data).decode("ascii")} for i in s.images
            ],
        }
        for s in sections
    ]
    return template.render(
        title=f"Capacity report: {', '.join(a.runs)}",
        generated=utc_now(),
        runs=a.runs,
        answer=answer_lines(a),
        warnings=a.warnings,
        sections=view,
    )


def write_report(a: Analysis, out: Path) -> dict[str, Path]:
    """Render everything first, then write each file atomically into ``out``."""
    images = build_images(a)
    sections = build_sections(a, images)
    files: dict[str, bytes] = {
        "report.md": render_markdown(a, sections).encode(),
        "report.html": render_html(a, sections).encode(),
        "summary.json": (json.dumps(summary_document(a), indent=2) + "\n").encode(),
    }
    for group in images.values():
        for image in group:
            files[image.name] = image.data
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in files.items():
        path = out / name
        write_atomic(path, data)
        written[name] = path
    return written


@dataclass(frozen=True)
class ReportFiles:
    out: Path
    html: Path
    markdown: Path
    summary: Path
    plots: list[Path]
    analysis: Analysis


def build_report(
    run_dirs: Sequence[Path],
    *,
    out: Path | None = None,
    target_rate: float = DEFAULT_TARGET_RATE,
    price: PriceTable | None = None,
    cores_per_replica: float = 1.0,
) -> ReportFiles:
    """Analyse ``run_dirs`` and write the report into ``out`` (default: the first run dir)."""
    analysis = analyse(
        run_dirs, target_rate=target_rate, price=price, cores_per_replica=cores_per_replica
    )
    target = Path(out) if out is not None else Path(run_dirs[0])
    written = write_report(analysis, target)
    return ReportFiles(
        out=target,
        html=written["report.html"],
        markdown=written["report.md"],
        summary=written["summary.json"],
        plots=[path for name, path in written.items() if name.endswith(".png")],
        analysis=analysis,
    )


# -- CLI ---------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report",
        help="analyse run directories: report.md, report.html, summary.json and plots",
        description="Analyse one or more run directories (several are compared, the first is "
        "the reference) and write report.md, a self-contained report.html, summary.json and "
        "PNG plots into the first run directory or --out.",
    )
    add_report_arguments(parser)
    parser.set_defaults(func=run_report_command)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--out", type=Path, help="output directory (default: the first RUN_DIR)")
    parser.add_argument(
        "--target-rate",
        type=float,
        default=DEFAULT_TARGET_RATE,
        help="request rate to size for (default: %(default)g req/s)",
    )
    parser.add_argument(
        "--price-table", type=Path, help="TOML/JSON/CSV with replica_hour and/or vcpu_hour prices"
    )
    parser.add_argument(
        "--cores-per-replica",
        type=float,
        default=1.0,
        help="CPU share of one replica, for the 70 %% CPU sizing (default: 1)",
    )


def run_report_command(args: argparse.Namespace) -> int:
    if args.target_rate <= 0:
        raise BadInputError(f"--target-rate {args.target_rate:g}: must be positive")
    if args.cores_per_replica <= 0:
        raise BadInputError(f"--cores-per-replica {args.cores_per_replica:g}: must be positive")
    price = load_price_table(args.price_table) if args.price_table else None
    report = build_report(
        args.runs,
        out=args.out,
        target_rate=args.target_rate,
        price=price,
        cores_per_replica=args.cores_per_replica,
    )
    print(report.html)
    return 0
