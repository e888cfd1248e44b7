"""What exact recording costs the load generator's memory: RSS over a run, per generator process.

The recorder flushes samples to disk once a second (``loadtests/_recorder.py``), so only the disk
should grow with the run. This reads a finished run's ``resources.csv`` (``rss_bytes`` about once
a second per component) and, per generator component (``generator``: the Locust master, sampled
with its children; ``generator-N``: its worker processes), fits RSS against time over the steady
windows: the slope (MB per minute) and the RSS at their start and end (medians of a twentieth, as
``harness.analysis.stability.memory``). The samples on disk are the comparison: bytes per minute.

    .venv/bin/capacity run benchmarks/recording_memory.toml --processes 2 \\
        --out reports/runs/recording-memory
    .venv/bin/python benchmarks/recording_memory.py reports/runs/recording-memory
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.analysis.load import load_run  # noqa: E402
from harness.analysis.stability import memory  # noqa: E402

MB = 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, metavar="RUN_DIR")
    args = parser.parse_args()
    print("| phase | component | RSS at start | RSS at end | slope | samples on disk |")
    print("|---|---|---|---|---|---|")
    for phase in load_run(args.run):
        first = min(w.start_s for w in phase.windows)
        last = max(w.end_s for w in phase.windows)
        minutes = (last - first) / 60.0
        disk = sum(p.stat().st_size for p in (phase.path / "samples").glob("samples-*.bin"))
        span = float(phase.requests["t"].max() - phase.requests["t"].min()) / 60.0
        on_disk = f"{disk / MB / span:.2f} MB/min" if span > 0 else "?"
        res = phase.resources
        inside = res[(res["t"] >= first) & (res["t"] <= last)]
        edges = {m.component: m for m in memory(phase.resources, phase.windows)}
        for name, part in inside.groupby("component", sort=True):
            if not str(name).startswith("generator") or len(part) < 2:
                continue
            slope = np.polyfit(part["t"].to_numpy() / 60.0, part["rss_bytes"].to_numpy(), 1)[0]
            edge = edges[str(name)]
            print(
                f"| {phase.name} | {name} | {edge.start_bytes / MB:.0f} MB | "
                f"{edge.end_bytes / MB:.0f} MB | {slope / MB:+.2f} MB/min over "
                f"{minutes:.0f} min | {on_disk} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
