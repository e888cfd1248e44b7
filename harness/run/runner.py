"""``capacity run``: one phase per topology — stack up, seed, Locust headless, stack down.

A phase is a (replicas, cache) pair. Each writes into its own directory (layout in
docs/contracts.md §8): Locust's CSV/JSON/HTML, the exact samples, the verdict Locust printed,
resource samples of every component and of the generator, the components' logs and a manifest.
Locust runs as a subprocess: it monkey-patches the standard library with gevent, and the stack
code must never share a process with it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from harness._files import utc_now, write_json
from harness.core.scenario import Scenario, load_scenario, resolve_scenario_path
from harness.core.topology import Backend, Balancer
from harness.errors import BadInputError, HarnessError
from harness.run.seed import seed
from harness.stack import StackConfig, open_stack
from harness.stack.processes import ManagedProcess, log_tail
from harness.stack.resources import ResourceSampler

REPO_ROOT = Path(__file__).resolve().parents[2]
LOADTESTS = REPO_ROOT / "loadtests"
DEFAULT_OUT = Path("reports") / "runs"
RUN_SCHEMA = 1
# Load runs measure capacity, not the limiter: lift per-user and per-IP limits unless the
# scenario sets its own in [env].
LOAD_ENV = {"RATE_LIMIT_MAX": "100000000", "RATE_LIMIT_AUTH_MAX": "100000000"}
_VERSIONED = ("fastapi", "uvicorn", "pymongo", "redis", "locust", "numpy", "pandas", "secantusdb")


@dataclass(frozen=True)
class Phase:
    replicas: int
    cache: bool

    @property
    def name(self) -> str:
        return f"r{self.replicas}-cache-{'on' if self.cache else 'off'}"


@dataclass
class PhaseResult:
    phase: Phase
    directory: Path
    status: str  # complete | interrupted | failed
    exit_code: int | None = None
    verdict: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def parse_replicas(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise BadInputError(f"--replicas {text!r}: expected numbers like 1,2,4") from exc
    if not values or any(v < 1 or v > 64 for v in values):
        raise BadInputError(f"--replicas {text!r}: each count must be between 1 and 64")
    return values


def parse_cache(text: str) -> list[bool]:
    mapping = {"on": True, "off": False, "true": True, "false": False}
    try:
        values = [mapping[part.strip().lower()] for part in text.split(",") if part.strip()]
    except KeyError as exc:
        raise BadInputError(f"--cache {text!r}: expected on, off or on,off") from exc
    if not values:
        raise BadInputError(f"--cache {text!r}: expected on, off or on,off")
    return values


def plan_phases(
    scenario: Scenario, replicas: list[int] | None, cache: list[bool] | None
) -> list[Phase]:
    """Cache off before on, fewer replicas first: the order a reviewer reads the table in."""
    reps = replicas or list(scenario.stack.replicas)
    caches = cache if cache is not None else list(scenario.stack.cache)
    return [Phase(r, c) for c in sorted(set(caches)) for r in sorted(set(reps))]


def run_id(scenario: Scenario, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}_{scenario.name}"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def _host() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


@dataclass
class LiveStats:
    rate: float = 0.0
    p95: float | None = None
    requests: int = 0
    failures: int = 0


def read_live_stats(history_csv: Path) -> LiveStats | None:
    """The last 'Aggregated' row of Locust's stats history (for the progress bar only)."""
    try:
        with history_csv.open(newline="") as fh:
            rows = [row for row in csv.DictReader(fh) if row.get("Name") == "Aggregated"]
    except (OSError, csv.Error):
        return None
    if not rows:
        return None
    last = rows[-1]

    def number(key: str) -> float:
        try:
            return float(last.get(key) or 0)
        except ValueError:
            return 0.0

    p95 = last.get("95%")
    return LiveStats(
        rate=number("Requests/s"),
        p95=float(p95) if p95 not in (None, "", "N/A") else None,
        requests=int(number("Total Request Count")),
        failures=int(number("Total Failure Count")),
    )


class Runner:
    def __init__(
        self,
        scenario: Scenario,
        scenario_path: Path,
        out: Path,
        *,
        backend: Backend = "local",
        lb: Balancer | None = None,
        processes: int = 1,
        console: Console | None = None,
    ) -> None:
        self.scenario = scenario
        self.scenario_path = scenario_path
        self.out = out
        self.backend = backend
        self.lb = lb or scenario.stack.lb
        self.processes = processes
        self.console = console or Console(stderr=True)

    # -- one phase ---------------------------------------------------------------------------
    def run_phase(self, phase: Phase) -> PhaseResult:
        directory = self.out / phase.name
        directory.mkdir(parents=True, exist_ok=True)
        manifest: dict[str, Any] = {
            "schema": RUN_SCHEMA,
            "scenario": self.scenario.name,
            "scenario_file": str(self.scenario_path),
            "phase": phase.name,
            "topology": {
                "replicas": phase.replicas,
                "cache": phase.cache,
                "lb": self.lb,
                "backend": self.backend,
                "balancer": None,
            },
            "target_rate": self.scenario.target_rate,
            "load": {"model": self.scenario.load.model, "processes": self.processes},
            "git_commit": _git_commit(),
            "host": _host(),
            "versions": _versions(),
            "started": utc_now(),
            "finished": None,
            "status": "running",
        }
        write_json(directory / "manifest.json", manifest)
        result = PhaseResult(phase, directory, status="failed")
        env = {**LOAD_ENV, **{k: str(v) for k, v in self.scenario.env.items()}}
        config = StackConfig(
            replicas=phase.replicas,
            cache=phase.cache,
            lb=self.lb,
            backend=self.backend,
            work_dir=directory / "stack",
            env=env,
        )
        try:
            self.console.print(
                f"[bold]{phase.name}[/]: starting the stack ({phase.replicas} "
                f"replica(s), cache {'on' if phase.cache else 'off'}) …"
            )
            with open_stack(config) as stack:
                manifest["topology"]["balancer"] = stack.balancer
                manifest["components"] = [c.name for c in stack.components()]
                write_json(directory / "manifest.json", manifest)
                self.console.print(
                    f"{phase.name}: stack ready at {stack.url} (balancer: {stack.balancer}); "
                    f"seeding {self.scenario.data.users} users x "
                    f"{self.scenario.data.tasks_per_user} tasks …"
                )
                seeded = seed(
                    stack.mongodb_uri,
                    self.scenario.data.users,
                    self.scenario.data.tasks_per_user,
                    bcrypt_rounds=self.scenario.data.bcrypt_rounds,
                )
                manifest["data"] = {
                    "users": self.scenario.data.users,
                    "tasks_per_user": self.scenario.data.tasks_per_user,
                    "seed_seconds": round(getattr(seeded, "seconds", 0.0), 3),
                }
                with stack.resource_sampler(directory / "resources.csv") as sampler:
                    result.exit_code = self._run_locust(phase, directory, stack.url, sampler)
            result.status = "complete"
        except KeyboardInterrupt:
            result.status = "interrupted"
            raise
        except HarnessError as exc:
            result.error = str(exc)
            raise
        finally:
            verdict_path = directory / "verdict.json"
            if verdict_path.is_file():
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    result.verdict = json.loads(verdict_path.read_text())
            manifest["finished"] = utc_now()
            manifest["status"] = result.status
            manifest["locust_exit_code"] = result.exit_code
            if result.error:
                manifest["error"] = result.error
            write_json(directory / "manifest.json", manifest)
        return result

    def _locust_argv(self, directory: Path, url: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOADTESTS),
            "--headless",
            "--scenario",
            str(self.scenario_path),
            "-H",
            url,
            "--processes",
            str(self.processes),
            "--csv",
            str(directory / "locust"),
            "--csv-full-history",
            "--html",
            str(directory / "locust.html"),
            "--json-file",
            str(directory / "locust"),
            "--samples-dir",
            str(directory / "samples"),
            "--verdict-file",
            str(directory / "verdict.json"),
            "--seed-users",
            str(self.scenario.data.users),
            "--only-summary",
            "--stop-timeout",
            "10",
        ]

    def _run_locust(self, phase: Phase, directory: Path, url: str, sampler: ResourceSampler) -> int:
        argv = self._locust_argv(directory, url)
        if self.processes <= 1:
            argv.remove("--processes")
            argv.remove("1")
        locust = ManagedProcess(
            "locust", argv, log_path=directory / "logs" / "locust.log", cwd=REPO_ROOT
        ).start()
        assert locust.popen is not None
        sampler.add("generator", locust.popen.pid)
        total = self.scenario.load.duration_s
        deadline = time.monotonic() + total + 120
        history = directory / "locust_stats_history.csv"
        known_workers: set[int] = set()
        with self._progress() as progress:
            task = progress.add_task(phase.name, total=total, stats="starting …")
            started = time.monotonic()
            next_line = 10.0
            try:
                while locust.running():
                    if time.monotonic() > deadline:
                        locust.stop(timeout=20)
                        raise HarnessError(
                            f"locust: phase {phase.name} ran past its deadline "
                            f"({total:.0f} s + 120 s); log: {directory / 'logs' / 'locust.log'}"
                        )
                    known_workers |= self._track_workers(locust.popen.pid, sampler, known_workers)
                    live = read_live_stats(history)
                    elapsed = time.monotonic() - started
                    progress.update(task, completed=min(total, elapsed), stats=self._describe(live))
                    if not self.console.is_terminal and elapsed >= next_line:
                        # No live bar in a CI log: a plain line every 10 s instead.
                        self.console.print(
                            f"{phase.name}: {elapsed:4.0f}/{total:.0f} s  {self._describe(live)}"
                        )
                        next_line += 10
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        locust.popen.wait(1.0)
            except KeyboardInterrupt:
                self.console.print(f"{phase.name}: interrupted — stopping Locust, keeping results")
                locust.popen.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    locust.popen.wait(30)
                locust.stop()
                raise
            progress.update(task, completed=total, stats=self._describe(read_live_stats(history)))
        code = locust.popen.returncode
        if code == 2:
            raise BadInputError(
                f"locust refused the run ({self.scenario_path}): "
                + " | ".join(log_tail(directory / "logs" / "locust.log", 3).splitlines())
            )
        return int(code)

    @staticmethod
    def _track_workers(pid: int, sampler: ResourceSampler, known: set[int]) -> set[int]:
        """``--processes K`` forks workers: sample each as generator-N."""
        found: set[int] = set()
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(pid).children():
                if child.pid not in known:
                    sampler.add(f"generator-{len(known) + len(found) + 1}", child.pid)
                    found.add(child.pid)
        return found

    @staticmethod
    def _describe(live: LiveStats | None) -> str:
        if live is None:
            return "waiting for the first stats …"
        p95 = f"{live.p95:.0f} ms" if live.p95 is not None else "-"
        errors = (100.0 * live.failures / live.requests) if live.requests else 0.0
        return f"{live.rate:7.1f} req/s  p95 {p95:>7}  errors {errors:5.2f} %"

    @contextlib.contextmanager
    def _progress(self) -> Iterator[Progress]:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[stats]}"),
            console=self.console,
            transient=False,
        )
        with progress:
            yield progress

    # -- the whole run -------------------------------------------------------------------------
    def run(self, phases: Sequence[Phase], argv: Sequence[str] = ()) -> list[PhaseResult]:
        self.out.mkdir(parents=True, exist_ok=True)
        run_meta: dict[str, Any] = {
            "schema": RUN_SCHEMA,
            "scenario": self.scenario.name,
            "phases": [p.name for p in phases],
            "started": utc_now(),
            "finished": None,
            "argv": list(argv),
            "status": "running",
        }
        write_json(self.out / "run.json", run_meta)
        results: list[PhaseResult] = []
        try:
            for phase in phases:
                results.append(self.run_phase(phase))
                self._print_phase(results[-1])
            run_meta["status"] = "complete"
        except KeyboardInterrupt:
            run_meta["status"] = "interrupted"
            raise
        except HarnessError:
            run_meta["status"] = "failed"
            raise
        finally:
            run_meta["finished"] = utc_now()
            run_meta["completed_phases"] = [r.phase.name for r in results if r.status == "complete"]
            write_json(self.out / "run.json", run_meta)
        return results

    def _print_phase(self, result: PhaseResult) -> None:
        verdict = result.verdict
        status = verdict.get("status", "?")
        summary = verdict.get("summary", {})
        rate = summary.get("achieved_rate")
        p95 = summary.get("p95_ms")
        err = summary.get("error_rate")
        parts = [f"{result.phase.name}: {status}"]
        if rate is not None:
            parts.append(f"{rate:.1f} req/s")
        if p95 is not None:
            parts.append(f"p95 {p95:.1f} ms")
        if err is not None:
            parts.append(f"errors {100 * err:.2f} %")
        self.console.print("  ".join(parts))


def _cmd_run(args: argparse.Namespace) -> int:
    scenario, path = load_scenario_with_path(args.scenario)
    phases = plan_phases(
        scenario,
        parse_replicas(args.replicas) if args.replicas else None,
        parse_cache(args.cache) if args.cache else None,
    )
    out = Path(args.out) if args.out else DEFAULT_OUT / run_id(scenario)
    if out.exists() and any(out.iterdir()):
        raise BadInputError(f"--out {out}: exists and is not empty; pick a new directory")
    runner = Runner(scenario, path, out, backend=args.backend, lb=args.lb, processes=args.processes)
    try:
        runner.run(phases, argv=sys.argv)
    except KeyboardInterrupt:
        print(f"interrupted; finished phases are kept in {out}", file=sys.stderr)
        return 130
    print(out)
    return 0


def load_scenario_with_path(name_or_path: str) -> tuple[Scenario, Path]:
    return load_scenario(name_or_path), resolve_scenario_path(name_or_path).resolve()


def _cmd_demo(args: argparse.Namespace) -> int:
    from harness.report.render import build_report

    scenario, path = load_scenario_with_path("demo")
    out = DEFAULT_OUT / run_id(scenario)
    runner = Runner(scenario, path, out)
    runner.run(plan_phases(scenario, None, None), argv=sys.argv)
    report = build_report([out], out=out)
    print(f"report: {report.html.resolve()}")
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replicas", help="replica counts, e.g. 1,2,4 (default: the scenario's)")
    parser.add_argument("--cache", help="on, off or on,off (default: the scenario's)")
    parser.add_argument("--backend", choices=["local", "compose"], default="local")
    parser.add_argument("--lb", choices=["auto", "nginx", "shared-socket"], default=None)
    parser.add_argument(
        "--processes", type=int, default=1, help="Locust generator processes (default 1)"
    )
    parser.add_argument("--out", help="run directory (default reports/runs/<UTC time>_<scenario>)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run a scenario across scaling phases")
    run.add_argument("scenario", help="scenario name (scenarios/NAME.toml) or path")
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)
    demo = sub.add_parser("demo", help="the main job: run the demo scenario and write its report")
    demo.set_defaults(func=_cmd_demo)
