"""Locust glue: options, the scenario, exact recording, the end-of-run verdict.

Imported by every journey file (Python imports it once). It wires Locust events to the pure parts:
``harness.core.scenario`` (what to run), ``_schedule`` (open-model arrivals), ``_recorder`` (exact
samples) and ``harness.core.slo`` (the verdict).

Roles: a *local* run records and judges in one process. In a distributed run (``--processes K``
or ``--master``/``--worker``) each worker ships packed records to the master about once a second
(``runner.send_message``); at the end the master asks every worker to stop and flush
("primo_flush"), waits (with a deadline) until each worker's final count matches what arrived,
then writes ``samples.json`` and judges.

Open model, distributed: when the test starts the master tells each worker it dispatches users
to its share of the arrival schedule ("primo_share": ``index`` and ``count`` of the workers
actually connected — not ``--expect-workers``, which a worker may not know and which need not
match). A worker sends no scheduled request before it knows its share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from _recorder import Collector, Recorder
from _schedule import OpenSchedule
from locust import events
from locust.runners import STATE_STOPPED, MasterRunner, WorkerRunner

from harness._files import write_json
from harness.core.checks import format_table
from harness.core.samples import read_samples
from harness.core.scenario import Scenario, load_scenario
from harness.core.slo import evaluate
from harness.errors import BadInputError

log = logging.getLogger("primo")

FLUSH_INTERVAL_S = 1.0
FINAL_WAIT_S = 15.0
FLUSHER_JOIN_S = 10.0  # how long the last periodic flush may take to finish before the final one
DEFAULT_SEED_USERS = 100


@dataclass
class Run:
    """Everything a process knows about the current run (one per process)."""

    scenario: Scenario | None = None
    scenario_arg: str | None = None
    samples_dir: Path | None = None
    verdict_file: Path | None = None
    seed_users: int = DEFAULT_SEED_USERS
    record: bool = True
    role: str = "local"  # local | master | worker
    run_start: float = 0.0
    recorder: Recorder | None = None
    collector: Collector | None = None
    schedule: OpenSchedule | None = None
    flusher: Any = None
    flusher_stop: Any = None  # gevent.event.Event: asks the flusher to finish its loop
    share: tuple[int, int, float] | None = None  # worker: "primo_share" (index, count, start)
    awaiting_share: bool = False  # worker: test started, open model, share not yet known
    expected_workers: set[int] = field(default_factory=set)
    verdict: dict[str, Any] | None = None

    @property
    def open_model(self) -> bool:
        return self.scenario is not None and self.scenario.load.model == "open"

    @property
    def think_time_s(self) -> float:
        return self.scenario.load.think_time_s if self.scenario else 0.0


RUN = Run()


# --- options ---
@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("Primo Capacity")
    group.add_argument(
        "--scenario",
        default=None,
        type=_scenario_option,
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


def _scenario_option(value: str) -> str:
    """Validate the scenario while Locust parses its options: before it logs, forks or loads."""
    try:
        RUN.scenario = load_scenario(value)
    except BadInputError as exc:
        sys.stderr.write(f"locust: {exc}\n")
        sys.stderr.flush()
        sys.exit(2)
    RUN.scenario_arg = value
    return value


def _configure(options: Any) -> None:
    RUN.scenario_arg = getattr(options, "scenario", None)
    if RUN.scenario_arg and RUN.scenario is None:
        RUN.scenario = load_scenario(RUN.scenario_arg)
    samples_dir = getattr(options, "samples_dir", None)
    RUN.samples_dir = Path(samples_dir) if samples_dir else None
    verdict_file = getattr(options, "verdict_file", None)
    RUN.verdict_file = Path(verdict_file) if verdict_file else None
    seed_users = getattr(options, "seed_users", None)
    if seed_users is not None and seed_users < 1:
        raise BadInputError(f"--seed-users: {seed_users} (must be at least 1)")
    RUN.seed_users = seed_users or (RUN.scenario.data.users if RUN.scenario else DEFAULT_SEED_USERS)
    RUN.record = not getattr(options, "no_record_samples", False) and bool(
        RUN.scenario or RUN.samples_dir
    )


@events.init.add_listener
def _init(environment: Any, runner: Any, **_: Any) -> None:
    options = environment.parsed_options
    RUN.role = (
        "master"
        if isinstance(runner, MasterRunner)
        else "worker"
        if isinstance(runner, WorkerRunner)
        else "local"
    )
    try:
        _configure(options)
    except BadInputError as exc:
        # One line, exit 2, no traceback; the children of --processes stay quiet (their parent
        # says it once).
        if not (RUN.role == "worker" and getattr(options, "processes", None)):
            sys.stderr.write(f"locust: {exc}\n")
            sys.stderr.flush()
        if RUN.role == "worker":
            os._exit(2)  # a forked child: no atexit handlers of the parent
        sys.exit(2)

    if RUN.role != "worker" and not getattr(options, "user_classes", None):
        # Scenario runs use the one scenario-driven user (the [mix] weights); plain runs use the
        # per-journey users with their own weights.
        driven = RUN.scenario is not None
        chosen = [
            c for c in environment.user_classes if getattr(c, "scenario_driven", False) == driven
        ]
        environment.user_classes[:] = chosen
    _apply_mix()

    if RUN.role == "master":
        runner.register_message("primo_samples", _on_master_batch)
    elif RUN.role == "worker":
        runner.register_message("primo_flush", _on_worker_flush)
        runner.register_message("primo_share", _on_worker_share)


def _apply_mix() -> None:
    if RUN.scenario is not None:
        for hook in _MIX_LISTENERS:
            hook(dict(RUN.scenario.mix))


_MIX_LISTENERS: list[Any] = []


def on_mix(listener: Any) -> Any:
    """Register ``listener(mix)``, called once the scenario's mix is known."""
    _MIX_LISTENERS.append(listener)
    if RUN.scenario is not None:
        listener(dict(RUN.scenario.mix))
    return listener


# --- run start: recorder, collector, schedule ---
@events.test_start.add_listener
def _test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if RUN.role == "worker" and RUN.scenario is None:
        # A worker on another machine learns --scenario from the master's spawn message.
        try:
            _configure(environment.parsed_options)
        except BadInputError as exc:
            log.error("%s", exc)
        _apply_mix()
    RUN.run_start = time.time()
    RUN.verdict = None
    if RUN.role == "master":
        _send_shares(runner)

    if RUN.role in ("local", "master") and RUN.record:
        directory = RUN.samples_dir or Path(tempfile.mkdtemp(prefix="primo-samples-"))
        RUN.samples_dir = directory
        _clear_samples(directory)
        RUN.collector = Collector(directory)
    if RUN.role in ("local", "worker") and RUN.record:
        index = runner.worker_index if RUN.role == "worker" else 0
        RUN.recorder = Recorder(worker=max(0, int(index)))
        RUN.recorder.sample_cpu()
        RUN.flusher_stop = gevent.event.Event()
        RUN.flusher = gevent.spawn(_flush_loop, runner, RUN.flusher_stop)

    RUN.schedule = None
    RUN.awaiting_share = False
    if RUN.open_model and RUN.role == "local":
        _start_schedule(0, 1, RUN.run_start)
    elif RUN.open_model and RUN.role == "worker":
        if RUN.share is not None:  # the master sends it just before the spawn message
            _start_schedule(*RUN.share)
        else:
            RUN.awaiting_share = True
    RUN.share = None  # one share per run: the master sends a new one with each test start


def _start_schedule(index: int, count: int, start: float) -> None:
    # ``start`` is the master's run start in a distributed run: its shape ends the run
    # ``duration`` after it, and the analysis measures every worker's ``ts`` from it (so worker
    # clocks must agree with the master's anyway). A worker's own test start is later (by the
    # spawn message's trip, ~0.1-0.3 s): the tail of its schedule would be cut off.
    assert RUN.scenario is not None
    load = RUN.scenario.load
    RUN.schedule = OpenSchedule(load.rate_at, load.duration_s, start, index=index, count=count)
    RUN.awaiting_share = False
    if count > 1:
        log.info("open model: this worker sends share %d of %d of the schedule", index, count)


def _send_shares(runner: Any) -> None:
    """Tell every worker the master dispatches users to which share of the schedule it sends.

    Called from ``test_start``, which the master fires after it picked the workers and before
    it sends them the spawn message: on the same connection, so a worker hears its share first.
    """
    active = runner.clients.ready + runner.clients.running + runner.clients.spawning
    ids = sorted((client.id for client in active), key=runner.get_worker_index)
    for index, client_id in enumerate(ids):
        share = {"index": index, "count": len(ids), "start": RUN.run_start}
        runner.send_message("primo_share", share, client_id)
    pool = RUN.scenario.load.pool_size() if RUN.open_model and RUN.scenario else None
    if pool is not None and len(ids) > pool:
        log.warning(
            "open model: %d workers, a pool of %d users: a share has no user", len(ids), pool
        )


def _on_worker_share(environment: Any, msg: Any, **_: Any) -> None:
    RUN.share = (int(msg.data["index"]), int(msg.data["count"]), float(msg.data["start"]))
    if RUN.awaiting_share and RUN.open_model:  # arrived after the test started
        _start_schedule(*RUN.share)
        RUN.share = None


def _clear_samples(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("samples-*.bin"):
        old.unlink()
    with contextlib.suppress(FileNotFoundError):
        (directory / "samples.json").unlink()


# --- every request ---
@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: Any = None,
    exception: Any = None,
    start_time: float | None = None,
    **_: Any,
) -> None:
    recorder = RUN.recorder
    if recorder is None:
        return
    start = start_time if start_time is not None else time.time() - response_time / 1000.0
    intended = (context or {}).get("intended") or start
    status = getattr(response, "status_code", 0) or 0
    recorder.add(
        f"{request_type} {name}",
        start,
        intended,
        float(response_time),
        int(status),
        exception is None,
    )


def _flush_loop(runner: Any, stop: Any) -> None:
    # Never killed while it flushes: it finishes the flush in progress, sees ``stop`` and returns.
    while not stop.wait(FLUSH_INTERVAL_S):
        _flush(runner)


def _flush(runner: Any, *, final: bool = False) -> None:
    recorder = RUN.recorder
    if recorder is None:
        return
    if not final:
        recorder.sample_cpu()
    batch = recorder.batch(final=final)
    if final and RUN.schedule is not None:
        batch["slots"] = RUN.schedule.issued
    try:
        if RUN.role == "worker":
            runner.send_message("primo_samples", batch)
        elif RUN.collector is not None:
            RUN.collector.add_batch(batch)
    except BaseException:
        recorder.requeue(batch)  # not sent: the next flush sends these records again
        raise


def _stop_flusher() -> None:
    """Stop the periodic flusher without losing a batch; the caller then flushes the rest."""
    flusher, stop = RUN.flusher, RUN.flusher_stop
    RUN.flusher = RUN.flusher_stop = None
    if flusher is None:
        return
    if stop is not None:
        stop.set()
    if gevent.getcurrent() is flusher:
        return
    flusher.join(timeout=FLUSHER_JOIN_S)
    if not flusher.dead:  # stuck sending for FLUSHER_JOIN_S: its batch is put back on the way out
        log.error("samples: the flusher did not finish within %gs; stopping it", FLUSHER_JOIN_S)
        flusher.kill(block=True, timeout=1.0)


# --- the end ---
@events.test_stop.add_listener
def _test_stop(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if RUN.role == "worker":
        _worker_final(runner)
        return
    if RUN.role == "master" and RUN.collector is not None:
        _collect_from_workers(runner)
    if RUN.role == "local":
        _stop_flusher()
        _flush(runner)
        _flush(runner, final=True)
    if RUN.collector is None:
        return
    collector, RUN.collector = RUN.collector, None
    names = {0: "generator"} if RUN.role == "local" else None
    scenario = RUN.scenario
    collector.close(
        names=names,
        run_start=RUN.run_start,
        run_end=time.time(),
        scenario=scenario.name if scenario else None,
        model=scenario.load.model if scenario else None,
        target_rate=scenario.target_rate if scenario else None,
        host=environment.host,
        role=RUN.role,
    )
    log.info("exact samples: %d records in %s", collector.count, collector.directory)
    if scenario is not None and RUN.samples_dir is not None:
        _judge(environment, scenario, RUN.samples_dir)


@events.quitting.add_listener
def _quitting(environment: Any, **_: Any) -> None:
    # Ctrl-C / SIGTERM while a test runs: Locust picks the exit code right after this event and
    # stops the users only later, so stop now — the verdict then decides the exit code.
    if RUN.role != "worker" and RUN.collector is not None and environment.runner is not None:
        environment.runner.stop()


def _worker_final(runner: Any) -> None:
    if RUN.recorder is None:  # not recording: still answer, so that the master need not wait
        RUN.recorder = Recorder(worker=max(0, int(runner.worker_index)))
    _stop_flusher()
    _flush(runner)
    _flush(runner, final=True)


def _on_worker_flush(environment: Any, msg: Any, **_: Any) -> None:
    runner = environment.runner
    if runner.state != STATE_STOPPED:
        runner.stop()  # fires test_stop, which sends the final batch
    _worker_final(runner)


def _on_master_batch(environment: Any, msg: Any, **_: Any) -> None:
    if RUN.collector is not None:
        RUN.collector.add_batch(msg.data)


def _collect_from_workers(runner: Any) -> None:
    expected = {int(runner.get_worker_index(client.id)) for client in runner.clients.all}
    expected |= set(RUN.collector.workers if RUN.collector else ())
    runner.send_message("primo_flush")
    deadline = time.monotonic() + FINAL_WAIT_S + float(runner.environment.stop_timeout or 0)
    while time.monotonic() < deadline:
        if RUN.collector is None or RUN.collector.complete(expected):
            return
        gevent.sleep(0.05)
    missing = sorted(i for i in expected if RUN.collector and not RUN.collector.complete({i}))
    log.error("samples: no final batch from worker(s) %s before the deadline", missing)


def _judge(environment: Any, scenario: Scenario, directory: Path) -> None:
    samples = read_samples(directory)
    verdict = evaluate(samples, scenario)
    table = format_table(verdict)
    print(f"\nPrimo verdict for scenario {scenario.name!r} (exact samples: {directory})")
    print(table, flush=True)
    payload = verdict.to_dict() | {
        "scenario": scenario.name,
        "samples_dir": str(directory),
        "records": len(samples),
    }
    RUN.verdict = payload
    if RUN.verdict_file is not None:
        write_json(RUN.verdict_file, payload)
    environment.process_exit_code = verdict.exit_code
