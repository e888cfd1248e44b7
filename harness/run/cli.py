"""``capacity run``: a scenario across its scaling phases; ``capacity demo``: run, then report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.core.scenario import Scenario, load_scenario, resolve_scenario_path
from harness.core.topology import BACKENDS, BALANCERS
from harness.errors import BadInputError
from harness.run.api_seed import check_users
from harness.run.manifest import Services
from harness.run.runner import Phase, Runner, plan_phases, run_id
from harness.run.target import Client, ExternalTarget, Tls, probe_target
from harness.run.workers import Workers

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


def parse_bind(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInputError(f"--master-bind {text!r}: expected HOST:PORT, e.g. 0.0.0.0:5557")
    return host, int(port)


def workers_of(args: argparse.Namespace) -> Workers | None:
    if args.expect_workers is None:
        if args.master_bind:
            raise BadInputError("--master-bind: only with --expect-workers N")
        return None
    if args.processes != 1:
        raise BadInputError("--processes: not with --expect-workers (the workers run elsewhere)")
    host, port = parse_bind(args.master_bind or "127.0.0.1:5557")
    return Workers(args.expect_workers, host, port, args.workers_wait)


def target_of(args: argparse.Namespace, scenario: Scenario) -> ExternalTarget | None:
    """``--target``: probed now, before anything is written or loaded (one line, exit 2)."""
    tls_given = args.insecure or args.ca_file
    if not args.target:
        for flag, given in (("--seed", args.seed), ("--insecure/--ca-file", tls_given)):
            if given:
                raise BadInputError(f"{flag}: only with --target URL")
        return None
    for flag, given in (
        ("--replicas", args.replicas), ("--cache", args.cache), ("--lb", args.lb),
        ("--redis-url", args.redis_url), ("--backend", args.backend != "local"),
    ):  # fmt: skip
        if given:
            raise BadInputError(f"{flag}: not with --target (the run manages no stack)")
    if scenario.phases or scenario.faults:
        what = "[[phases]]" if scenario.phases else "[[faults]]"
        raise BadInputError(
            f"--target: scenario {scenario.name!r} has {what}, which need a stack the run manages"
        )
    tls = Tls(insecure=args.insecure, ca_file=Path(args.ca_file) if args.ca_file else None)
    client = Client(args.target, tls)
    probe = probe_target(client)
    if not args.seed:  # reused as they are: they must log in, before anything is written
        check_users(client, scenario.data.users)
    return ExternalTarget(client, probe, mongodb_uri=args.mongodb_uri or "")


def _cmd_run(args: argparse.Namespace) -> int:
    scenario, path = load_scenario_with_path(args.scenario)
    if scenario.phases and args.lb:
        raise BadInputError(
            f"--lb: scenario {scenario.name!r} runs its own [[phases]]; set their lb in its file"
        )
    workers = workers_of(args)
    target = target_of(args, scenario)
    if target is not None:
        phases = [Phase(1, True, label="target", description=f"external target {target.url}")]
    else:
        if (args.mongodb_uri or args.redis_url) and args.backend != "local":
            raise BadInputError("--mongodb-uri/--redis-url: only with the local backend")
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
        target=target,
        services=Services(args.mongodb_uri, args.redis_url) if target is None else None,
        workers=workers,
        seed=args.seed or target is None,
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
    where = parser.add_argument_group("where the service and the load run")
    where.add_argument(
        "--target",
        metavar="URL",
        help="load a service that is already running (http(s)://HOST[:PORT]); no stack is started",
    )
    where.add_argument(
        "--seed",
        action="store_true",
        help="with --target: seed it (through its API unless --mongodb-uri reaches its database); "
        "default: reuse the load users it has",
    )
    where.add_argument(
        "--insecure", action="store_true", help="with an https --target: no TLS check"
    )
    where.add_argument("--ca-file", metavar="PEM", help="with an https --target: trust this CA")
    where.add_argument(
        "--mongodb-uri",
        help="the local stack's MongoDB (each phase gets a fresh database on it); with --target: "
        "the target's database, for seeding and the write audit",
    )
    where.add_argument("--redis-url", help="the local stack's Redis instead of its own")
    where.add_argument(
        "--expect-workers",
        type=int,
        metavar="N",
        help="run only the Locust master here and wait for N workers started elsewhere",
    )
    where.add_argument(
        "--master-bind",
        metavar="HOST:PORT",
        help="with --expect-workers: where the master listens (default 127.0.0.1:5557)",
    )
    where.add_argument(
        "--workers-wait",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="with --expect-workers: how long to wait for them (default 300)",
    )


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="run a scenario across scaling phases")
    run.add_argument("scenario", help="scenario name (scenarios/NAME.toml) or path")
    _add_run_options(run)
    run.set_defaults(func=_cmd_run)
    demo = sub.add_parser("demo", help="the main job: run the demo scenario and write its report")
    demo.set_defaults(func=_cmd_demo)
