"""Locust glue: the run's state (:data:`RUN`) and the Locust events that drive it.

Imported by every journey file (Python imports it once), which is what wires these listeners. It
connects Locust to the pure parts: ``_options`` (the command line and the scenario),
``_schedule`` (open-model arrivals), ``_recorder`` and ``_distributed`` (exact samples, in one
process or shipped to the master) and ``harness.core.slo`` (the verdict).

Roles: a *local* run records and judges in one process. In a distributed run (``--processes K``
or ``--master``/``--worker``) each worker ships its records to the master, and the master writes
``samples.json`` and judges once every worker's final batch has arrived. A worker sends no
scheduled request (open model) before it knows its share of the schedule.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from _distributed import (
    FLUSH,
    SAMPLES,
    SHARE,
    Send,
    Share,
    Shipper,
    clear_samples,
    collect_from_workers,
    send_shares,
)
from _ledger import Ledger
from _options import (
    DEFAULT_SEED_USERS,
    Options,
    add_options,
    load_scenario_or_exit,
    read_options,
    refuse,
)
from _recorder import Collector, Recorder
from _schedule import OpenSchedule
from locust import events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.event import EventHook
from locust.rpc.protocol import Message
from locust.runners import STATE_STOPPED, MasterRunner, Runner, WorkerRunner

from harness._files import write_json
from harness.core.checks import format_table
from harness.core.samples import read_samples
from harness.core.scenario import Scenario
from harness.core.slo import evaluate
from harness.errors import BadInputError

log = logging.getLogger("primo")

Role = Literal["local", "master", "worker"]
MixListener = Callable[[dict[str, float]], None]
_Handler = TypeVar("_Handler", bound=Callable[..., None])


@dataclass
class Run:
    """Everything a process knows about the current run (one per process)."""

    scenario: Scenario | None = None
    scenario_arg: str | None = None
    samples_dir: Path | None = None
    verdict_file: Path | None = None
    seed_users: int = DEFAULT_SEED_USERS
    record: bool = True
    cookie_jar: bool = False
    role: Role = "local"
    run_start: float = 0.0
    shipper: Shipper | None = None  # local, worker: the recorder and its periodic flush
    collector: Collector | None = None  # local, master: writes the samples directory
    schedule: OpenSchedule | None = None
    share: Share | None = None  # worker: the share the master sent for the next test start
    awaiting_share: bool = False  # worker: test started, open model, share not yet known
    verdict: dict[str, Any] | None = None

    @property
    def open_model(self) -> bool:
        return self.scenario is not None and self.scenario.load.model == "open"

    @property
    def think_time_s(self) -> float:
        return self.scenario.load.think_time_s if self.scenario else 0.0

    @property
    def ledger(self) -> Ledger | None:
        """Where this process notes its writes: with the samples, while it records them."""
        return self.shipper.recorder.ledger if self.shipper is not None else None

    @property
    def slots(self) -> int | None:
        """Open model: the arrival slots this process handed out so far."""
        return self.schedule.issued if self.schedule is not None else None

    def configure(self, options: Options) -> None:
        self.scenario = options.scenario
        self.scenario_arg = options.scenario_arg
        self.samples_dir = options.samples_dir
        self.verdict_file = options.verdict_file
        self.seed_users = options.seed_users
        self.record = options.record
        self.cookie_jar = options.cookie_jar

    def start_schedule(self, share: Share) -> None:
        # ``share.start`` is the master's run start in a distributed run: its shape ends the run
        # ``duration`` after it, and the analysis measures every worker's ``ts`` from it (so
        # worker clocks must agree with the master's anyway). A worker's own test start is later
        # (by the spawn message's trip, ~0.1-0.3 s): the tail of its schedule would be cut off.
        assert self.scenario is not None
        load = self.scenario.load
        self.schedule = OpenSchedule(
            load.rate_at, load.duration_s, share.start, index=share.index, count=share.count
        )
        self.awaiting_share = False
        if share.count > 1:
            log.info(
                "open model: this worker sends share %d of %d of the schedule",
                share.index,
                share.count,
            )


RUN = Run()


def listener(hook: EventHook) -> Callable[[_Handler], _Handler]:
    """``@listener(events.init)``: Locust's ``add_listener`` as a typed decorator."""

    def register(handler: _Handler) -> _Handler:
        hook.add_listener(handler)  # type: ignore[no-untyped-call]  # untyped in Locust
        return handler

    return register


# --- the scenario's mix, for the scenario-driven user ---
_MIX_LISTENERS: list[MixListener] = []


def on_mix(mix_listener: MixListener) -> MixListener:
    """Register ``mix_listener(mix)``, called once the scenario's mix is known."""
    _MIX_LISTENERS.append(mix_listener)
    if RUN.scenario is not None:
        mix_listener(dict(RUN.scenario.mix))
    return mix_listener


def _apply_mix() -> None:
    if RUN.scenario is not None:
        for hook in _MIX_LISTENERS:
            hook(dict(RUN.scenario.mix))


# --- options and roles ---
@listener(events.init_command_line_parser)
def _add_options(parser: LocustArgumentParser, **_: Any) -> None:
    add_options(parser, scenario_type=_scenario_option)


def _scenario_option(value: str) -> str:
    """Validate the scenario while Locust parses its options: before it logs, forks or loads."""
    RUN.scenario = load_scenario_or_exit(value)
    RUN.scenario_arg = value
    return value


@listener(events.init)
def _init(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    options = environment.parsed_options
    RUN.role = (
        "master"
        if isinstance(runner, MasterRunner)
        else "worker"
        if isinstance(runner, WorkerRunner)
        else "local"
    )
    try:
        RUN.configure(read_options(options, RUN.scenario))
    except BadInputError as exc:
        # The children of --processes stay quiet: their parent says it once.
        worker = RUN.role == "worker"
        refuse(exc, worker=worker, quiet=worker and bool(getattr(options, "processes", None)))
    if RUN.role != "worker" and not getattr(options, "user_classes", None):
        # Scenario runs use the one scenario-driven user (the [mix] weights); plain runs use the
        # per-journey users with their own weights.
        driven = RUN.scenario is not None
        chosen = [
            c for c in environment.user_classes if getattr(c, "scenario_driven", False) == driven
        ]
        environment.user_classes[:] = chosen
    _apply_mix()
    if runner is not None and RUN.role == "master":
        runner.register_message(SAMPLES, _on_master_batch)
    elif runner is not None and RUN.role == "worker":
        runner.register_message(FLUSH, _on_worker_flush)
        runner.register_message(SHARE, _on_worker_share)


# --- run start: recorder, collector, schedule ---
@listener(events.test_start)
def _test_start(environment: Environment, **_: Any) -> None:
    runner = _runner(environment)
    if RUN.role == "worker" and RUN.scenario is None:
        # A worker on another machine learns --scenario from the master's spawn message.
        try:
            RUN.configure(read_options(environment.parsed_options, None))
        except BadInputError as exc:
            log.error("%s", exc)
        _apply_mix()
    RUN.run_start = time.time()
    RUN.verdict = None
    if isinstance(runner, MasterRunner):
        pool = RUN.scenario.load.pool_size() if RUN.open_model and RUN.scenario else None
        send_shares(runner, RUN.run_start, pool)
    if RUN.record:
        _start_recording(runner)
    _start_arrivals()


def _start_recording(runner: Runner) -> None:
    if RUN.role in ("local", "master"):
        directory = RUN.samples_dir or Path(tempfile.mkdtemp(prefix="primo-samples-"))
        RUN.samples_dir = directory
        clear_samples(directory)
        RUN.collector = Collector(directory)
    if RUN.role in ("local", "worker"):
        RUN.shipper = _shipper(runner)
        RUN.shipper.start()


def _shipper(runner: Runner) -> Shipper:
    """A worker ships its records to the master; a local run to its own collector."""
    index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    send: Send
    if RUN.role == "worker":
        send = partial(runner.send_message, SAMPLES)
    else:
        assert RUN.collector is not None  # a local run creates its collector first
        send = RUN.collector.add_batch
    return Shipper(Recorder(worker=max(0, int(index))), send)


def _start_arrivals() -> None:
    RUN.schedule = None
    RUN.awaiting_share = False
    if RUN.open_model and RUN.role == "local":
        RUN.start_schedule(Share(0, 1, RUN.run_start))
    elif RUN.open_model and RUN.role == "worker":
        if RUN.share is not None:  # the master sends it just before the spawn message
            RUN.start_schedule(RUN.share)
        else:
            RUN.awaiting_share = True
    RUN.share = None  # one share per run: the master sends a new one with each test start


def _on_worker_share(environment: Environment, msg: Message, **_: Any) -> None:
    RUN.share = Share.from_message(msg.data)
    if RUN.awaiting_share and RUN.open_model:  # arrived after the test started
        RUN.start_schedule(RUN.share)
        RUN.share = None


# --- every request ---
@listener(events.request)
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,  # the client's response: FastHttp's or requests', or None
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    shipper = RUN.shipper
    if shipper is None:
        return
    start = start_time if start_time is not None else time.time() - response_time / 1000.0
    intended = (context or {}).get("intended") or start
    status = getattr(response, "status_code", 0) or 0
    shipper.recorder.add(
        f"{request_type} {name}",
        start,
        intended,
        float(response_time),
        int(status),
        exception is None,
    )


# --- the end ---
@listener(events.test_stop)
def _test_stop(environment: Environment, **_: Any) -> None:
    runner = _runner(environment)
    if RUN.role == "worker":
        _worker_final(runner)
        return
    if isinstance(runner, MasterRunner) and RUN.collector is not None:
        collect_from_workers(runner, RUN.collector)
    if RUN.role == "local" and RUN.shipper is not None:
        RUN.shipper.finish(slots=RUN.slots)
    if RUN.collector is None:
        return
    collector, RUN.collector = RUN.collector, None
    _close(collector, environment)
    if RUN.scenario is not None and RUN.samples_dir is not None:
        _judge(environment, RUN.scenario, RUN.samples_dir)


@listener(events.quitting)
def _quitting(environment: Environment, **_: Any) -> None:
    # Ctrl-C / SIGTERM while a test runs: Locust picks the exit code right after this event and
    # stops the users only later, so stop now — the verdict then decides the exit code.
    if RUN.role != "worker" and RUN.collector is not None and environment.runner is not None:
        environment.runner.stop()


def _worker_final(runner: Runner) -> None:
    if RUN.shipper is None:  # not recording: still answer, so that the master need not wait
        RUN.shipper = _shipper(runner)
    RUN.shipper.finish(slots=RUN.slots)


def _on_worker_flush(environment: Environment, msg: Message, **_: Any) -> None:
    runner = _runner(environment)
    if runner.state != STATE_STOPPED:
        runner.stop()  # fires test_stop, which sends the final batch
    _worker_final(runner)


def _on_master_batch(environment: Environment, msg: Message, **_: Any) -> None:
    if RUN.collector is not None:
        RUN.collector.add_batch(msg.data)


def _runner(environment: Environment) -> Runner:
    assert environment.runner is not None  # Locust fires these events from its runner
    return environment.runner


def _close(collector: Collector, environment: Environment) -> None:
    scenario = RUN.scenario
    collector.close(
        names={0: "generator"} if RUN.role == "local" else None,
        run_start=RUN.run_start,
        run_end=time.time(),
        scenario=scenario.name if scenario else None,
        model=scenario.load.model if scenario else None,
        target_rate=scenario.target_rate if scenario else None,
        host=environment.host,
        role=RUN.role,
    )
    log.info("exact samples: %d records in %s", collector.count, collector.directory)


def _judge(environment: Environment, scenario: Scenario, directory: Path) -> None:
    samples = read_samples(directory)
    verdict = evaluate(samples, scenario)
    print(f"\nPrimo verdict for scenario {scenario.name!r} (exact samples: {directory})")
    print(format_table(verdict), flush=True)
    payload = verdict.to_dict() | {
        "scenario": scenario.name,
        "samples_dir": str(directory),
        "records": len(samples),
    }
    RUN.verdict = payload
    if RUN.verdict_file is not None:
        write_json(RUN.verdict_file, payload)
    environment.process_exit_code = verdict.exit_code
