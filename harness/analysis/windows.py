"""Steady-state windows: the stretches of a phase its numbers come from (warm-up and ramps left
out), and the one definition of "a request in the window" shared with the verdict."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.core import slo
from harness.core.layout import MANIFEST
from harness.core.samples import SampleColumns
from harness.errors import BadInputError

if TYPE_CHECKING:
    from harness.core.scenario import Scenario


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float
    offered_rps: float | None = None  # the stage's rate (open model) when known
    users: int | None = None  # the stage's users (closed model) when known

    @property
    def duration_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


def steady_windows(
    manifest: dict[str, Any], scenario: Scenario | None, requests: pd.DataFrame
) -> tuple[list[Window], str]:
    """Steady windows, from (in order) the manifest, the scenario, or the samples themselves."""
    explicit = manifest.get("steady_windows")
    if isinstance(explicit, list) and explicit:
        try:
            return [_window(w) for w in explicit], "manifest"
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise BadInputError(f"{MANIFEST}: steady_windows: {exc}") from exc
    if scenario is not None:
        raw = scenario.steady_windows()
        if raw:
            targets = scenario.window_targets()
            windows = []
            for (a, b), target in zip(raw, targets, strict=True):
                at = scenario.load.users_at(float(a)) if scenario.load.model == "closed" else None
                windows.append(Window(float(a), float(b), target, at[0] if at else None))
            return windows, "scenario"
    return detect_windows(requests), "detected"


def _window(item: Any) -> Window:
    if isinstance(item, dict):
        rate = item.get("offered_rps")
        return Window(
            float(item["start_s"]), float(item["end_s"]), float(rate) if rate is not None else None
        )
    start, end = item[0], item[1]
    return Window(float(start), float(end))


def detect_windows(requests: pd.DataFrame, *, min_len_s: float = 6.0) -> list[Window]:
    """Plateaus of the per-second request rate, trimmed of their edges.

    A new segment starts where the rate leaves the current segment's median by more than 15 %
    for three seconds in a row (a ramp or a step). Segments shorter than ``min_len_s`` after
    trimming two seconds at each end are ramps, not steady states.
    """
    if requests.empty:
        return []
    t0 = math.floor(float(requests["t"].min()))
    t1 = math.floor(float(requests["t"].max()))
    seconds = np.arange(t0, t1 + 1)
    counts = np.floor(requests["t"].to_numpy()).astype(np.int64).clip(t0, t1) - t0
    rate = np.bincount(counts, minlength=seconds.size).astype(float)
    rate = rate[:-1] if rate.size > 1 else rate  # the last second is partial
    segments = _segments(rate)
    peak = max(float(np.median(rate[a:b])) for a, b in segments if b > a)
    windows = []
    for a, b in segments:
        plateau = _plateau(rate, a, b, min_len_s)
        if plateau is None:
            continue
        lo, hi = plateau
        if float(np.median(rate[lo:hi])) < 0.05 * peak:  # idle tail or head
            continue
        windows.append(Window(float(seconds[lo]), float(seconds[hi])))
    if not windows and rate.size:
        # No plateau: use the middle half of the run, and say so through the warnings.
        span = float(seconds[-1] - seconds[0])
        windows = [Window(float(seconds[0]) + span / 4, float(seconds[0]) + 3 * span / 4)]
    return windows


def _segments(rate: npt.NDArray[np.float64]) -> list[tuple[int, int]]:
    """Split the per-second rate where it leaves the segment's median by 15 % for 3 s running."""
    segments: list[tuple[int, int]] = []
    start = 0
    out = 0
    for i in range(1, rate.size):
        level = float(np.median(rate[start:i]))
        if abs(rate[i] - level) > 0.15 * max(level, 1.0):
            out += 1
            if out >= 3:
                segments.append((start, i - 2))
                start, out = i - 2, 0
        else:
            out = 0
    segments.append((start, rate.size))
    return segments


def _plateau(
    rate: npt.NDArray[np.float64], a: int, b: int, min_len_s: float
) -> tuple[int, int] | None:
    """The segment without the ends that are still ramping (more than 10 % off the plateau),
    then 2 s more; None when what is left is shorter than ``min_len_s``."""
    if b <= a:
        return None
    level = float(np.median(rate[a:b]))
    near = np.flatnonzero(np.abs(rate[a:b] - level) <= 0.10 * max(level, 1.0))
    if near.size == 0:
        return None
    lo, hi = a + int(near[0]) + 2, a + int(near[-1]) + 1 - 2
    return (lo, hi) if hi - lo >= min_len_s else None


def in_windows(frame: pd.DataFrame, windows: Iterable[Window], column: str = "t") -> pd.DataFrame:
    """Rows of a time series (resources) whose ``column`` falls in a window. Requests: use
    :func:`started_in`, which is the SLO's own selection."""
    mask = np.zeros(len(frame), dtype=bool)
    values = frame[column].to_numpy()
    for w in windows:
        mask |= (values >= w.start_s) & (values < w.end_s)
    return frame[mask]


def started_in(requests: pd.DataFrame, windows: Iterable[Window]) -> pd.DataFrame:
    """Requests that started (actual start) in one of the windows, by ``slo.window_mask``.

    The one definition of "in the steady window" shared with the verdict: an open-model backlog
    intended during the warm-up but sent in the window counts there, with its corrected latency.
    ``requests["t"]`` is ``ts - run_start`` already, so the mask is computed with run_start 0.
    """
    starts = SampleColumns({"ts": requests["t"].to_numpy(dtype=np.float64)})
    mask = slo.window_mask(starts, [(w.start_s, w.end_s) for w in windows], 0.0)
    # Requests in start-time order (harness.analysis.load): one window is one stretch of rows,
    # taken as a slice (no copy) rather than by the mask (a copy of every column).
    count = int(mask.sum())
    first = int(mask.argmax()) if count else 0
    if count and bool(mask[first : first + count].all()):
        return requests.iloc[first : first + count]
    return requests[mask]
