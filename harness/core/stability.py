"""Did the service hold steady? Collapses and stalls, from the exact samples alone.

Two signs that a phase's numbers are not a capacity, both judged inside the steady windows:

- a *collapse*: a 5-second bin in which fewer than half as many requests succeeded as in the
  window's median bin;
- a *stall*: 10 seconds or more in which requests were in flight and none got an answer.

Only successful answers count as throughput: a request that timed out or failed did not serve
anyone. A stall is about answers of any kind: a service that refuses fast (429s from its rate
limiter, say) is failing, not stalled, and its error rate says so.

Numpy only: Locust judges this at the end of a run, and the analysis again, from the same samples
(``harness.core.slo`` turns the result into checks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from harness.core.samples import Records, bin_counts, row_chunks

BIN_S = 5.0
COLLAPSE_SHARE = 0.5  # a bin under half the window's median bin is a collapse
STALL_S = 10.0  # in flight with no success for this long is a stall


@dataclass(frozen=True)
class Episode:
    """One stretch of a steady window where the service did not hold."""

    kind: Literal["collapse", "stall"]
    start_s: float  # from the run start
    end_s: float
    before_rps: float  # successful req/s of the window's median bin
    during_rps: float  # successful req/s in the worst bin (collapse) or the stall itself
    waiting: int  # requests in flight when it began

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def describe(self) -> str:
        """One plain sentence: what happened, when, and how bad."""
        what = (
            f"no request was answered for {self.duration_s:.0f} s"
            if self.kind == "stall"
            else f"throughput collapsed for {self.duration_s:.0f} s"
        )
        return (
            f"{what} from {self.start_s:.0f} s while {self.waiting} requests waited: "
            f"{self.before_rps:.0f} → {self.during_rps:.0f} successful req/s"
        )


def _completions(
    records: Records, run_start: float, rows: slice, *, answered: bool = False
) -> npt.NDArray[np.float64]:
    """When each successful request (``answered``: each request that got any HTTP answer, not a
    time-out or a refused connection) of ``rows`` finished, in seconds from the run start."""
    ok = records["status"][rows] != 0 if answered else records["ok"][rows] == 1
    done: npt.NDArray[np.float64] = (
        records["ts"][rows][ok] - run_start + records["latency_ms"][rows][ok] / 1000.0
    ).astype(np.float64)
    return done


def _bins(
    records: Records, run_start: float, begin: float, end: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Edges and successful req/s of the whole 5-second bins of a window (a partial last bin
    would read as a collapse): exact counts, summed over the records a chunk at a time."""
    bins = int((end - begin) // BIN_S)
    edges = begin + BIN_S * np.arange(bins + 1, dtype=np.float64)
    if bins < 1:
        return edges, np.empty(0, dtype=np.float64)
    counts = np.zeros(bins, dtype=np.int64)
    for rows in row_chunks(len(records)):
        counts += bin_counts(_completions(records, run_start, rows), edges)
    return edges, counts.astype(np.float64) / BIN_S


def _median_rate(records: Records, run_start: float, begin: float, end: float) -> float:
    _edges, rates = _bins(records, run_start, begin, end)
    return float(np.median(rates)) if rates.size else math.nan


def without(
    windows: Sequence[tuple[float, float]], spans: Sequence[tuple[float, float]]
) -> list[tuple[float, float]]:
    """``windows`` with every ``(start, end)`` of ``spans`` cut out (what is left, in order)."""
    out = [(float(a), float(b)) for a, b in windows]
    for cut_a, cut_b in spans:
        kept: list[tuple[float, float]] = []
        for a, b in out:
            if cut_b <= a or cut_a >= b:
                kept.append((a, b))
                continue
            if a < cut_a:
                kept.append((a, cut_a))
            if cut_b < b:
                kept.append((cut_b, b))
        out = kept
    return out


def floor_share(
    records: Records, windows: Sequence[tuple[float, float]], run_start: float
) -> float:
    """The worst 5-second bin as a share of its window's median bin (NaN with too few bins)."""
    shares = []
    for begin, end in windows:
        _edges, rates = _bins(records, run_start, begin, end)
        median = float(np.median(rates)) if rates.size >= 2 else 0.0
        if median > 0:
            shares.append(float(rates.min()) / median)
    return min(shares) if shares else math.nan


def longest_stall_s(
    records: Records, windows: Sequence[tuple[float, float]], run_start: float
) -> float:
    """The longest time, inside a window, with requests in flight and none answered."""
    return max((e.duration_s for e in stalls(records, windows, run_start)), default=0.0)


def _in_flight(records: Records, run_start: float, at: float) -> int:
    count = 0
    for rows in row_chunks(len(records)):
        start = records["ts"][rows] - run_start
        end = start + records["latency_ms"][rows] / 1000.0
        count += int(((start <= at) & (end > at)).sum())
    return count


def collapses(
    records: Records, windows: Sequence[tuple[float, float]], run_start: float
) -> list[Episode]:
    """5-second bins of a window under half its median bin; consecutive ones are one episode."""
    found: list[Episode] = []
    for begin, end in windows:
        edges, rates = _bins(records, run_start, begin, end)
        if rates.size < 2:
            continue
        median = float(np.median(rates))
        low = rates < COLLAPSE_SHARE * median
        for first, last in _runs(low):
            start, stop = float(edges[first]), float(edges[last + 1])
            found.append(
                Episode(
                    "collapse",
                    start,
                    stop,
                    median,
                    float(rates[first : last + 1].min()),
                    _in_flight(records, run_start, start),
                )
            )
    return found


def stalls(
    records: Records, windows: Sequence[tuple[float, float]], run_start: float
) -> list[Episode]:
    """Gaps of ``STALL_S`` or more between answers, inside a window, with requests waiting."""
    found: list[Episode] = []
    for begin, end in windows:
        marks = np.concatenate([[begin], _answer_marks(records, run_start, begin, end), [end]])
        gaps = np.diff(marks)
        if not bool((gaps >= STALL_S).any()):
            continue
        before = _median_rate(records, run_start, begin, end)
        for i in np.flatnonzero(gaps >= STALL_S):
            start, stop = float(marks[i]), float(marks[i + 1])
            waiting = _in_flight(records, run_start, start + 1e-6)
            if waiting == 0:
                continue  # nothing was asked: an idle generator, not a stalled service
            found.append(Episode("stall", start, stop, before, 0.0, waiting))
    return found


def _answer_marks(
    records: Records, run_start: float, begin: float, end: float
) -> npt.NDArray[np.float64]:
    """The answers inside ``[begin, end)`` that can bound a gap of ``STALL_S`` or more: the first
    and last of each 1-s bin that has any, in time order. A gap inside a bin is under 1 s, so the
    gaps of ``STALL_S`` or more between these are exactly those between all the answers; kept a
    chunk of records at a time, per bin, not as every answer."""
    bins = max(1, math.ceil(end - begin))
    first = np.full(bins, np.inf)
    last = np.full(bins, -np.inf)
    for rows in row_chunks(len(records)):
        done = _completions(records, run_start, rows, answered=True)
        inside = done[(done >= begin) & (done < end)]
        index = np.minimum(np.floor(inside - begin).astype(np.int64), bins - 1)
        np.minimum.at(first, index, inside)
        np.maximum.at(last, index, inside)
    some = np.isfinite(first)
    marks: npt.NDArray[np.float64] = np.column_stack([first[some], last[some]]).ravel()
    return marks


def episodes(
    records: Records, windows: Sequence[tuple[float, float]], run_start: float
) -> list[Episode]:
    """Every collapse and stall of the steady windows, in time order."""
    found = collapses(records, windows, run_start) + stalls(records, windows, run_start)
    return sorted(found, key=lambda e: (e.start_s, e.kind))


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """(first, last) indices of each run of True."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate(mask.tolist()):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs
