"""A run: one phase per topology — stack up, seed, Locust headless, stack down.

A phase is a (replicas, cache) pair of the scenario's sweep, or one of its named ``[[phases]]``
(a topology plus API settings, :mod:`harness.core.phases`), run in the order written. Each
starts a stack of its own, with a fresh database, and writes into its own directory (layout in
docs/architecture.md): Locust's CSV/JSON/HTML, the exact samples, the verdict Locust printed,
resource samples of every component and of the generator, what each endpoint cost the API in the
steady windows (:mod:`harness.run.scrape`), the audit of the database against the generator's
write ledger, made before the stack goes down (:mod:`harness.run.audit`), the components' logs
and a manifest (:mod:`harness.run.manifest`). Locust itself is driven by
:mod:`harness.run.locust`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bson import ObjectId
from rich.console import Console

from harness.core.faults import ANY_REPLICA
from harness.core.layout import COSTS_FILE, RESOURCES, VERDICT
from harness.core.phases import COMPRESSION_SETTING, INDEXES_SETTING, NamedPhase, setting_flag
from harness.core.scenario import Scenario
from harness.core.topology import Backend, Balancer
from harness.errors import BadInputError, HarnessError
from harness.run.api_seed import seed_target
from harness.run.audit import AuditOutcome, audit_phase, not_audited
from harness.run.faults import FaultSchedule
from harness.run.held import HELD, HeldSampler
from harness.run.locust import LocustJob, run_locust, say
from harness.run.manifest import (
    LoadInfo,
    Manifest,
    PhaseOutcome,
    RunRecord,
    SeedInfo,
    Services,
    Topology,
    git_commit,
    host_info,
    package_versions,
    redacted,
)
from harness.run.scrape import CostScraper, Targets
from harness.run.scrape import fetch as scrape_fetch
from harness.run.seed import seed
from harness.run.target import ExternalTarget
from harness.run.workers import Workers, add_worker_rows
from harness.stack import ComponentStatus, Stack, StackConfig, open_stack
from harness.stack.backends import stack_images

Loaded = Stack | ExternalTarget  # what a phase loads: a stack it started, or a running service


@dataclass(frozen=True)
class Phase:
    """What one phase runs: a sweep's (replicas, cache), or a named phase with its settings.

    ``indexes`` and ``compression`` are what the API runs with (for a sweep, as the scenario's
    ``[env]`` says; on by default); ``env`` is a named phase's complete API settings, ``lb`` its
    balancer (None: the run's).
    """

    replicas: int
    cache: bool
    indexes: bool = True
    compression: bool = True
    label: str = ""  # a named phase's name; a sweep's phases are named by their topology
    description: str = ""
    lb: Balancer | None = None
    env: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return self.label or f"r{self.replicas}-cache-{'on' if self.cache else 'off'}"

    @property
    def named(self) -> bool:
        return bool(self.label)

    @classmethod
    def of(cls, phase: NamedPhase, scenario: Scenario) -> Phase:
        return cls(
            replicas=phase.replicas,
            cache=phase.cache,
            indexes=phase.indexes,
            compression=phase.compression,
            label=phase.name,
            description=phase.description,
            lb=phase.lb,
            env=tuple(scenario.phase_env(phase).items()),
        )


@dataclass
class PhaseResult:
    phase: Phase
    directory: Path
    status: PhaseOutcome
    exit_code: int | None = None  # Locust's: 0 PASS, 1 FAIL, 3 INVALID
    verdict: dict[str, Any] = field(default_factory=dict)  # verdict.json, when Locust wrote one
    error: str = ""


def plan_phases(
    scenario: Scenario, replicas: list[int] | None, cache: list[bool] | None
) -> list[Phase]:
    """Named ``[[phases]]`` in the order written (they are cumulative steps). A sweep: cache off
    before on, fewer replicas first: the order a reviewer reads the table in.

    ``replicas`` and ``cache`` override a sweep's; a scenario with ``[[phases]]`` refuses them
    (its phases are its topology)."""
    if scenario.phases:
        if replicas is not None or cache is not None:
            flag = "--replicas" if replicas is not None else "--cache"
            raise BadInputError(
                f"{flag}: scenario {scenario.name!r} runs its own [[phases]]; change them "
                "in its file instead"
            )
        return [Phase.of(phase, scenario) for phase in scenario.phases]
    reps = replicas or list(scenario.stack.replicas)
    caches = cache if cache is not None else list(scenario.stack.cache)
    env = scenario.api_env()
    indexes = setting_flag(env, INDEXES_SETTING)
    compression = setting_flag(env, COMPRESSION_SETTING)
    return [
        Phase(r, c, indexes, compression) for c in sorted(set(caches)) for r in sorted(set(reps))
    ]


def _settings(phase: Phase) -> str:
    """``2 replica(s), cache on, indexes on, gzip on``: what the console says a phase runs."""
    on = {True: "on", False: "off"}
    return (
        f"{phase.replicas} replica(s), cache {on[phase.cache]}, indexes {on[phase.indexes]}, "
        f"gzip {on[phase.compression]}"
    )


def _ports(components: Sequence[ComponentStatus]) -> dict[str, int]:
    """Each component's listening port: the connections held to it are counted there."""
    return {c.name: c.port for c in components if c.port}


def run_id(scenario: Scenario, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}_{scenario.name}"


def read_verdict(path: Path) -> dict[str, Any]:
    """The verdict Locust wrote, or ``{}`` when it wrote none (or only part of one)."""
    verdict: dict[str, Any] = {}
    if path.is_file():
        with contextlib.suppress(OSError, json.JSONDecodeError):
            verdict = json.loads(path.read_text())
    return verdict


def phase_line(result: PhaseResult) -> str:
    """``r1-cache-on: PASS  47.1 req/s  p95 245.7 ms  errors 0.00 %`` (what is known of it)."""
    verdict = result.verdict
    aggregate = verdict.get("measured", {}).get("aggregate", {})
    parts = [f"{result.phase.name}: {verdict.get('status', '?')}"]
    if (rate := aggregate.get("rate")) is not None:
        parts.append(f"{rate:.1f} req/s")
    if (p95 := aggregate.get("p95_ms")) is not None:
        parts.append(f"p95 {p95:.1f} ms")
    if (errors := aggregate.get("error_rate")) is not None:
        parts.append(f"errors {100 * errors:.2f} %")
    return "  ".join(parts)


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
        target: ExternalTarget | None = None,
        services: Services | None = None,
        workers: Workers | None = None,
        seed: bool = True,
        cpus_per_replica: float | None = None,
    ) -> None:
        self.scenario = scenario
        self.scenario_path = scenario_path
        self.out = out
        self.backend: Backend = backend
        self.lb: Balancer = lb or scenario.stack.lb
        self.processes = processes
        self.console = console or Console(stderr=True)
        self.target = target  # --target: no stack is started; None: one per phase
        self.services = services or Services()  # --mongodb-uri/--redis-url of a local stack
        self.workers = workers  # --expect-workers: the generators run elsewhere
        self.seed = seed  # an external target is only seeded when asked (--seed)
        self.cpus_per_replica = cpus_per_replica or scenario.stack.cpus_per_replica

    # -- the whole run -------------------------------------------------------------------------
    def run(self, phases: Sequence[Phase], argv: Sequence[str] = ()) -> list[PhaseResult]:
        self.out.mkdir(parents=True, exist_ok=True)
        record = RunRecord(self.scenario.name, [p.name for p in phases], list(argv))
        record.write(self.out)
        results: list[PhaseResult] = []
        try:
            for phase in phases:
                results.append(self.run_phase(phase))
                self.console.print(phase_line(results[-1]))
            record.status = "complete"
        except KeyboardInterrupt:
            record.status = "interrupted"
            raise
        except HarnessError:
            record.status = "failed"
            raise
        finally:
            record.finish([r.phase.name for r in results if r.status == "complete"])
            record.write(self.out)
        return results

    # -- one phase -----------------------------------------------------------------------------
    def run_phase(self, phase: Phase) -> PhaseResult:
        directory = self.out / phase.name
        directory.mkdir(parents=True, exist_ok=True)
        manifest = self._manifest(phase)
        manifest.write(directory)
        result = PhaseResult(phase, directory, status="failed")
        config = self._stack_config(phase, directory)
        try:
            self._load(phase, config, manifest, result)
            result.status = "complete"
        except KeyboardInterrupt:
            result.status = "interrupted"
            raise
        except HarnessError as exc:
            result.error = str(exc)
            raise
        finally:
            result.verdict = read_verdict(directory / VERDICT)
            manifest.finish(result.status, result.exit_code, result.error)
            manifest.write(directory)
        return result

    def _manifest(self, phase: Phase) -> Manifest:
        return Manifest(
            scenario=self.scenario.name,
            scenario_file=str(self.scenario_path),
            phase=phase.name,
            topology=Topology(
                phase.replicas,
                phase.cache,
                self._lb(phase),
                self.backend,
                indexes=phase.indexes,
                compression=phase.compression,
                env=redacted(self._api_env(phase)),
                cpus_per_replica=self.cpus_per_replica,
            ),
            target_rate=self.scenario.target_rate,
            load=LoadInfo(self.scenario.load.model, self.processes),
            git_commit=git_commit(),
            host=host_info(),
            versions=package_versions(),
            plan="phases" if phase.named and self.target is None else None,
            description=phase.description,
            services=self._services(phase),
            target=self.target.describe(self._seeding()) if self.target else None,
        )

    def _services(self, phase: Phase) -> Services | None:
        """The database and Redis a managed stack uses, when they are not its own."""
        if self.target is not None or self.services.external is False:
            return None
        return self.services.for_phase(self.out.name, phase.name)

    def _seeding(self) -> str:
        if not self.seed:
            return "not seeded: reuses the load users that exist (checked before the load)"
        if self.target is not None and self.target.mongodb_uri:
            return "seeded straight into its database"
        return "seeded through its API (register, create tasks): adds what is missing"

    def _load(
        self, phase: Phase, config: StackConfig, manifest: Manifest, result: PhaseResult
    ) -> None:
        """Stack up, seed, Locust, audit; the stack goes down on the way out, whatever happens."""
        with self._open(phase, config) as stack:
            components = stack.components()
            manifest.topology = replace(
                manifest.topology, balancer=stack.balancer, images=stack_images(stack)
            )
            manifest.components = [c.name for c in components]
            manifest.write(result.directory)
            manifest.data, seeded = self._seed(phase, stack)
            faults = self._faults(phase, stack, set(manifest.components))
            if self.scenario.faults:
                manifest.faults = faults.records  # the same list: the last write has what happened
            with (
                stack.resource_sampler(result.directory / RESOURCES) as sampler,
                HeldSampler(result.directory / HELD, sampler.processes, _ports(components)),
            ):
                job = self._locust_job(phase, result.directory, stack.url)
                costs = self._cost_scraper(stack, job, phase)
                faults.on_edge = costs.mark  # the cache's answers as each fault begins and ends

                def sample_again(name: str) -> None:  # a (re)started component has a new pid
                    pid = stack.pids().get(name)
                    if pid is not None:
                        sampler.add(name, pid)

                faults.on_started = sample_again
                result.exit_code = run_locust(job, sampler, self.console, faults, costs)
            if self.workers is not None:  # sampled nowhere here: their CPU came with the samples
                add_worker_rows(result.directory)
            if costs.write(result.directory):
                manifest.endpoint_costs = COSTS_FILE
            manifest.audit = self._audit(stack, result.directory, seeded, phase)

    def _cost_scraper(self, stack: Loaded, job: LocustJob, phase: Phase) -> CostScraper:
        """The API's per-endpoint costs: each replica directly, or through the balancer; an
        external target through its URL, with its TLS settings, as one replica at least."""
        if isinstance(stack, ExternalTarget):
            targets, fetch = Targets({}, f"{stack.url}/metrics", 1), stack.client.fetch
        else:
            targets, fetch = Targets.of(stack.url, stack.components()), scrape_fetch
        return CostScraper(
            targets, job.windows, say(self.console), phase.name, fetch, self._marks(phase)
        )

    def _open(self, phase: Phase, config: StackConfig) -> contextlib.AbstractContextManager[Loaded]:
        """The phase's stack, started now and stopped on the way out; or the external target,
        already running, which nothing here starts or stops."""
        if self.target is not None:
            self.console.print(f"[bold]{phase.name}[/]: loading {self.target.url} (not managed)")
            return contextlib.nullcontext(self.target)
        self.console.print(f"[bold]{phase.name}[/]: starting the stack ({_settings(phase)}) …")
        return open_stack(config)

    def _audit(
        self, stack: Loaded, directory: Path, seeded: frozenset[ObjectId], phase: Phase
    ) -> AuditOutcome:
        if not stack.mongodb_uri:
            return not_audited(
                directory,
                "the target's database is not reachable from the generator (--mongodb-uri)",
                say(self.console),
                phase.name,
            )
        if isinstance(stack, ExternalTarget) and not seeded:
            # The audit tells the load's writes from the seed's by the seeded ids: a target this
            # run did not seed holds tasks nobody here made, which would all read as phantoms.
            return not_audited(
                directory,
                "this run did not seed the target's database (--seed with --mongodb-uri), so "
                "the tasks it held before the load cannot be told from the load's",
                say(self.console),
                phase.name,
            )
        return audit_phase(
            stack.mongodb_uri, directory, seeded, say=say(self.console), name=phase.name
        )

    def _faults(self, phase: Phase, stack: Loaded, names: set[str]) -> FaultSchedule:
        """The phase's faults; one naming a component this stack does not have is bad input."""
        faults = self.scenario.faults_for(phase.replicas)
        for fault in faults:
            if fault.target not in names and fault.target != ANY_REPLICA:
                raise BadInputError(
                    f"{self.scenario_path}: faults: {phase.name} has no {fault.target} "
                    f"(its components: {', '.join(sorted(names))})"
                )
        replicas = sorted(n for n in names if n.startswith("api-"))
        return FaultSchedule(faults, stack, say(self.console), phase.name, replicas)

    def _marks(self, phase: Phase) -> list[float]:
        """With faults, read the cache's answers just before the load ends too (what came after
        the last one); each fault's own edges are read as they happen."""
        if not self.scenario.faults_for(phase.replicas):
            return []
        return [max(0.0, self.scenario.load.duration_s - 1.0)]

    def _lb(self, phase: Phase) -> Balancer:
        return phase.lb or self.lb

    def _api_env(self, phase: Phase) -> dict[str, str]:
        return dict(phase.env) if phase.named else self.scenario.api_env()

    def _stack_config(self, phase: Phase, directory: Path) -> StackConfig:
        # The stack's working directory is the phase's own: its database starts empty, so a
        # phase without the secondary indexes has none left over from the phase before.
        return StackConfig(
            replicas=phase.replicas,
            cache=phase.cache,
            lb=self._lb(phase),
            backend=self.backend,
            work_dir=directory / "stack",
            env=self._api_env(phase),
            # An external database gets a fresh database name per phase: no phase inherits data.
            mongodb_uri=self.services.phase_mongodb_uri(self.out.name, phase.name),
            redis_url=self.services.redis_url,
            cpus_per_replica=self.cpus_per_replica,
        )

    def _seed(self, phase: Phase, stack: Loaded) -> tuple[SeedInfo, frozenset[ObjectId]]:
        """Seed the phase's database; what the manifest says, and the tasks seeded."""
        data = self.scenario.data
        if isinstance(stack, ExternalTarget) and not (self.seed and stack.mongodb_uri):
            info = seed_target(stack.client, data, say(self.console), phase.name, seed=self.seed)
            return info, frozenset()  # no audit without its database: no baseline needed
        self.console.print(
            f"{phase.name}: stack ready at {stack.url} (balancer: {stack.balancer}); "
            f"seeding {data.users} users x {data.tasks_per_user} tasks …"
        )
        seeded = seed(
            stack.mongodb_uri,
            data.users,
            data.tasks_per_user,
            bcrypt_rounds=data.bcrypt_rounds,
            indexes=phase.indexes,
        )
        info = SeedInfo(
            data.users, data.tasks_per_user, round(seeded.seconds, 3), list(seeded.indexes)
        )
        return info, seeded.task_ids

    def _locust_job(self, phase: Phase, directory: Path, url: str) -> LocustJob:
        return LocustJob(
            name=phase.name,
            scenario_path=self.scenario_path,
            directory=directory,
            url=url,
            processes=self.processes,
            seed_users=self.scenario.data.users,
            duration_s=self.scenario.load.duration_s,
            windows=tuple(self.scenario.steady_windows()),
            excused=tuple(self.scenario.fault_spans(phase.replicas)),
            workers=self.workers,
        )
