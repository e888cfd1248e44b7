"""The "Target and unknown figures" section: what a run against a service it did not start
(``capacity run --target``) could and could not measure, from the phase's manifest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.analysis.load import PhaseData

HOW_TO_READ = (
    "These phases loaded a service the run did not start (--target). The run measured its own "
    "load generator as always, so a generator-bound phase is still INVALID, not PASS. What it "
    "could not see of the service is named below: a CPU or memory column for it reads 0 or is "
    "missing, and means unknown, not idle."
)


def target_notes(phases: Sequence[PhaseData]) -> list[str]:
    """One note per external phase: the URL, TLS, seeding, what was known and what was not."""
    notes = []
    for phase in phases:
        target: Any = phase.manifest.get("target")
        if not isinstance(target, dict):
            continue
        key = f"{phase.run}/{phase.name}"
        notes.append(
            f"{key}: {target.get('url')} ({target.get('tls')}); data: {target.get('seeding')}."
        )
        notes += [f"{key}: measured: {line}." for line in target.get("known") or []]
        notes += [f"{key}: UNKNOWN: {line}." for line in target.get("unknown") or []]
    return notes
