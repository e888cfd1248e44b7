"""Locust workers started elsewhere (``capacity run --expect-workers N``): what the master
waits for, the command each worker host runs, and the workers' own CPU for the analysis."""

from __future__ import annotations

import csv
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from harness.core.layout import RESOURCES, SAMPLES
from harness.errors import BadInputError


@dataclass(frozen=True)
class Workers:
    """``--expect-workers N``: only the master runs here; N workers elsewhere connect to it.

    Locust itself waits for them (``--expect-workers-max-wait``) and exits when they do not all
    come. The workers learn the scenario and every Primo option from the master's spawn message
    and ship their exact samples, write ledger and CPU to it (loadtests/_distributed.py); their
    CPU becomes ``generator-N`` rows of ``resources.csv`` after the run (:func:`worker_rows`).
    """

    count: int
    host: str = "127.0.0.1"  # the master binds here; workers connect to it
    port: int = 5557
    wait_s: float = 300.0

    def __post_init__(self) -> None:
        if self.count < 1:
            raise BadInputError(f"--expect-workers: {self.count} (must be at least 1)")
        if not 0 < self.port < 65536:
            raise BadInputError(f"--master-bind: port {self.port} (must be 1..65535)")

    def command(self) -> str:
        """What to run on each worker host (from a checkout of the same commit)."""
        host = self.host if self.host not in ("0.0.0.0", "", "*") else "<this host's address>"  # noqa: S104 - the documented wildcard, named only to replace it
        return shlex.join(
            ["locust", "-f", "loadtests", "--worker", "--master-host", host,
             "--master-port", str(self.port)]
        )  # fmt: skip


def worker_rows(samples_json: Path) -> list[tuple[float, str, int, float, int, int]]:
    """``resources.csv`` rows of the workers' own CPU, as they reported it with their samples
    (once a second): external workers are sampled nowhere else. Memory is not reported: 0."""
    try:
        meta = json.loads(samples_json.read_text())
    except (OSError, ValueError):
        return []
    rows = []
    for worker in meta.get("workers") or []:
        name = str(worker.get("name") or f"generator-{worker.get('index', 0)}")
        for ts, percent in worker.get("cpu") or []:
            rows.append((float(ts), name, int(worker.get("pid") or 0), float(percent), 0, 0))
    return sorted(rows)


def add_worker_rows(directory: Path) -> int:
    """Append the external workers' CPU to the phase's ``resources.csv``; how many rows."""
    rows = worker_rows(directory / SAMPLES / "samples.json")
    if rows:
        with (directory / RESOURCES).open("a", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return len(rows)
