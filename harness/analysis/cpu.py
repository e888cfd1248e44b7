"""CPU per component and per group (db, redis, api, nginx, generator) in the steady windows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from harness.analysis.windows import Window, in_windows

if TYPE_CHECKING:
    from harness.analysis.load import PhaseData

SERVICE_GROUPS = ("db", "redis", "api", "nginx")
CPU_GROUPS = (*SERVICE_GROUPS, "generator")


def component_group(component: str) -> str:
    """``api-3`` → ``api``, ``generator-2`` → ``generator``; other names stay as they are."""
    for prefix in ("api", "generator"):
        if component == prefix or component.startswith(prefix + "-"):
            return prefix
    return component


def without_worker_share(wide: pd.DataFrame) -> pd.DataFrame:
    """CPU columns per component with the ``generator`` column reduced to the master's own share.

    The sampler counts a process's children in its own row (psutil), and the runner also samples
    Locust's worker processes as ``generator-N``: the ``generator`` row then already holds them.
    """
    workers = [c for c in wide.columns if str(c).startswith("generator-")]
    if "generator" not in wide.columns or not workers:
        return wide
    out = wide.copy()
    out["generator"] = (out["generator"] - out[workers].fillna(0).sum(axis=1)).clip(lower=0)
    return out


def component_cpu(resources: pd.DataFrame, windows: Sequence[Window]) -> dict[str, float]:
    """Mean CPU (% of one core) of each component in the windows, each process counted once
    (see :func:`without_worker_share`)."""
    inside = in_windows(resources, windows)
    means = inside.groupby("component")["cpu_percent"].mean()
    if means.empty:
        return {}
    row = without_worker_share(means.to_frame().T).iloc[0]
    return {str(k): float(v) for k, v in row.items()}


def cpu_by_group(resources: pd.DataFrame, windows: Sequence[Window]) -> dict[str, float]:
    """Mean CPU (% of one core) per group in the windows: components averaged, then summed."""
    means = component_cpu(resources, windows)
    if not means:
        return {g: math.nan for g in CPU_GROUPS}
    result = dict.fromkeys(CPU_GROUPS, 0.0)
    for component, value in means.items():
        group = component_group(component)
        result[group] = result.get(group, 0.0) + value
    return result


def generator_cpu(phase: PhaseData) -> dict[str, float]:
    """Mean CPU (% of one core) of each generator process in the steady windows."""
    means = component_cpu(phase.resources, phase.windows)
    return {k: v for k, v in means.items() if component_group(k) == "generator"}
