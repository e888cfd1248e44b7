"""``capacity run``: a scenario across its scaling phases; ``capacity demo``: run, then report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.core.scenario import Scenario, load_scenario, resolve_scenario_path
from harness.core.topology import BACKENDS, BALANCERS
from harness.errors import BadInputError
from harness.run.runner import Runner, plan_phases, run_id

DEFAULT_OUT = Path("reports") / "runs"
EXIT_INTERRUPTED = 130  # what a shell reports for a process stopped by SIGINT


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


def load_scenario_with_path(name_or_path: str) -> tuple[Scenario, Path]:
    return load_scenario(name_or_path), resolve_scenario_path(name_or_path).resolve()


def _cmd_run(args: argparse.Namespace) -> int:
    scenario, path = load_scenario_with_path(args.scenario)
    if scenario.phases and args.lb:
        raise BadInputError(
            f"--lb: scenario {scenario.name!r} runs its own [[phases]]; set their lb in its file"
        )
    phases = plan_phases(
        scenario,
        parse_replicas(args.replicas) if args.replicas else None,
        parse_cache(args.cache) if args.cache else None,
    )
    out = Path(args.out) if args.out else DEFAULT_OUT / run_id(scenario)
    if out.exists() and any(out.iterdir()):
        raise BadInputError(f"--out {out}: exists and is not empty; pick a new directory")
    runner = Runner(
        scenario,
        path,
        out,
        backend=args.backend,
        lb=args.lb,
        processes=args.processes,
        cpus_per_replica=args.cpus_per_replica,
    )
    try:
        runner.run(phases, argv=sys.argv)
    except KeyboardInterrupt:
        print(f"interrupted; finished phases are kept in {out}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(out)
    return 0


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
    sweep = "; not for a scenario with [[phases]]"
    parser.add_argument(
        "--replicas", help=f"replica counts, e.g. 1,2,4 (default: the scenario's{sweep})"
    )
    parser.add_argument("--cache", help=f"on, off or on,off (default: the scenario's{sweep})")
    parser.add_argument("--backend", choices=BACKENDS, default="local")
    parser.add_argument(
        "--cpus-per-replica",
        type=float,
        metavar="CORES",
        help="cap each API replica at this many cores (default: the scenario's [stack])",
    )
    parser.add_argument("--lb", choices=BALANCERS, default=None, help=f"balancer{sweep}")
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
