"""The open-model arrival schedule of one generator process (pure: no locust import).

wrk2-style: every request is *intended* at a fixed time that does not depend on how fast earlier
requests were answered. The run's global slot k sits where the integral of the scenario's rate
reaches ``k + 0.5`` (a constant rate r: ``t0 + (k + 0.5) / r``), so a stage of d seconds at r req/s
has exactly ``r * d`` slots, all inside the stage, none at or past its end. With ``count``
generator processes, process ``index`` takes the global slots ``index, index + count, ...``:
together they send the scenario's rate exactly once, interleaved rather than in bursts. Every free
simulated user claims the next slot and waits for it; when every user is busy the next slot is
already due and the request starts late — its latency is then also measured from the intended
start (coordinated-omission correction).
"""

from __future__ import annotations

from collections.abc import Callable

RAMP_STEP_S = 0.005  # integration step while the rate changes
_EPS = 1e-9


class OpenSchedule:
    def __init__(
        self,
        rate_at: Callable[[float], float],
        duration_s: float,
        start: float,
        share: float = 1.0,
        *,
        index: int = 0,
        count: int = 1,
    ) -> None:
        if share <= 0:
            raise ValueError("share must be positive")
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"process index {index} of {count}: need 0 <= index < count")
        self._rate_at = rate_at
        self._duration = duration_s
        self._share = share
        self.index, self.count = index, count
        self.start = start
        self._u = 0.0  # seconds after start reached by the integration
        self._owed = 0.5  # integral of the rate still to go before the next global slot
        self._global = 0  # global slots passed so far (every process's)
        self.issued = 0  # slots this process handed out

    def rate(self, t: float) -> float:
        """This process's arrival rate (requests/s) ``t`` seconds after the start."""
        return self._rate_at(t) * self._share / self.count

    def _next_global(self) -> float | None:
        """Seconds after the start of the next global slot; None once past the duration."""
        u, owed = self._u, self._owed
        while u < self._duration - _EPS:
            rate = self._rate_at(u) * self._share
            if rate <= 0:
                u += RAMP_STEP_S
                continue
            dt = owed / rate
            if self._rate_at(u + dt) * self._share != rate:  # the rate changes first: small steps
                dt = min(dt, RAMP_STEP_S)
            if dt * rate >= owed - 1e-12:
                u += owed / rate
                if u >= self._duration - _EPS:
                    break
                self._u, self._owed = u, 1.0
                return u
            owed -= dt * rate
            u += dt
        self._u, self._owed = self._duration, owed
        return None

    def next_slot(self) -> float | None:
        """The intended start (unix s) of this process's next request; None when it is over."""
        while True:
            u = self._next_global()
            if u is None:
                return None
            k, self._global = self._global, self._global + 1
            if k % self.count == self.index:
                self.issued += 1
                return self.start + u
