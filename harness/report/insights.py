"""The report's insights: every phase's fired rules, with their evidence (docs/insights.md)."""

from __future__ import annotations

from harness.analysis.summary import PhaseSummary
from harness.report.tables import Table, fmt

HOW_TO_READ = (
    "Each insight is a published rule (docs/insights.md) that fired on this run, with when "
    "(seconds from the load start), which component, and the values it saw. A clean run has none."
)
_HEADERS = ["phase", "insight", "at s", "component", "evidence"]


def insights_table(summaries: list[PhaseSummary]) -> Table | None:
    rows = [
        [s.key, i.rule, fmt(i.start_s, 0), i.component or "—", i.evidence]
        for s in summaries
        for i in s.insights
    ]
    return Table(_HEADERS, rows) if rows else None


def steady_notes(summaries: list[PhaseSummary]) -> list[str]:
    """One sentence per phase window: what MSER-5 made of the scenario's warm-up."""
    return [f"{s.key}: {state.describe()}." for s in summaries for state in s.steady_states]
