"""The Primo options Locust accepts, and the scenario they name.

``--scenario`` is loaded while Locust parses its options, so that a bad scenario stops the run
with one line and exit code 2 before Locust logs, forks or loads anything; the rest is read into
an :class:`Options` record once Locust has parsed them all. Imports no Locust at run time.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from harness.core.scenario import Scenario, load_scenario
from harness.errors import BadInputError

if TYPE_CHECKING:
    from locust.argument_parser import LocustArgumentParser

DEFAULT_SEED_USERS = 100
EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class Options:
    """The Primo options of one Locust process, checked."""

    scenario: Scenario | None
    scenario_arg: str | None
    samples_dir: Path | None
    verdict_file: Path | None
    seed_users: int
    record: bool  # record exact samples: a scenario or a samples directory, and not switched off
    cookie_jar: bool = False  # keep Locust's per-user cookie jar (the API sets no cookie)


def add_options(parser: LocustArgumentParser, scenario_type: Callable[[str], str]) -> None:
    """Add the Primo group; ``scenario_type`` loads the ``--scenario`` value as it is parsed."""
    group = parser.add_argument_group("Primo Capacity")
    group.add_argument(
        "--scenario",
        default=None,
        type=scenario_type,
        env_var="PRIMO_SCENARIO",
        help="scenario name (scenarios/NAME.toml) or path: its stages drive the shape, its [mix] "
        "the requests, its [slo] the verdict and exit code (0 pass, 1 fail, 3 invalid)",
    )
    group.add_argument(
        "--samples-dir",
        default=None,
        env_var="PRIMO_SAMPLES_DIR",
        help="write every request's exact latency here (harness/samples.py format)",
    )
    group.add_argument(
        "--seed-users",
        type=int,
        default=None,
        env_var="PRIMO_SEED_USERS",
        help="how many seeded load users exist (default: the scenario's data.users, else 100)",
    )
    group.add_argument(
        "--verdict-file", default=None, env_var="PRIMO_VERDICT_FILE", help="write the verdict JSON"
    )
    group.add_argument(
        "--no-record-samples",
        action="store_true",
        default=False,
        env_var="PRIMO_NO_RECORD_SAMPLES",
        help="do not record exact samples (to measure what recording costs); no verdict",
    )
    group.add_argument(
        "--cookie-jar",
        action="store_true",
        default=False,
        env_var="PRIMO_COOKIE_JAR",
        help="keep Locust's cookie jar per user (off: the API sets no cookie, and the jar costs "
        "generator CPU on every request; see BENCHMARKS.md)",
    )


def load_scenario_or_exit(value: str) -> Scenario:
    """The scenario ``value`` names; a bad one is one line on stderr and exit code 2."""
    try:
        return load_scenario(value)
    except BadInputError as exc:
        sys.stderr.write(f"locust: {exc}\n")
        sys.stderr.flush()
        sys.exit(EXIT_BAD_INPUT)


def read_options(options: Namespace | None, scenario: Scenario | None) -> Options:
    """The Primo options of ``options`` (Locust's parsed options, or the master's copy of them
    that a worker receives); ``scenario`` is the one already loaded while parsing, if any."""
    scenario_arg: str | None = getattr(options, "scenario", None)
    if scenario_arg and scenario is None:
        scenario = load_scenario(scenario_arg)
    samples_dir = getattr(options, "samples_dir", None)
    verdict_file = getattr(options, "verdict_file", None)
    seed_users: int | None = getattr(options, "seed_users", None)
    if seed_users is not None and seed_users < 1:
        raise BadInputError(f"--seed-users: {seed_users} (must be at least 1)")
    return Options(
        scenario=scenario,
        scenario_arg=scenario_arg,
        samples_dir=Path(samples_dir) if samples_dir else None,
        verdict_file=Path(verdict_file) if verdict_file else None,
        seed_users=seed_users or (scenario.data.users if scenario else DEFAULT_SEED_USERS),
        record=not getattr(options, "no_record_samples", False) and bool(scenario or samples_dir),
        cookie_jar=bool(getattr(options, "cookie_jar", False)),
    )


def refuse(exc: BadInputError, *, worker: bool, quiet: bool) -> NoReturn:
    """Stop the process on bad options: one line (unless ``quiet``), exit code 2, no traceback."""
    if not quiet:
        sys.stderr.write(f"locust: {exc}\n")
        sys.stderr.flush()
    if worker:
        os._exit(EXIT_BAD_INPUT)  # a forked child: no atexit handlers of the parent
    sys.exit(EXIT_BAD_INPUT)
