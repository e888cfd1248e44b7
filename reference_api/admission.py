"""Admission control: under overload, refuse a request at once rather than queue it to failure.

Past its capacity a replica that admits everything builds a queue (here: requests waiting for
one of the database pool's connections). Every request's time in the service grows until it
passes the database deadline (``MONGODB_TIMEOUT_MS``); then it fails *after* it has spent the
API's CPU (token, rate limit, cache) and often the database's too. The more fail, the less
work goes to answers that arrive in time, so the goodput falls further: measured on target-1k
(1,000 req/s offered to ~400 req/s of capacity), 503s rose from 5 % to 20 % and the successful
throughput fell from ~480 to ~300 req/s within two minutes.

The rule, by Little's law (requests in the service = completion rate x mean time in it): a request
is refused when it and the requests already admitted, at the rate this replica has completed
requests over the last second, would take longer than ``ADMISSION_MAX_LATENCY_MS`` to clear. It
needs no knowledge of the capacity (a real MongoDB's is far above the embedded one's, and a
CPU-capped replica's far below): the completion rate measures it. Below ``ADMISSION_MIN_IN_FLIGHT``
requests in flight nothing is refused (a cold start, a slow but idle service). A refusal is a 503
``overloaded`` with ``Retry-After: 1``, made before any other work (no token, Redis or database), so
it costs little. Never refused: the probes (``/health``, ``/health/ready``), ``/metrics`` and CORS
preflights (reference_api/middleware.py). ``ADMISSION_MAX_LATENCY_MS=0`` turns it off.

One event loop per process: no lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WINDOW_S = 1.0  # completions are counted per second; the rate is a sliding estimate over 1 s


class Admission:
    def __init__(
        self,
        max_latency_s: float,
        min_in_flight: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_latency_s < 0 or min_in_flight < 1:
            raise ValueError("max_latency_s must be >= 0 and min_in_flight >= 1")
        self.max_latency_s = max_latency_s
        self.min_in_flight = min_in_flight
        self.enabled = max_latency_s > 0
        self.in_flight = 0  # admitted requests not finished yet
        self._clock = clock
        self._bucket = 0  # the current second (int(now / WINDOW_S))
        self._current = 0  # completions in it
        self._previous = 0  # completions in the second before it

    def _roll(self, now: float) -> float:
        """Move the buckets to ``now``'s second; return how far into it ``now`` is (0..1)."""
        bucket = int(now // WINDOW_S)
        if bucket != self._bucket:
            self._previous = self._current if bucket == self._bucket + 1 else 0
            self._current = 0
            self._bucket = bucket
        return (now - bucket * WINDOW_S) / WINDOW_S

    def completion_rate(self) -> float:
        """Completions per second over the last second (the sliding-window counter's estimate:
        the current second's count plus the previous one's weighted by the part still inside)."""
        into = self._roll(self._clock())
        return (self._current + self._previous * (1.0 - into)) / WINDOW_S

    def admit(self) -> bool:
        """Whether to serve one more request; when True, call ``done()`` once it is answered."""
        # Refused: this one's expected time in the service, (in_flight + 1) / rate, is past the
        # bound (written without dividing by a rate of zero)
        if (
            self.enabled
            and self.in_flight >= self.min_in_flight
            and self.in_flight + 1 > self.completion_rate() * self.max_latency_s
        ):
            return False
        self.in_flight += 1
        return True

    def done(self) -> None:
        self.in_flight -= 1
        self._roll(self._clock())
        self._current += 1
