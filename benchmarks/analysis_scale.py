"""Does the analysis scale with the run? Wall time and peak RSS of ``capacity report`` and
``capacity gate`` on a synthetic soak at 1,000 req/s (issue 16).

The synthetic run has the real on-disk format (``harness.core.samples``): a run directory with
``run.json`` and its scenario, one phase directory with ``manifest.json``, ``samples/samples.json``
and one ``samples-<tag>.bin`` per generator master, ``resources.csv`` (one row per component per
second) and ``locust.json``. Records are written in one-second batches per generator process,
each batch in completion order, the way the recorder writes them, so the files are nearly but
not exactly time-ordered. Generation streams one batch at a time: its memory does not grow with
the run (24 hours is 86 M records, 3.5 GB on disk).

Each command runs in its own process under ``/usr/bin/time -v`` (peak RSS is its maximum
resident set size). The gate compares the run with a baseline saved from the same run.

    .venv/bin/python benchmarks/analysis_scale.py [--hours 1] [--hours 24] [--rate 1000]
        [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.core.samples import SAMPLE_DTYPE, SampleWriter, write_meta  # noqa: E402

RUN_START = 1_800_000_000.0
WARMUP_S = 60.0
GENERATORS = 2  # generator processes (Locust workers), each with its own share of the rate
MIX = {
    "GET /api/tasks": 0.40,
    "GET /api/tasks/{id}": 0.25,
    "POST /api/tasks": 0.10,
    "PATCH /api/tasks/{id}": 0.10,
    "DELETE /api/tasks/{id}": 0.05,
    "GET /api/tasks/stats": 0.10,
}
COMPONENTS = ("db", "redis", "api-1", "api-2", "nginx", "generator-1", "generator-2")
PHASE = "r2-cache-on"

SCENARIO = """\
name = "scale-bench"
description = "Synthetic soak for benchmarks/analysis_scale.py"

[stack]
replicas = [2]
cache = [true]

[load]
model = "open"
warmup = "{warmup:g}s"
max_users = 400
duration = "{duration:g}s"

  [[load.stages]]
  duration = "{duration:g}s"
  rate = {rate:g}

[mix]
{mix}

[slo]
p95_ms = 200
p99_ms = 500
error_rate = 0.01
"""


def _second(rng: np.random.Generator, second: int, rate: int, worker: int) -> np.ndarray:
    """One generator's records of one second, in the order they finished."""
    n = int(rng.poisson(rate))
    rec = np.empty(n, dtype=SAMPLE_DTYPE)
    intended = RUN_START + second + np.sort(rng.random(n))
    lateness = rng.exponential(0.0005, n)
    latency = rng.lognormal(np.log(12.0), 0.6, n)
    rec["intended"] = intended
    rec["ts"] = intended + lateness
    rec["latency_ms"] = latency
    rec["co_latency_ms"] = latency + lateness * 1000.0
    rec["endpoint"] = rng.choice(len(MIX), size=n, p=list(MIX.values()))
    failed = rng.random(n) < 0.002
    rec["status"] = np.where(failed, rng.choice([0, 500, 503], size=n), 200)
    rec["ok"] = ~failed
    rec["worker"] = worker
    done = rec["ts"] + rec["latency_ms"] / 1000.0
    ordered: np.ndarray = rec[np.argsort(done, kind="stable")]
    return ordered


def generate(run_dir: Path, seconds: int, rate: int, seed: int = 1) -> int:
    """Write the synthetic run; returns the number of records."""
    phase = run_dir / PHASE
    samples_dir = phase / "samples"
    samples_dir.mkdir(parents=True)
    duration = float(seconds)
    mix = "\n".join(f'"{name}" = {share}' for name, share in MIX.items())
    scenario = run_dir / "scale-bench.toml"
    scenario.write_text(
        SCENARIO.format(warmup=min(WARMUP_S, duration / 4), duration=duration, rate=rate, mix=mix)
    )
    (run_dir / "run.json").write_text(
        json.dumps({"schema": 1, "scenario": "scale-bench", "phases": [PHASE]})
    )
    manifest = {
        "schema": 1,
        "scenario": "scale-bench",
        "scenario_file": str(scenario),
        "phase": PHASE,
        "topology": {"replicas": 2, "cache": True, "lb": "auto", "balancer": "nginx"},
        "target_rate": float(rate),
        "host": {"cores": 2, "memory_bytes": 24 * 2**30},
        "started": "2027-01-15T08:00:00Z",
        "status": "complete",
    }
    (phase / "manifest.json").write_text(json.dumps(manifest, indent=2))
    rng = np.random.default_rng(seed)
    writer = SampleWriter(samples_dir, "0")
    total = 0
    per_worker = rate // GENERATORS
    with (phase / "resources.csv").open("w") as res:
        res.write("ts,component,pid,cpu_percent,rss_bytes,host_cores\n")
        for second in range(seconds):
            for worker in range(GENERATORS):
                batch = _second(rng, second, per_worker, worker)
                writer.write(batch)
                total += batch.shape[0]
            ts = RUN_START + second + 0.5
            cpu = rng.normal(40.0, 3.0, len(COMPONENTS)).clip(0)
            res.writelines(
                f"{ts:.3f},{name},{100 + i},{cpu[i]:.2f},{80_000_000 + second * 10},2\n"
                for i, name in enumerate(COMPONENTS)
            )
    writer.close()
    write_meta(samples_dir, list(MIX), run_start=RUN_START, workers=[])
    (phase / "locust.json").write_text(
        json.dumps([{"name": "Aggregated", "method": "", "num_requests": total}])
    )
    return total


_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def measure(label: str, args: list[str], cwd: Path) -> dict[str, object]:
    """Run ``capacity ARGS`` under /usr/bin/time -v: exit code, wall seconds, peak RSS."""
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "harness.cli", *args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    found = _RSS.search(done.stderr)
    if found is None:
        sys.exit(f"{label}: no peak RSS from /usr/bin/time:\n{done.stderr[-2000:]}")
    return {
        "command": label,
        "exit": done.returncode,
        "wall_s": wall,
        "rss_mb": int(found.group(1)) / 1024.0,
        "stderr": done.stderr,
    }


def bench(hours: float, rate: int, base: Path, keep: bool) -> list[dict[str, object]]:
    seconds = max(8, round(hours * 3600))
    run_dir = base / f"20270115T080000Z_scale-{hours:g}h"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    started = time.perf_counter()
    count = generate(run_dir, seconds, rate)
    size = sum(p.stat().st_size for p in run_dir.rglob("samples-*.bin"))
    print(
        f"{hours:g} h: {count:,} records, {size / 1e6:,.0f} MB of samples, "
        f"generated in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    out = run_dir / "out"
    baseline = run_dir / "baseline.json"
    rows = [
        measure("report", ["report", str(run_dir), "--out", str(out)], ROOT),
        measure("baseline save", ["baseline", "save", str(run_dir), "--out", str(baseline)], ROOT),
        measure("gate", ["gate", str(run_dir), "--baseline", str(baseline)], ROOT),
    ]
    for row in rows:
        row["hours"] = hours
        row["records"] = count
        if row["exit"] not in (0, 1, 3):  # a gate may FAIL or be INVALID; a crash is a crash
            print(f"{row['command']} exited {row['exit']}:\n{row['stderr']}", file=sys.stderr)
    if not keep:
        shutil.rmtree(run_dir)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, action="append", help="run length (repeatable)")
    parser.add_argument("--rate", type=int, default=1000, help="requests per second")
    parser.add_argument("--dir", type=Path, help="where to write the runs (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the runs and their reports")
    args = parser.parse_args()
    base = args.dir or Path(tempfile.mkdtemp(prefix="analysis-scale-"))
    base.mkdir(parents=True, exist_ok=True)
    rows = []
    for hours in args.hours or [1.0]:
        rows += bench(hours, args.rate, base, args.keep)
    print("| run | records | command | exit | wall time | peak RSS |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['hours']:g} h at {args.rate:,} req/s | {r['records']:,} | `capacity "
            f"{r['command']}` | {r['exit']} | {r['wall_s']:.1f} s | {r['rss_mb']:,.0f} MB |"
        )
    if args.keep:
        print(f"runs kept under {base}", file=sys.stderr)
    elif args.dir is None:
        shutil.rmtree(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
