"""What the report says after its answer, section by section: notes, tables and images.

Both renderings (Markdown and HTML) show the same sections in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.analysis.capacity import CPU_TARGET, Analysis
from harness.core import slo
from harness.report.answer import knee_text
from harness.report.images import Image
from harness.report.tables import (
    Table,
    capacity_table,
    comparison_table,
    endpoint_tables,
    phase_table,
    stage_tables,
)


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


def build_sections(a: Analysis, images: dict[str, list[Image]]) -> list[Section]:
    comparison = [_comparison_section(a)] if a.comparisons else []
    return [
        _phases_section(a),
        *comparison,
        Section("endpoints", "Per endpoint", tables=endpoint_tables(a)),
        _capacity_section(a, images["scaling"]),
        Section(
            "latency",
            "Latency vs offered load",
            tables=stage_tables(a),
            notes=[knee_text(k) for k in a.knees],
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


def _phases_section(a: Analysis) -> Section:
    db_notes = [
        f"{s.run}/{s.phase} is database-bound: the database used {s.cpu['db']:.0f} % of a core, "
        f"each API replica {s.cpu['api'] / max(s.replicas, 1):.0f} % on average."
        for s in a.summaries
        if s.database_bound
    ]
    how_to_read = (
        "Steady window only: the requests that started in it, exactly the ones the SLO "
        "verdict judges. req/s (all) counts successes and failures; ok req/s counts "
        "successes only (goodput); percentiles are exact over successful requests. CPU is "
        "the mean % of one core (api = all replicas); req/s per core and CPU ms/req use "
        "the service components (db, redis, api, nginx), not the generator, and all "
        "requests. A phase is INVALID when a generator process's CPU exceeds "
        f"{slo.CPU_LIMIT_PERCENT:.0f} %, it achieved under {slo.RATE_TOLERANCE:.0%} of "
        f"its target while the service kept its p95, or it has fewer than "
        f"{slo.MIN_SAMPLES} successful samples."
    )
    return Section(
        "phases", "Phase comparison", notes=[how_to_read, *db_notes], tables=[phase_table(a)]
    )


def _comparison_section(a: Analysis) -> Section:
    return Section(
        "comparison",
        "Run comparison",
        notes=[f"Matching phases of {', '.join(a.runs[1:])} against {a.runs[0]}."],
        tables=[comparison_table(a)],
    )


def _capacity_section(a: Analysis, images: list[Image]) -> Section:
    how_to_read = (
        f"Capacity is sized on successful requests per second (goodput). Replicas from "
        f"the USL fit: the smallest N whose fitted goodput reaches the target; the fit "
        f"uses valid phases only (an INVALID phase's throughput is the load generator's "
        f"limit). Replicas at {CPU_TARGET:.0%} CPU: enough replicas that each one's API "
        f"CPU per successful request at the target rate stays at the strategy's "
        f"autoscaling target, with {a.cores_per_replica:g} core(s) per replica."
    )
    scaling_notes = [f"{p.group}: {p.usl_note}" for p in a.plans if p.usl_note]
    return Section(
        "capacity",
        f"Capacity for {a.target_rate:.0f} req/s",
        notes=[how_to_read, *scaling_notes],
        tables=[capacity_table(a)],
        images=images,
    )
