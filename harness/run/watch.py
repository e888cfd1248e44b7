"""Live instability: the line ``capacity run`` prints the moment a phase stops holding steady.

While Locust runs, its stats history gives the successful requests so far once a second. Inside
each steady window of the scenario (after the warm-up), a second whose successful rate is under
half the window's median so far is *low* (the share :mod:`harness.core.stability` judges 5-s bins
by afterwards). Five low seconds in a row make the phase unstable; three seconds back at or above
half make it recovered. Each is said once, with the CPU of every component at that moment::

    r1-cache-on: UNSTABLE at 27 s — throughput fell from 540 to 4 req/s; db at 3 % CPU, api-1 at 2 %
    r1-cache-on: recovered at 41 s (520 req/s)

Pure: the caller feeds it times, counts and CPU readings, and prints what it returns. The
after-the-fact judgement from exact samples stays :mod:`harness.core.stability`'s.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.core.stability import COLLAPSE_SHARE

LOW_FOR_S = 5.0  # this long under the share of the median: unstable
BACK_FOR_S = 3.0  # this long at or above it again: recovered
MIN_BASELINE_S = 5.0  # seconds of a window to see before judging against its median


@dataclass(frozen=True)
class Second:
    """Successful requests per second over (``start_s``, ``end_s``], from the load start."""

    start_s: float
    end_s: float
    rate: float


@dataclass
class StabilityWatch:
    """Feed :meth:`observe` the successful requests so far; it returns a line when one is due."""

    phase: str
    windows: Sequence[tuple[float, float]]  # steady windows, from the load start
    baseline: list[float] = field(default_factory=list)  # rates of this window's steady seconds
    streak: list[Second] = field(default_factory=list)  # low seconds (or, when unstable, good)
    unstable: bool = False
    seen: set[str] = field(default_factory=set)  # components that ever had a CPU reading
    _window: tuple[float, float] | None = None
    _last: tuple[float, int] | None = None  # (t, successful so far) of the previous reading

    def observe(self, t: float, successful: int, cpu: Mapping[str, float]) -> str | None:
        """``successful`` requests had finished ``t`` s after the load start; ``cpu`` is the
        latest reading per component (% of one core)."""
        self.seen.update(name for name in cpu if not name.startswith("generator"))
        last, self._last = self._last, (t, successful)
        if last is None or t <= last[0]:
            return None
        second = Second(last[0], t, max(0, successful - last[1]) / (t - last[0]))
        window = self._window_of(second)
        if window != self._window:
            self._enter(window)
        if window is None:
            return None
        return self._judge(second, cpu)

    def _window_of(self, second: Second) -> tuple[float, float] | None:
        for begin, end in self.windows:
            if begin <= second.start_s and second.end_s <= end + 1.0:  # rows land on whole seconds
                return (begin, end)
        return None

    def _enter(self, window: tuple[float, float] | None) -> None:
        """A new steady window (or none): its own median, and whatever was open is closed."""
        self._window = window
        self.baseline.clear()
        self.streak.clear()
        self.unstable = False

    def _judge(self, second: Second, cpu: Mapping[str, float]) -> str | None:
        seen_s = len(self.baseline)
        median = statistics.median(self.baseline) if self.baseline else 0.0
        if seen_s < MIN_BASELINE_S or median <= 0:
            self.baseline.append(second.rate)
            return None
        low = second.rate < COLLAPSE_SHARE * median
        if self.unstable:
            return self._while_unstable(second, low)
        if not low:
            self.baseline.extend(s.rate for s in self.streak)  # a dip, not a collapse
            self.baseline.append(second.rate)
            self.streak.clear()
            return None
        self.streak.append(second)
        if _span(self.streak) < LOW_FOR_S:
            return None
        self.unstable = True
        during = _mean_rate(self.streak)
        start = self.streak[0].start_s
        self.streak.clear()
        return (
            f"{self.phase}: UNSTABLE at {start:.0f} s — throughput fell from {median:.0f} to "
            f"{during:.0f} req/s; {self._describe_cpu(cpu)}"
        )

    def _while_unstable(self, second: Second, low: bool) -> str | None:
        if low:
            self.streak.clear()
            return None
        self.streak.append(second)
        if _span(self.streak) < BACK_FOR_S:
            return None
        self.unstable = False
        back = self.streak[0].start_s
        rate = _mean_rate(self.streak)
        self.baseline.extend(s.rate for s in self.streak)
        self.streak.clear()
        return f"{self.phase}: recovered at {back:.0f} s ({rate:.0f} req/s)"

    def _describe_cpu(self, cpu: Mapping[str, float]) -> str:
        """``db at 3 % CPU, api-1 at 2 %``; a component with no reading now is not running."""
        parts = []
        for name in sorted(self.seen, key=_stack_order):
            level = cpu.get(name)
            parts.append(f"{name} not running" if level is None else f"{name} at {level:.0f} %")
        if not parts:
            return "no CPU readings yet"
        if not parts[0].endswith("not running"):
            parts[0] += " CPU"
        return ", ".join(parts)


def _span(seconds: Sequence[Second]) -> float:
    return seconds[-1].end_s - seconds[0].start_s


def _mean_rate(seconds: Sequence[Second]) -> float:
    return sum(s.rate * (s.end_s - s.start_s) for s in seconds) / _span(seconds)


_ORDER = {"db": 0, "redis": 1, "nginx": 3}


def _stack_order(name: str) -> tuple[int, int, str]:
    """db, redis, api-1..N, nginx: the order the stack starts them in."""
    if name.startswith("api-") and name.removeprefix("api-").isdigit():
        return (2, int(name.removeprefix("api-")), name)
    return (_ORDER.get(name, 4), 0, name)
