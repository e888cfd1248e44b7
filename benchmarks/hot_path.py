"""The API's hot path, side by side: the API at git revisions (or with settings) of your choice,
each on its own SecantusDB and Redis, measured in alternating rounds.

    .venv/bin/python benchmarks/hot_path.py --variant base=150df67 --variant new=HEAD
    .venv/bin/python benchmarks/hot_path.py --variant on=HEAD --variant off=HEAD,COMPRESSION=false

A variant is ``NAME=REV[,SETTING=VALUE...]``: ``reference_api/`` of git revision REV (``.`` is
the working tree as it is) exported into a directory of its own, run by one uvicorn with the
stack's command line from there (``PYTHONPATH`` and the working directory are that tree; the
script checks that the process imports it), with SETTING=VALUE added to its environment
(``UVICORN_HTTP=httptools`` replaces the stack's ``--http`` instead: uvicorn's own protocol,
which writes header and body apart). Every variant gets its own SecantusDB (through the stack's
launcher) and Redis, seeded alike (``--users`` x ``--tasks`` with the harness's seeder, same RNG
seed), and its own logins.

Each round measures every kind of request below on every variant, one after the other (the
order of the variants flips every round, so drift and noise hit all alike). A measurement reads
the CPU time (user + system, psutil) of the variant's API, database and Redis processes, and the
API's own counters (``/metrics``: round trips, cache answers), before and after N sequential
keep-alive requests from this process (whose own CPU is not counted); httpx asks for gzip, as
Locust's FastHttpUser does. The cache is flushed (``FLUSHDB``) before each kind, outside the
measurement:

- ``GET /api/tasks/{id}`` HIT (one task, again and again) and MISS (N different tasks);
- ``GET /api/tasks`` HIT and MISS (20 items; different users, sorts and filters for the misses);
- ``GET /api/tasks/stats`` MISS (one per user);
- ``PATCH``, then ``POST`` and ``DELETE`` (the created tasks: the data set keeps its size);
- ``PATCH`` then ``GET`` of the same task, in pairs (what a read after an update costs);
- ``mix``: ``scenarios/target-1k.toml``'s ``[mix]`` replayed by ``--mix-users`` simulated users
  (each step a random user; its steps as ``loadtests/_journeys.py`` makes them), from a flushed
  cache, ``--warmup`` steps unmeasured then ``--mix`` measured; the same random sequence for
  every variant. Its hit ratio is the one the writes leave.

Printed: per kind and variant the median over rounds of CPU ms per request of the API, database
and Redis, round trips per request and the hit ratio; then each variant against the first (or,
with ``--against previous``, against the one before it: one commit's change at a time) as the
median (and range) of the per-round ratios; then the mix per route. ``--json FILE`` keeps every
sample. psutil reads CPU time in clock ticks (10 ms): a measurement must spend many of them per
component, so raise ``--requests`` for the cheap kinds' finer digits (a HIT costs Redis little).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psutil
import redis
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from harness.core.workload import LOAD_USER_PASSWORD, TASK_TAGS, TASK_WORDS, load_user_email
from harness.run.seed import seed
from harness.stack.local import api_argv
from harness.stack.processes import ManagedProcess, free_port, start_redis, start_secantusd

ROOT = Path(__file__).resolve().parents[1]
SECRET = "benchmark-secret-" + "h" * 40
COMPONENTS = ("api", "db", "redis")
STATUSES = ("todo", "in-progress", "done")
SORTS = ("-createdAt", "-updatedAt", "dueDate", "-priority")


@dataclass(frozen=True)
class Spec:
    name: str
    rev: str  # a git revision, or "." for the working tree
    env: dict[str, str]

    @classmethod
    def parse(cls, text: str) -> Spec:
        name, _, rest = text.partition("=")
        rev, *settings = rest.split(",")
        if not name or not rev or any("=" not in s for s in settings):
            raise SystemExit(f"--variant {text!r}: expected NAME=REV[,SETTING=VALUE...]")
        return cls(name, rev, dict(s.split("=", 1) for s in settings))


@dataclass
class Sample:
    kind: str
    variant: str
    round: int
    requests: int
    cpu_ms: dict[str, float]  # per request, by component
    db_rt: float  # per request
    redis_rt: float
    hits: float  # cache look-ups answered HIT, per request
    lookups: float
    wall_ms: float
    routes: dict[str, dict[str, float]] = field(default_factory=dict)  # the mix: per route


@dataclass
class Variant:
    """One API with its own database and Redis, seeded, its users logged in."""

    spec: Spec
    commit: str
    procs: dict[str, ManagedProcess]
    client: httpx.Client
    redis_url: str
    headers: list[dict[str, str]] = field(default_factory=list)  # per user
    tasks: list[list[str]] = field(default_factory=list)  # per user, newest first
    created: list[tuple[int, str]] = field(default_factory=list)  # (user, task) by POST, to delete

    def cpu(self) -> dict[str, float]:
        out = {}
        for name in COMPONENTS:
            pid = self.procs[name].pid
            assert pid is not None
            root = psutil.Process(pid)
            times = [p.cpu_times() for p in (root, *root.children(recursive=True))]
            out[name] = sum(t.user + t.system for t in times)
        return out

    def flush(self) -> None:
        with redis.Redis.from_url(self.redis_url) as direct:
            direct.flushdb()

    def call(self, method: str, path: str, user: int, body: Any = None) -> httpx.Response:
        response = self.client.request(method, path, headers=self.headers[user], json=body)
        if response.status_code >= 300 and response.status_code != 404:
            raise SystemExit(f"{self.spec.name}: {method} {path}: {response.status_code}")
        return response

    def counters(self) -> dict[tuple[str, str, str], float]:
        """(metric, route, result) -> value, of the per-route cost counters."""
        text = self.client.get("/metrics").text
        out: dict[tuple[str, str, str], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name in ("db_roundtrips_total", "redis_roundtrips_total",
                              "cache_lookups_total", "app_cpu_seconds_total",
                              "http_requests_total"):  # fmt: skip
                    route = f"{s.labels.get('method')} {s.labels.get('route')}"
                    if route == "GET /metrics":  # these scrapes: not the measured requests
                        continue
                    key = (s.name, route, s.labels.get("result", ""))
                    out[key] = out.get(key, 0.0) + s.value
        return out

    def stop(self) -> None:
        self.client.close()
        for proc in reversed(self.procs.values()):
            proc.stop()


def export(rev: str, into: Path) -> tuple[Path, str]:
    """``reference_api/`` of ``rev`` in a directory of its own; and the commit it names."""
    if rev == ".":
        return ROOT, "working tree"
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", rev], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    tar = subprocess.run([*git, "archive", "--format=tar", commit, "reference_api"],
                         capture_output=True, check=True).stdout  # fmt: skip
    into.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")
    return into, commit


def api_env(tree: Path, mongodb_uri: str, redis_url: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(tree),
        "APP_ENV": "test",
        "JWT_SECRET": SECRET,
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_MAX": "100000000",
        "RATE_LIMIT_AUTH_MAX": "100000000",
        "BCRYPT_ROUNDS": "4",
        "MONGODB_POOL_SIZE": "4",  # the stack's embedded-database budget, one replica
        "MONGODB_URI": mongodb_uri,
        "REDIS_URL": redis_url,
        **extra,
    }


def check_source(tree: Path, env: dict[str, str]) -> None:
    probe = "import reference_api; print(reference_api.__file__)"
    found = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tree, capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"the API would import {found}, not the tree in {tree}")


def start(spec: Spec, work: Path, users: int, tasks: int) -> Variant:
    tree, commit = export(spec.rev, work / "tree")
    procs: dict[str, ManagedProcess] = {}
    try:
        procs["db"], mongodb_uri = start_secantusd(work / "db")
        procs["redis"], redis_url = start_redis(work / "redis")
        seed(mongodb_uri, users, tasks, bcrypt_rounds=4, seed=0)
        env = api_env(tree, mongodb_uri, redis_url, spec.env)
        check_source(tree, env)
        port = free_port()
        argv = api_argv(port=port)
        if "UVICORN_HTTP" in spec.env:  # uvicorn's --http: its env var loses to the argument
            argv[argv.index("--http") + 1] = spec.env["UVICORN_HTTP"]
        procs["api"] = ManagedProcess(
            f"api-{spec.name}", argv, work / "api.log", env=env, cwd=tree
        ).start()
        url = f"http://127.0.0.1:{port}"
        procs["api"].wait_ready(lambda: httpx.get(url + "/health").status_code == 200, timeout=60)
    except BaseException:
        for proc in reversed(procs.values()):
            proc.stop()
        raise
    variant = Variant(spec, commit, procs, httpx.Client(base_url=url, timeout=30), redis_url)
    try:
        log_in(variant, mongodb_uri, users)
    except BaseException:
        variant.stop()
        raise
    return variant


def log_in(variant: Variant, mongodb_uri: str, users: int) -> None:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        db = client.get_default_database("primo")
        for i in range(users):
            email = load_user_email(i)
            body = {"email": email, "password": LOAD_USER_PASSWORD}
            token = variant.client.post("/api/auth/login", json=body).json()["access_token"]
            variant.headers.append({"Authorization": f"Bearer {token}"})
            user = db.users.find_one({"email": email})
            assert user is not None
            found = db.tasks.find({"user": user["_id"]}, {"_id": 1})
            newest = found.sort([("createdAt", -1), ("_id", -1)])
            variant.tasks.append([str(doc["_id"]) for doc in newest])
    finally:
        client.close()


def measure(variant: Variant, kind: str, round_: int, run: Callable[[], int]) -> Sample:
    before, cpu = variant.counters(), variant.cpu()
    started = time.perf_counter()
    n = run()
    wall = time.perf_counter() - started
    spent = {k: (v - cpu[k]) * 1000 / n for k, v in variant.cpu().items()}
    delta = {k: v - before.get(k, 0.0) for k, v in variant.counters().items()}

    def total(name: str, result: str | None = None) -> float:
        return sum(v for (m, _, r), v in delta.items() if m == name and result in (None, r)) / n

    routes: dict[str, dict[str, float]] = {}
    for (name, route, result), value in delta.items():
        key = f"{name}[{result}]" if result else name
        routes.setdefault(route, {})[key] = routes.get(route, {}).get(key, 0.0) + value
    return Sample(
        kind, variant.spec.name, round_, n, spent, total("db_roundtrips_total"),
        total("redis_roundtrips_total"), total("cache_lookups_total", "hit"),
        total("cache_lookups_total"), wall * 1000 / n, routes,
    )  # fmt: skip


# --- the kinds of request: each prepares (unmeasured) and returns what to measure ---------------
Kind = Callable[[Variant, int, random.Random], Callable[[], int]]


def detail_hit(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    path = f"/api/tasks/{v.tasks[0][0]}"
    v.call("GET", path, 0)
    return lambda: sum(v.call("GET", path, 0) is not None for _ in range(n))


def detail_miss(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    picks = [(u, t) for t in range(len(v.tasks[0])) for u in range(len(v.tasks))][:n]
    return lambda: sum(
        v.call("GET", f"/api/tasks/{v.tasks[u][t]}", u) is not None for u, t in picks
    )


def list_hit(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    v.call("GET", "/api/tasks?limit=20", 0)
    return lambda: sum(v.call("GET", "/api/tasks?limit=20", 0) is not None for _ in range(n))


def list_miss(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    queries = [
        (u, urlencode({"limit": 20, "sort": s, **({"status": f} if f else {})}))
        for s in SORTS
        for f in (None, *STATUSES)
        for u in range(len(v.tasks))
    ][:n]
    return lambda: sum(v.call("GET", f"/api/tasks?{q}", u) is not None for u, q in queries)


def stats_miss(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    users = range(min(n, len(v.tasks)))
    return lambda: sum(v.call("GET", "/api/tasks/stats", u) is not None for u in users)


def patch(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    picks = [(i % len(v.tasks), i // len(v.tasks), STATUSES[i % 3]) for i in range(n)]
    return lambda: sum(
        v.call("PATCH", f"/api/tasks/{v.tasks[u][t]}", u, {"status": s}) is not None
        for u, t, s in picks
    )


def post(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    def run() -> int:
        for i in range(n):
            user = i % len(v.tasks)
            body = {"title": f"ephemeral bench {i}", "tags": ["bench"], "priority": "high"}
            v.created.append((user, v.call("POST", "/api/tasks", user, body).json()["id"]))
        return n

    return run


def delete(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    made, v.created = v.created, []
    return lambda: sum(v.call("DELETE", f"/api/tasks/{t}", u) is not None for u, t in made)


def patch_then_get(v: Variant, n: int, rng: random.Random) -> Callable[[], int]:
    pairs = [(i % len(v.tasks), len(v.tasks[0]) - 1 - i // len(v.tasks)) for i in range(n // 2)]

    def run() -> int:
        for i, (u, t) in enumerate(pairs):
            path = f"/api/tasks/{v.tasks[u][t]}"
            v.call("GET", path, u)  # the entry a read left, before the update
            v.call("PATCH", path, u, {"status": STATUSES[i % 3]})
            v.call("GET", path, u)
        return 3 * len(pairs)

    return run


KINDS: dict[str, Kind] = {
    "GET /api/tasks/{id} HIT": detail_hit,
    "GET /api/tasks/{id} MISS": detail_miss,
    "GET /api/tasks HIT (20 items)": list_hit,
    "GET /api/tasks MISS (20 items)": list_miss,
    "GET /api/tasks/stats MISS": stats_miss,
    "PATCH /api/tasks/{id}": patch,
    "POST /api/tasks": post,
    "DELETE /api/tasks/{id} (the created)": delete,
    "GET, PATCH, GET of one task": patch_then_get,
}


# --- the mix ------------------------------------------------------------------------------------
class Mix:
    """A scenario's ``[mix]`` replayed by simulated users, one step (one request) at a time, as
    ``loadtests/_journeys.py`` makes them: each user knows the first page of its seeded tasks
    (opened and updated), deletes only what it created, pages on from its last list."""

    def __init__(self, v: Variant, users: int, weights: dict[str, float], rng: random.Random):
        self.v, self.rng, self.users = v, rng, min(users, len(v.tasks))
        self.known = [v.tasks[u][:20] for u in range(self.users)]
        self.own: list[list[str]] = [[] for _ in range(self.users)]
        self.pages: list[tuple[dict[str, Any], str | None]] = [({}, None)] * self.users
        steps: dict[str, Callable[[int], None]] = {
            "GET /api/tasks": self.list_tasks,
            "GET /api/tasks?cursor={cursor}": self.next_page,
            "GET /api/tasks?q={q}": self.search,
            "GET /api/tasks/{id}": lambda u: self.get(u, f"/api/tasks/{rng.choice(self.known[u])}"),
            "POST /api/tasks": self.create,
            "PATCH /api/tasks/{id}": self.update,
            "DELETE /api/tasks/{id}": self.delete,
            "GET /api/tasks/stats": lambda u: self.get(u, "/api/tasks/stats"),
            "GET /api/auth/me": lambda u: self.get(u, "/api/auth/me"),
            "GET /health": lambda u: self.get(u, "/health"),
        }
        unknown = {name for name, w in weights.items() if w > 0} - steps.keys()
        if unknown:
            raise SystemExit(f"the mix has steps this replay does not make: {sorted(unknown)}")
        self.steps = [(steps[name], w) for name, w in weights.items() if w > 0]

    def run(self, n: int) -> int:
        for _ in range(n):
            user = self.rng.randrange(self.users)
            step = self.rng.choices([s for s, _ in self.steps], [w for _, w in self.steps])[0]
            step(user)
        return n

    def get(self, user: int, path: str) -> Any:
        return self.v.call("GET", path, user).json()

    def list_tasks(self, user: int) -> None:
        rng = self.rng
        params: dict[str, Any] = {"limit": rng.choice((10, 20, 50))}
        if rng.random() < 0.4:
            params["status"] = rng.choice(STATUSES)
        if rng.random() < 0.2:
            params["priority"] = rng.choice(("low", "medium", "high"))
        if rng.random() < 0.3:
            params["sort"] = rng.choice(SORTS)
        body = self.get(user, f"/api/tasks?{urlencode(params)}")
        self.pages[user] = (params, body["next_cursor"])

    def next_page(self, user: int) -> None:
        params, cursor = self.pages[user]
        if cursor is None:
            self.list_tasks(user)
            return
        body = self.get(user, f"/api/tasks?{urlencode({**params, 'cursor': cursor})}")
        self.pages[user] = (params, body["next_cursor"])

    def search(self, user: int) -> None:
        self.get(user, f"/api/tasks?{urlencode({'q': self.rng.choice(TASK_WORDS), 'limit': 20})}")

    def create(self, user: int) -> None:
        words = self.rng.sample(TASK_WORDS, 2)
        body = {"title": f"ephemeral {words[0]} {words[1]}", "status": self.rng.choice(STATUSES),
                "tags": self.rng.sample(TASK_TAGS, self.rng.randint(0, 3))}  # fmt: skip
        self.own[user].append(self.v.call("POST", "/api/tasks", user, body).json()["id"])
        del self.own[user][:-50]

    def update(self, user: int) -> None:
        task, status = self.rng.choice(self.known[user]), self.rng.choice(STATUSES)
        self.v.call("PATCH", f"/api/tasks/{task}", user, {"status": status})

    def delete(self, user: int) -> None:
        if not self.own[user]:
            self.create(user)
            return
        self.v.call("DELETE", f"/api/tasks/{self.own[user].pop()}", user)


# --- rounds and the report ----------------------------------------------------------------------
def run_rounds(variants: list[Variant], args: argparse.Namespace) -> list[Sample]:
    weights = tomllib.loads((ROOT / "scenarios" / f"{args.scenario}.toml").read_text())["mix"]
    samples: list[Sample] = []
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        for kind, prepare in KINDS.items():
            for v in order:
                v.flush()
                rng = random.Random(f"{kind}/{r}")  # noqa: S311 - a workload, not a secret
                run = prepare(v, args.requests, rng)
                samples.append(measure(v, kind, r, run))
        for v in order:
            v.flush()
            rng = random.Random(f"mix/{r}")  # noqa: S311 - the same steps for every variant
            mix = Mix(v, args.mix_users, weights, rng)
            mix.run(args.warmup)
            samples.append(measure(v, "mix", r, lambda: mix.run(args.mix)))  # noqa: B023 - now
        print(f"round {r + 1} of {args.rounds} done", file=sys.stderr, flush=True)
    return samples


def _values(sample: Sample) -> dict[str, float]:
    return {**sample.cpu_ms, "all": sum(sample.cpu_ms.values()), "db rt": sample.db_rt,
            "redis rt": sample.redis_rt, "wall": sample.wall_ms}  # fmt: skip


def report(samples: list[Sample], variants: list[Variant], against: str) -> None:
    names = [v.spec.name for v in variants]
    print("variants: " + ", ".join(f"{v.spec.name} = {v.commit} {v.spec.env or ''}".rstrip()
                                   for v in variants))  # fmt: skip
    print("\nCPU ms per request (API, database, Redis, their sum), round trips per request, "
          "cache hits per look-up, client wall ms; medians over rounds\n")  # fmt: skip
    print("| kind | variant | API | DB | Redis | all | DB rt | Redis rt | hit % | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in dict.fromkeys(s.kind for s in samples):
        by = {n: [s for s in samples if s.kind == kind and s.variant == n] for n in names}
        for n in names:
            med = {k: statistics.median(_values(s)[k] for s in by[n]) for k in _values(by[n][0])}
            looked = sum(s.lookups for s in by[n])
            hit = f"{100 * sum(s.hits for s in by[n]) / looked:.0f}" if looked else "-"
            print(f"| {kind} | {n} | {med['api']:.3f} | {med['db']:.3f} | {med['redis']:.3f} | "
                  f"{med['all']:.3f} | {med['db rt']:.2f} | {med['redis rt']:.2f} | {hit} | "
                  f"{med['wall']:.2f} |")  # fmt: skip
        for i, n in enumerate(names[1:]):
            ref = names[i] if against == "previous" else names[0]
            ratios = [_ratio(by[ref], by[n], k) for k in ("api", "db", "redis", "all")]
            print(f"| {kind} | {n} / {ref} | {' | '.join(ratios)} | | | | |")
    mix_routes(samples, names)


def _ratio(base: list[Sample], other: list[Sample], key: str) -> str:
    ratios = sorted(
        _values(o)[key] / _values(b)[key]
        for b, o in zip(base, other, strict=True)
        if _values(b)[key] > 0
    )
    if not ratios:
        return "-"
    return f"x{statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"


def mix_routes(samples: list[Sample], names: list[str]) -> None:
    mixes = [s for s in samples if s.kind == "mix"]
    if not mixes:
        return
    print("\nThe mix per route, all rounds together: share of requests, app CPU ms per request "
          "(the request's own task: reference_api/costs.py), round trips, hit %\n")  # fmt: skip
    print("| route | variant | share % | app CPU | DB rt | Redis rt | hit % |")
    print("|---|---|---|---|---|---|---|")
    routes = sorted({r for s in mixes for r in s.routes})
    for route in routes:
        for n in names:
            tot: dict[str, float] = {}
            for s in mixes:
                if s.variant == n:
                    for k, v in s.routes.get(route, {}).items():
                        tot[k] = tot.get(k, 0.0) + v
            n_req = tot.get("http_requests_total", 0.0)
            if not n_req:
                continue
            all_req = sum(s.requests for s in mixes if s.variant == n)
            looked = sum(v for k, v in tot.items() if k.startswith("cache_lookups_total["))
            hit = (
                f"{100 * tot.get('cache_lookups_total[hit]', 0.0) / looked:.0f}" if looked else "-"
            )
            print(f"| {route} | {n} | {100 * n_req / all_req:.1f} | "
                  f"{1000 * tot.get('app_cpu_seconds_total', 0.0) / n_req:.3f} | "
                  f"{tot.get('db_roundtrips_total', 0.0) / n_req:.2f} | "
                  f"{tot.get('redis_roundtrips_total', 0.0) / n_req:.2f} | {hit} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant", action="append", required=True, help="NAME=REV[,SETTING=VALUE...]"
    )
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400, help="per kind, round and variant")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=50, help="per user")
    parser.add_argument("--mix", type=int, default=2000, help="measured steps of the mix")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured steps before them")
    parser.add_argument("--mix-users", type=int, default=50)
    parser.add_argument("--scenario", default="target-1k", help="whose [mix] to replay")
    parser.add_argument(
        "--against",
        choices=("first", "previous"),
        default="first",
        help="ratios against the first variant, or each against the one before it",
    )
    parser.add_argument("--json", type=Path, help="write every sample here")
    args = parser.parse_args(argv)
    specs = [Spec.parse(text) for text in args.variant]
    if len({s.name for s in specs}) != len(specs):
        raise SystemExit("--variant names must differ")
    variants: list[Variant] = []
    with tempfile.TemporaryDirectory(prefix="hot-path-") as tmp:
        try:
            for spec in specs:
                print(f"starting {spec.name} ({spec.rev})", file=sys.stderr, flush=True)
                variants.append(start(spec, Path(tmp) / spec.name, args.users, args.tasks))
            samples = run_rounds(variants, args)
        finally:
            for variant in variants:
                variant.stop()
    report(samples, variants, args.against)
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in samples], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
