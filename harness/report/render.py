"""Render an :class:`Analysis` into the output directory: report.md, report.html, summary.json
and the PNGs.

:func:`build_report` is what the runner and the ``report`` command call: analyse the run
directories, then write every file atomically into one directory. Nothing is written anywhere else.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness._files import utc_now, write_atomic
from harness.analysis.capacity import DEFAULT_TARGET_RATE, Analysis, analyse
from harness.analysis.pricing import PriceTable
from harness.report.answer import answer_lines, answer_table, headline
from harness.report.images import build_images
from harness.report.sections import Section, build_sections
from harness.report.summary_json import summary_document
from harness.report.tables import Table


def render_markdown(a: Analysis, sections: Sequence[Section]) -> str:
    out = [
        f"# Capacity report: {', '.join(a.runs)}",
        "",
        f"Generated {utc_now()}.",
        "",
        "## Answer",
        "",
        headline(a),
        "",
        markdown_table(*_cells(answer_table(a))),
        "",
    ]
    out += [f"- {line}" for line in answer_lines(a)]
    if a.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in a.warnings]
    for section in sections:
        out += _markdown_section(section)
    return "\n".join(out).rstrip() + "\n"


def _markdown_section(section: Section) -> list[str]:
    out = ["", f"## {section.title}", ""]
    for note in section.notes:
        out += [note, ""]
    for table in section.tables:
        if table.caption:
            out += [f"### {table.caption}", ""]
        out += [markdown_table(table.headers, table.rows), ""]
    for image in section.images:
        out += [f"![{image.alt}]({image.name})", ""]
    return out


def _cells(table: Table) -> tuple[list[str], list[list[str]]]:
    return table.headers, table.rows


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
        headline=headline(a),
        answer_table=vars(answer_table(a)),
        answer=answer_lines(a),
        warnings=a.warnings,
        sections=view,
    )


def write_report(a: Analysis, out: Path, history: Path | None = None) -> dict[str, Path]:
    """Render everything first, then write each file atomically into ``out``."""
    images = build_images(a)
    sections = build_sections(a, images, history)
    files: dict[str, bytes] = {
        "report.md": render_markdown(a, sections).encode(),
        "report.html": render_html(a, sections).encode(),
        "summary.json": (json.dumps(summary_document(a), indent=2) + "\n").encode(),
    }
    for group in [*images.values(), *(s.images for s in sections)]:
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
    history: Path | None = None,
) -> ReportFiles:
    """Analyse ``run_dirs`` and write the report into ``out`` (default: the first run dir)."""
    analysis = analyse(
        run_dirs, target_rate=target_rate, price=price, cores_per_replica=cores_per_replica
    )
    target = Path(out) if out is not None else Path(run_dirs[0])
    written = write_report(analysis, target, history)
    return ReportFiles(
        out=target,
        html=written["report.html"],
        markdown=written["report.md"],
        summary=written["summary.json"],
        plots=[path for name, path in written.items() if name.endswith(".png")],
        analysis=analysis,
    )
