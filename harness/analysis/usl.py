"""The Universal Scalability Law: X(N) = lambda*N / (1 + sigma*(N-1) + kappa*N*(N-1)).

lambda is the throughput of one replica, sigma the contention (serialised share of the work),
kappa the coherency cost (cross-talk growing with N²). Fitted with bounds ≥ 0; with two replica
counts or fewer the three parameters are under-determined and kappa is held at 0 (Amdahl's law),
with a note. When ``curve_fit`` fails (no convergence, bad input) the result is a fit marked
``converged=False`` that assumes linear scaling from the smallest replica count, with a plain note,
so that a report can still be written.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import OptimizeWarning, curve_fit

MAX_REPLICAS = 256


def usl(n: npt.ArrayLike, lam: float, sigma: float, kappa: float) -> npt.NDArray[np.float64]:
    n_arr = np.asarray(n, dtype=np.float64)
    result: npt.NDArray[np.float64] = (lam * n_arr) / (
        1.0 + sigma * (n_arr - 1.0) + kappa * n_arr * (n_arr - 1.0)
    )
    return result


@dataclass(frozen=True)
class USLFit:
    lam: float
    sigma: float
    kappa: float
    points: tuple[tuple[int, float], ...]
    determined: bool  # three or more distinct replica counts
    note: str = ""
    converged: bool = True  # False: curve_fit failed; lam is a linear guess, sigma = kappa = 0

    def throughput(self, n: float) -> float:
        return float(usl(n, self.lam, self.sigma, self.kappa))

    @property
    def replica_counts(self) -> int:
        """How many distinct replica counts were measured (1 says nothing about scaling)."""
        return len({n for n, _ in self.points})

    @property
    def peak_replicas(self) -> float:
        """N where X(N) peaks (infinite when kappa = 0)."""
        if self.kappa <= 0:
            return math.inf
        return math.sqrt(max(0.0, 1.0 - self.sigma) / self.kappa)

    @property
    def peak_rps(self) -> float:
        n = self.peak_replicas
        if math.isinf(n):
            return self.lam / self.sigma if self.sigma > 0 else math.inf
        best = max(1, math.floor(n)), max(1, math.ceil(n))
        return max(self.throughput(b) for b in best)

    def replicas_for(self, target_rps: float, limit: int = MAX_REPLICAS) -> int | None:
        """The smallest N with X(N) ≥ target, or None when the curve never gets there."""
        for n in range(1, limit + 1):
            if self.throughput(n) >= target_rps:
                return n
        return None


def fit_usl(points: Sequence[tuple[int, float]]) -> USLFit | None:
    """Fit the USL to (replicas, throughput) points; None when there is nothing to fit."""
    clean = tuple(
        sorted((int(n), float(x)) for n, x in points if n >= 1 and math.isfinite(x) and x > 0)
    )
    if not clean:
        return None
    distinct = sorted({n for n, _ in clean})
    n_arr = np.array([n for n, _ in clean], dtype=np.float64)
    x_arr = np.array([x for _, x in clean], dtype=np.float64)
    guess = float(np.mean(x_arr[n_arr == distinct[0]]) / distinct[0])
    if len(distinct) == 1:
        return _linear(
            clean,
            guess,
            f"only one replica count ({distinct[0]}): contention and coherency cannot be "
            "estimated; the line assumes linear scaling",
        )
    try:
        params = _curve_fit(n_arr, x_arr, guess, three_parameters=len(distinct) > 2)
    except (RuntimeError, ValueError) as exc:
        return _linear(
            clean,
            guess,
            f"the USL fit failed ({_first_line(exc)}): contention and coherency could not be "
            "estimated from these points; the line assumes linear scaling",
            converged=False,
        )
    if not np.all(np.isfinite(params)):
        return _linear(
            clean,
            guess,
            "the USL fit gave no finite parameters; the line assumes linear scaling",
            converged=False,
        )
    if len(distinct) == 2:
        return USLFit(
            lam=float(params[0]),
            sigma=float(params[1]),
            kappa=0.0,
            points=clean,
            determined=False,
            note=(
                "two replica counts only: the fit is under-determined, so coherency (kappa) is "
                "held at 0; run three or more replica counts for a full fit"
            ),
        )
    return USLFit(float(params[0]), float(params[1]), float(params[2]), clean, determined=True)


def _curve_fit(
    n: npt.NDArray[np.float64], x: npt.NDArray[np.float64], guess: float, *, three_parameters: bool
) -> npt.NDArray[np.float64]:
    """(lambda, sigma[, kappa]) by least squares; with two replica counts kappa is held at 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        if not three_parameters:
            params, _ = curve_fit(
                lambda n, lam, sigma: usl(n, lam, sigma, 0.0),
                n,
                x,
                p0=[guess, 0.01],
                bounds=([0.0, 0.0], [np.inf, 1.0]),
            )
        else:
            params, _ = curve_fit(
                usl,
                n,
                x,
                p0=[guess, 0.01, 0.0001],
                bounds=([0.0, 0.0, 0.0], [np.inf, 1.0, 1.0]),
                maxfev=20000,
            )
    return np.asarray(params, dtype=np.float64)


def _linear(
    points: tuple[tuple[int, float], ...], lam: float, note: str, *, converged: bool = True
) -> USLFit:
    """A straight line through the first point: what is left when the USL cannot be fitted."""
    return USLFit(lam, 0.0, 0.0, points, determined=False, note=note, converged=converged)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def replicas_for_cpu_target(
    target_rps: float,
    api_cpu_ms_per_request: float,
    *,
    cpu_target: float = 0.70,
    cores_per_replica: float = 1.0,
) -> int | None:
    """Replicas so that each one's API CPU at the target rate stays at ``cpu_target`` of its share.

    Each replica serves target/N requests per second at ``api_cpu_ms_per_request`` each, i.e.
    target x ms / 1000 / N cores; that must be ≤ cpu_target x cores_per_replica.
    """
    if not (math.isfinite(api_cpu_ms_per_request) and api_cpu_ms_per_request > 0):
        return None
    cores_needed = target_rps * api_cpu_ms_per_request / 1000.0
    return max(1, math.ceil(cores_needed / (cpu_target * cores_per_replica) - 1e-9))
