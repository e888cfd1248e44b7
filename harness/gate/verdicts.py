"""The records of a gate's answer: one :class:`GateCheck` per thing judged, and the
:class:`GateResult` they add up to.

A check is PASS, FAIL, INVALID (the run cannot judge the service), INCONCLUSIVE (the gate cannot
tell: the change is inside the noise, or the comparison could not be made) or SKIP (nothing to
judge, which never decides the status). The status is the worst of the checks, in the order
INVALID, FAIL, INCONCLUSIVE, PASS; the CLI maps it to an exit code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

GateCheckKind = Literal[
    "slo", "validity", "stability", "fault", "integrity", "comparability", "regression"
]
GateVerdict = Literal["PASS", "FAIL", "INVALID", "INCONCLUSIVE", "SKIP"]
GateStatus = Literal["PASS", "FAIL", "INVALID", "INCONCLUSIVE"]


@dataclass
class GateCheck:
    phase: str
    kind: GateCheckKind
    name: str
    verdict: GateVerdict
    threshold: str = ""
    baseline: float | None = None
    current: float | None = None
    change_pct: float | None = None
    noise_low_pct: float | None = None
    noise_high_pct: float | None = None
    significant: bool | None = None
    message: str = ""
    noise_pct: float | None = None  # standard error of the change, in percent
    effect: float | None = None  # the change in units of noise_pct
    more_runs: int | None = None  # INCONCLUSIVE: runs of this length to add on each side
    more_s: float | None = None  # INCONCLUSIVE: seconds of steady window to add on each side


@dataclass
class GateResult:
    status: GateStatus
    checks: list[GateCheck]
    max_regression: float
    baseline: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The result as ``capacity gate --json`` writes it."""
        return {
            "status": self.status,
            "max_regression_pct": self.max_regression,
            "baseline": self.baseline,
            "checks": [asdict(c) for c in self.checks],
        }
