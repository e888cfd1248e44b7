"""The whole-stack CPU budget: what one successful request costs each component, against what the
host's cores allow at the target rate.

At ``target`` req/s a host of ``cores`` cores has ``cores x 1000 / target`` ms of CPU per request
in all (2 cores at 1,000 req/s: 2 ms). A component's cost is its mean CPU in the steady window
over the successful requests served (``% of a core x 10 / ok req/s`` ms). The load generator
counts: on one machine it spends the same cores. The database is single-threaded here (one core
at most), so its own ceiling is 1,000 ms / its cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.analysis.cpu import CPU_GROUPS
from harness.analysis.summary import PhaseSummary

SINGLE_CORE = ("db",)  # components that cannot use more than one core (SecantusDB: the GIL)


@dataclass(frozen=True)
class BudgetLine:
    component: str  # db, redis, api, nginx, generator
    cpu_percent: float  # mean % of one core in the steady window (api: all replicas)
    ms_per_request: float  # CPU ms per successful request
    cores_at_target: float  # cores this component would need at the target rate
    ceiling_rps: float  # successful req/s at which this component alone runs out (inf: none)


@dataclass(frozen=True)
class Budget:
    phase: str
    target_rate: float
    host_cores: float
    allowed_ms: float  # CPU ms per request the host allows at the target rate
    lines: list[BudgetLine]

    @property
    def total_ms(self) -> float:
        return sum(line.ms_per_request for line in self.lines if math.isfinite(line.ms_per_request))

    @property
    def host_ceiling_rps(self) -> float:
        """Successful req/s the host's cores allow at these costs, all components together."""
        return 1000.0 * self.host_cores / self.total_ms if self.total_ms > 0 else math.inf

    @property
    def ceiling_rps(self) -> float:
        """... and with each single-threaded component on its own core."""
        return min([self.host_ceiling_rps, *(line.ceiling_rps for line in self.lines)])

    @property
    def limit(self) -> str:
        """What sets the ceiling: ``host`` (all cores together) or a single-threaded component."""
        tightest = min(self.lines, key=lambda line: line.ceiling_rps, default=None)
        if tightest is not None and tightest.ceiling_rps < self.host_ceiling_rps:
            return tightest.component
        return "host"


def budget(summary: PhaseSummary, target_rate: float) -> Budget | None:
    """The phase's budget; None when it served no successful request or the host is unknown."""
    cores = summary.host_cores
    if not cores or not summary.ok_rps or not math.isfinite(summary.ok_rps):
        return None
    lines = []
    for component in CPU_GROUPS:
        cpu = summary.cpu.get(component, math.nan)
        if not math.isfinite(cpu):
            continue
        ms = 10.0 * cpu / summary.ok_rps
        ceiling = 1000.0 / ms if component in SINGLE_CORE and ms > 0 else math.inf
        lines.append(BudgetLine(component, cpu, ms, ms * target_rate / 1000.0, ceiling))
    return Budget(summary.phase, target_rate, cores, 1000.0 * cores / target_rate, lines)
