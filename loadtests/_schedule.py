"""The open-model arrival schedule of one generator process (pure: no locust import).

wrk2-style: the i-th request of a process is *intended* at a fixed time that does not depend on
how fast earlier requests were answered. With a constant rate r (the process's share of the
scenario's rate) slot i is at ``t0 + i / r``; with stages and ramps the gap after each slot is
``1 / r(t)`` at that slot. Every free simulated user claims the next slot and waits for it; when
every user is busy the next slot is already due and the request starts late — its latency is
then also measured from the intended start (coordinated-omission correction).
"""

from __future__ import annotations

from collections.abc import Callable


class OpenSchedule:
    def __init__(
        self,
        rate_at: Callable[[float], float],
        duration_s: float,
        start: float,
        share: float = 1.0,
    ) -> None:
        if share <= 0:
            raise ValueError("share must be positive")
        self._rate_at = rate_at
        self._duration = duration_s
        self._share = share
        self.start = start
        self._next = 0.0  # seconds after start of the last slot
        self._carry = 0.0
        self.issued = 0

    def rate(self, t: float) -> float:
        """This process's arrival rate (requests/s) ``t`` seconds after the start."""
        return self._rate_at(t) * self._share

    def next_slot(self) -> float | None:
        """The intended start (unix s) of the next request; None when the schedule is over.

        Slot k is where the integral of the rate reaches k: exact for a constant rate (one step),
        stepped in 5 ms increments across ramps and stage boundaries.
        """
        u, owed = self._next, 1.0 - self._carry
        while u < self._duration:
            rate = self.rate(u)
            if rate <= 0:
                u += 0.005
                continue
            dt = owed / rate
            if self.rate(u + dt) != rate:  # the rate changes before the slot: small steps
                dt = min(dt, 0.005)
            if dt * rate >= owed - 1e-12:
                u += owed / rate
                self._next, self._carry = u, 0.0
                self.issued += 1
                return self.start + u
            owed -= dt * rate
            u += dt
        self._next = u
        return None
