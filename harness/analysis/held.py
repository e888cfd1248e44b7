"""What a phase held: simulated users over time (Locust's stats history), open descriptors and
established connections per component (``held.csv``, harness/run/held.py), and the memory each
simulated user cost the generator and the service.

Memory per user is a component's resident memory in the steady windows (median) minus its memory
as the load started (its last sample at most half a second after the start), over the users held
in the windows (median): what the users added, not what the process needed anyway.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.windows import in_windows

if TYPE_CHECKING:
    from harness.analysis.load import PhaseData

HELD = "held.csv"  # harness.run.held writes it; the analysis never imports the runner
HISTORY = "locust_stats_history.csv"
BASELINE_BY_S = 0.5
TIMELINE_POINTS = 12


@dataclass(frozen=True)
class HeldComponent:
    component: str
    max_open_fds: int | None
    max_established: int | None  # connections accepted on its port; None: it listens on none
    memory_per_user_bytes: float | None


@dataclass(frozen=True)
class TimelinePoint:
    t: float
    users: int
    generator_fds: int | None
    balancer_connections: int | None  # nginx's, else the API replicas' together


@dataclass(frozen=True)
class Held:
    users_target: int  # the most users Locust ran at any time
    users_min: int  # the fewest in the steady windows
    users_median: float
    components: list[HeldComponent]
    timeline: list[TimelinePoint]


def _users(path: Path, run_start: float) -> pd.DataFrame:
    rows: list[tuple[float, int]] = []
    try:
        with (path / HISTORY).open(newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("Name") == "Aggregated":
                    rows.append(
                        (float(row["Timestamp"]) - run_start, int(float(row["User Count"])))
                    )
    except (OSError, ValueError, KeyError):
        return pd.DataFrame({"t": [], "users": []})
    return pd.DataFrame(rows, columns=["t", "users"])


def _held_rows(path: Path, run_start: float) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path / HELD)
    except (OSError, ValueError):
        return pd.DataFrame({"t": [], "component": [], "open_fds": [], "established": []})
    frame["t"] = pd.to_numeric(frame["ts"], errors="coerce") - run_start
    for column in ("open_fds", "established"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _max(frame: pd.DataFrame, column: str) -> int | None:
    value = frame[column].max() if len(frame) else float("nan")
    return None if pd.isna(value) else int(value)


def _memory_per_user(phase: PhaseData, component: str, users: float) -> float | None:
    rows = phase.resources[phase.resources["component"] == component]
    before = rows[rows["t"] <= BASELINE_BY_S]
    steady = in_windows(rows, phase.windows)
    if before.empty or steady.empty or users <= 0:
        return None
    return float(steady["rss_bytes"].median() - before["rss_bytes"].iloc[-1]) / users


def held(phase: PhaseData) -> Held | None:
    """The phase's users, connections and memory per user; None when it recorded no held.csv."""
    if not (phase.path / HELD).is_file():
        return None
    users = _users(phase.path, phase.run_start)
    rows = _held_rows(phase.path, phase.run_start)
    steady_users = in_windows(users, phase.windows)["users"]
    median = float(steady_users.median()) if len(steady_users) else 0.0
    names = sorted(set(rows["component"].astype(str)) | set(phase.resources["component"]))
    components = []
    for name in names:
        mine = in_windows(rows[rows["component"] == name], phase.windows)
        components.append(
            HeldComponent(
                name,
                _max(mine, "open_fds"),
                _max(mine, "established"),
                _memory_per_user(phase, name, median),
            )
        )
    return Held(
        users_target=int(users["users"].max()) if len(users) else 0,
        users_min=int(steady_users.min()) if len(steady_users) else 0,
        users_median=median,
        components=components,
        timeline=_timeline(users, rows),
    )


def _timeline(users: pd.DataFrame, rows: pd.DataFrame) -> list[TimelinePoint]:
    """About TIMELINE_POINTS evenly spaced rows of the users' history, each with the held.csv
    tick nearest to it."""
    if users.empty:
        return []
    step = max(1, len(users) // TIMELINE_POINTS)
    ticks = sorted(rows["t"].dropna().unique())
    out = []
    for _, row in users.iloc[::step].iterrows():
        tick = min(ticks, key=lambda t: abs(t - row["t"]), default=None)
        near = rows[rows["t"] == tick] if tick is not None else rows.iloc[0:0]
        out.append(
            TimelinePoint(float(row["t"]), int(row["users"]), _generator_fds(near), _front(near))
        )
    return out


def _generator_fds(tick: pd.DataFrame) -> int | None:
    """The generator's descriptors: its ``generator`` row holds its worker processes already."""
    names = tick["component"].astype(str)
    mine = tick[names == "generator"]
    if mine.empty:
        mine = tick[names.str.startswith("generator")]
    total = mine["open_fds"].dropna()
    return int(total.sum()) if len(total) else None


def _front(tick: pd.DataFrame) -> int | None:
    """Connections held at the front: nginx's, else the API replicas' together."""
    names = tick["component"].astype(str)
    front = (
        tick[names == "nginx"] if (names == "nginx").any() else tick[names.str.startswith("api")]
    )
    held = front["established"].dropna()
    return int(held.sum()) if len(held) else None
