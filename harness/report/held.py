"""The "Users and connections held" section (harness.analysis.held): users over time, open
descriptors and connections per component, memory per simulated user."""

from __future__ import annotations

from collections.abc import Sequence

from harness.analysis.held import Held
from harness.report.tables import Table

HOW_TO_READ = (
    "Users are Locust's running users. Open fds: the most descriptors a process (with its "
    "children) held in the steady window, sockets mostly; set against its `ulimit -n`. "
    "Connections: the most TCP connections established to the component's listening port "
    "(nginx: the simulated users' own; an API replica: nginx's upstream ones). Memory per user: "
    "the component's resident memory in the steady window minus its memory as the load "
    "started, over the users held; the generator's is what a simulated user costs it. "
    "docs/concurrency.md names every limit met on the way."
)
KB = 1024.0


def _number(value: float | None, digits: int = 0) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def held_notes(key: str, held: Held) -> list[str]:
    return [
        f"{key}: {held.users_target:,} users at most; in the steady window at least "
        f"{held.users_min:,} (median {held.users_median:,.0f})."
    ]


def held_tables(key: str, held: Held) -> list[Table]:
    components = Table(
        ["component", "open fds (max)", "connections (max)", "memory per user KB"],
        [
            [
                c.component,
                _number(c.max_open_fds),
                _number(c.max_established),
                _number(
                    None if c.memory_per_user_bytes is None else c.memory_per_user_bytes / KB, 1
                ),
            ]
            for c in held.components
        ],
        caption=f"{key}: held in the steady window",
    )
    timeline = Table(
        ["t s", "users", "generator open fds", "connections at the front"],
        [
            [
                f"{p.t:.0f}",
                f"{p.users:,}",
                _number(p.generator_fds),
                _number(p.balancer_connections),
            ]
            for p in held.timeline
        ],
        caption=f"{key}: over time",
    )
    return [components, timeline]


def held_section_parts(items: Sequence[tuple[str, Held]]) -> tuple[list[str], list[Table]]:
    notes = [HOW_TO_READ, *(n for key, h in items for n in held_notes(key, h))]
    tables = [t for key, h in items for t in held_tables(key, h)]
    return notes, tables
