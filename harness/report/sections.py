"""What the report says after its answer, section by section: notes, tables and images.

Both renderings (Markdown and HTML) show the same sections in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.analysis.budget import budget
from harness.analysis.capacity import CPU_TARGET, Analysis
from harness.analysis.costs import CostTable, cost_table
from harness.analysis.held import held
from harness.analysis.steps import PhaseStep, phase_steps
from harness.core import slo
from harness.report.answer import knee_text
from harness.report.budget import budget_sentence, budget_table
from harness.report.faults import HOW_TO_READ as FAULTS_HOW_TO_READ
from harness.report.faults import fault_tables
from harness.report.held import held_section_parts
from harness.report.images import Image
from harness.report.insights import HOW_TO_READ as INSIGHTS_HOW_TO_READ
from harness.report.insights import insights_table, steady_notes
from harness.report.integrity import HOW_TO_READ, integrity_notes, integrity_table
from harness.report.steps import step_sentence, step_table
from harness.report.tables import (
    UNATTRIBUTED,
    Table,
    capacity_table,
    comparison_table,
    cost_table_view,
    endpoint_tables,
    memory_tables,
    phase_table,
    stage_tables,
)
from harness.report.target import HOW_TO_READ as TARGET_HOW_TO_READ
from harness.report.target import target_notes


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


def build_sections(
    a: Analysis, images: dict[str, list[Image]], history: Path | None = None
) -> list[Section]:
    comparison = [_comparison_section(a)] if a.comparisons else []
    costs = [c for phase in a.phases if (c := cost_table(phase)) is not None]
    steps = phase_steps(a.phases, a.summaries)
    return [
        _phases_section(a),
        _insights_section(a),
        *_target_section(a),  # only phases that loaded an external --target
        *([_steps_section(a, steps)] if steps else []),  # only runs of named [[phases]]
        *comparison,
        *_integrity_section(a),  # only phases whose database was audited
        Section("endpoints", "Per endpoint", tables=endpoint_tables(a)),
        *_faults_section(a),  # only phases with faults
        *([_costs_section(costs)] if costs else []),  # only phases that measured their costs
        *_budget_section(a),
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
            "Throughput, p95 and errors over time",
            images=images["timeline"],
            notes=["The green band is the steady window the numbers above come from."],
        ),
        Section("cpu", "CPU per component", images=images["cpu"]),
        _memory_section(a),
        *_held_section(a),  # only phases that recorded held.csv
        *([_trend_section(a, history)] if history is not None else []),  # capacity report --history
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
        f"{slo.MIN_SAMPLES} successful samples. Time in SLO: the share of the steady "
        "window's 1-s bins whose p95 and whose error rate met the scenario's limits (Gatling's "
        "time-based compliance). The steady window starts at the scenario's warm-up or MSER-5's "
        "cut, whichever is later (see Insights)."
    )
    return Section(
        "phases", "Phase comparison", notes=[how_to_read, *db_notes], tables=[phase_table(a)]
    )


def _trend_section(a: Analysis, history: Path) -> Section:
    from harness.history.cli import trend_parts

    headers, rows, png = trend_parts(history, {s.scenario for s in a.summaries})
    notes = [
        f"Every run of this scenario in {history} (capacity history add), in the order added; a "
        "change point is where the metric's level shifts (ruptures' PELT, docs/gate.md).",
    ]
    image = Image("trend.png", "Run history with change points", png)
    return Section("trend", "Trend over runs", notes=notes, tables=[Table(headers, rows)],
                   images=[image])  # fmt: skip


def _insights_section(a: Analysis) -> Section:
    table = insights_table(a.summaries)
    notes = [INSIGHTS_HOW_TO_READ, *steady_notes(a.summaries)]
    if table is None:
        notes.append("No insight fired.")
    return Section("insights", "Insights", notes=notes, tables=[table] if table else [])


def _steps_section(a: Analysis, steps: list[PhaseStep]) -> Section:
    how_to_read = (
        "Each of the scenario's [[phases]] against the one before it, on the same load: what "
        "the step changed, successful req/s, p95 over successful requests, and the service "
        "components' CPU (db, redis, api, nginx) per successful request (a phase that refuses "
        "what it cannot serve must not look cheap), all from the steady window; × is "
        "after over before. A phase that is unstable or INVALID is compared, but its numbers "
        "are not a capacity: the step is flagged and the phase left out of the answer."
    )
    return Section(
        "steps",
        "Phase over phase",
        notes=[how_to_read, *(step_sentence(s) for s in steps)],
        tables=[step_table(steps, with_run=len(a.runs) > 1)],
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


def _target_section(a: Analysis) -> list[Section]:
    notes = target_notes(a.phases)
    if not notes:
        return []
    return [Section("target", "Target and unknown figures", notes=[TARGET_HOW_TO_READ, *notes])]


def _held_section(a: Analysis) -> list[Section]:
    items = [(f"{p.run}/{p.name}", h) for p in a.phases if (h := held(p)) is not None]
    if not items:
        return []
    notes, tables = held_section_parts(items)
    return [Section("held", "Users and connections held", notes=notes, tables=tables)]


def _faults_section(a: Analysis) -> list[Section]:
    tables = fault_tables(a.summaries)
    if not tables:
        return []
    return [Section("faults", "Faults and recovery", notes=[FAULTS_HOW_TO_READ], tables=tables)]


def _memory_section(a: Analysis) -> Section:
    how_to_read = (
        "Resident memory of each component at the start and at the end of the steady window "
        "(each the median of a twentieth of its once-a-second samples). A component that keeps "
        "growing under a steady load leaks, or caches without a bound."
    )
    return Section("memory", "Memory per component", notes=[how_to_read], tables=memory_tables(a))


def _integrity_section(a: Analysis) -> list[Section]:
    audited = [(s, s.integrity) for s in a.summaries if s.integrity is not None]
    if not audited:
        return []
    return [
        Section(
            "integrity",
            "Data integrity",
            notes=[HOW_TO_READ, *(n for s, i in audited for n in integrity_notes(s, i))],
            tables=[integrity_table(s, i) for s, i in audited if i.audited],
        )
    ]


def _budget_section(a: Analysis) -> list[Section]:
    budgets = [b for s in a.summaries if s.usable and (b := budget(s, a.target_rate))]
    if not budgets:
        return []
    how_to_read = (
        f"What one successful request costs each component in CPU (its mean CPU in the steady "
        f"window over the successful requests per second), against what the host's cores allow "
        f"at {a.target_rate:,.0f} req/s. The load generator runs on the same cores, so it "
        "counts. A single-threaded component (the embedded database) cannot use more than one "
        "core: its own ceiling is 1,000 ms over its cost. Valid, stable phases only."
    )
    return [
        Section(
            "budget",
            f"CPU budget for {a.target_rate:,.0f} req/s",
            notes=[how_to_read, *(budget_sentence(b) for b in budgets)],
            tables=[budget_table(b) for b in budgets],
        )
    ]


def _costs_section(costs: list[CostTable]) -> Section:
    how_to_read = (
        "From the API's own counters: every replica's /metrics, read at the start and the end "
        "of each steady window (endpoint_costs.json in the phase directory). API CPU ms/req is "
        "the CPU of the request's own task: handler, dependencies, serialisation, and the "
        "MongoDB and Redis driver code that runs in it. DB round trips are MongoDB commands; "
        "Redis round trips are commands or scripts (the rate limiter's count, the cache's read, "
        "its store after a miss, the invalidation after a write). The cache hit ratio is hits "
        "per look-up (a bypass, when Redis is off or failing, is a look-up without a hit). "
        f"{UNATTRIBUTED[0].upper() + UNATTRIBUTED[1:]}: the API processes' CPU over the same "
        "stretch (resources.csv) minus what the requests' tasks used, per request: the event "
        "loop between the requests' steps, HTTP parsing, and work on other threads (the log "
        "writer; bcrypt at login). Share of API CPU is of the API processes' CPU in the window."
    )
    notes = [how_to_read]
    shared = {f"{e.method} {e.route}": e.names for c in costs for e in c.rows if len(e.names) > 1}
    notes += [
        f"{route} serves {', '.join(names)}: one route to the API, which cannot tell them "
        "apart, so their costs are one row, not split."
        for route, names in shared.items()
    ]
    notes += [
        f"{c.key}: the costs cover {', '.join(c.replicas) or 'no replica'} only "
        f"({'; '.join(c.missing)}); the unattributed CPU is shown only when the processes "
        "they cover are known."
        for c in costs
        if not c.complete
    ]
    return Section(
        "costs", "Where the time goes", notes=notes, tables=[cost_table_view(c) for c in costs]
    )
